"""Input mixing methods (one file per family) and their shared geometry."""
from .attentivemix import AttentiveMix
from .base import BaseMixer, MixedBatch, MixParams
from .cutmix import CutMix
from .fmix import FMix
from .gridmix import GridMix
from .geometry import mix_target, smooth_one_hot
from .manifoldmix import ManifoldMix
from .maskmix import MaskMix
from .mixup import Mixup
from .puzzlemix import PuzzleMix
from .random_mix import RandomMix
from .resizemix import ResizeMix
from .saliencymix import SaliencyMix
from .smmix import SMMix
from .smoothmix import SmoothMix
from .tokenmix import TokenMix

__all__ = ['BaseMixer', 'MixedBatch', 'MixParams', 'Mixup', 'CutMix', 'FMix', 'GridMix', 'RandomMix', 'ResizeMix',
           'SaliencyMix', 'SmoothMix', 'AttentiveMix', 'ManifoldMix', 'MaskMix', 'PuzzleMix', 'SMMix', 'TokenMix',
           'mix_target', 'smooth_one_hot']
