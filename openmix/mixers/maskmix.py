"""MaskMix: the input mixing of MixPro (Zhao et al., "MixPro: Data Augmentation with MaskMix and Progressive
Attention Labeling for Vision Transformer", ICLR 2023, https://arxiv.org/abs/2304.12043)."""
from __future__ import annotations

import math

import numpy as np
import torch

from openmix.registry import MIXERS

from .base import BaseMixer, MixedBatch, MixParams, keep_self_pairs


def keep_count(lam: np.ndarray, cells: int) -> np.ndarray:
    """Cells kept from the sample itself: ``ceil(cells * lam)`` (the paper's mask ratio rounded up to whole cells)."""
    return np.ceil(cells * np.asarray(lam, dtype=np.float64)).astype(np.int64)


def random_cells(rng: np.random.Generator, count: np.ndarray, grid_hw: tuple[int, int]) -> np.ndarray:
    """``(n, gh, gw)`` bool: for each sample a uniformly random set of ``count[i]`` cells (True = kept)."""
    n, cells = len(count), grid_hw[0] * grid_hw[1]
    ranks = rng.random((n, cells)).argsort(1).argsort(1)  # a random permutation per row, vectorised
    return (ranks < np.asarray(count)[:, None]).reshape(n, *grid_hw)


def cell_grid(img_hw: tuple[int, int], cell: int) -> tuple[int, int]:
    """Cells per side: ``ceil(size / cell)`` (the last row/column is cut at the image border)."""
    return math.ceil(int(img_hw[0]) / cell), math.ceil(int(img_hw[1]) / cell)


def cell_pixels(grid_hw: tuple[int, int], img_hw: tuple[int, int], cell: int) -> np.ndarray:
    """``(gh, gw)`` pixels of each cell inside the image."""
    rows = np.minimum(cell, int(img_hw[0]) - cell * np.arange(grid_hw[0]))
    cols = np.minimum(cell, int(img_hw[1]) - cell * np.arange(grid_hw[1]))
    return rows[:, None] * cols[None, :]


def cells_to_pixels(keep: torch.Tensor, img_hw: tuple[int, int], cell: int) -> torch.Tensor:
    """``(n, H, W)`` bool pixel mask of ``(n, gh, gw)`` cells of ``cell`` pixels, cut at the image border."""
    px = keep.repeat_interleave(cell, dim=1).repeat_interleave(cell, dim=2)
    return px[:, :int(img_hw[0]), :int(img_hw[1])]


@MIXERS.register_module()
class MaskMix(BaseMixer):
    """MaskMix (MixPro Sec. 3.1): a random mask of ``mask_patch_size`` cells keeps a ``lam`` share of the image.

    ``lam ~ Beta(alpha, alpha)``; the image is cut into ``ceil(H / s) x ceil(W / s)`` cells of ``s = mask_patch_size``
    pixels, ``ceil(cells * lam)`` cells chosen uniformly at random keep the sample itself and the others come from its
    partner: ``x = M * x_a + (1 - M) * x_b`` (Eq. 1 with a patch-grid mask). In a batch every sample has its own mask
    with the same count, as the official code. Cells that are multiples of the model's patch keep every token pure,
    which is what MixPro's attention labels (:class:`openmix.models.label_rules.MixProLabel`) read; the
    ``MixedBatch`` carries the pixel mask. ``lam`` is the sample's share of the pixels (see ``cell_lam``).

    Args:
        alpha: Beta concentration (the paper's and official configs': 1).
        mask_patch_size: Cell side in pixels (official DeiT/Swin configs: 56 at 224 px, DeiT-B 112; OpenMixup's
            CIFAR-100 rows: 64).
        cell_lam: Report lam as kept cells over all cells (the reference) instead of kept pixels over all pixels;
            they differ only when the image side is not a multiple of ``mask_patch_size``.
        prob, pairing, seed: See ``BaseMixer`` (the official code pairs by ``torch.randperm``: ``pairing='perm'``).

    Example:
        >>> mixer = MaskMix(mask_patch_size=8, pairing='perm', seed=0)
        >>> out = mixer(torch.randn(4, 3, 32, 32))   # out.mask: (4, 1, 32, 32) partner weight, 8-px cells

    Differences from the reference code:
        Reference: github.com/fistyee/MixPro @ 53a229e (``utils.py``: ``MaskMix``), run outside the repo; recorded
        in ``tests/fixtures/reference/mixpro.npz`` (see ``mixpro.md``). Tested (``tests/mixers/test_maskmix.py``):
        given its recorded cell masks our pixels equal its mixed images exactly, lam equals its ``mask_ratio``,
        and ``keep_count`` its ``ceil(token_count * ratio)``. Deviations:

        * Random streams: the reference draws lam with ``np.random.beta`` and each mask with a Python loop of
          ``np.random.permutation``; ours draws all masks at once from the mixer's generator (ranks of uniforms).
          Same distribution, other numbers; no flag (tests feed the recorded masks).
        * lam at sides that are not a multiple of ``mask_patch_size`` (e.g. OpenMixup's 64 px cells at 224 px): the
          reference's lam counts cells, so a cut border cell weighs as a whole one; ours counts pixels (every batch
          at 224 / 64, never at 224 / 56 or 112 or 32 / 8). Flag: ``cell_lam=True``.
        * Non-square images: the reference builds a square ``mask_num x mask_num`` grid from the height and crops
          it to ``H x H`` (it fails on ``H != W``); ours uses ``ceil(H / s) x ceil(W / s)`` cells. Square: equal.
        * Odd batches, self pairs: as every mixer here (a sample paired with itself has lam 1).
    """

    name = 'maskmix'

    def __init__(self, alpha: float = 1.0, mask_patch_size: int = 56, cell_lam: bool = False, **kwargs) -> None:
        super().__init__(alpha=alpha, **kwargs)
        if isinstance(mask_patch_size, bool) or not isinstance(mask_patch_size, int) or mask_patch_size < 1:
            raise ValueError(f'MaskMix: mask_patch_size must be a positive int (pixels), got {mask_patch_size!r}')
        self.mask_patch_size = mask_patch_size
        self.cell_lam = bool(cell_lam)

    def _params(self, rng: np.random.Generator, lam0: np.ndarray, img_hw: tuple[int, int]) -> MixParams:
        grid = cell_grid(img_hw, self.mask_patch_size)
        count = keep_count(lam0, grid[0] * grid[1])
        keep = random_cells(rng, count, grid)
        if self.cell_lam:
            lam = count / (grid[0] * grid[1])
        else:
            area = cell_pixels(grid, img_hw, self.mask_patch_size)
            lam = (keep * area).sum((1, 2)) / (int(img_hw[0]) * int(img_hw[1]))
        return MixParams(lam.astype(np.float64), extra=dict(keep=keep, lam0=np.asarray(lam0, dtype=np.float64)))

    def draw(self, rng: np.random.Generator, n: int, img_hw: tuple[int, int]) -> MixParams:
        return self._params(rng, self.sample_lam(rng, n), img_hw)

    def partner_weight(self, params: MixParams, x: torch.Tensor) -> torch.Tensor:
        keep = torch.from_numpy(params.extra['keep']).to(x.device, non_blocking=True)
        return (~cells_to_pixels(keep, x.shape[-2:], self.mask_patch_size))[:, None].to(x.dtype)

    def mix_whole_batch_with(self, owner: BaseMixer, x: torch.Tensor, params: MixParams) -> MixedBatch:
        """One lam for the batch, one mask per sample (the official code); the owner's generator draws the masks."""
        b = x.shape[0]
        if float(params.extra['lam0'][0]) == 1.0 or float(params.lam[0]) == 1.0:
            return self.unmixed(x)
        index = owner.partner_index(b, x.device)
        params = self._params(owner.rng, np.repeat(params.extra['lam0'][:1], b), x.shape[-2:])
        partner = self.partner_weight(params, x)  # (B, 1, H, W), 0/1
        mixed = torch.where(partner.bool(), x.index_select(0, index), x)
        lam = torch.as_tensor(params.lam, dtype=torch.float32).to(x.device, non_blocking=True)
        return MixedBatch(mixed, index, keep_self_pairs(lam, index), self.name, mask=partner,
                          is_box=torch.zeros(b, dtype=torch.bool, device=x.device))

    def extra_repr(self) -> str:
        return f'{super().extra_repr()}, mask_patch_size={self.mask_patch_size}, cell_lam={self.cell_lam}'
