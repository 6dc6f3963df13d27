"""FMix, SmoothMix, ResizeMix: invariants and hand-computed values."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from openmix.mixers import FMix, RandomMix, ResizeMix, SmoothMix
from openmix.mixers.fmix import binarise, low_freq_images
from openmix.registry import MIXERS


def _batch(b=6, h=16, w=20, seed=0):
    return torch.randn(b, 3, h, w, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize('cfg', [dict(type='FMix', alpha=1.0), dict(type='SmoothMix'),
                                 dict(type='ResizeMix', scope=(0.3, 0.8))])
def test_same_seed_same_batch_and_lam_in_range(cfg):
    x = _batch()
    a = MIXERS.build(dict(cfg, seed=3))(x.clone())
    b = MIXERS.build(dict(cfg, seed=3))(x.clone())
    c = MIXERS.build(dict(cfg, seed=4))(x.clone())
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.lam, b.lam)
    assert not torch.equal(a.inputs, c.inputs)
    assert ((a.lam >= 0) & (a.lam <= 1)).all() and torch.equal(a.index, torch.arange(5, -1, -1))


def test_smoothmix_is_a_gaussian_blend_with_lam_one_minus_mean():
    x = _batch()
    m = SmoothMix(seed=0)
    params = m.draw(np.random.default_rng(1), 1, (16, 20))
    cy, cx, sigma = (float(params.extra[k][0]) for k in ('cy', 'cx', 'sigma'))
    assert cy + 0.5 == int(cy + 0.5) and cx + 0.5 == int(cx + 0.5) and 4.0 <= sigma <= 8.0
    ys, xs = np.mgrid[0:16, 0:20]
    g = np.exp(-((ys - cy) ** 2 + (xs - cx) ** 2) / (2 * sigma ** 2))
    assert params.lam[0] == pytest.approx(1 - g.mean(), abs=1e-12)
    out = m.mix_whole_batch(x.clone(), params)
    expected = x * torch.from_numpy(1 - g).float() + x.flip(0) * torch.from_numpy(g).float()
    torch.testing.assert_close(out.inputs, expected, atol=1e-5, rtol=1e-5)
    assert out.is_box is not None and not out.is_box.any() and out.box is None


def test_fmix_mask_keeps_lam_pixels_and_partner_elsewhere():
    x = _batch(b=4, h=32, w=32)
    m = FMix(alpha=1.0, seed=0)
    params = m.draw(m.rng, 1, (32, 32))
    w = m.partner_weight(params, x)
    assert set(w.unique().tolist()) <= {0.0, 1.0}
    kept = int((w == 0).sum())
    n = params.lam[0] * 32 * 32
    assert kept in (math.floor(n), math.ceil(n)) and kept == int(params.extra['num'][0])
    out = m.mix_whole_batch(x.clone(), params)
    sel = w[0, 0].bool()
    assert torch.equal(out.inputs[:, :, ~sel], x[:, :, ~sel]) and torch.equal(out.inputs[:, :, sel],
                                                                                x.flip(0)[:, :, sel])
    assert out.lam[0].item() == pytest.approx(params.lam[0], abs=1e-6)


def test_fmix_spectrum_decay_gives_low_frequency_masks():
    smooth = low_freq_images(8, 0, (32, 32), decay_power=3.0)
    rough = low_freq_images(8, 0, (32, 32), decay_power=0.0)
    tv = lambda g: (g.diff(dim=1).abs().mean() + g.diff(dim=2).abs().mean()).item()  # noqa: E731
    assert smooth.shape == (8, 32, 32) and smooth.amin() == 0 and smooth.amax() == 1
    assert tv(smooth) < 0.25 * tv(rough)
    # binarise: exactly num brightest pixels, ties broken by position
    grey = torch.tensor([[[0.5, 0.1], [0.9, 0.5]]])
    assert binarise(grey, torch.tensor([2])).tolist() == [[[1.0, 0.0], [1.0, 0.0]]]


def test_resizemix_pastes_the_resized_partner_and_lam_is_the_area():
    x = _batch(b=4, h=20, w=20)
    m = ResizeMix(scope=(0.5, 0.5), seed=0)
    params = m.draw(np.random.default_rng(2), 1, (20, 20))
    y0, y1, x0, x1 = params.box[0]
    assert params.lam[0] == pytest.approx(1 - (y1 - y0) * (x1 - x0) / 400)
    out = m.mix_whole_batch(x.clone(), params)
    torch.testing.assert_close(out.inputs[:, :, y0:y1, x0:x1],
                               F.interpolate(x.flip(0), size=(y1 - y0, x1 - x0), mode='nearest'))
    outside = torch.ones(20, 20, dtype=torch.bool)
    outside[y0:y1, x0:x1] = False
    assert torch.equal(out.inputs[:, :, outside], x[:, :, outside])
    assert not out.is_box.any()  # TransMix keeps area labels for ResizeMix
    with pytest.raises(ValueError, match="ResizeMix mix whole batches only: use mode='batch'"):
        RandomMix([dict(type='ResizeMix'), dict(type='Mixup')], mode='elem')


def test_elem_mode_gives_per_sample_lam_for_fmix_and_smoothmix():
    x = _batch(b=8, h=16, w=16)
    mix = RandomMix([dict(type='FMix'), dict(type='SmoothMix')], mode='elem', seed=0)
    out = mix(x.clone())
    assert out.lam.unique().numel() > 2
    # every sample is exactly the lerp of itself and its partner with its own weight
    torch.testing.assert_close(out.inputs, torch.lerp(x, x[out.index], out.mask))


def _reference_grid(h, w, top, left, cut_h, cut_w, ph, pw, hh, hw):
    """The reference's loop over holes (official GridMixup / OpenMixup), for square-agnostic rows/cols."""
    mask = np.zeros((h, w))
    for i in range(cut_w // pw + 2):
        for j in range(cut_h // ph + 2):
            x1, y1 = min(pw * i, cut_w), min(ph * j, cut_h)
            x2, y2 = min(x1 + hw, cut_w), min(y1 + hh, cut_h)
            mask[top + y1:top + y2, left + x1:left + x2] = 1
    return mask


def test_gridmix_mask_matches_the_hole_loop_and_lam_is_exact():
    from openmix.mixers import GridMix
    m = GridMix(alpha=1.0, seed=0)
    x = _batch(b=5, h=40, w=48)
    params = m.draw(np.random.default_rng(7), 5, (40, 48))
    w = m.partner_weight(params, x)
    for i in range(5):
        ref = _reference_grid(40, 48, *params.extra['grid'][i].tolist())
        np.testing.assert_array_equal(w[i, 0].numpy(), ref)
        assert params.lam[i] == pytest.approx(1 - ref.sum() / (40 * 48))
    out = RandomMix([dict(type='GridMix')], mode='elem', seed=1)(x.clone())
    assert out.lam.unique().numel() > 1
    with pytest.raises(ValueError, match='n_holes up to 30 needs crops at least 60 px wide'):
        GridMix(n_holes=(29, 30), seed=0).draw(np.random.default_rng(0), 2, (32, 32))


def test_openmixup_spelling_builds_the_same_mixer():
    ours = RandomMix([dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)], probs=[0.3, 0.7], seed=5)
    theirs = RandomMix(mix_mode=['mixup', 'cutmix'], mix_alpha=[0.8, 1.0], mix_prob=[0.3, 0.7], seed=5)
    x = _batch()
    a, b = ours(x.clone()), theirs(x.clone())
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.lam, b.lam)
    assert [type(m).__name__ for m in theirs.mixers] == ['Mixup', 'CutMix'] and theirs.mixers[0].alpha == 0.8
    with pytest.raises(KeyError, match="mix_mode 'puzzlemix' is not one of"):
        RandomMix(mix_mode=['puzzlemix'])
    with pytest.raises(ValueError, match='not both'):
        RandomMix([dict(type='Mixup')], mix_mode=['mixup'])
