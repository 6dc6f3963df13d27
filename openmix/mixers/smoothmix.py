"""SmoothMix: Lee et al., "SmoothMix: a Simple Yet Effective Data Augmentation to Train Robust Classifiers",
CVPR Workshops 2020."""
from __future__ import annotations

import numpy as np
import torch

from openmix.registry import MIXERS

from .base import BaseMixer, MixParams


@MIXERS.register_module()
class SmoothMix(BaseMixer):
    """Blend the partner in through a Gaussian blob (paper Eq. 2, OpenMixup's ``smoothmix``).

    The partner weight is ``G(y, x) = exp(-((y - c_y)^2 + (x - c_x)^2) / (2 sigma^2))`` (peak 1), with
    ``sigma ~ U(0.25, 0.5) * H`` and a centre ``c = k - 0.5``, ``k`` uniform over pixel indices (the half-pixel offset
    of OpenMixup's rolled grid). The label weight of the unshuffled sample is ``lam = 1 - mean(G)``: the blob is the
    partner's region. (OpenMixup returns ``mean(G)`` as the first label's weight, which swaps the two labels; this
    is the consistent assignment.) ``alpha`` is not used by the method.

    Args:
        sigma_range: Range of sigma as a fraction of the image height.
        prob, pairing, seed: See ``BaseMixer``.
    """

    name = 'smoothmix'

    def __init__(self, sigma_range: tuple[float, float] = (0.25, 0.5), **kwargs) -> None:
        kwargs.pop('alpha', None)
        super().__init__(alpha=1.0, **kwargs)
        if not 0 < sigma_range[0] <= sigma_range[1]:
            raise ValueError(f'sigma_range must be (lo, hi) with 0 < lo <= hi, got {sigma_range}')
        self.sigma_range = tuple(sigma_range)

    def draw(self, rng: np.random.Generator, n: int, img_hw: tuple[int, int]) -> MixParams:
        h, w = int(img_hw[0]), int(img_hw[1])
        cy = rng.integers(0, h, n) - 0.5
        cx = rng.integers(0, w, n) - 0.5
        sigma = rng.uniform(*self.sigma_range, n) * h
        g = self._blob(torch.from_numpy(np.stack([cy, cx, sigma], 1)), (h, w))
        return MixParams(1.0 - g.mean(dim=(1, 2, 3)).numpy(), extra=dict(cy=cy, cx=cx, sigma=sigma))

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
