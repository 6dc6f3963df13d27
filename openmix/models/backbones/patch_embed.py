"""Patch embeddings for timm ViTs, selectable from configs with ``backbone.embed_layer=dict(type=...)``."""
from __future__ import annotations

from torch import nn
from timm.layers import PatchEmbed

from openmix.registry import MODELS


@MODELS.register_module()
class ConvStemPatchEmbed(PatchEmbed):
    """Convolutional stem + patch projection, a drop-in for timm's ``PatchEmbed`` (same grid, token layout, API).

    The stem of LV-ViT (Jiang et al., NeurIPS 2021, "All Tokens Matter", Sec. 3.1 / official ``PatchEmbed4_2``):
    conv 7x7 stride ``stem_stride`` -> BN -> ReLU -> (conv 3x3 -> BN -> ReLU) x 2, then a
    ``patch_size / stem_stride`` strided projection to ``embed_dim``, so the token grid is that of a plain
    ``patch_size`` patchify. Early convolutions give ViTs the locality bias that makes them trainable on small data
    (Xiao et al., NeurIPS 2021). The whole stem sits in ``self.proj``, so timm's ``PatchEmbed.forward`` (size checks,
    dynamic padding, NHWC output, norm) applies unchanged.

    Args:
        img_size, patch_size, in_chans, embed_dim, norm_layer, flatten, bias, **kwargs: As timm's ``PatchEmbed``.
        stem_channels: Width of the stem convolutions (LV-ViT: 64).
        stem_stride: Stride of the first convolution; must divide ``patch_size`` (LV-ViT: 2).

    Differences from the reference code (official LV-ViT ``PatchEmbed4_2``): none known. A tiny official LV-ViT,
    this stem included, loaded through ``convert_official_lvvit`` gives the recorded official logits to 6e-8
    (``tests/models/test_lvvit_reference.py``).
    """

    def __init__(self, img_size=224, patch_size=16, in_chans=3, embed_dim=768, norm_layer=None, flatten=True,
                 bias=True, stem_channels: int = 64, stem_stride: int = 2, **kwargs) -> None:
        super().__init__(img_size=img_size, patch_size=patch_size, in_chans=in_chans, embed_dim=embed_dim,
                         norm_layer=norm_layer, flatten=flatten, bias=bias, **kwargs)
        ph, pw = self.patch_size
        if ph != pw or ph % stem_stride:
            raise ValueError(f'ConvStemPatchEmbed: stem_stride={stem_stride} must divide the square patch size '
                             f'{self.patch_size}')
        c, k = stem_channels, ph // stem_stride

        def block(cin: int, kernel: int, stride: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, c, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]

        self.proj = nn.Sequential(*block(in_chans, 7, stem_stride), *block(c, 3, 1), *block(c, 3, 1),
                                  nn.Conv2d(c, embed_dim, k, k, bias=bias))
