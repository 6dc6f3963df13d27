"""Linear classification head."""
from __future__ import annotations

import torch
from torch import nn

from openmix.registry import MODELS


@MODELS.register_module()
class LinearClsHead(nn.Module):
    """``Linear(in_channels, num_classes)`` with optional dropout; truncated-normal init (std 0.02, bias 0) as timm ViTs.

    Args:
        num_classes: number of classes.
        in_channels: feature width; the classifier fills it from the backbone's ``num_features``.
        dropout: dropout before the linear layer (timm ``drop_rate``).
        init_std: std of the weight init.
    """

    def __init__(self, num_classes: int, in_channels: int, dropout: float = 0.0, init_std: float = 0.02) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(in_channels, num_classes)
        nn.init.trunc_normal_(self.fc.weight, std=init_std)
        nn.init.zeros_(self.fc.bias)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return self.fc(self.drop(feats))
