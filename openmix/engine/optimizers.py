"""Optimizer wrapper constructor: no weight decay on norms, biases and tokens; optional layer-wise lr decay."""
from __future__ import annotations

import fnmatch
import inspect
from typing import Iterable

from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapper
from torch import nn

from openmix.registry import OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS, OPTIMIZERS

__all__ = ['OpenmixOptimWrapperConstructor', 'no_weight_decay_names', 'layer_decay_scales']


def _matches(name: str, patterns: Iterable[str]) -> bool:
    return any(name == p or fnmatch.fnmatchcase(name, p) for p in patterns)


def no_weight_decay_names(model: nn.Module) -> set[str]:
    """Full names (or fnmatch patterns) of parameters the model exempts from weight decay (timm convention).

    The root's ``no_weight_decay()`` is taken as full names (openmix's ``ImageClassifier`` returns
    ``backbone.model.cls_token`` ...). A root without it contributes the names of its outermost submodules that have
    one (a bare timm model inside a custom wrapper), prefixed with the submodule's path.
    """
    if callable(getattr(model, 'no_weight_decay', None)):
        return set(model.no_weight_decay())
    names: set[str] = set()
    covered: list[str] = []
    for prefix, module in model.named_modules():
        if not prefix or any(prefix.startswith(c + '.') for c in covered):
            continue
        if callable(getattr(module, 'no_weight_decay', None)):
            names.update(f'{prefix}.{n}' for n in module.no_weight_decay())
            covered.append(prefix)
    return names


def layer_decay_scales(model: nn.Module, layer_decay: float, min_scale: float = 0.0) -> dict[str, float]:
    """Learning-rate scale of every parameter under layer-wise lr decay (BEiT, Bao et al., ICLR 2022).

    The layer of each parameter comes from timm's ``group_matcher(coarse=False)`` of the timm model inside the model
    (the outermost module with ``group_matcher``), through ``timm.models.group_parameters(..., reverse=True)``, as in
    ``timm.optim._param_groups.param_groups_layer_decay``: with ``L`` layers, layer ``i`` gets
    ``max(min_scale, layer_decay ** (L - 1 - i))``. Parameters outside the timm model (the classification head of an
    openmix classifier, whose backbone is built with ``num_classes=0``) form the top layer, the place timm gives its
    own head, so they get scale 1.0 and the numbers equal timm's for the same network with its head.

    Returns:
        ``{parameter name: lr scale}`` over all parameters of ``model``.
    """
    from timm.models import group_parameters

    prefix, timm_model = None, None
    for name, module in model.named_modules():
        if callable(getattr(module, 'group_matcher', None)):
            prefix, timm_model = name, module
            break
    if timm_model is None:
        raise ValueError('layer_decay needs a timm model with `group_matcher()` inside the model (e.g. '
                         '`model.backbone.model`); none was found')
    layer_map = group_parameters(timm_model, timm_model.group_matcher(coarse=False), reverse=True)
    dot = f'{prefix}.' if prefix else ''
    inside = {dot + n for n, _ in timm_model.named_parameters()}
    outside = [n for n, _ in model.named_parameters() if n not in inside]
    top = max(layer_map.values()) + (1 if outside else 0)
    scales = {}
    for name, _ in model.named_parameters():
        layer = layer_map.get(name[len(dot):], top) if name in inside else top
        scales[name] = max(min_scale, layer_decay ** (top - layer))
    return scales


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class OpenmixOptimWrapperConstructor:
    """Builds the optimizer wrapper with DeiT/timm parameter groups.

    * No weight decay on 1-D parameters (norm weights, biases) and on the names returned by the model's
      ``no_weight_decay()`` (``pos_embed``, ``cls_token``, ``dist_token`` ...), as timm's
      ``param_groups_weight_decay`` (Touvron et al., DeiT, ICML 2021 recipe).
    * Optional layer-wise lr decay (``layer_decay``), reproducing timm's ``param_groups_layer_decay`` scales (see
      ``layer_decay_scales``); a group's ``lr`` is ``base_lr * scale`` (mmengine schedulers and ``auto_scale_lr``
      then act on every group proportionally).
    * Parameters sharing (weight decay, lr scale) go into one group, so there are as few groups as possible (2
      without layer decay).

    Config::

        optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=5e-4, weight_decay=0.05),
                             constructor='OpenmixOptimWrapperConstructor',
                             paramwise_cfg=dict(layer_decay=None), clip_grad=dict(max_norm=5.0))

    Args:
        optim_wrapper_cfg: the ``optim_wrapper`` config without ``constructor``/``paramwise_cfg``.
        paramwise_cfg: ``layer_decay`` (float or None), ``layer_decay_min_scale`` (float, default 0).
    """

    _PARAMWISE_KEYS = ('layer_decay', 'layer_decay_min_scale')

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: dict | None = None) -> None:
        if 'optimizer' not in optim_wrapper_cfg:
            raise KeyError('`optim_wrapper` needs an `optimizer` config')
        self.optim_wrapper_cfg = dict(optim_wrapper_cfg)
        self.optimizer_cfg = dict(self.optim_wrapper_cfg.pop('optimizer'))
        paramwise_cfg = dict(paramwise_cfg or {})
        unknown = sorted(set(paramwise_cfg) - set(self._PARAMWISE_KEYS))
        if unknown:
            raise KeyError(f'unknown paramwise_cfg keys {unknown}; OpenmixOptimWrapperConstructor accepts '
                           f'{list(self._PARAMWISE_KEYS)}')
        self.layer_decay = paramwise_cfg.get('layer_decay')
        self.min_scale = float(paramwise_cfg.get('layer_decay_min_scale', 0.0))
        if self.layer_decay is not None and not 0.0 < self.layer_decay <= 1.0:
            raise ValueError(f'layer_decay must be in (0, 1], got {self.layer_decay}')

    def param_groups(self, model: nn.Module) -> list[dict]:
        """The optimizer's parameter groups for ``model`` (unwrapped)."""
        base_lr = self.optimizer_cfg.get('lr')
        weight_decay = float(self.optimizer_cfg.get('weight_decay', 0.0) or 0.0)
        no_decay = no_weight_decay_names(model)
        scales = layer_decay_scales(model, self.layer_decay, self.min_scale) if self.layer_decay else None
        if scales is not None and base_lr is None:
            raise KeyError('layer_decay needs `optim_wrapper.optimizer.lr`')
        groups: dict[tuple[float, float], dict] = {}
        for name, param in model.named_parameters():
            if not param.requires_grad:
                continue
            exempt = param.ndim <= 1 or name.endswith('.bias') or _matches(name, no_decay)
            wd = 0.0 if exempt else weight_decay
            scale = scales[name] if scales is not None else 1.0
            group = groups.get((wd, scale))
            if group is None:
                group = groups[(wd, scale)] = dict(params=[], weight_decay=wd)
                if scales is not None:
                    group['lr'] = base_lr * scale
            group['params'].append(param)
        return list(groups.values())

    def __call__(self, model: nn.Module) -> OptimWrapper:
        if is_model_wrapper(model) or hasattr(model, 'module'):
            model = model.module
        optimizer_cfg = dict(self.optimizer_cfg)
        optimizer_cls = optimizer_cfg['type']
        if isinstance(optimizer_cls, str):
            optimizer_cls = OPTIMIZERS.get(optimizer_cls)
            if optimizer_cls is None:
                raise KeyError(f"optimizer '{self.optimizer_cfg['type']}' is not registered")
        # some optimizers (colossalai's HybridAdam) name their first argument `model_params`
        first_arg = next(iter(inspect.signature(optimizer_cls).parameters))
        groups = self.param_groups(model)
        optimizer_cfg[first_arg] = groups
        optimizer = OPTIMIZERS.build(optimizer_cfg)
        wrapper_cfg = dict(self.optim_wrapper_cfg)
        wrapper_cfg.setdefault('type', 'OptimWrapper')
        # the optimizer has filled in its default lr for groups without one
        print_log('parameter groups (weight_decay, lr: #params): ' + ', '.join(
            f"({g['weight_decay']:g}, {g['lr']:.3g}): {len(g['params'])}" for g in optimizer.param_groups),
            logger='current')
        return OPTIM_WRAPPERS.build(wrapper_cfg, default_args=dict(optimizer=optimizer))
