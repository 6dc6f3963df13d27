from .class_attention_head import ClassAttentionHeadBackbone
from .lvvit import ScaledResidualBlock
from .patch_embed import ConvStemPatchEmbed
from .timm_backbone import TimmBackbone

__all__ = ['ClassAttentionHeadBackbone', 'ConvStemPatchEmbed', 'ScaledResidualBlock', 'TimmBackbone']
