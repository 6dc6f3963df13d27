"""RandAugment's geometric ops move token-label maps exactly as they move the pixels (issue 10 item 5).

The image encodes each pixel's own coordinates (R = x, G = y, B = 255; fill black): after an op with nearest
sampling, every pixel says where it came from, so the map cell each output cell should hold is known exactly.
"""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from PIL import Image
from timm.data import auto_augment as timm_aa

from openmix.datasets.transforms import RandAugment
from openmix.datasets.transforms.processing import label_map_index, warp_label_map


def coordinate_image(w: int, h: int) -> Image.Image:
    yy, xx = np.mgrid[0:h, 0:w]
    return Image.fromarray(np.stack([xx, yy, np.full_like(xx, 255)], -1).astype(np.uint8))


def id_map(hm: int, wm: int) -> torch.Tensor:
    """``(1, Hm, Wm)`` map of cell ids 1..Hm*Wm (0 is what cells moved in from outside read)."""
    return torch.arange(1, hm * wm + 1, dtype=torch.float32).view(1, hm, wm)


def expected_ids(moved: Image.Image, map_hw: tuple[int, int]) -> torch.Tensor:
    """The id each map cell should hold, read from the moved coordinate image at the cell's centre pixel."""
    (hm, wm), (w, h) = map_hw, moved.size
    px = np.asarray(moved).astype(np.int64)
    rows = ((2 * np.arange(hm) + 1) * h) // (2 * hm)
    cols = ((2 * np.arange(wm) + 1) * w) // (2 * wm)
    c = px[rows[:, None], cols[None, :]]
    inside = c[..., 2] == 255
    i = ((2 * c[..., 1] + 1) * hm) // (2 * h)  # the map cell holding the source pixel's centre
    j = ((2 * c[..., 0] + 1) * wm) // (2 * w)
    return torch.from_numpy(np.where(inside, i * wm + j + 1, 0)).float()


CASES = [('rotate', (30.0,)), ('rotate', (-17.3,)), ('rotate', (90.0,)), ('shear_x', (0.3,)), ('shear_y', (-0.25,)),
         ('translate_x_rel', (0.2,)), ('translate_y_rel', (-0.3,)), ('translate_x_abs', (-37,)),
         ('translate_y_abs', (21,))]
SIZES = [((224, 224), (14, 14)), ((100, 70), (14, 14)), ((75, 120), (7, 10))]  # PIL (W, H), map (Hm, Wm)


@pytest.mark.parametrize('img_size,map_hw', SIZES)
@pytest.mark.parametrize('op,args', CASES)
def test_each_geometric_op_moves_the_map_as_the_pixels(op, args, img_size, map_hw):
    fn = getattr(timm_aa, op)
    img = coordinate_image(*img_size)
    moved = fn(img, *args, resample=Image.NEAREST, fillcolor=(0, 0, 0))
    warped = warp_label_map(id_map(*map_hw), label_map_index([(fn, args, img.size)], map_hw, img.size))[0]
    expected = expected_ids(moved, map_hw)
    assert torch.equal(warped, expected)
    assert not torch.equal(warped, id_map(*map_hw)[0])  # the op did move the map
    if op.startswith('rotate') and args[0] != 90.0:
        assert (warped == 0).any() and (warped > 0).any()  # corners came from outside: 0, as the official cval


@pytest.mark.parametrize('img_size,map_hw', SIZES)
def test_chained_ops_move_the_map_as_the_pixels(img_size, map_hw):
    img = coordinate_image(*img_size)
    chain = [(timm_aa.shear_x, (-0.2,)), (timm_aa.rotate, (23.0,)), (timm_aa.translate_y_rel, (0.1,))]
    moved = img
    for fn, args in chain:
        moved = fn(moved, *args, resample=Image.NEAREST, fillcolor=(0, 0, 0))
    index = label_map_index([(fn, args, img.size) for fn, args in chain], map_hw, img.size)
    assert torch.equal(warp_label_map(id_map(*map_hw), index)[0], expected_ids(moved, map_hw))


def test_randaugment_transform_moves_values_and_indices_with_its_random_ops():
    """The whole transform (random ops, magnitudes with std, increasing variants) on a non-square image."""
    ra = RandAugment('rand-m9-mstd0.5-inc1', interpolation='nearest', img_size=(70, 100))
    for op in ra.t.ops:  # geometric ops only, always applied, so every draw moves the map
        op.prob = 1.0
    ra.t.ops = [op for op in ra.t.ops if op.name in ('Rotate', 'ShearX', 'ShearY', 'TranslateXRel',
                                                       'TranslateYRel')]
    ra.t.choice_weights = None
    img = coordinate_image(100, 70)
    ids = id_map(14, 14)
    random.seed(0)
    moved_maps = 0
    for _ in range(25):
        out = ra(dict(img=img, label_values=torch.cat([ids, -ids]), label_indices=ids.long()))
        expected = expected_ids(out['img'], (14, 14))
        assert torch.equal(out['label_values'][0], expected) and torch.equal(out['label_values'][1], -expected)
        assert torch.equal(out['label_indices'][0], expected.long())
        moved_maps += not torch.equal(expected, ids[0])
    assert moved_maps >= 20
