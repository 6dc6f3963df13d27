"""SmoothMix: Lee et al., "SmoothMix: a Simple Yet Effective Data Augmentation to Train Robust Classifiers",
CVPR Workshops 2020."""
from __future__ import annotations

import numpy as np
import torch

from openmix.registry import MIXERS

from .base import BaseMixer, MixParams


@MIXERS.register_module()
class SmoothMix(BaseMixer):
    """Blend the partner in through a Gaussian blob (paper Eq. 2; OpenMixup's ``smoothmix``).

    The partner weight is ``G(y, x) = exp(-((y - c_y)^2 + (x - c_x)^2) / (2 sigma^2))`` (peak 1), with
    ``sigma ~ U(0.25, 0.5) * H`` and a centre ``c = k - 0.5``, ``k`` uniform over pixel indices (the half-pixel offset
    of OpenMixup's rolled grid). The label weight of the unshuffled sample is ``lam = 1 - mean(G)``: the blob is the
    partner's region. ``alpha`` is not used by the method.

    Args:
        sigma_range: Range of sigma as a fraction of the image height.
        legacy_lam: Give the unshuffled sample's label the weight ``mean(G)``, the partner's pixel share, as
            OpenMixup does (its labels look swapped); off by default.
        prob, pairing, seed: See ``BaseMixer``.

    Differences from the reference code:
        Reference: OpenMixup ``openmixup/models/augments/smoothmix.py`` @37e1372. Given the same centre, sigma and
        permutation, the blob and the mixed images equal OpenMixup's to float rounding (``|diff| < 1e-6`` on the
        mask; OpenMixup computes it in float32, ours in float64), and with ``legacy_lam=True`` so does ``lam``
        (``tests/mixers/test_reference_resize_smooth.py``, fixture ``tests/fixtures/reference/smoothmix.npz``).
        What differs:

        - Label weights: OpenMixup returns ``lam = mean(G)`` for the unshuffled sample although ``G`` weights the
          partner; ours returns ``1 - mean(G)``. Every draw: ``mean(G)`` lies in about [0.12, 0.73] (mean 0.43),
          so the two weights differ by 0.24 on average and by more than 0.05 on about 87 % of draws (32 px; the
          blob scales with the image, so the same at any size). Flag: ``legacy_lam=True``.
        - Pairing: ours defaults to ``pairing='flip'``, OpenMixup draws ``torch.randperm``: every batch. Flag:
          ``pairing='perm'``. A sample paired with itself (1 per batch on average) gets ``lam = 1`` here; same
          class on both sides, so the loss is unchanged.
        - Random streams: ours come from the mixer's own generator (row centre, column centre, sigma), OpenMixup's
          from torch's global RNG (column centre, row centre, sigma), after an unused ``np.random.beta`` draw. Same
          distributions, different sequences. Flag: none; not reproducible.
        - Sizes: OpenMixup builds an ``H x H`` kernel (non-square images fail to broadcast) and its crop fails for
          odd ``H``; ours takes any ``H x W``. Never with the square, even sizes of its configs. Flag: none; not
          reproducible.
        - Per-sample blobs (``RandomMix(mode='elem')``) have no OpenMixup counterpart (one blob per batch there);
          never with the default batch mode. Flag: the default ``mode='batch'``.
    """

    name = 'smoothmix'

    def __init__(self, sigma_range: tuple[float, float] = (0.25, 0.5), legacy_lam: bool = False, **kwargs) -> None:
        kwargs.pop('alpha', None)
        super().__init__(alpha=1.0, **kwargs)
        if not 0 < sigma_range[0] <= sigma_range[1]:
            raise ValueError(f'sigma_range must be (lo, hi) with 0 < lo <= hi, got {sigma_range}')
        self.sigma_range = tuple(sigma_range)
        self.legacy_lam = bool(legacy_lam)

    def draw(self, rng: np.random.Generator, n: int, img_hw: tuple[int, int]) -> MixParams:
        h, w = int(img_hw[0]), int(img_hw[1])
        cy = rng.integers(0, h, n) - 0.5
        cx = rng.integers(0, w, n) - 0.5
        sigma = rng.uniform(*self.sigma_range, n) * h
        share = self._blob(torch.from_numpy(np.stack([cy, cx, sigma], 1)), (h, w)).mean(dim=(1, 2, 3)).numpy()
        # the partner's pixel share is mean(G); OpenMixup gives that weight to the unshuffled sample's label
        return MixParams(share if self.legacy_lam else 1.0 - share, extra=dict(cy=cy, cx=cx, sigma=sigma))

    @staticmethod
    def _blob(p: torch.Tensor, img_hw: tuple[int, int]) -> torch.Tensor:
        """``(n, 1, H, W)`` Gaussian blobs for rows ``(c_y, c_x, sigma)`` of ``p``."""
        ys = torch.arange(img_hw[0], device=p.device, dtype=p.dtype)
        xs = torch.arange(img_hw[1], device=p.device, dtype=p.dtype)
        d2 = (ys[None, :, None] - p[:, 0, None, None]) ** 2 + (xs[None, None, :] - p[:, 1, None, None]) ** 2
        return torch.exp(-d2 / (2 * p[:, 2, None, None] ** 2))[:, None]

    def partner_weight(self, params: MixParams, x: torch.Tensor) -> torch.Tensor:
        e = params.extra
        p = torch.from_numpy(np.stack([e['cy'], e['cx'], e['sigma']], 1)).to(x.device, torch.float64)
        return self._blob(p, x.shape[-2:]).to(x.dtype)

    def extra_repr(self) -> str:
        return f'{super().extra_repr()}, sigma_range={self.sigma_range}, legacy_lam={self.legacy_lam}'
