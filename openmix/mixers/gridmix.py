"""GridMix: Baek et al., "GridMix: Strong regularization through local context mapping", Pattern Recognition 109
(2021) 107594, with the hole-grid sampling of OpenMixup's ``gridmix`` (which credits
github.com/IlyaDobrynin/GridMixup)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from openmix.registry import MIXERS

from .base import BaseMixer, MixParams

#: columns of a grid geometry row: crop offset and extent, patch and hole size, rows then columns
GRID_FIELDS = ('top', 'left', 'cut_h', 'cut_w', 'patch_h', 'patch_w', 'hole_h', 'hole_w')


def _range(v: float | Sequence[float], name: str) -> tuple[float, float]:
    lo, hi = (v, v) if isinstance(v, (int, float)) else tuple(v)
    if not 0 < lo <= hi:
        raise ValueError(f'GridMix: {name} must be a positive number or a (lo, hi) range, got {v}')
    return float(lo), float(hi)


def grid_geometry(lam: np.ndarray, n_holes: np.ndarray, hole_aspect: np.ndarray, cut_area_ratio: np.ndarray,
                  cut_aspect: np.ndarray, u_top: np.ndarray, u_left: np.ndarray, img_hw: tuple[int, int],
                  legacy_grid: bool = False) -> np.ndarray:
    """``(n, 8)`` int64 grid geometry (``GRID_FIELDS``) from explicit per-sample draws.

    The crop has ``cut_w = int(sqrt(int(area * H * W) / cut_aspect))`` and ``cut_h = int(cut_w * cut_aspect)``; it is
    tiled by patches of width ``ceil(cut_w / n_holes)`` and height ``int(patch_w * hole_aspect)``, and the top-left
    hole of each patch, of side ``int(patch * sqrt(1 - lam))`` clipped to ``[1, patch - 1]``, comes from the partner.
    By default the crop is clipped to the image before tiling and placed at ``int((H - cut_h) * u_top)``,
    ``int((W - cut_w) * u_left)``. ``legacy_grid`` keeps the unclipped crop and places it as OpenMixup does: row
    offset ``int((W - cut_h) * u_top)``, column offset ``int((H - cut_w) * u_left)`` (its ``W = size[2]`` is the
    height), negative when the crop is larger than the image.

    Args:
        lam: ``(n,)`` Beta draws; n_holes: ``(n,)`` holes along the crop width; hole_aspect, cut_area_ratio,
            cut_aspect: ``(n,)`` uniform draws in their ranges; u_top, u_left: ``(n,)`` uniform draws in [0, 1)
            (OpenMixup's ``cy`` and ``cx``).
        img_hw: ``(H, W)`` of the image.
        legacy_grid: OpenMixup's placement (see above).
    """
    h, w = int(img_hw[0]), int(img_hw[1])
    holes = np.asarray(n_holes).astype(np.int64)
    area = (h * w * np.asarray(cut_area_ratio, dtype=np.float64)).astype(np.int64)
    cut_w = np.sqrt(area / cut_aspect).astype(np.int64)
    cut_h = (cut_w * cut_aspect).astype(np.int64)
    if legacy_grid:
        top = ((w - cut_h) * u_top).astype(np.int64)  # truncation towards zero, as int()
        left = ((h - cut_w) * u_left).astype(np.int64)
    else:
        cut_w, cut_h = np.minimum(cut_w, w), np.minimum(cut_h, h)
        top = ((h - cut_h) * u_top).astype(np.int64)
        left = ((w - cut_w) * u_left).astype(np.int64)
    if (holes > cut_w // 2).any():
        raise ValueError(f'GridMix: n_holes up to {int(holes.max())} needs crops at least {2 * int(holes.max())} '
                         f'px wide, got {int(cut_w.min())}')
    pw = -(-cut_w // holes)
    ph = (pw * hole_aspect).astype(np.int64)
    if (ph < 2).any():
        raise ValueError('GridMix: hole_aspect_ratio gives patches under 2 px high; raise it or lower n_holes')
    ratio = np.sqrt(1.0 - np.asarray(lam, dtype=np.float64))
    hw = np.clip((pw * ratio).astype(np.int64), 1, pw - 1)
    hh = np.clip((ph * ratio).astype(np.int64), 1, ph - 1)
    return np.stack([top, left, cut_h, cut_w, ph, pw, hh, hw], 1)


def grid_axis(size: int, start: torch.Tensor, extent: torch.Tensor, patch: torch.Tensor, hole: torch.Tensor,
              legacy_grid: bool = False) -> torch.Tensor:
    """``(n, size)`` bool: the pixels along one axis covered by holes (arguments ``(n, 1)`` int64, on the device).

    A hole covers crop coordinates ``u`` in ``[0, extent)`` with ``u mod patch < hole``. By default pixel ``x`` has
    ``u = x - start`` (the crop lies inside the image). ``legacy_grid`` applies Python slice rules to each hole
    ``[start + a, start + b)`` as the reference's ``mask[..., start + a:start + b] = 1`` does: a hole with both ends
    negative wraps to the far end of the axis (``u = x - size - start``), one that crosses 0 is dropped (the slice
    ``[-k:m]`` is empty unless ``m > size - k``), and everything is cut at ``size``.
    """
    x = torch.arange(size, device=start.device)[None]
    u = x - start
    covered = (u >= 0) & (u < extent) & (u.remainder(patch) < hole)
    if not legacy_grid:
        return covered
    lo = start + u - u.remainder(patch)  # slice start of the hole holding x
    hi = start + torch.minimum(lo - start + hole, extent)
    covered &= (lo >= 0) | ((hi > 0) & (x >= size + lo))
    u = x - size - start  # x reached through a negative slice
    lo = u - u.remainder(patch)
    wrapped = (u >= 0) & (u < extent) & (u.remainder(patch) < hole) & (start + torch.minimum(lo + hole, extent) < 0)
    return covered | wrapped


def grid_mask(grid: np.ndarray | torch.Tensor, img_hw: tuple[int, int], legacy_grid: bool = False,
              device: torch.device | str = 'cpu') -> torch.Tensor:
    """``(n, H, W)`` bool partner mask of ``grid_geometry`` rows, built on ``device`` as rows x columns (every hole
    is a row interval times a column interval of the same grid, so the union is separable).

    Example:
        >>> g = grid_geometry(np.array([0.75]), np.array([2]), np.array([1.0]), np.array([1.0]), np.array([1.0]),
        ...                   np.array([0.0]), np.array([0.0]), (8, 8))
        >>> grid_mask(g, (8, 8))[0, :2].int().tolist()  # 4 x 4 patches with 2 x 2 holes
        [[1, 1, 0, 0, 1, 1, 0, 0], [1, 1, 0, 0, 1, 1, 0, 0]]
    """
    g = torch.as_tensor(grid, device=device)
    top, left, ch, cw, ph, pw, hh, hw = (g[:, i, None] for i in range(8))
    rows = grid_axis(int(img_hw[0]), top, ch, ph, hh, legacy_grid)
    cols = grid_axis(int(img_hw[1]), left, cw, pw, hw, legacy_grid)
    return rows[:, :, None] & cols[:, None, :]


def grid_lam(grid: np.ndarray, img_hw: tuple[int, int], legacy_grid: bool = False) -> np.ndarray:
    """``(n,)`` ``1 - `` hole pixels ``/ (H * W)``, counted on the host from the two axes (no device sync)."""
    g = torch.as_tensor(grid)
    top, left, ch, cw, ph, pw, hh, hw = (g[:, i, None] for i in range(8))
    rows = grid_axis(int(img_hw[0]), top, ch, ph, hh, legacy_grid).sum(1)
    cols = grid_axis(int(img_hw[1]), left, cw, pw, hw, legacy_grid).sum(1)
    return 1.0 - (rows * cols).numpy() / (int(img_hw[0]) * int(img_hw[1]))


@MIXERS.register_module()
class GridMix(BaseMixer):
    """Paste a grid of partner holes inside a random crop region (Baek et al. 2021; OpenMixup's hole grid).

    Per sample: ``lam ~ Beta(alpha, alpha)``, ``n_holes`` uniform over the integer range, hole aspect, crop area and
    crop aspect uniform over their ranges, then the crop, patches and holes of ``grid_geometry``. ``lam`` is
    recomputed as ``1 - hole pixels / (H * W)``. The mask is built on the device by modular index arithmetic (no
    loop over holes or samples); ``grid_geometry`` takes the random draws explicitly.

    Args:
        alpha: Beta concentration (OpenMixup's CIFAR rows: 0.2).
        n_holes: Holes along the crop width (int or inclusive integer range).
        hole_aspect_ratio, cut_area_ratio, cut_aspect_ratio: Values or (lo, hi) ranges.
        legacy_grid: OpenMixup's crop placement: unclipped crop, rows and columns swapped, wrap through negative
            indices (see below).
        prob, pairing, seed: See ``BaseMixer``.

    Example:
        >>> mixer = GridMix(alpha=0.2, pairing='perm', legacy_grid=True, seed=0)
        >>> out = mixer(torch.randn(4, 3, 32, 32))
        >>> bool(((out.lam > 0) & (out.lam <= 1)).all())
        True

    Differences from the reference code:
        Reference: ``gridmix`` in ``openmixup/models/augments/gridmix.py`` of github.com/Westlake-AI/openmixup
        (commit in ``tests/fixtures/reference/gridmix.md``); draws, masks and lam recorded at 32 x 32, 32 x 48 and
        40 x 24 with the default ranges. ``legacy_grid=True`` restores the first two points: masks as OpenMixup's
        code (tests compare with its recorded output: masks equal, lam to its float32 rounding).

        - Crops larger than the image: with the default ranges the crop is wider or taller than the image in
          45 % of draws at 32 x 32 (56 % at 224 x 224). The reference tiles the unclipped crop from a negative
          offset: holes entirely before the image reappear at its far edge through negative indices, holes across
          the edge are dropped, holes past the end are cut. Ours clips the crop to the image before tiling. The
          masks then differ in 30 % of draws at 32 x 32 (52 % at 224 x 224), with lam off by 0.05 on average over
          those draws and 0.38 at most (20,000 draws).
        - Rows and columns (non-square images): the reference names ``W = size[2]``, the height, so it offsets the
          crop rows by the width's range and the columns by the height's; ours uses each axis' own size. No effect
          on square images; at 32 x 48 it alone changes 11 % of the masks, and with the point above 99 %.
        - Square image, crop inside it: no difference (same patches, holes and offsets).
        - lam: the reference returns a float32 tensor ``1 - mask.sum() / (H * W)`` on the device; ours is the same
          count in float64, computed on the host from the two axes (no sync).
        - Random streams: the reference draws lam with ``np.random.beta``, ``n_holes`` with ``random.randint``,
          the ranges with ``np.random.uniform`` and the offsets with ``np.random.random`` (column first) and pairs
          with ``torch.randperm``; ours draws all from the mixer's NumPy generator. Same distributions, not the
          same numbers for a given seed; no flag (tests feed the recorded draws through ``grid_geometry``).
        - Patch rows under 2 px (``hole_aspect_ratio`` below ``2 / patch_w``; impossible with the defaults): the
          reference divides by zero (0 px) or pastes no hole (1 px); ours refuses the draw.
    """

    name = 'gridmix'

    def __init__(self, alpha: float = 1.0, n_holes: int | Sequence[int] = (2, 6),
                 hole_aspect_ratio: float | Sequence[float] = 1.0,
                 cut_area_ratio: float | Sequence[float] = (0.5, 1.0),
                 cut_aspect_ratio: float | Sequence[float] = (0.5, 2.0), legacy_grid: bool = False,
                 **kwargs) -> None:
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
        self.legacy_grid = bool(legacy_grid)

    def draw(self, rng: np.random.Generator, n: int, img_hw: tuple[int, int]) -> MixParams:
        lam = self.sample_lam(rng, n)
        holes = rng.integers(self.n_holes[0], self.n_holes[1] + 1, n)
        hole_aspect = rng.uniform(*self.hole_aspect, n)
        cut_area = rng.uniform(*self.cut_area, n)
        cut_aspect = rng.uniform(*self.cut_aspect, n)
        u_top, u_left = rng.random(n), rng.random(n)
        grid = grid_geometry(lam, holes, hole_aspect, cut_area, cut_aspect, u_top, u_left, img_hw, self.legacy_grid)
        return MixParams(grid_lam(grid, img_hw, self.legacy_grid), extra=dict(grid=grid))

    def partner_weight(self, params: MixParams, x: torch.Tensor) -> torch.Tensor:
        mask = grid_mask(params.extra['grid'], x.shape[-2:], self.legacy_grid, x.device)
        return mask[:, None].to(x.dtype)

    def extra_repr(self) -> str:
        return f'{super().extra_repr()}, legacy_grid={self.legacy_grid}'
