"""Engine: hooks, loops, optimizer wrappers and constructors, parameter schedulers.

Importing this package registers everything in openmix's HOOKS, LOOPS, OPTIM_WRAPPERS, OPTIM_WRAPPER_CONSTRUCTORS and
PARAM_SCHEDULERS and VISUALIZERS (the registries' ``locations`` point here).
"""
from .hooks import (EMAHook, MixOffHook, NonFiniteCheckHook, RandomStateHook, SafeCheckpointHook, SkippedImagesHook,
                    get_random_state, set_random_state)
from .hooks import PreemptionHook
from .loops import EMAValLoop, PreemptibleTrainLoop
from .preemption import PREEMPTED_EXIT_CODE, PreemptionSignal, TrainingPreempted
from .optim_wrappers import GuardedAmpOptimWrapper, GuardedOptimWrapper, NonFiniteGuardMixin
from .optimizers import OpenmixOptimWrapperConstructor, layer_decay_scales, no_weight_decay_names
from .schedulers import LinearWarmupLR, LinearWarmupParamScheduler
from .visualizer import LazyFigureVisualizer

__all__ = [
    'EMAHook', 'MixOffHook', 'NonFiniteCheckHook', 'RandomStateHook', 'SafeCheckpointHook', 'SkippedImagesHook',
    'get_random_state', 'set_random_state', 'EMAValLoop', 'PreemptibleTrainLoop', 'PreemptionHook',
    'PREEMPTED_EXIT_CODE', 'PreemptionSignal', 'TrainingPreempted',
    'GuardedOptimWrapper', 'GuardedAmpOptimWrapper', 'NonFiniteGuardMixin', 'OpenmixOptimWrapperConstructor',
    'layer_decay_scales', 'no_weight_decay_names', 'LinearWarmupLR', 'LinearWarmupParamScheduler',
    'LazyFigureVisualizer',
]
