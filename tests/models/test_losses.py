import torch
import torch.nn.functional as F

from openmix.mixers.geometry import smooth_one_hot
from openmix.models.losses import BinaryCrossEntropy, LabelSmoothingCrossEntropy, SoftTargetCrossEntropy


def test_soft_target_ce_equals_torch_label_smoothing():
    torch.manual_seed(0)
    logits, labels = torch.randn(6, 5), torch.tensor([0, 1, 2, 3, 4, 0])
    ours = SoftTargetCrossEntropy()(logits, smooth_one_hot(labels, 5, 0.1))
    torch.testing.assert_close(ours, F.cross_entropy(logits, labels, label_smoothing=0.1))
    torch.testing.assert_close(LabelSmoothingCrossEntropy(0.1)(logits, labels), ours)


def test_soft_target_ce_by_hand():
    logits = torch.tensor([[0.0, 0.0]])
    target = torch.tensor([[0.25, 0.75]])
    # -(0.25 log .5 + 0.75 log .5) = log 2
    torch.testing.assert_close(SoftTargetCrossEntropy(loss_weight=2.0)(logits, target), torch.tensor(2 * 0.6931472))


def test_bce_on_soft_targets_and_threshold():
    logits = torch.tensor([[2.0, -1.0]])
    target = torch.tensor([[0.7, 0.3]])
    sig = torch.sigmoid(logits)
    ref = -(target * sig.log() + (1 - target) * (1 - sig).log()).mean()
    torch.testing.assert_close(BinaryCrossEntropy()(logits, target), ref)
    hard = torch.tensor([[1.0, 0.0]])
    ref = -(hard * sig.log() + (1 - hard) * (1 - sig).log()).mean()
    torch.testing.assert_close(BinaryCrossEntropy(target_threshold=0.5)(logits, target), ref)
