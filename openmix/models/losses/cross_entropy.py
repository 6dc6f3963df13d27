"""Classification losses on soft targets (the classifier always builds ``(B, K)`` targets)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from openmix.mixers.geometry import smooth_one_hot
from openmix.registry import MODELS


@MODELS.register_module()
class SoftTargetCrossEntropy(nn.Module):
    """``mean_i sum_k -t_ik log softmax(z_i)_k`` (timm ``SoftTargetCrossEntropy``), computed in fp32.

    Args:
        loss_weight: multiplier of the loss.
    """

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        loss = torch.sum(-target * F.log_softmax(logits.float(), dim=-1), dim=-1)
        return self.loss_weight * loss.mean()


@MODELS.register_module()
class LabelSmoothingCrossEntropy(SoftTargetCrossEntropy):
    """Cross-entropy with label smoothing (Szegedy et al., CVPR 2016, Sec. 7): on = 1 - eps + eps/K, off = eps/K.

    Integer labels are smoothed here; soft targets (already smoothed/mixed by the classifier) pass through.
    """

    def __init__(self, smoothing: float = 0.1, loss_weight: float = 1.0) -> None:
        super().__init__(loss_weight)
        self.smoothing = smoothing

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if target.dim() == 1:
            target = smooth_one_hot(target, logits.shape[-1], self.smoothing)
        return super().forward(logits, target)


@MODELS.register_module()
class BinaryCrossEntropy(nn.Module):
    """BCE-with-logits over classes on soft targets (Wightman et al., "ResNet strikes back", 2021; DeiT III).

    Args:
        target_threshold: if set, targets above it become 1 and the rest 0 (timm ``bce_target_thresh``).
        pos_weight: optional positive-class weight (scalar).
        loss_weight: multiplier of the loss.
    """

    def __init__(self, target_threshold: float | None = None, pos_weight: float | None = None,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        self.target_threshold = target_threshold
        self.pos_weight = pos_weight
        self.loss_weight = loss_weight

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.target_threshold is not None:
            target = target.gt(self.target_threshold).to(target.dtype)
        pos_weight = None if self.pos_weight is None else logits.new_tensor(self.pos_weight)
        loss = F.binary_cross_entropy_with_logits(logits.float(), target.float(), pos_weight=pos_weight)
        return self.loss_weight * loss
