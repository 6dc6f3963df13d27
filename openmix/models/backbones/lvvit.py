"""LV-ViT pieces for timm's VisionTransformer (Jiang et al., NeurIPS 2021, "All Tokens Matter", Sec. 4 / Table 1)."""
from __future__ import annotations

import torch
from timm.models.vision_transformer import Block

from openmix.registry import MODELS


@MODELS.register_module()
class ScaledResidualBlock(Block):
    """timm's pre-norm ViT block with LV-ViT's residual scaling: ``x + branch(x) / skip_lam`` for both branches
    (official ``lvvit.py`` ``Block`` with ``skip_lam``; LV-ViT-S/M use 2). Select it with
    ``backbone.block_fn=dict(type='ScaledResidualBlock', skip_lam=2.0)``.
    """

    def __init__(self, *args, skip_lam: float = 1.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if skip_lam <= 0:
            raise ValueError(f'ScaledResidualBlock: skip_lam must be > 0, got {skip_lam}')
        self.skip_lam = float(skip_lam)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None, is_causal: bool = False) -> torch.Tensor:
        x = x + self.drop_path1(self.ls1(self.attn(self.norm1(x), attn_mask=attn_mask, is_causal=is_causal))) \
            / self.skip_lam
        return x + self.drop_path2(self.ls2(self.mlp(self.norm2(x)))) / self.skip_lam
