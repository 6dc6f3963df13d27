"""Token Labeling (Jiang et al., NeurIPS 2021): label maps on disk, dense targets, MixToken and the loss."""
from .label_maps import PackedLabelMaps, image_key, load_official, save_official
from .loss import TokenLabelLoss
from .classifier import TokenLabelClassifier
from .transforms import LoadTokenLabel, NormaliseCrop
from .targets import (box_tokens, dense_score_maps, mix_tokens, mixtoken_box, token_targets,
                      unmix_token_outputs)

__all__ = ['TokenLabelClassifier', 'LoadTokenLabel', 'NormaliseCrop', 'PackedLabelMaps', 'image_key', 'load_official', 'save_official', 'TokenLabelLoss', 'box_tokens',
           'dense_score_maps', 'mix_tokens', 'mixtoken_box', 'token_targets', 'unmix_token_outputs']
