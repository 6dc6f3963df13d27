from .patch_embed import ConvStemPatchEmbed
from .timm_backbone import TimmBackbone

__all__ = ['ConvStemPatchEmbed', 'TimmBackbone']
