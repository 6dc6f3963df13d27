"""A class-attention head on any timm feature extractor: "CA-Swin" for TransMix (paper Sec. 4.5)."""
from __future__ import annotations

import torch
from timm.layers import trunc_normal_
from timm.models.cait import LayerScaleBlockClassAttn
from torch import nn

from openmix.registry import MODELS

from .timm_backbone import TimmBackbone


@MODELS.register_module()
class ClassAttentionHeadBackbone(TimmBackbone):
    """A timm model's last feature map read by a learned class token through CaiT class-attention blocks.

    TransMix (Chen et al., CVPR 2022, Sec. 4.5) applies to Swin by adding class attention on top of the last stage
    ("CA-Swin"); that code was never released (TransMix #5, #10), so this is our design, stated here: the final
    stage's tokens (``forward_features``, after its norm; NHWC or NCHW) are flattened, a class token attends to
    ``[cls, tokens]`` through ``ca_blocks`` CaiT ``LayerScaleBlockClassAttn`` blocks (Touvron et al., ICCV 2021,
    Sec. 3; class attention only updates the class token, so the cost is O(N)), and the LayerNorm-ed class token is
    the feature. The stage's mean-pooled feature is not used. The blocks live in ``blocks_token_only`` like CaiT's,
    so TransMix's probe reads the last block's class attention; the token grid is the last stage's (7 x 7 at 224).

    Args:
        model_name: timm model (e.g. ``'swin_tiny_patch4_window7_224'``).
        ca_blocks: Class-attention blocks (CaiT: 2).
        ca_heads: Heads of the class attention (default: width / 32).
        ca_mlp_ratio, ca_init_values, ca_drop_path: Of the class-attention blocks.
        **kwargs: As ``TimmBackbone`` (timm kwargs, ``checkpoint``).

    Differences from the reference code: there is none to compare with (CA-Swin's code was never released), so a
    CA-Swin row of ours is not the paper's model; every choice above is ours. No flag.
    """

    def __init__(self, model_name: str, ca_blocks: int = 2, ca_heads: int | None = None, ca_mlp_ratio: float = 4.0,
                 ca_init_values: float = 1e-4, ca_drop_path: float = 0.0, **kwargs) -> None:
        super().__init__(model_name, **kwargs)
        dim = self.model.num_features
        heads = ca_heads or max(dim // 32, 1)
        if dim % heads:
            raise ValueError(f'ClassAttentionHeadBackbone: ca_heads={heads} does not divide the width {dim}')
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        trunc_normal_(self.cls_token, std=0.02)
        self.blocks_token_only = nn.ModuleList(
            LayerScaleBlockClassAttn(dim, heads, mlp_ratio=ca_mlp_ratio, qkv_bias=True, drop_path=ca_drop_path,
                                     init_values=ca_init_values) for _ in range(ca_blocks))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.num_features = dim
        self._nhwc = getattr(self.model, 'output_fmt', 'NCHW') == 'NHWC'

    def no_weight_decay(self) -> set[str]:
        return super().no_weight_decay() | {'cls_token'}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.model.forward_features(x)
        if f.ndim == 4:
            f = f.flatten(1, 2) if self._nhwc else f.flatten(2).transpose(1, 2)
        cls = self.cls_token.expand(f.shape[0], -1, -1)
        for blk in self.blocks_token_only:
            cls = blk(f, cls)
        return self.norm(torch.cat([cls, f], dim=1))[:, 0]
