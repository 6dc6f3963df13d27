"""GridMix: Baek et al., "GridMix: Strong regularization through local context mapping", Pattern Recognition 109
(2021), with the hole-grid sampling of the official GridMixup code as in OpenMixup's ``gridmix``."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from openmix.registry import MIXERS

from .base import BaseMixer, MixParams


def _range(v: float | Sequence[float], name: str) -> tuple[float, float]:
    lo, hi = (v, v) if isinstance(v, (int, float)) else tuple(v)
    if not 0 < lo <= hi:
        raise ValueError(f'GridMix: {name} must be a positive number or a (lo, hi) range, got {v}')
    return float(lo), float(hi)


@MIXERS.register_module()
class GridMix(BaseMixer):
    """Paste a grid of partner holes inside a random crop region.

    Per sample: ``lam ~ Beta(alpha, alpha)``, ``n_holes`` uniform over the integer range, hole aspect, crop area and
    crop aspect uniform over their ranges. The crop region has ``cut_w = int(sqrt(area * H * W / cut_aspect))`` and
    ``cut_h = int(cut_w * cut_aspect)`` at a uniform position; it is tiled by patches of width
    ``ceil(cut_w / n_holes)`` and height ``int(patch_w * hole_aspect)``, and in each patch the top-left hole of side
    ``int(patch * sqrt(1 - lam))`` (at least 1, at most patch - 1) comes from the partner. ``lam`` is recomputed
    as ``1 - hole pixels / (H * W)``. The mask is built on the device by modular arithmetic (no loop over holes).
    Rows use the image height and columns its width (the reference swaps them; identical for square images), and a
    crop larger than the image (area near 1 with aspect far from 1) is clipped to it, where the reference wraps
    around through negative indices.

    Args:
        alpha: Beta concentration.
        n_holes: Holes along the crop width (int or inclusive integer range).
        hole_aspect_ratio, cut_area_ratio, cut_aspect_ratio: Values or (lo, hi) ranges.
        prob, pairing, seed: See ``BaseMixer``.
    """

    name = 'gridmix'

    def __init__(self, alpha: float = 1.0, n_holes: int | Sequence[int] = (2, 6),
                 hole_aspect_ratio: float | Sequence[float] = 1.0,
                 cut_area_ratio: float | Sequence[float] = (0.5, 1.0),
                 cut_aspect_ratio: float | Sequence[float] = (0.5, 2.0), **kwargs) -> None:
        super().__init__(alpha=alpha, **kwargs)
        lo, hi = (n_holes, n_holes) if isinstance(n_holes, int) else tuple(n_holes)
        if not 1 <= lo <= hi:
            raise ValueError(f'GridMix: n_holes must be an int >= 1 or an integer range, got {n_holes}')
        self.n_holes = (int(lo), int(hi))
        self.hole_aspect = _range(hole_aspect_ratio, 'hole_aspect_ratio')
        self.cut_area = _range(cut_area_ratio, 'cut_area_ratio')
        if self.cut_area[1] > 1:
            raise ValueError(f'GridMix: cut_area_ratio must be <= 1, got {cut_area_ratio}')
        self.cut_aspect = _range(cut_aspect_ratio, 'cut_aspect_ratio')

    def draw(self, rng: np.random.Generator, n: int, img_hw: tuple[int, int]) -> MixParams:
        h, w = int(img_hw[0]), int(img_hw[1])
        lam = self.sample_lam(rng, n)
        holes = rng.integers(self.n_holes[0], self.n_holes[1] + 1, n)
        hole_aspect = rng.uniform(*self.hole_aspect, n)
        area = (h * w * rng.uniform(*self.cut_area, n)).astype(np.int64)
        cut_aspect = rng.uniform(*self.cut_aspect, n)
        cut_w = np.minimum(np.sqrt(area / cut_aspect).astype(np.int64), w)
        cut_h = np.minimum((cut_w * cut_aspect).astype(np.int64), h)  # clipped: the reference indexes out of range
        top = ((h - cut_h) * rng.random(n)).astype(np.int64)
        left = ((w - cut_w) * rng.random(n)).astype(np.int64)
        if (holes > cut_w // 2).any():
            raise ValueError(f'GridMix: n_holes up to {self.n_holes[1]} needs crops at least {2 * self.n_holes[1]} '
                             f'px wide, got {int(cut_w.min())}')
        pw = -(-cut_w // holes)
        ph = (pw * hole_aspect).astype(np.int64)
        if (ph < 2).any():
            raise ValueError('GridMix: hole_aspect_ratio gives patches under 2 px high; raise it or lower n_holes')
        ratio = np.sqrt(1.0 - lam)
        hw = np.clip((pw * ratio).astype(np.int64), 1, pw - 1)
        hh = np.clip((ph * ratio).astype(np.int64), 1, ph - 1)
        count = lambda size, p, k: (size // p) * k + np.minimum(size % p, k)  # noqa: E731 hole pixels along an axis
        lam = 1.0 - count(cut_w, pw, hw) * count(cut_h, ph, hh) / (h * w)
        grid = np.stack([top, left, cut_h, cut_w, ph, pw, hh, hw], 1)
        return MixParams(lam, extra=dict(grid=grid))

    def partner_weight(self, params: MixParams, x: torch.Tensor) -> torch.Tensor:
        g = torch.as_tensor(params.extra['grid'], device=x.device)
        top, left, ch, cw, ph, pw, hh, hw = (g[:, i, None] for i in range(8))
        v = torch.arange(x.shape[-2], device=x.device)[None] - top  # (n, H) rows relative to the crop
        u = torch.arange(x.shape[-1], device=x.device)[None] - left
        in_v = (v >= 0) & (v < ch) & (v.remainder(ph) < hh)
        in_u = (u >= 0) & (u < cw) & (u.remainder(pw) < hw)
        return (in_v[:, :, None] & in_u[:, None, :])[:, None].to(x.dtype)
