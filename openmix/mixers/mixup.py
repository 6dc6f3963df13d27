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

    Differences from the reference code (timm ``Mixup``, the DeiT recipe's; tested in
    ``tests/mixers/test_reference_timm.py``: fed timm's random variates, batch mode gives timm's images and
    targets, and elem/pair modes given the same parameters do too):
        - Pixels: ``x.lerp_(x_b, 1 - lam)`` instead of ``x * lam + x_b * (1 - lam)``: equal to float rounding
          (at most 1e-6 on [0, 1] images in the test). No flag.
        - Randomness: a per-rank generator of our own (checkpointed) instead of NumPy's global state: the same
          variates in the same order in batch mode, other numbers. No flag (seed-level reproduction of a timm run
          is not possible).
        - Odd batches: timm refuses them; ours leaves the middle sample of a flip pairing unmixed. Never with
          even batches (``drop_last``). ``alpha = 0``: as timm, the method is off.
        - The original paper's code (facebookresearch/mixup-cifar10) pairs with a random permutation:
          ``pairing='perm'``; not compared with recorded output.
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
