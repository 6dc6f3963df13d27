"""MixPro's progressive attention labeling (MixProLabel) against recorded output of the official code
(fistyee/MixPro ``main.py``, see fixtures/reference/mixpro.md), and its behaviour in a training step."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from openmix.mixers import MixedBatch
from openmix.mixers.geometry import mix_target, smooth_one_hot
from openmix.mixers.maskmix import cells_to_pixels
from openmix.models.label_rules import MixProLabel
from openmix.registry import MODELS

REF = np.load(Path(__file__).parents[1] / 'fixtures' / 'reference' / 'mixpro.npz')
K, SMOOTH = 10, 0.1


class _Probe:
    def __init__(self, attn):
        self.active, self.attn = True, attn

    def pop(self):
        return self.attn


def _case(case):
    size, cell, patch = (int(v) for v in REF[f'{case}_geometry'])
    keep = torch.from_numpy(REF[f'{case}_cells'].astype(bool))
    partner = (~cells_to_pixels(keep, (size, size), cell))[:, None].float()
    x = torch.from_numpy(REF[f'{case}_mixed'].astype(np.float32))
    lam = torch.from_numpy(REF[f'{case}_mask_ratio'])  # the reference's (cell) ratio: MaskMix(cell_lam=True)
    mixed = MixedBatch(x, torch.from_numpy(REF[f'{case}_index']), lam, 'maskmix', mask=partner,
                       is_box=torch.zeros(len(x), dtype=torch.bool))
    return mixed, size // patch


@pytest.mark.parametrize('case', ['s32', 's30', 's48'])
def test_pal_equals_official(case):
    mixed, grid = _case(case)
    y = torch.from_numpy(REF[f'{case}_y'])
    targets = smooth_one_hot(y, K, SMOOTH)
    torch.testing.assert_close(mix_target(targets, mixed.index, mixed.lam),
                               torch.from_numpy(REF[f'{case}_mix_targets']), atol=1e-7, rtol=0)
    rule = MixProLabel(smoothing=False)
    rule.grid_size = (grid, grid)
    rule.probe = _Probe(torch.from_numpy(REF[f'{case}_attn']))
    rule.prepare(mixed)
    assert rule.active
    logits = torch.from_numpy(REF[f'{case}_logits']).requires_grad_()
    lam = rule.pal_lam(targets, mixed, torch.from_numpy(REF[f'{case}_attn']), logits)
    ref_lam = torch.from_numpy(REF[f'{case}_lam'])
    keep = mixed.index != torch.arange(len(y))  # self pairs: we keep lam 1, the target is y_a either way
    torch.testing.assert_close(lam[keep], ref_lam[keep], atol=2e-7, rtol=0)
    target = rule(targets, mixed, logits=logits)
    loss = torch.sum(-target * logits.log_softmax(-1), -1).mean()  # SoftTargetCrossEntropy
    torch.testing.assert_close(loss, torch.from_numpy(REF[f'{case}_loss']), atol=2e-6, rtol=0)
    loss.backward()  # the gradient reaches the logits through the confidence too, as in the reference
    torch.testing.assert_close(logits.grad, torch.from_numpy(REF[f'{case}_grad']), atol=1e-7, rtol=0)


def test_pal_confidence_weight_and_detach():
    mixed, grid = _case('s32')
    targets = smooth_one_hot(torch.from_numpy(REF['s32_y']), K, SMOOTH)
    attn = torch.from_numpy(REF['s32_attn'])
    rule = MixProLabel(detach_confidence=True)
    rule.grid_size = (grid, grid)
    y_area = mix_target(targets, mixed.index, mixed.lam)
    # a model that predicts the area target exactly has confidence 1: the label is the attention label
    lam_conf = rule.pal_lam(targets, mixed, attn, y_area.log())
    own = (attn * (1 - torch.nn.functional.avg_pool2d(mixed.mask, 4).flatten(1))).sum(1)
    pair = mixed.index != torch.arange(len(targets))  # a self pair has no partner share: attention label 1
    torch.testing.assert_close(lam_conf[pair], (own / attn.sum(1))[pair])
    assert (lam_conf[~pair] == 1).all()
    logits = torch.randn(len(targets), K, requires_grad=True)
    assert not rule.pal_lam(targets, mixed, attn, logits).requires_grad
    # batches not mixed by MaskMix keep area labels
    other = MixedBatch(mixed.inputs, mixed.index, mixed.lam, 'mixup')
    rule.probe = _Probe(attn)
    rule.prepare(other)
    assert not rule.active
    torch.testing.assert_close(rule(targets, other), y_area)


def test_mixpro_training_step_gets_the_logits_from_the_classifier():
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='ImageClassifier',
        backbone=dict(type='TimmBackbone', model_name='vit_tiny_patch16_224', img_size=32, patch_size=8,
                      embed_dim=32, depth=2, num_heads=2),
        head=dict(type='LinearClsHead', num_classes=K), label_smoothing=0.1,
        mixer=dict(type='MaskMix', alpha=1.0, mask_patch_size=8, pairing='perm', seed=0),
        label_assigner=dict(type='MixProLabel')))
    seen = []
    orig = model.label_assigner.pal_lam

    def spy(targets, mixed, attn, logits):
        seen.append(logits)
        return orig(targets, mixed, attn, logits)

    model.label_assigner.pal_lam = spy
    for _ in range(3):  # lam ~ Beta(1, 1) rounds up to all 16 cells (unmixed) in 1 of 16 batches
        loss = model.loss(torch.randn(4, 3, 32, 32), dict(gt_label=torch.tensor([0, 1, 2, 3])))['loss']
        assert torch.isfinite(loss)
        loss.backward()
    assert seen and all(z.shape == (4, K) and z.requires_grad for z in seen)
    rule = MixProLabel()
    rule.attach(model.backbone)  # called without logits: refused
    rule.prepare(MixedBatch(torch.zeros(2, 3, 32, 32), torch.tensor([1, 0]), torch.full((2,), 0.5), 'maskmix',
                            mask=torch.ones(2, 1, 32, 32)))
    model.backbone(torch.zeros(2, 3, 32, 32))
    with pytest.raises(RuntimeError, match='needs the logits'):
        rule(smooth_one_hot(torch.tensor([0, 1]), K), MixedBatch(torch.zeros(2, 3, 32, 32), torch.tensor([1, 0]),
                                                                  torch.full((2,), 0.5), 'maskmix'))
