"""MaskMix (MixPro's input mixing) against recorded output of the official code (fistyee/MixPro ``utils.MaskMix``,
see fixtures/reference/mixpro.md), and its invariants."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from openmix.mixers import MaskMix, RandomMix
from openmix.mixers.maskmix import cell_grid, cell_pixels, cells_to_pixels, keep_count, random_cells

REF = np.load(Path(__file__).parents[1] / 'fixtures' / 'reference' / 'mixpro.npz')


@pytest.mark.parametrize('case', ['s32', 's30', 's48'])
def test_maskmix_equals_official_given_its_masks(case):
    size, cell, _ = (int(v) for v in REF[f'{case}_geometry'])
    x = torch.from_numpy(REF[f'{case}_x'].astype(np.float32))
    index = torch.from_numpy(REF[f'{case}_index'])
    keep = torch.from_numpy(REF[f'{case}_cells'].astype(bool))
    assert tuple(keep.shape[1:]) == cell_grid((size, size), cell)
    # the official count rule: every sample keeps ceil(cells * ratio) cells, ratio = count / cells
    counts = keep.flatten(1).sum(1).numpy()
    ratio = REF[f'{case}_mask_ratio']
    assert (counts == counts[0]).all()
    np.testing.assert_allclose(counts / keep[0].numel(), ratio, atol=1e-7)
    assert (keep_count(REF[f'{case}_beta'][None], keep[0].numel()) == counts).all()
    pix = cells_to_pixels(keep, (size, size), cell)[:, None]
    mixed = torch.where(pix, x, x[index])
    assert torch.equal(mixed, torch.from_numpy(REF[f'{case}_mixed'].astype(np.float32)))
    # lam: cells (the reference, cell_lam=True) or pixels (default); equal when the side is a multiple of the cell
    area = cell_pixels(keep.shape[1:], (size, size), cell)
    lam_px = (keep.numpy() * area).sum((1, 2)) / size ** 2
    np.testing.assert_allclose(lam_px, pix.float().mean((1, 2, 3)).numpy(), atol=1e-7)
    if size % cell == 0:
        np.testing.assert_allclose(lam_px, ratio, atol=1e-7)
    else:
        assert not np.allclose(lam_px, ratio)


def test_maskmix_batch_invariants():
    x = torch.randn(8, 3, 32, 32)
    mixer = MaskMix(alpha=1.0, mask_patch_size=8, pairing='perm', seed=0)
    for _ in range(5):
        out = mixer(x.clone())
        if out.mode == 'none':
            continue
        w = out.mask  # (B, 1, H, W) partner weight, 0/1 on 8 px cells
        assert w.shape == (8, 1, 32, 32) and set(w.unique().tolist()) <= {0.0, 1.0}
        cells = w[:, 0, ::8, ::8]
        assert torch.equal(cells.repeat_interleave(8, 1).repeat_interleave(8, 2), w[:, 0])
        expect = torch.where(w.bool(), x[out.index], x)
        assert torch.equal(out.inputs, expect)
        self_pair = out.index == torch.arange(8)
        lam = 1 - w.mean((1, 2, 3))
        torch.testing.assert_close(out.lam[~self_pair], lam[~self_pair])
        assert (out.lam[self_pair] == 1).all()
        # one ratio per batch, one mask per sample
        kept = (1 - cells).flatten(1).sum(1)
        assert (kept == kept[0]).all()
        assert len({tuple(c.flatten().tolist()) for c in cells}) > 1


def test_maskmix_seeded_draws_and_cell_lam():
    a = MaskMix(mask_patch_size=8, seed=3)(torch.randn(4, 3, 30, 30))
    b = MaskMix(mask_patch_size=8, seed=3)(torch.randn(4, 3, 30, 30))
    assert torch.equal(a.mask, b.mask) and torch.equal(a.lam, b.lam)
    rng = np.random.default_rng(0)
    keep = random_cells(rng, np.array([0, 5, 16]), (4, 4))
    assert keep.reshape(3, -1).sum(1).tolist() == [0, 5, 16]
    m = MaskMix(mask_patch_size=8, cell_lam=True, seed=1)
    p = m.draw(np.random.default_rng(1), 6, (30, 30))
    np.testing.assert_allclose(p.lam, keep_count(p.extra['lam0'], 16) / 16)
    with pytest.raises(ValueError, match='mask_patch_size'):
        MaskMix(mask_patch_size=0)


def test_maskmix_in_random_mix_per_sample():
    mixer = RandomMix(mixers=[dict(type='MaskMix', mask_patch_size=8), dict(type='Mixup', alpha=0.8)], mode='elem',
                      seed=0)
    x = torch.randn(6, 3, 32, 32)
    out = mixer(x.clone())
    assert out.mask.shape == (6, 1, 32, 32)
    torch.testing.assert_close(out.inputs, torch.lerp(x, x[out.index], out.mask))
