"""SUMix: re-estimated ratio and uncertainty regulariser against recorded official output; the classifier step."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from openmix.mixers.base import MixedBatch
from openmix.mixers.geometry import smooth_one_hot
from openmix.models.label_rules import SUMixClassifier, SUMixLabel
from openmix.models.losses import SoftTargetCrossEntropy, SUMixUncertaintyLoss
from openmix.registry import MODELS

FIXTURE = Path(__file__).resolve().parents[1] / 'fixtures' / 'reference' / 'sumix.npz'
K = 10


def _case(ref, c):
    p = f'c{c}_'
    t = {k[len(p):]: torch.from_numpy(np.asarray(v)) for k, v in ref.items() if k.startswith(p)}
    logits = lambda f: f @ t['fc_w'].T + t['fc_b']  # noqa: E731
    y, index = t['y_a'].long(), t['index'].long()
    mixed = MixedBatch(torch.zeros(1), index, torch.full((len(y),), float(t['lam'])), 'cutmix')
    return t, logits(t['feat_one']), logits(t['feat_mix']), y, index, mixed


@pytest.mark.parametrize('legacy', [True, False])
def test_classification_term_equals_official(legacy):
    ref = dict(np.load(FIXTURE))
    worst = 0.0
    for c in range(int(ref['n_cases'])):
        t, logits_clean, logits_mix, y, index, mixed = _case(ref, c)
        targets, _, _ = SUMixLabel(legacy_batch_mean=legacy).reestimate(smooth_one_hot(y, K, 0.0), mixed,
                                                                        logits_clean, logits_mix, y)
        ours = SoftTargetCrossEntropy()(logits_mix, targets)
        expected = t['loss_mean_g0'] if legacy else t['loss_none_g0'][0]
        worst = max(worst, abs(float(ours) - float(expected)))
    assert worst < 2e-6, worst


def test_uncertainty_term_equals_official():
    ref = dict(np.load(FIXTURE))
    worst = 0.0
    for c in range(int(ref['n_cases'])):
        t, logits_clean, logits_mix, y, index, mixed = _case(ref, c)
        _, alpha_a, alpha_b = SUMixLabel().reestimate(smooth_one_hot(y, K, 0.0), mixed, logits_clean, logits_mix, y)
        reg = SUMixUncertaintyLoss(12, K, gamma=0.5)
        reg.uncertain.load_state_dict(dict(weight=t['unc_w'], bias=t['unc_b']))
        ours = reg(t['feat_one'], t['feat_mix'], alpha_a, alpha_b, y, y[index], index, mixed.lam)
        worst = max(worst, abs(float(ours) - float(t['loss_mean_g05'] - t['loss_mean_g0'])))
    assert worst < 2e-6, worst


def test_reestimated_ratio_invariants():
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, K, (6,), generator=g)
    index = torch.randperm(6, generator=g)
    logits_clean, logits_mix = torch.randn(6, K, generator=g), torch.randn(6, K, generator=g)
    rule = SUMixLabel()
    for lam in (0.0, 1.0):  # an unmixed side keeps its ratio
        mixed = MixedBatch(torch.zeros(1), index, torch.full((6,), lam), 'mixup')
        targets, _, _ = rule.reestimate(smooth_one_hot(y, K, 0.1), mixed, logits_clean, logits_mix, y)
        expected = smooth_one_hot(y if lam == 1.0 else y[index], K, 0.1)
        assert torch.allclose(targets, expected, atol=1e-6)
    mixed = MixedBatch(torch.zeros(1), index, torch.rand(6, generator=g), 'mixup')  # per-sample ratios
    targets, alpha_a, _ = rule.reestimate(smooth_one_hot(y, K, 0.0), mixed, logits_clean, logits_mix, y)
    assert torch.allclose(targets.sum(-1), torch.ones(6)) and not alpha_a.requires_grad
    with pytest.raises(RuntimeError, match='SUMixClassifier'):
        rule(targets, mixed)


def test_classifier_step_trains_backbone_and_uncertainty_head():
    model = MODELS.build(dict(type='SUMixClassifier', backbone=dict(type='TimmBackbone', model_name='resnet18',
                                                                    cifar_stem=True),
                              head=dict(type='LinearClsHead', num_classes=5),
                              mixer=dict(type='CutMix', alpha=0.2, pairing='perm', seed=0)))
    assert isinstance(model, SUMixClassifier)
    x = torch.randn(4, 3, 32, 32)
    losses = model.loss(x.clone(), dict(gt_label=torch.arange(4) % 5))
    assert set(losses) == {'loss', 'loss_uncertainty'} and all(torch.isfinite(v) for v in losses.values())
    losses['loss_uncertainty'].backward()
    assert model.uncertainty.uncertain.weight.grad.abs().sum() > 0
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.backbone.parameters())
    model.mixer.enabled = False  # mixing off: the plain classifier step
    assert set(model.loss(x.clone(), dict(gt_label=torch.arange(4) % 5))) == {'loss'}
    with pytest.raises(TypeError, match='SUMixLabel'):
        MODELS.build(dict(type='SUMixClassifier', backbone=dict(type='TimmBackbone', model_name='resnet18'),
                          head=dict(type='LinearClsHead', num_classes=5), mixer=dict(type='CutMix'),
                          label_assigner=dict(type='AreaLabel')))
