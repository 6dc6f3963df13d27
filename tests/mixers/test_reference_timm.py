"""Mixup / CutMix / RandomMix against timm's ``Mixup`` (the reference code of the DeiT recipe), run here.

Batch mode consumes the same random variates in the same order as timm, so fed from NumPy's global state (which
timm draws from) it must give timm's batches and targets exactly. Elem and pair modes draw in another order
(vectorised), so timm is given our parameters and must then give our batches and targets.
"""
from __future__ import annotations

import numpy as np
import pytest
import timm.data.mixup as timm_mixup
import torch

from openmix.mixers import RandomMix
from openmix.mixers.geometry import mix_target, smooth_one_hot


class GlobalNumpy:
    """The ``numpy.random.Generator`` calls our mixers make, served from NumPy's global state as timm draws them.

    ``choice`` between two methods uses the second iff ``u < p[1]`` (timm's ``rand() < switch_prob``) and draws
    nothing when one method is off (timm then never draws the switch).
    """

    def random(self, size=None):
        return np.random.random_sample(size)

    def beta(self, a, b, size=None):
        return np.random.beta(a, b, size)

    def integers(self, low, high=None, size=None):
        return np.random.randint(low, high, size)

    def choice(self, n, size=None, p=None):
        assert n == 2 and size is None
        if min(p) == 0:
            return int(np.argmax(p))
        return int(np.random.rand() < p[1])


def _pair(mixup_alpha, cutmix_alpha, prob, switch_prob, mode, smoothing=0.1, k=10):
    ours = RandomMix(mixers=[dict(type='Mixup', alpha=mixup_alpha), dict(type='CutMix', alpha=cutmix_alpha)],
                     switch_prob=switch_prob, prob=prob, mode=mode, seed=0)
    ref = timm_mixup.Mixup(mixup_alpha=mixup_alpha, cutmix_alpha=cutmix_alpha, prob=prob, switch_prob=switch_prob,
                           mode=mode, label_smoothing=smoothing, num_classes=k)
    return ours, ref


def _batch(step: int, b: int = 8, hw=(24, 20), k: int = 10):
    g = torch.Generator().manual_seed(step)
    return torch.rand(b, 3, *hw, generator=g), torch.randint(0, k, (b,), generator=g)


@pytest.mark.parametrize('mixup_alpha,cutmix_alpha,prob,switch_prob', [
    (0.8, 1.0, 1.0, 0.5),   # DeiT recipe
    (0.2, 2.0, 0.6, 0.8),
    (0.8, 0.0, 1.0, 0.5),   # CutMix off (alpha 0): timm only mixes up
    (0.0, 1.0, 1.0, 0.5),   # Mixup off
])
def test_batch_mode_reproduces_timm_draw_for_draw(mixup_alpha, cutmix_alpha, prob, switch_prob):
    ours, ref = _pair(mixup_alpha, cutmix_alpha, prob, switch_prob, 'batch')
    ours.rng = GlobalNumpy()
    modes = set()
    for step in range(40):
        x, y = _batch(step)
        np.random.seed(step)
        x_ref, t_ref = ref(x.clone(), y)
        np.random.seed(step)
        out = ours(x.clone())
        t_ours = mix_target(smooth_one_hot(y, 10, 0.1), out.index, out.lam)
        torch.testing.assert_close(out.inputs, x_ref, atol=1e-6, rtol=0)
        torch.testing.assert_close(t_ours, t_ref, atol=1e-6, rtol=0)
        modes.add(out.mode)
    assert modes >= ({'mixup', 'cutmix'} if mixup_alpha and cutmix_alpha else {'mixup' if mixup_alpha else 'cutmix'})


@pytest.mark.parametrize('mode', ['elem', 'pair'])
def test_elem_and_pair_modes_equal_timm_given_the_same_parameters(mode, monkeypatch):
    ours, ref = _pair(0.8, 1.0, 0.8, 0.5, mode)
    for step in range(10):
        x, y = _batch(step)
        out = ours(x.clone())
        n = len(x) if mode == 'elem' else len(x) // 2
        lam = out.lam[:n].numpy().astype(np.float32)
        is_box = out.is_box[:n].numpy()
        boxes = iter(out.box[:n][is_box & (lam != 1)].tolist())
        h, w = x.shape[-2:]

        def given_box(img_shape, lam_, ratio_minmax=None, correct_lam=True, count=None):
            yl, yh, xl, xh = next(boxes)
            return (yl, yh, xl, xh), 1.0 - (yh - yl) * (xh - xl) / float(h * w)

        monkeypatch.setattr(timm_mixup, 'cutmix_bbox_and_lam', given_box)
        monkeypatch.setattr(ref, '_params_per_elem', lambda size: (lam.copy(), is_box.copy()))
        x_ref, t_ref = ref(x.clone(), y)
        torch.testing.assert_close(out.inputs, x_ref, atol=1e-6, rtol=0)
        torch.testing.assert_close(mix_target(smooth_one_hot(y, 10, 0.1), out.index, out.lam), t_ref, atol=1e-6,
                                   rtol=0)
        assert next(boxes, None) is None  # timm pasted exactly our box-mixed samples


def test_clovaai_box_rule_reproduces_the_recorded_official_boxes():
    """``CutMix(box_rule='clovaai')``'s geometry against recorded clovaai ``rand_bbox`` output, variate for variate."""
    from pathlib import Path
    from openmix.mixers.geometry import rand_bbox, rand_bbox_clovaai
    rows = np.load(Path(__file__).parents[1] / 'fixtures' / 'reference' / 'cutmix_clovaai.npz')['rows']
    differs = 0
    for seed, h, w, lam, r_lo, c_lo, r_hi, c_hi in rows:
        np.random.seed(int(seed))
        assert np.random.beta(1.0, 1.0) == lam
        box = rand_bbox_clovaai(GlobalNumpy(), (int(h), int(w)), np.array([lam]))[0]
        assert box.tolist() == [r_lo, r_hi, c_lo, c_hi]
        np.random.seed(int(seed))
        np.random.beta(1.0, 1.0)
        differs += rand_bbox(GlobalNumpy(), (int(h), int(w)), np.array([lam]))[0].tolist() != box.tolist()
    assert differs > len(rows) // 2  # timm's rule (the default) is another box: odd sides, centre kept
