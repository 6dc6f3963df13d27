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

    Args:
        cls_weight: Weight of the class-token term.
        dense_weight: Weight of the token term (official ``--dense-weight``).

    Shapes: ``cls_logits``/``cls_target`` ``(B, K)``, ``token_logits``/``token_targets`` ``(B, N, K)``.

    Example:
        >>> loss = TokenLabelLoss()
        >>> loss(torch.zeros(2, 10), torch.zeros(2, 4, 10), torch.full((2, 10), 0.1), torch.full((2, 4, 10), 0.1))
        tensor(4.6052)

    Differences from the reference code:
        - The log-softmax runs in float32 whatever the logits' dtype; the official ``SoftTargetCrossEntropy`` runs
          in the autocast dtype (every step under AMP, none in float32). No flag.
        - The MixToken mixing of the class target (official: inside ``TokenLabelCrossEntropy``) happens in
          ``TokenLabelClassifier.loss``; interface only. Given the same targets and logits the loss equals the
          recorded official ``TokenLabelCrossEntropy`` to float rounding (``tests/token_labeling``).
    """

    def __init__(self, cls_weight: float = 1.0, dense_weight: float = 1.0) -> None:
        super().__init__()
        self.cls_weight, self.dense_weight = float(cls_weight), float(dense_weight)

    def forward(self, cls_logits: torch.Tensor, token_logits: torch.Tensor, cls_target: torch.Tensor,
                token_targets: torch.Tensor) -> torch.Tensor:
        cls = (-cls_target * cls_logits.float().log_softmax(-1)).sum(-1).mean()
        dense = (-token_targets * token_logits.float().log_softmax(-1)).sum(-1).mean()
        return self.cls_weight * cls + self.dense_weight * dense
