"""alpha = 0 switches a Beta-drawing method off, as timm's mixup_alpha/cutmix_alpha = 0; never a mid-run crash."""
from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from mmengine.logging import MMLogger
from timm.data import Mixup as TimmMixup

from openmix.mixers import CutMix, FMix, Mixup, RandomMix, ResizeMix
from openmix.registry import MODELS


def images(b: int = 6, size: int = 16) -> torch.Tensor:
    return torch.rand(b, 3, size, size, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize('cls', [Mixup, CutMix, FMix])
def test_alpha_zero_leaves_the_batch_unmixed(cls):
    mixer = cls(alpha=0.0, seed=0)
    assert not mixer.enabled
    x = images()
    for _ in range(5):
        out = mixer(x.clone())
        assert out.mode == 'none' and torch.equal(out.inputs, x) and torch.equal(out.lam, torch.ones(len(x)))
    mixer.enabled = True  # MixOffHook switching mixing back on cannot turn an alpha-0 method on
    assert not mixer.enabled


@pytest.mark.parametrize('alpha', [-0.5, float('nan'), 'one', True])
def test_bad_alpha_is_refused_at_build_naming_the_mixer(alpha):
    with pytest.raises(ValueError, match=r'CutMix: alpha must be a number >= 0'):
        CutMix(alpha=alpha)


def test_alpha_zero_only_switches_off_methods_that_draw_lam_from_beta():
    assert CutMix(alpha=0.0, minmax=(0.2, 0.8)).enabled  # timm: minmax ignores alpha
    assert ResizeMix(alpha=0.0).enabled  # tau ~ U(scope): alpha unused
    assert not ResizeMix(alpha=0.0, use_alpha=True).enabled


def _timm_modes(mixup_alpha: float, cutmix_alpha: float, mode: str, n: int = 20) -> set:
    """Which methods timm's Mixup uses over n batches (elem mode: per sample), read from its parameters."""
    m = TimmMixup(mixup_alpha=mixup_alpha, cutmix_alpha=cutmix_alpha, switch_prob=0.5, mode=mode, num_classes=10)
    np.random.seed(0)
    used = set()
    for _ in range(n):
        if mode == 'batch':
            _, use_cutmix = m._params_per_batch()
            used.add('cutmix' if use_cutmix else 'mixup')
        else:
            _, use_cutmix = m._params_per_elem(8)
            used |= {'cutmix' if u else 'mixup' for u in use_cutmix}
    return used


@pytest.mark.parametrize('mode', ['batch', 'elem'])
@pytest.mark.parametrize('off', ['mixup', 'cutmix'])
def test_random_mix_never_chooses_an_alpha_zero_member_as_timm(mode, off):
    mixup_alpha, cutmix_alpha = (0.0, 1.0) if off == 'mixup' else (0.8, 0.0)
    on = 'cutmix' if off == 'mixup' else 'mixup'
    assert _timm_modes(mixup_alpha, cutmix_alpha, mode) == {on}  # the reference semantics
    mixer = RandomMix(mixers=[dict(type='Mixup', alpha=mixup_alpha), dict(type='CutMix', alpha=cutmix_alpha)],
                      switch_prob=0.5, mode=mode, seed=0)
    assert mixer.enabled
    x = images(8)
    for _ in range(20):  # before: ValueError 'a <= 0' from rng.beta whenever the alpha-0 member was drawn
        out = mixer(x.clone())
        assert out.lam.min() < 1
        if mode == 'batch':
            assert out.mode == on
        else:
            assert bool(out.is_box.all()) == (on == 'cutmix') and not (on == 'mixup' and out.is_box.any())


def test_random_mix_all_members_off_is_off():
    mixer = RandomMix(mixers=[dict(type='Mixup', alpha=0), dict(type='CutMix', alpha=0)], seed=0)
    assert not mixer.enabled
    out = mixer(images())
    assert out.mode == 'none' and torch.equal(out.lam, torch.ones(6))


def test_random_mix_probs_only_on_off_members_is_refused_at_build():
    with pytest.raises(ValueError, match=r'give no weight to the mixers that are on; Mixup\(alpha=0\)'):
        RandomMix(mixers=[dict(type='Mixup', alpha=0), dict(type='CutMix', alpha=1.0)], probs=[1.0, 0.0])


def test_classifier_with_alpha_zero_trains_unmixed_and_says_so():
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        model = MODELS.build(dict(type='ImageClassifier', backbone=dict(type='TimmBackbone', model_name='resnet18'),
                                  head=dict(type='LinearClsHead', num_classes=4), mixer=dict(type='Mixup', alpha=0)))
    finally:
        logger.removeHandler(handler)
    assert any('Mixup: alpha=0 switches mixing off' in r.getMessage() for r in records)
    assert not model.mixer.enabled
    torch.manual_seed(0)
    x, y = torch.rand(4, 3, 32, 32), torch.tensor([0, 1, 2, 3])
    model.eval()  # BatchNorm on running statistics: the same logits in both calls
    loss = model.loss(x, dict(gt_label=y))['loss']
    ref = torch.nn.functional.cross_entropy(model(x, mode='tensor'), y)
    assert loss.item() == pytest.approx(ref.item(), rel=1e-5)  # no mixing: plain CE on the clean batch
