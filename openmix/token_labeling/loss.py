"""Token-labeling loss (Jiang et al., NeurIPS 2021, Eq. 5; official ``TokenLabelCrossEntropy``)."""
from __future__ import annotations

import torch
from torch import nn

from openmix.registry import MODELS


@MODELS.register_module()
class TokenLabelLoss(nn.Module):
    """``cls_weight * SoftCE(cls_logits, cls_target) + dense_weight * mean over tokens of SoftCE(token, target)``.

    Soft cross-entropy is ``sum(-t * log_softmax(z))`` over classes, averaged over the batch (and tokens). The
    official code's defaults are ``cls_weight = dense_weight = 1.0`` (the paper's beta = 0.5 is not what its README
    commands run); both are exposed.
    """

    def __init__(self, cls_weight: float = 1.0, dense_weight: float = 1.0) -> None:
        super().__init__()
        self.cls_weight, self.dense_weight = float(cls_weight), float(dense_weight)

    def forward(self, cls_logits: torch.Tensor, token_logits: torch.Tensor, cls_target: torch.Tensor,
                token_targets: torch.Tensor) -> torch.Tensor:
        cls = (-cls_target * cls_logits.float().log_softmax(-1)).sum(-1).mean()
        dense = (-token_targets * token_logits.float().log_softmax(-1)).sum(-1).mean()
        return self.cls_weight * cls + self.dense_weight * dense
