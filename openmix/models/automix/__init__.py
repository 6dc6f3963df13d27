"""AutoMix (Liu et al., ECCV 2022) and SAMix (Li et al., arXiv:2111.15454): a learned mixing mask from a MixBlock
trained through a momentum encoder. Importing this package registers the models (MODELS) and hooks (HOOKS)."""
from .adaptive_mask import AdaptiveMaskBlock
from .adautomix import AdAutoMixClassifier
from .classifier import AutoMixClassifier
from .hooks import AttrCosineAnnealingHook, AutoMixMomentumHook, MixBlockLrHook, annealing_cos, ema_momentum
from .mixblock import MixBlock, SAMixBlock, mix_mask_loss, rescale_lam

__all__ = ['AutoMixClassifier', 'MixBlock', 'SAMixBlock', 'mix_mask_loss', 'rescale_lam', 'AutoMixMomentumHook',
           'AttrCosineAnnealingHook', 'MixBlockLrHook', 'annealing_cos', 'ema_momentum', 'AdAutoMixClassifier',
           'AdaptiveMaskBlock']
