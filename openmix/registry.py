"""openmix registries: children of mmengine's root registries.

Configs name a ``type`` only; ``locations`` makes each registry import the modules that fill it, so
``MODELS.build(dict(type='ImageClassifier', ...))`` works without importing ``openmix.models`` first.
An unknown ``type`` raises a ``KeyError`` that names the registry and the closest registered names.
"""
from __future__ import annotations

import difflib

from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import EVALUATOR as MMENGINE_EVALUATOR
from mmengine.registry import FUNCTIONS as MMENGINE_FUNCTIONS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import VISBACKENDS as MMENGINE_VISBACKENDS
from mmengine.registry import VISUALIZERS as MMENGINE_VISUALIZERS
from mmengine.registry import Registry as _MMRegistry

__all__ = [
    'Registry', 'MODELS', 'MIXERS', 'DATASETS', 'TRANSFORMS', 'DATA_SAMPLERS', 'HOOKS', 'LOOPS', 'METRICS',
    'EVALUATOR', 'FUNCTIONS', 'OPTIMIZERS', 'OPTIM_WRAPPERS', 'OPTIM_WRAPPER_CONSTRUCTORS', 'PARAM_SCHEDULERS', 'MODEL_WRAPPERS',
    'VISBACKENDS', 'VISUALIZERS', 'registered_names', 'unknown_type_message',
]


def registered_names(registry: _MMRegistry) -> list[str]:
    """All names ``registry`` resolves: its own, its children's and its parents'."""
    names: set[str] = set()
    seen: set[int] = set()
    stack = [registry]
    node = registry
    while node.parent is not None:
        node = node.parent
        stack.append(node)
    while stack:
        reg = stack.pop()
        if id(reg) in seen:
            continue
        seen.add(id(reg))
        reg.import_from_location()
        names.update(reg.module_dict)
        stack.extend(reg.children.values())
    return sorted(names)


def unknown_type_message(name: str, registry: _MMRegistry, key: str | None = None) -> str:
    """The message for a ``type`` that ``registry`` does not know, with the closest names."""
    close = difflib.get_close_matches(name, registered_names(registry), n=5, cutoff=0.5)
    where = f' (config key `{key}`)' if key else ''
    hint = f' Closest registered names: {", ".join(close)}.' if close else ''
    return f"'{name}'{where} is not registered in openmix's '{registry.name}' registry.{hint}"


class Registry(_MMRegistry):
    """mmengine ``Registry`` whose unknown-type error names the registry and the nearest names."""

    def build(self, cfg: dict, *args, **kwargs):
        try:
            return super().build(cfg, *args, **kwargs)
        except KeyError as err:
            obj_type = cfg.get('type') if isinstance(cfg, dict) else None
            if isinstance(obj_type, str) and self.get(obj_type) is None:
                raise KeyError(unknown_type_message(obj_type, self)) from err
            raise


def _child(name: str, parent: _MMRegistry, location: str) -> Registry:
    return Registry(name, parent=parent, scope='openmix', locations=[location])


MODELS = _child('model', MMENGINE_MODELS, 'openmix.models')
MIXERS = Registry('mixer', scope='openmix', locations=['openmix.mixers'])
DATASETS = _child('dataset', MMENGINE_DATASETS, 'openmix.datasets')
TRANSFORMS = _child('transform', MMENGINE_TRANSFORMS, 'openmix.datasets.transforms')
DATA_SAMPLERS = _child('data sampler', MMENGINE_DATA_SAMPLERS, 'openmix.datasets')
HOOKS = _child('hook', MMENGINE_HOOKS, 'openmix.engine')
LOOPS = _child('loop', MMENGINE_LOOPS, 'openmix.engine')
METRICS = _child('metric', MMENGINE_METRICS, 'openmix.evaluation')
EVALUATOR = _child('evaluator', MMENGINE_EVALUATOR, 'openmix.evaluation')
OPTIMIZERS = _child('optimizer', MMENGINE_OPTIMIZERS, 'openmix.engine')
OPTIM_WRAPPERS = _child('optim_wrapper', MMENGINE_OPTIM_WRAPPERS, 'openmix.engine')
OPTIM_WRAPPER_CONSTRUCTORS = _child('optimizer wrapper constructor', MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS,
                                    'openmix.engine')
PARAM_SCHEDULERS = _child('parameter scheduler', MMENGINE_PARAM_SCHEDULERS, 'openmix.engine')
FUNCTIONS = _child('function', MMENGINE_FUNCTIONS, 'openmix.datasets')
MODEL_WRAPPERS = _child('model_wrapper', MMENGINE_MODEL_WRAPPERS, 'openmix.engine')
VISBACKENDS = _child('vis_backend', MMENGINE_VISBACKENDS, 'openmix.engine')
VISUALIZERS = _child('visualizer', MMENGINE_VISUALIZERS, 'openmix.engine')
