"""Mixup: Zhang et al., "mixup: Beyond Empirical Risk Minimization", ICLR 2018 (https://arxiv.org/abs/1710.09412)."""
from __future__ import annotations

import numpy as np
import torch

from openmix.registry import MIXERS
from .base import BaseMixer, MixParams


@MIXERS.register_module()
class Mixup(BaseMixer):
    """Pixel-wise convex combination, Eq. (1): ``x = lam * x_a + (1 - lam) * x_b``, ``lam ~ Beta(alpha, alpha)``.

    Example:
        >>> mixer = Mixup(alpha=0.8, seed=0)
        >>> out = mixer(torch.rand(4, 3, 8, 8))   # out.lam: (4,), out.index: (4,)
    """

    name = 'mixup'

    def draw(self, rng: np.random.Generator, n: int, img_hw: tuple[int, int]) -> MixParams:
        return MixParams(self.sample_lam(rng, n))

    def partner_weight(self, params: MixParams, x: torch.Tensor) -> torch.Tensor:
        lam = torch.as_tensor(params.lam, dtype=x.dtype).to(x.device, non_blocking=True)
        return (1.0 - lam).view(-1, 1, 1, 1)

    def mix_batch(self, x: torch.Tensor, index: torch.Tensor, params: MixParams) -> torch.Tensor:
        lam = float(params.lam[0])
        return x.lerp_(x.index_select(0, index), 1.0 - lam)  # index_select copies: safe in place
