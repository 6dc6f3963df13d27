"""Training hooks (registered in openmix's HOOKS)."""
from .checkpoint_hook import SafeCheckpointHook
from .ema_hook import EMAHook
from .mix_off_hook import MixOffHook
from .skipped_images_hook import SkippedImagesHook
from .random_state_hook import RandomStateHook, get_random_state, set_random_state

__all__ = ['EMAHook', 'MixOffHook', 'RandomStateHook', 'get_random_state', 'set_random_state', 'SkippedImagesHook',
           'SafeCheckpointHook']
