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

from collections.abc import Mapping

import torch
from timm.models.vision_transformer import Block
from torch import nn

from openmix.registry import MODELS

# PyTorch's LayerNorm (default eps 1e-5, as the official LV-ViT), for ``backbone.norm_layer=dict(type='LayerNorm')``
MODELS.register_module('LayerNorm', module=nn.LayerNorm)

# official PatchEmbed4_2 module names -> index in ConvStemPatchEmbed's ``proj`` Sequential (conv, BN, ReLU) x 3 + proj
_STEM = {'conv1': 0, 'bn1': 1, 'conv2': 3, 'bn2': 4, 'conv3': 6, 'bn3': 7, 'proj': 9}


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


def is_official_lvvit(state_dict: Mapping[str, torch.Tensor], prefix: str = '') -> bool:
    """Whether ``state_dict`` (under ``prefix``) is in the official LV-ViT layout (``patch_embed.conv1`` stem).

    Differences from the reference code:
        None (a key test).
    """
    return f'{prefix}patch_embed.conv1.weight' in state_dict


def convert_official_lvvit(state_dict: Mapping[str, torch.Tensor], aux_head: bool = True) -> dict[str, torch.Tensor]:
    """An official LV-ViT state dict (``tlt/models/lvvit.py``, ``p_emb='4_2'``) in openmix's ``TokenLabelClassifier``
    layout.

    ``patch_embed.{conv,bn}{1,2,3}`` / ``patch_embed.proj`` -> ``backbone.model.patch_embed.proj.{0,1,3,4,6,7,9}``;
    ``cls_token``, ``pos_embed``, ``blocks.*``, ``norm.*`` -> ``backbone.model.*`` (timm's names are the official ones);
    ``head.*`` -> ``head.fc.*``; ``aux_head.*`` stays (dropped with ``aux_head=False``, for an ``ImageClassifier``).
    A ``module.`` prefix (DDP) is stripped; a checkpoint dict holding ``state_dict`` is unwrapped. Only the
    ``PatchEmbed4_2`` stem and ``Block`` layers (LV-ViT-T/S/M) have an openmix counterpart; other official layers raise.

    Example:
        >>> state = torch.load('lvvit_s-26M-224-83.3.pth.tar', map_location='cpu', weights_only=True)
        >>> model.load_state_dict(convert_official_lvvit(state))  # or just model.load_state_dict(state)

    Differences from the reference code:
        None: an official state dict loads with no missing or unexpected keys and gives the recorded official logits
        (class, auxiliary, and ``cls + 0.5 * max(aux)``) to 1e-7 on the tiny fixture model; full-size official
        LV-ViT-T/S load with ``strict=True`` and agree to 1e-6.
    """
    if 'state_dict' in state_dict and isinstance(state_dict['state_dict'], Mapping):
        state_dict = state_dict['state_dict']
    out = {}
    for key, value in state_dict.items():
        key = key[len('module.'):] if key.startswith('module.') else key
        head, _, rest = key.partition('.')
        if key.startswith('patch_embed.'):
            layer, _, param = rest.partition('.')
            if layer not in _STEM:
                raise KeyError(f'convert_official_lvvit: {key!r} is not part of the PatchEmbed4_2 stem '
                               f'(only p_emb="4_2" models convert)')
            out[f'backbone.model.patch_embed.proj.{_STEM[layer]}.{param}'] = value
        elif head in ('cls_token', 'pos_embed', 'blocks', 'norm'):
            out[f'backbone.model.{key}'] = value
        elif head == 'head':
            out[f'head.fc.{rest}'] = value
        elif head == 'aux_head':
            if aux_head:
                out[key] = value
        else:
            raise KeyError(f'convert_official_lvvit: no openmix counterpart for {key!r}')
    return out
