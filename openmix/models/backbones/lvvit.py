"""LV-ViT pieces for timm's VisionTransformer (Jiang et al., NeurIPS 2021, "All Tokens Matter", Sec. 4 / Table 1).

LV-ViT is a stock timm ``VisionTransformer`` with three parts swapped in from configs: the convolutional stem
(:class:`~openmix.models.backbones.patch_embed.ConvStemPatchEmbed`), the residual scaling of
:class:`ScaledResidualBlock` and PyTorch's ``LayerNorm`` (eps 1e-5, where timm's ViTs use 1e-6). Released official
checkpoints load through :func:`convert_official_lvvit` (``TokenLabelClassifier`` applies it on ``load_state_dict``, so
``load_from`` and ``tools/test.py`` take an official ``.pth.tar`` as it is).

Official model definitions (``tlt/models/lvvit.py``; all ``mlp_ratio=3``, ``qkv_bias=False``, ``patch_size=16``,
stem ``PatchEmbed4_2``: 7x7/2, 3x3, 3x3 convs with 64 channels, BN + ReLU, then an 8x8/8 projection with bias):

    ===========  =====  =====  =====  ========  ===========================
    model        width  depth  heads  skip_lam  drop path (README command)
    ===========  =====  =====  =====  ========  ===========================
    ``lvvit_t``  240    12     4      1.0       none given (main.py: 0)
    ``lvvit_s``  384    16     6      2.0       0.1
    ``lvvit_m``  512    20     8      2.0       0.2
    ===========  =====  =====  =====  ========  ===========================
"""
from __future__ import annotations

import torch
from timm.models.vision_transformer import Block
from torch import nn

from openmix.registry import MODELS

# PyTorch's LayerNorm (default eps 1e-5, as the official LV-ViT), for ``backbone.norm_layer=dict(type='LayerNorm')``
MODELS.register_module('LayerNorm', module=nn.LayerNorm)

# the converter lives with the others in openmix.utils.convert; imported here so the old path keeps working
from openmix.utils.convert import _STEM, convert_official_lvvit, is_official_lvvit  # noqa: E402,F401


@MODELS.register_module()
class ScaledResidualBlock(Block):
    """timm's pre-norm ViT block with LV-ViT's residual scaling: ``x + branch(x) / skip_lam`` for both branches
    (official ``lvvit.py`` ``Block`` with ``skip_lam``; LV-ViT-T uses 1, LV-ViT-S/M 2). Select it with
    ``backbone.block_fn=dict(type='ScaledResidualBlock', skip_lam=2.0)``.

    Differences from the reference code:
        None in the forward pass: with the LV-ViT configs' ``norm_layer=dict(type='LayerNorm')`` (eps 1e-5) a tiny
        LV-ViT loaded from an official state dict gives the official logits to float rounding
        (``tests/models/test_lvvit_reference.py``). With timm's default norm (eps 1e-6, ``norm_layer`` unset) every
        forward differs: measured 5e-4 on the tiny model's logits (max |logit| 0.5) and 2e-3 on a randomly
        initialised full-size official LV-ViT-S (max |logit| 1.6). On a randomly initialised official LV-ViT-T,
        ``skip_lam=2`` (the old LV-ViT-T config) moved the logits by 0.41 (max |logit| 1.2).
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
