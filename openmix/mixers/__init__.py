"""Input mixing methods (one file per family) and their shared geometry."""
from .base import BaseMixer, MixedBatch, MixParams
from .cutmix import CutMix
from .geometry import mix_target, smooth_one_hot
from .mixup import Mixup
from .random_mix import RandomMix

__all__ = ['BaseMixer', 'MixedBatch', 'MixParams', 'Mixup', 'CutMix', 'RandomMix', 'mix_target', 'smooth_one_hot']
