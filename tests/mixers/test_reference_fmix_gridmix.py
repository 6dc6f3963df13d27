"""FMix and GridMix against recorded reference output (tests/fixtures/reference/{fmix,gridmix}.md), with and without
the reproduction flags."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from openmix.mixers import FMix, GridMix
from openmix.mixers.fmix import fmix_mask, grey_images, spectrum_noise, spectrum_width
from openmix.mixers.gridmix import grid_geometry, grid_lam, grid_mask

FIXTURES = Path(__file__).resolve().parents[1] / 'fixtures' / 'reference'
FMIX_SIZES = [(8, 8), (16, 12), (32, 32), (12, 15), (8, 32)]
GRID_SIZES = [(32, 32), (32, 48), (40, 24)]


@pytest.fixture(scope='module')
def fmix_ref():
    return np.load(FIXTURES / 'fmix.npz')


@pytest.fixture(scope='module')
def grid_ref():
    return np.load(FIXTURES / 'gridmix.npz')


def _fmix_case(ref, hw):
    key = f'{hw[0]}x{hw[1]}'
    return (torch.from_numpy(ref[f'{key}_noise']), ref[f'{key}_lam'], ref[f'{key}_coin'], ref[f'{key}_grey'],
            ref[f'{key}_mask'])


def _cyclic_runs(mask: np.ndarray) -> np.ndarray:
    """Runs of kept pixels in each row, counted cyclically."""
    return ((mask == 1) & (np.roll(mask, 1, axis=-1) == 0)).sum(-1)


@pytest.mark.parametrize('hw', FMIX_SIZES, ids=lambda hw: f'{hw[0]}x{hw[1]}')
def test_fmix_legacy_spectrum_equals_the_official_masks(fmix_ref, hw):
    noise, lam, coin, grey_ref, mask_ref = _fmix_case(fmix_ref, hw)
    assert noise.shape[1:] == (hw[0], spectrum_width(hw[1]), 2)
    grey = grey_images(noise, hw, 3.0, legacy_spectrum=True).numpy()
    np.testing.assert_allclose(grey, grey_ref, rtol=0, atol=1e-12)
    keep = fmix_mask(noise, lam, coin, hw, 3.0, legacy_spectrum=True).numpy()
    np.testing.assert_array_equal(keep, mask_ref)
    # the kept count is the official ceil/floor rule of lam * H * W
    area = lam * hw[0] * hw[1]
    assert keep.sum((1, 2)).tolist() == [math.ceil(a) if c > 0.5 else math.floor(a) for a, c in zip(area, coin)]


@pytest.mark.parametrize('hw', FMIX_SIZES, ids=lambda hw: f'{hw[0]}x{hw[1]}')
def test_fmix_reference_has_horizontal_frequencies_0_and_1_only_and_ours_does_not(fmix_ref, hw):
    noise, lam, coin, grey_ref, mask_ref = _fmix_case(fmix_ref, hw)
    ref_spec = np.abs(np.fft.rfft(grey_ref, axis=-1))
    assert ref_spec[..., 2:].max() < 1e-12 * ref_spec.max()  # one cosine period plus a constant in every row
    assert _cyclic_runs(mask_ref).max() <= 1  # so every row of its mask is a single cyclic run
    grey = grey_images(noise, hw, 3.0).numpy()
    spec = np.abs(np.fft.rfft(grey, axis=-1))
    assert (spec[..., 2:].max(axis=(1, 2)) > 1e-3 * spec.max(axis=(1, 2))).all()
    # same noise, lam and coin, the same kept count, different pixels
    keep = fmix_mask(noise, lam, coin, hw, 3.0).numpy()
    np.testing.assert_array_equal(keep.sum((1, 2)), mask_ref.sum((1, 2)))
    differ = (keep != mask_ref).mean((1, 2))
    informative = (lam > 0.1) & (lam < 0.9)
    assert informative.any() and (differ[informative] > 0.05).all()


def test_fmix_default_and_reference_differ_on_almost_every_draw():
    """The docstring's figures at 32 x 32: masks differ in ~99.9 % of draws and ~32 % of pixels (alpha 1)."""
    n, hw = 300, (32, 32)
    rng = np.random.default_rng(0)
    lam, coin = rng.beta(1.0, 1.0, n), rng.random(n)
    noise = spectrum_noise(n, hw, seed=1)
    ours = fmix_mask(noise, lam, coin, hw).numpy()
    ref = fmix_mask(noise, lam, coin, hw, legacy_spectrum=True).numpy()
    assert (ours != ref).any((1, 2)).mean() > 0.98
    assert 0.25 < (ours != ref).mean() < 0.4
    assert _cyclic_runs(ref).max() <= 1 and (_cyclic_runs(ours).max(1) > 1).mean() > 0.15


def test_fmix_mixer_uses_the_flag_on_the_same_draws():
    x = torch.randn(4, 3, 16, 12, generator=torch.Generator().manual_seed(0))
    ours, ref = FMix(seed=3), FMix(seed=3, legacy_spectrum=True)
    params = ours.draw(np.random.default_rng(5), 1, (16, 12))
    noise = spectrum_noise(1, (16, 12), params.extra['seed'])
    for mixer, legacy in ((ours, False), (ref, True)):
        keep = fmix_mask(noise, params.lam, params.extra['coin'], (16, 12), legacy_spectrum=legacy)
        torch.testing.assert_close(mixer.partner_weight(params, x), (1 - keep)[:, None].float(), rtol=0, atol=0)
    assert not torch.equal(ours.partner_weight(params, x), ref.partner_weight(params, x))


def test_fmix_redraw_self_pairs_as_openmixup():
    b, trials = 6, 400
    plain = FMix(pairing='perm', seed=0)
    redraw = FMix(pairing='perm', redraw_self_pairs=True, seed=0)
    fixed = lambda m: (m.partner_index(b, torch.device('cpu')) == torch.arange(b)).any().item()  # noqa: E731
    share_plain = np.mean([fixed(plain) for _ in range(trials)])
    share_redraw = np.mean([fixed(redraw) for _ in range(trials)])
    assert 0.55 < share_plain < 0.72 and share_redraw < 0.03  # 1 - 1/e vs (1 - 1/e) ** 11
    # the rule: redraw while a self-pair remains, at most 10 times, and keep the last draw unchecked
    rng = np.random.default_rng(1)
    m = FMix(pairing='perm', redraw_self_pairs=True, seed=1)
    for _ in range(20):
        expected = rng.permutation(b)
        for _ in range(10):
            if not (expected == np.arange(b)).any():
                break
            expected = rng.permutation(b)
        assert m.partner_index(b, torch.device('cpu')).tolist() == expected.tolist()
    with pytest.raises(ValueError, match="redraw_self_pairs needs pairing='perm'"):
        FMix(redraw_self_pairs=True)


def _grid_case(ref, hw, legacy):
    key = f'{hw[0]}x{hw[1]}'
    lam, holes, hole_aspect, area, aspect, cx, cy = ref[f'{key}_draws'].T
    grid = grid_geometry(lam, holes, hole_aspect, area, aspect, cy, cx, hw, legacy_grid=legacy)
    return grid, ref[f'{key}_mask'], ref[f'{key}_lam']


@pytest.mark.parametrize('hw', GRID_SIZES, ids=lambda hw: f'{hw[0]}x{hw[1]}')
def test_gridmix_legacy_grid_equals_openmixup(grid_ref, hw):
    grid, mask_ref, lam_ref = _grid_case(grid_ref, hw, legacy=True)
    assert (grid[:, :2] < 0).any()  # the recorded draws include crops that leave the image
    np.testing.assert_array_equal(grid_mask(grid, hw, legacy_grid=True).numpy(), mask_ref)
    lam = grid_lam(grid, hw, legacy_grid=True)
    np.testing.assert_allclose(lam, 1 - mask_ref.sum((1, 2)) / (hw[0] * hw[1]), rtol=0, atol=1e-15)
    np.testing.assert_allclose(lam, lam_ref, rtol=0, atol=1e-7)  # the reference rounds to float32
    count = grid_mask(grid, hw, legacy_grid=True).sum((1, 2)).numpy().astype(np.float32)
    np.testing.assert_array_equal(np.float32(1) - count / np.float32(hw[0] * hw[1]), lam_ref)


@pytest.mark.parametrize('hw', GRID_SIZES, ids=lambda hw: f'{hw[0]}x{hw[1]}')
def test_gridmix_default_differs_from_openmixup_where_the_crop_leaves_or_the_image_is_not_square(grid_ref, hw):
    grid, mask_ref, lam_ref = _grid_case(grid_ref, hw, legacy=False)
    legacy_grid, _, _ = _grid_case(grid_ref, hw, legacy=True)
    ours = grid_mask(grid, hw).numpy()
    np.testing.assert_allclose(grid_lam(grid, hw), 1 - ours.sum((1, 2)) / (hw[0] * hw[1]), rtol=0, atol=1e-15)
    differ = (ours != mask_ref).any((1, 2))
    leaves = (legacy_grid[:, 2] > hw[0]) | (legacy_grid[:, 3] > hw[1]) | (legacy_grid[:, :2] < 0).any(1)
    if hw[0] == hw[1]:
        assert not differ[~leaves].any()  # square and inside: equal
        assert differ[leaves].any()
    else:
        assert differ.mean() > 0.9


def _slice_loop_mask(hw, g):
    """The reference's hole loop with Python slice semantics (independent statement of its indexing)."""
    top, left, ch, cw, ph, pw, hh, hw_ = (int(v) for v in g)
    mask = np.zeros(hw, np.uint8)
    for i in range(cw // pw + 2):
        for j in range(math.ceil(ch / ph) + 1):
            x1, y1 = min(pw * i, cw), min(ph * j, ch)
            mask[top + y1:top + min(y1 + hh, ch), left + x1:left + min(x1 + hw_, cw)] = 1
    return mask


@pytest.mark.parametrize('hw,ranges', [((32, 32), {}), ((17, 29), dict(holes=(1, 3), ha=(0.7, 2.0), cas=(0.25, 4.0)))])
def test_gridmix_modular_wrap_equals_the_slice_loop_on_random_draws(hw, ranges):
    n, rng = 300, np.random.default_rng(0)
    holes, ha, cas = ranges.get('holes', (2, 6)), ranges.get('ha', (1.0, 1.0)), ranges.get('cas', (0.5, 2.0))
    draws = (rng.beta(1, 1, n), rng.integers(holes[0], holes[1] + 1, n), rng.uniform(*ha, n), rng.uniform(0.5, 1, n),
             rng.uniform(*cas, n), rng.random(n), rng.random(n))
    grid = grid_geometry(*draws, hw, legacy_grid=True)
    masks = grid_mask(grid, hw, legacy_grid=True).numpy()
    lam = grid_lam(grid, hw, legacy_grid=True)
    for k in range(n):
        ref = _slice_loop_mask(hw, grid[k])
        np.testing.assert_array_equal(masks[k], ref)
        assert lam[k] == pytest.approx(1 - ref.sum() / (hw[0] * hw[1]), abs=1e-15)


def test_gridmix_crop_leaves_a_32px_image_in_about_45_percent_of_draws():
    """The docstring's figures with the default ranges: 45 % of crops leave a 32 x 32 image, 30 % of masks differ."""
    n, rng, hw = 3000, np.random.default_rng(0), (32, 32)
    draws = (rng.beta(0.2, 0.2, n), rng.integers(2, 7, n), np.ones(n), rng.uniform(0.5, 1, n), rng.uniform(0.5, 2, n),
             rng.random(n), rng.random(n))
    ref, ours = grid_geometry(*draws, hw, legacy_grid=True), grid_geometry(*draws, hw)
    leaves = (ref[:, 2] > 32) | (ref[:, 3] > 32)
    assert 0.42 < leaves.mean() < 0.48
    differ = (grid_mask(ref, hw, True) != grid_mask(ours, hw)).flatten(1).any(1).numpy()
    assert 0.27 < differ.mean() < 0.33 and not differ[~leaves].any()


def test_gridmix_mixer_flag_and_per_sample_path():
    x = torch.randn(6, 3, 32, 48, generator=torch.Generator().manual_seed(0))
    ref = GridMix(alpha=0.2, pairing='perm', legacy_grid=True, seed=0)
    params = ref.draw(np.random.default_rng(3), 6, (32, 48))
    w = ref.partner_weight(params, x)
    np.testing.assert_array_equal(w[:, 0].numpy(), grid_mask(params.extra['grid'], (32, 48), True).numpy())
    np.testing.assert_allclose(params.lam, 1 - w.sum((1, 2, 3)).numpy() / (32 * 48), rtol=0, atol=1e-6)
    out = ref(x.clone())
    assert out.mode == 'gridmix' and ((out.lam > 0) & (out.lam <= 1)).all()
