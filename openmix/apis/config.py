"""Config helpers: literal ``--cfg-options`` and checks, before anything is built, that name the key of every unknown
``type``, unknown argument and value of the wrong type."""
from __future__ import annotations

import ast
import difflib
import inspect
from typing import Any, Iterator

from mmengine.config import Config

from openmix import registry as R
from openmix.apis.arg_check import check_args
from openmix.registry import unknown_type_message

__all__ = ['parse_cfg_options', 'apply_cfg_options', 'check_config_types', 'check_config_args', 'RunConfig']


class RunConfig(Config):
    """mmengine's ``Config`` whose ``pretty_text`` is formatted once per content.

    mmengine's Runner asks for ``pretty_text`` when it starts (the log), when it dumps the config into the work
    directory and in every checkpoint it saves, and each call runs yapf over the whole config: 0.1-0.3 s a call, up to
    a second of a short run spent re-formatting the same text (``benchmarks/cpu_peer.py``). The text is cached under
    the config's contents, so a change to the config still shows in the next ``pretty_text``.
    """

    @classmethod
    def of(cls, cfg: Config) -> 'RunConfig':
        """``cfg`` as a ``RunConfig`` (the same contents, file name and text; no copy of the values)."""
        if isinstance(cfg, cls):
            return cfg
        new = cls.__new__(cls)
        new.__dict__.update(cfg.__dict__)
        return new

    @property
    def pretty_text(self) -> str:
        key = repr(self._cfg_dict.to_dict())
        cached = self.__dict__.get('_pretty_text_cache')
        if cached is None or cached[0] != key:
            cached = (key, Config.pretty_text.fget(self))
            object.__setattr__(self, '_pretty_text_cache', cached)
        return cached[1]


def _node_value(node: ast.AST) -> Any:
    """The value of a literal AST node; ``dict(k=v, ...)`` calls with literal values count as literals too."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == 'dict' and not node.args:
        if any(kw.arg is None for kw in node.keywords):
            raise ValueError('dict(**...) is not a literal')
        return {kw.arg: _node_value(kw.value) for kw in node.keywords}
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [_node_value(e) for e in node.elts]
        return items if isinstance(node, ast.List) else tuple(items)
    if isinstance(node, ast.Dict):
        if any(k is None for k in node.keys):
            raise ValueError('{**...} is not a literal')
        return {_node_value(k): _node_value(v) for k, v in zip(node.keys, node.values)}
    return ast.literal_eval(node)  # constants, -1, 1e-3, sets, ...; raises ValueError for anything else


def _literal(text: str) -> Any:
    """A Python literal (numbers, strings, tuples, lists, dicts, ``dict(k=v)``, True/False/None); anything else stays
    a string.

    Values are never evaluated: the text is parsed and only literal nodes are converted.
    """
    lowered = {'true': True, 'false': False, 'none': None, 'null': None}
    if text.lower() in lowered:
        return lowered[text.lower()]
    try:
        return _node_value(ast.parse(text, mode='eval').body)
    except (ValueError, SyntaxError, TypeError):
        return text


def parse_cfg_options(options: list[str] | None) -> dict[str, Any]:
    """``['a.b=1', 'c=[1, 2]']`` -> ``{'a.b': 1, 'c': [1, 2]}``; a malformed item raises naming it."""
    parsed = {}
    for item in options or []:
        key, sep, value = item.partition('=')
        if not sep or not key:
            raise ValueError(f'--cfg-options item {item!r} is not of the form key=value (e.g. train_cfg.max_epochs=5)')
        parsed[key.strip()] = _literal(value.strip())
    return parsed


def apply_cfg_options(cfg: Config, options: dict[str, Any]) -> None:
    """Merge dotted-key overrides; the parent of every key must exist (a typo there names the key and near keys)."""
    for key in options:
        node: Any = cfg
        parts = key.split('.')
        for depth, part in enumerate(parts[:-1]):
            child = node[int(part)] if isinstance(node, (list, tuple)) and part.isdigit() else (
                node.get(part) if hasattr(node, 'get') else None)
            if child is None:
                path = '.'.join(parts[:depth + 1])
                near = difflib.get_close_matches(part, list(node.keys()) if hasattr(node, 'keys') else [], n=4)
                raise KeyError(f'--cfg-options {key}: `{path}` is not in the config'
                               + (f'; did you mean: {", ".join(near)}?' if near else ''))
            node = child
    cfg.merge_from_dict(options)


def _typed(node: Any, key: str, registry) -> Iterator[tuple[str, str, Any, dict]]:
    if isinstance(node, dict) and isinstance(node.get('type'), str):
        yield key, node['type'], registry, node


def _walk_config(cfg: Config) -> Iterator[tuple[str, str, Any, dict]]:
    """(config key, type name, registry, config dict) for every typed section openmix builds."""
    model = cfg.get('model')
    if isinstance(model, dict):
        yield from _typed(model, 'model', R.MODELS)
        for sub in ('backbone', 'head', 'loss', 'label_assigner', 'data_preprocessor'):
            yield from _typed(model.get(sub), f'model.{sub}', R.MODELS)
        mixer = model.get('mixer')
        yield from _typed(mixer, 'model.mixer', R.MIXERS)
        if isinstance(mixer, dict):
            for i, sub in enumerate(mixer.get('mixers', []) or []):
                yield from _typed(sub, f'model.mixer.mixers.{i}', R.MIXERS)
    for split in ('train', 'val', 'test'):
        loader = cfg.get(f'{split}_dataloader')
        if not isinstance(loader, dict):
            continue
        dataset = loader.get('dataset')
        yield from _typed(dataset, f'{split}_dataloader.dataset', R.DATASETS)
        if isinstance(dataset, dict):
            for i, t in enumerate(dataset.get('pipeline', []) or []):
                yield from _typed(t, f'{split}_dataloader.dataset.pipeline.{i}', R.TRANSFORMS)
        yield from _typed(loader.get('sampler'), f'{split}_dataloader.sampler', R.DATA_SAMPLERS)
    for i, hook in enumerate(cfg.get('custom_hooks', []) or []):
        yield from _typed(hook, f'custom_hooks.{i}', R.HOOKS)
    for name, hook in (cfg.get('default_hooks') or {}).items():
        yield from _typed(hook, f'default_hooks.{name}', R.HOOKS)
    evaluators = cfg.get('val_evaluator')
    for i, metric in enumerate(evaluators if isinstance(evaluators, list) else [evaluators]):
        yield from _typed(metric, 'val_evaluator' + (f'.{i}' if isinstance(evaluators, list) else ''), R.METRICS)
    optim = cfg.get('optim_wrapper')
    if isinstance(optim, dict):
        yield from _typed(optim, 'optim_wrapper', R.OPTIM_WRAPPERS)
        yield from _typed(optim.get('optimizer'), 'optim_wrapper.optimizer', R.OPTIMIZERS)
    schedulers = cfg.get('param_scheduler')
    for i, sched in enumerate(schedulers if isinstance(schedulers, list) else [schedulers]):
        yield from _typed(sched, f'param_scheduler.{i}', R.PARAM_SCHEDULERS)
    for loop in ('train_cfg', 'val_cfg', 'test_cfg'):
        yield from _typed(cfg.get(loop), loop, R.LOOPS)


def check_config_types(cfg: Config) -> None:
    """Raise ``KeyError`` naming the config key, registry and closest names for the first unknown ``type``, then
    :func:`check_config_args` (unknown keys, values of the wrong type), all before anything is built."""
    for key, name, registry, _ in _walk_config(cfg):
        if registry.get(name) is None:
            raise KeyError(unknown_type_message(name, registry, key=f'{key}.type'))
    check_config_args(cfg)


def _params(**types: type) -> dict[str, inspect.Parameter]:
    """A hand-written signature for a section mmengine reads key by key (``auto_scale_lr``, ``randomness``...)."""
    return {name: inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=t) for name, t in types.items()}


#: Sections mmengine's Runner reads key by key (``Runner.scale_lr``, ``set_randomness``, ``setup_env``).
_RUNNER_SECTIONS = {
    'auto_scale_lr': ('Runner.scale_lr', _params(enable=bool, base_batch_size=int)),
    'randomness': ('Runner.set_randomness', _params(seed=int, diff_rank_seed=bool, deterministic=bool)),
    'env_cfg': ('Runner.setup_env', _params(cudnn_benchmark=bool, mp_cfg=dict, dist_cfg=dict, resource_limit=int,
                                                     host_malloc=dict)),
    'env_cfg.mp_cfg': ('Runner.setup_env', _params(mp_start_method=Any, opencv_num_threads=int)),
}
#: What each typed position's builder passes itself (not the user's to set) or consumes before building.
_INJECTED = {R.DATA_SAMPLERS: ('dataset', 'seed'), R.OPTIMIZERS: ('params',), R.PARAM_SCHEDULERS: ('optimizer',),
             R.LOOPS: ('runner', 'dataloader', 'evaluator')}
_EXTRA = {R.PARAM_SCHEDULERS: ('convert_to_iter_based', 'epoch_length'),
          R.OPTIM_WRAPPERS: ('optimizer', 'constructor', 'paramwise_cfg')}
#: Keys of a ``*_dataloader`` that mmengine's ``Runner.build_dataloader`` consumes before ``DataLoader(...)``.
_LOADER_EXTRA = ('dataset', 'sampler', 'batch_sampler', 'collate_fn', 'worker_init_fn', 'num_batch_per_epoch',
                 'disable_subprocess_warning', 'device_resident', 'prefetch')  # the last two: openmix's (build_runner)


def _nested_model_parts(node: Any, key: str, known: set[str]) -> Iterator[tuple[str, dict]]:
    """Typed dicts inside ``model`` below the positions :func:`_walk_config` names (``backbone.embed_layer``...)."""
    if isinstance(node, dict):
        if key not in known and key != 'model' and isinstance(node.get('type'), str):
            yield key, node
        for k, v in node.items():
            if k != 'init_cfg':
                yield from _nested_model_parts(v, f'{key}.{k}', known)
    elif isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            yield from _nested_model_parts(v, f'{key}.{i}', known)


def check_config_args(cfg: Config) -> None:
    """Raise :class:`~openmix.apis.arg_check.ConfigArgError` for the first config key a component does not take
    (with the closest valid names) or whose value is a string where a number or bool is wanted (with the type).

    Typed sections are checked against the signature of the registered class (``**kwargs`` followed to the base
    ``__init__`` they are forwarded to; a class handing them to another callable, such as ``TimmBackbone`` to
    ``timm.create_model``, is only type-checked); the untyped sections against what mmengine's Runner reads.
    """
    from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop, LogProcessor, TestLoop, ValLoop
    from torch.utils.data import DataLoader

    known = set()
    for key, name, registry, node in _walk_config(cfg):
        known.add(key)
        check_args(node, key, registry.get(name), injected=_INJECTED.get(registry, ()), extra=_EXTRA.get(registry, ()))
    for key, node in _nested_model_parts(cfg.get('model'), 'model', known):
        target = R.MODELS.get(node['type']) or R.MIXERS.get(node['type'])
        if target is not None:
            check_args(node, key, target)
    for key, (label, params) in _RUNNER_SECTIONS.items():
        node = cfg.get(key) if '.' not in key else (cfg.get(key.split('.')[0]) or {}).get(key.split('.')[1])
        if isinstance(node, dict):
            check_args(node, key, params, ignore=(), label=label)
    optim = cfg.get('optim_wrapper')
    if isinstance(optim, dict) and 'type' not in optim:
        check_args(optim, 'optim_wrapper', R.OPTIM_WRAPPERS.get('OptimWrapper'), extra=_EXTRA[R.OPTIM_WRAPPERS])
    train_cfg = cfg.get('train_cfg')
    if isinstance(train_cfg, dict) and 'type' not in train_cfg:
        loop = EpochBasedTrainLoop if train_cfg.get('by_epoch', True) else IterBasedTrainLoop
        check_args(train_cfg, 'train_cfg', loop, extra=('by_epoch',), injected=_INJECTED[R.LOOPS])
    for key, loop in (('val_cfg', ValLoop), ('test_cfg', TestLoop)):
        node = cfg.get(key)
        if isinstance(node, dict) and 'type' not in node:
            check_args(node, key, loop, injected=_INJECTED[R.LOOPS])
    log_processor = cfg.get('log_processor')
    if isinstance(log_processor, dict) and 'type' not in log_processor:
        check_args(log_processor, 'log_processor', LogProcessor)
    for split in ('train', 'val', 'test'):
        loader = cfg.get(f'{split}_dataloader')
        if isinstance(loader, dict):
            check_args(loader, f'{split}_dataloader', DataLoader, ignore=(), extra=_LOADER_EXTRA,
                       injected=('generator', 'multiprocessing_context'))
