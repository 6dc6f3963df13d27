"""Label assignment: the target of a mixed image, computed after the forward pass (ARCHITECTURE.md axis 2)."""
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
    ``attach(backbone)`` once after building, and ``forward(targets, mixed)`` after each training forward pass.
    """

    def attach(self, backbone: nn.Module) -> None:
        """Register whatever hooks the assigner needs on ``backbone`` (none for area labels)."""

    def forward(self, targets: torch.Tensor, mixed: MixedBatch) -> torch.Tensor:
        return mix_target(targets, mixed.index, mixed.lam)
