"""Training hooks (registered in openmix's HOOKS)."""
from .checkpoint_hook import SafeCheckpointHook
from .ema_hook import EMAHook
from .mix_off_hook import MixOffHook
from .nonfinite_check_hook import NonFiniteCheckHook
from .preemption_hook import PreemptionHook
from .skipped_images_hook import SkippedImagesHook
from .runtime_info_hook import DeferredRuntimeInfoHook
from .random_state_hook import RandomStateHook, get_random_state, set_random_state

__all__ = ['EMAHook', 'NonFiniteCheckHook', 'MixOffHook', 'RandomStateHook', 'get_random_state', 'set_random_state',
           'SkippedImagesHook', 'SafeCheckpointHook', 'PreemptionHook', 'DeferredRuntimeInfoHook']
