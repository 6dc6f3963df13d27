"""CutMix: Yun et al., "CutMix: Regularization Strategy to Train Strong Classifiers with Localizable Features",
ICCV 2019 (https://arxiv.org/abs/1905.04899)."""
from __future__ import annotations

import numpy as np
import torch

from openmix.registry import MIXERS
from .base import BaseMixer, MixParams
from .geometry import box_area_lam, box_mask, rand_bbox, rand_bbox_clovaai, rand_bbox_minmax


@MIXERS.register_module()
class CutMix(BaseMixer):
    """Paste a box of the partner image, Eq. (1)-(2): ``x = M * x_a + (1 - M) * x_b`` with a box of area
    ``(1 - lam) * H * W``, ``lam ~ Beta(alpha, alpha)``; the label weight is ``lam``.

    Args:
        alpha: Beta concentration (forced to 1 with ``minmax``, as timm does).
        minmax: if set, box sides are uniform fractions ``[min, max)`` of the image (timm ``rand_bbox_minmax``), and
            lam is always the box's area ratio.
        correct_lam: recompute lam as ``1 - clipped box area / (H * W)`` (timm default True; the official code always
            does).
        margin: keep the box centre this fraction of the box side from the border (timm geometry only).
        box_rule: ``'timm'`` (timm 1.0: side exactly ``int(size * sqrt(1 - lam))``) or ``'clovaai'`` (official code:
            even side ``2 * (cut // 2)``, centre in ``[0, size)``).
        prob, pairing, seed: see ``BaseMixer``.

    Differences from the reference code (timm ``Mixup`` with ``cutmix_alpha``, and the official
    clovaai/CutMix-PyTorch ``train.py``; both tested in ``tests/mixers/test_reference_timm.py``: timm's images and
    targets in every mode, and ``box_rule='clovaai'`` against recorded official boxes):
        - timm (default ``box_rule='timm'``): the same variates in the same order in batch mode; in elem/pair
          mode ours draws all lams then all boxes (vectorised) where timm draws box by box, so the same
          distributions, other numbers. With ``minmax``, timm also draws an unused Beta lam first; ours does not.
          Randomness from our own per-rank generator. No flag.
        - Official CutMix: its box has even sides ``2 * (cut // 2)`` where timm's (our default) has exactly ``cut``
          pixels; for the same variates the boxes differ in 45 % of draws (32 px and 224 px, lam ~ Beta(1, 1)).
          ``box_rule='clovaai'`` restores it; its random-permutation partner is ``pairing='perm'`` (a torch
          permutation there, ours from our generator). Odd batches: as ``Mixup``.
    """

    name = 'cutmix'
    uses_box = True

    def __init__(self, alpha: float = 1.0, minmax: tuple[float, float] | None = None, correct_lam: bool = True,
                 margin: float = 0.0, box_rule: str = 'timm', **kwargs) -> None:
        if box_rule not in ('timm', 'clovaai'):
            raise ValueError(f"box_rule must be 'timm' or 'clovaai', got {box_rule!r}")
        if minmax is not None:
            if len(minmax) != 2 or not 0.0 <= minmax[0] < minmax[1] <= 1.0:
                raise ValueError(f'minmax must be (min, max) with 0 <= min < max <= 1, got {minmax}')
            alpha = 1.0
        super().__init__(alpha=alpha, **kwargs)
        self.minmax = tuple(minmax) if minmax is not None else None
        self.correct_lam = correct_lam
        self.margin = margin
        self.box_rule = box_rule

    def draw(self, rng: np.random.Generator, n: int, img_hw: tuple[int, int]) -> MixParams:
        img_hw = (int(img_hw[0]), int(img_hw[1]))
        if self.minmax is not None:
            box = rand_bbox_minmax(rng, img_hw, self.minmax, n)
            return MixParams(box_area_lam(box, img_hw), box)
        lam = self.sample_lam(rng, n)
        if self.box_rule == 'timm':
            box = rand_bbox(rng, img_hw, lam, self.margin)
        else:
            box = rand_bbox_clovaai(rng, img_hw, lam)
        if self.correct_lam:
            lam = box_area_lam(box, img_hw)
        return MixParams(lam, box)

    def partner_weight(self, params: MixParams, x: torch.Tensor) -> torch.Tensor:
        box = torch.as_tensor(params.box).to(x.device, non_blocking=True)
        return box_mask(box, x.shape[-2:]).to(x.dtype)

    def mix_batch(self, x: torch.Tensor, index: torch.Tensor, params: MixParams) -> torch.Tensor:
        y_lo, y_hi, x_lo, x_hi = (int(v) for v in params.box[0])
        x[:, :, y_lo:y_hi, x_lo:x_hi] = x[index, :, y_lo:y_hi, x_lo:x_hi]
        return x

    def extra_repr(self) -> str:
        return (f'{super().extra_repr()}, minmax={self.minmax}, correct_lam={self.correct_lam}, '
                f'box_rule={self.box_rule!r}')
