"""ResizeMix: Qin et al., "ResizeMix: Mixing Data with Preserved Object Information and True Labels",
arXiv 2012.11101 (2020)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from openmix.registry import MIXERS

from .base import BaseMixer, MixParams


@MIXERS.register_module()
class ResizeMix(BaseMixer):
    """Paste the whole partner image, resized to ``tau`` of the size, into a random box (paper Eq. 1-3).

    ``tau ~ U(scope)`` (paper; with ``use_alpha``, ``tau ~ Beta(alpha, alpha)`` re-drawn uniformly when it falls
    outside ``scope``, as OpenMixup). The box has sides ``int(tau * H)`` x ``int(tau * W)`` around a centre drawn
    uniformly over the pixels, halves ``side // 2`` each way, clipped to the image; the partner is resized to the
    clipped box (``interpolation``, OpenMixup default ``'nearest'``) and ``lam = 1 - box area / (H * W)``. The same
    box serves the whole batch (whole-batch method: ``RandomMix`` accepts it in ``mode='batch'`` only). The box is
    reported in ``MixedBatch.box`` but not flagged ``is_box``: its content is not the partner's pixels at that place,
    so TransMix leaves ResizeMix batches with area labels.

    Args:
        scope: Range of ``tau``.
        use_alpha: Draw ``tau`` from Beta(alpha, alpha) first.
        alpha: Beta concentration for ``use_alpha``.
        interpolation: ``F.interpolate`` mode for the resized partner.
        prob, pairing, seed: See ``BaseMixer``.

    Differences from the reference code:
        Reference: OpenMixup ``openmixup/models/augments/resizemix.py`` @37e1372. Given the same ``tau``, box centre
        and permutation, the mixed images are equal (bit-exact with ``'nearest'``, to float rounding with
        ``'bilinear'``) and so is ``lam`` (``tests/mixers/test_reference_resize_smooth.py``, fixture
        ``tests/fixtures/reference/resizemix.npz``). What differs:

        - Pairing: ours defaults to ``pairing='flip'`` (i with B-1-i), OpenMixup draws ``torch.randperm``: every
          batch. Flag: ``pairing='perm'``.
        - ``tau`` distribution: the function's default (and ours) is ``U(scope)``, but every OpenMixup config sets
          ``use_alpha=True`` (Beta(alpha, alpha), redrawn uniformly outside ``scope``). With the configs' ``alpha=1``
          both give ``tau ~ U(0.1, 0.8)`` (Beta(1, 1) is uniform): only the draws differ, never the distribution.
          Flag: ``use_alpha=True`` (and ``interpolation='bilinear'`` for the 10 OpenMixup configs that set it).
        - A sample the permutation pairs with itself (on average 1 per batch, in about 63 % of batches) gets
          ``lam = 1`` here, the box area in OpenMixup; its two labels are the same class, so the loss is the same.
          Flag: none needed (no effect on the loss).
        - Random streams: ours come from the mixer's own generator (``tau``, then the row centre, then the column
          centre), OpenMixup's from the global NumPy/torch RNGs (``tau``, the column centre, the row centre): the
          distributions are the same, the sequences are not. Flag: none; not reproducible.
        - Non-square images: OpenMixup takes box heights from the width and widths from the height (its
          ``W = size[2]``), which pastes a wrongly sized box or fails; ours uses each axis's own size. Never
          happens with square inputs (every OpenMixup config). Flag: none; not reproducible.
        - A box that rounds to zero pixels (``int(tau * H) < 2``, only for images under 20 px at ``scope[0] = 0.1``)
          leaves the batch unchanged here; OpenMixup asks ``F.interpolate`` for an empty size. Never at 32 px or
          more. Flag: none; not reproducible.
    """

    name = 'resizemix'
    supports_per_sample = False

    def __init__(self, scope: tuple[float, float] = (0.1, 0.8), use_alpha: bool = False, alpha: float = 1.0,
                 interpolation: str = 'nearest', **kwargs) -> None:
        super().__init__(alpha=alpha, **kwargs)
        if not 0 <= scope[0] <= scope[1] <= 1:
            raise ValueError(f'scope must be (lo, hi) with 0 <= lo <= hi <= 1, got {scope}')
        if interpolation not in ('nearest', 'bilinear', 'bicubic', 'area', 'nearest-exact'):
            raise ValueError(f"interpolation must be an F.interpolate mode such as 'nearest', got {interpolation!r}")
        self.scope, self.use_alpha, self.interpolation = tuple(scope), use_alpha, interpolation

    @property
    def draws_beta(self) -> bool:
        """``alpha`` only matters with ``use_alpha`` (then alpha = 0 switches ResizeMix off)."""
        return self.use_alpha

    def draw(self, rng: np.random.Generator, n: int, img_hw: tuple[int, int]) -> MixParams:
        h, w = int(img_hw[0]), int(img_hw[1])
        if self.use_alpha:
            tau = rng.beta(self.alpha, self.alpha, n)
            out = (tau < self.scope[0]) | (tau > self.scope[1])
            tau = np.where(out, rng.uniform(*self.scope, n), tau)
        else:
            tau = rng.uniform(*self.scope, n)
        cut_h, cut_w = (h * tau).astype(np.int64), (w * tau).astype(np.int64)
        cy, cx = rng.integers(0, h, n), rng.integers(0, w, n)
        box = np.stack([np.clip(cy - cut_h // 2, 0, h), np.clip(cy + cut_h // 2, 0, h),
                        np.clip(cx - cut_w // 2, 0, w), np.clip(cx + cut_w // 2, 0, w)], 1)
        lam = 1.0 - (box[:, 1] - box[:, 0]) * (box[:, 3] - box[:, 2]) / (h * w)
        return MixParams(lam, box)

    def mix_batch(self, x: torch.Tensor, index: torch.Tensor, params: MixParams) -> torch.Tensor:
        y_lo, y_hi, x_lo, x_hi = (int(v) for v in params.box[0])
        if y_hi > y_lo and x_hi > x_lo:
            x[:, :, y_lo:y_hi, x_lo:x_hi] = F.interpolate(x.index_select(0, index), size=(y_hi - y_lo, x_hi - x_lo),
                                                          mode=self.interpolation)
        return x

    def extra_repr(self) -> str:
        return f'{super().extra_repr()}, scope={self.scope}, use_alpha={self.use_alpha}'
