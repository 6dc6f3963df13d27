"""Models: classifier, data preprocessor, timm backbones, heads, losses, label assigners."""
from .backbones import *  # noqa: F401,F403
from .classifier import ImageClassifier
from .data_preprocessor import BatchRandomErasing, ClsDataPreprocessor
from .heads import *  # noqa: F401,F403
from .label_rules import AreaLabel, TransMixLabel, box_token_mask
from .losses import *  # noqa: F401,F403

__all__ = ['ImageClassifier', 'ClsDataPreprocessor', 'BatchRandomErasing', 'AreaLabel']
from .automix import *  # noqa: F401,F403  (after .classifier: AutoMixClassifier subclasses it)
