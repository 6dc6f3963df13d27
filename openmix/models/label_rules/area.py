"""Area label rule: the mixing ratio of the input mixer is the label weight (Mixup, CutMix and every input mixer)."""
from __future__ import annotations

import torch
from torch import nn

from openmix.mixers.base import MixedBatch
from openmix.mixers.geometry import mix_target
from openmix.registry import MODELS


@MODELS.register_module()
class AreaLabel(nn.Module):
    """Area-based label (Mixup Eq. 1, CutMix Eq. 1): ``y = lam * y_a + (1 - lam) * y_b`` on smoothed one-hots.

    A label assigner may read what the backbone computed (e.g. TransMix's class attention): the classifier calls
    ``attach(backbone)`` once after building, and ``forward(targets, mixed)`` after each training forward pass
    (``forward(targets, mixed, logits=logits)`` for rules that set ``needs_logits = True``, e.g. MixPro's PAL).

    Differences from the reference code: none for timm (``mixup_target``: equal targets in every mode,
    ``tests/mixers/test_reference_timm.py``). OpenMixup's head computes ``lam * CE(y_a) + (1 - lam) * CE(y_b)``,
    which equals the cross-entropy of this mixed target by linearity (to float rounding); not compared with
    recorded output.
    """

    def attach(self, backbone: nn.Module) -> None:
        """Register whatever hooks the assigner needs on ``backbone`` (none for area labels)."""

    def prepare(self, mixed: MixedBatch) -> None:
        """Called with the mixed batch before the forward pass (nothing to prepare for area labels)."""

    def forward(self, targets: torch.Tensor, mixed: MixedBatch) -> torch.Tensor:
        return mix_target(targets, mixed.index, mixed.lam)
