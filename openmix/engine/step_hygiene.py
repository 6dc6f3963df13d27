"""Per-step speed settings applied to a built runner: ``torch.compile`` of the backbone and channels-last for CNNs.

``openmix.apis.build_runner`` calls both after the Runner has built the model and moved it to its device:

* :func:`compile_backbone` reads the top-level config key ``compile_backbone`` (``tools/train.py --compile [MODE]``):
  ``True``/a mode name/a dict of ``torch.compile`` kwargs. The backbone module is compiled in place with
  ``nn.Module.compile`` (state-dict keys, checkpoints, EMA and the optimizer's parameters are unchanged) and lazily:
  the first training step traces it. mmengine's own ``cfg.compile`` compiles the whole ``train_step`` (data
  preprocessor, host-side random draws of the mixers, optimizer wrapper), which breaks the graph at every host-side
  step; compiling the backbone alone keeps the graph to the network. Forward hooks on the backbone's layers (TransMix's
  class-attention probe, ManifoldMix, AutoMix's feature capture) are registered when the model is built, before the
  first compiled call, and are traced with the layers they sit on (``tests/engine/test_step_hygiene.py``
  compares TransMix labels and ManifoldMix losses with and without compile). Copies made later (``EMAHook``'s
  ``deepcopy``) run eagerly: ``nn.Module`` does not copy its compiled call. Classifiers that call ``backbone.model``
  methods directly (the token labelling classifier's ``features``) run those calls uncompiled.
* :func:`apply_channels_last` resolves ``model.data_preprocessor.channels_last``: ``None`` (the default) turns it on
  for a CNN backbone (half or more of its parameters in ``Conv2d`` weights: timm ResNet/ResNeXt/RegNet/EfficientNet)
  on CUDA and off otherwise; ``True``/``False`` are kept. When on, the batches leave the preprocessor channels-last
  and the model's 4-D weights are converted once (not under DDP, whose gradient buckets were laid out already: there
  the convolutions take channels-last inputs with contiguous weights, which cuDNN also runs channels-last).
"""
from __future__ import annotations

import shutil

import torch
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from torch import nn

__all__ = ['COMPILE_MODES', 'compile_options', 'compile_unavailable', 'compile_backbone', 'conv_param_fraction',
           'channels_last_default', 'apply_channels_last']

#: ``torch.compile`` modes accepted by ``--compile`` / ``compile_backbone``
COMPILE_MODES = ('default', 'reduce-overhead', 'max-autotune', 'max-autotune-no-cudagraphs')
_COMPILE_KEYS = ('mode', 'fullgraph', 'dynamic', 'backend', 'options')


def compile_options(value) -> dict | None:
    """``compile_backbone`` config value -> ``torch.compile`` kwargs, or None when off.

    ``None``/``False``: off; ``True``: defaults; a mode name (``'max-autotune'``); a dict with ``mode``, ``fullgraph``,
    ``dynamic``, ``backend`` or ``options``.
    """
    if value is None or value is False:
        return None
    if value is True:
        return {}
    if isinstance(value, str):
        value = dict(mode=value)
    if not isinstance(value, dict):
        raise TypeError(f'compile_backbone must be True/False, a mode name or a dict of torch.compile arguments, '
                        f'got {value!r}')
    unknown = sorted(set(value) - set(_COMPILE_KEYS))
    if unknown:
        raise KeyError(f'compile_backbone: unknown keys {unknown}; valid: {", ".join(_COMPILE_KEYS)}')
    opts = dict(value)
    if opts.get('mode') == 'default':
        opts.pop('mode')
    if opts.get('mode') is not None and opts['mode'] not in COMPILE_MODES:
        raise ValueError(f'compile_backbone.mode={opts["mode"]!r}; valid: {", ".join(COMPILE_MODES)}')
    return opts


def compile_unavailable(backend: str = 'inductor', device: torch.device | None = None) -> str | None:
    """Why ``torch.compile`` cannot run here, or None: no dynamo for this Python/platform, or (inductor on the
    CPU) no C++ compiler for the generated kernels."""
    try:
        import torch._dynamo
        if not torch._dynamo.is_dynamo_supported():
            return 'torch._dynamo does not support this Python/platform'
    except Exception as exc:  # noqa: BLE001 - any import failure means: not here
        return f'torch._dynamo is not importable: {exc}'
    if backend == 'inductor' and (device is None or device.type == 'cpu'):
        if not any(shutil.which(c) for c in ('g++', 'c++', 'clang++')):
            return 'inductor needs a C++ compiler on the CPU (none of g++, c++, clang++ found)'
    return None


def compile_backbone(model: nn.Module, value) -> bool:
    """Compile ``model.backbone`` in place per ``value`` (see :func:`compile_options`); returns whether it did.

    Raises ``RuntimeError`` naming the reason when ``torch.compile`` cannot run here, ``ValueError`` when the model
    has no ``backbone`` module.
    """
    opts = compile_options(value)
    if opts is None:
        return False
    net = model.module if is_model_wrapper(model) else model
    backbone = getattr(net, 'backbone', None)
    if not isinstance(backbone, nn.Module):
        raise ValueError(f'compile_backbone: {type(net).__name__} has no `backbone` module to compile')
    device = next(backbone.parameters(), torch.empty(0)).device
    reason = compile_unavailable(opts.get('backend', 'inductor'), device)
    if reason:
        raise RuntimeError(f'compile_backbone / --compile: {reason}; run without it')
    backbone.compile(**opts)
    print_log(f'model.backbone ({getattr(backbone, "model_name", type(backbone).__name__)}) compiled with '
              f'torch.compile({", ".join(f"{k}={v!r}" for k, v in opts.items())}); the first steps trace it',
              logger='current')
    return True


def conv_param_fraction(module: nn.Module) -> float:
    """Share of ``module``'s parameters held by ``Conv2d`` weights (~1 for a ResNet, ~0.01 for a ViT)."""
    total = sum(p.numel() for p in module.parameters())
    conv = sum(m.weight.numel() for m in module.modules() if isinstance(m, nn.Conv2d))
    return conv / total if total else 0.0


def channels_last_default(backbone: nn.Module | None, device: torch.device) -> bool:
    """The ``channels_last=None`` rule: on for a CNN backbone (``Conv2d`` weights >= half its parameters) on CUDA."""
    return device.type == 'cuda' and isinstance(backbone, nn.Module) and conv_param_fraction(backbone) >= 0.5


def apply_channels_last(model: nn.Module) -> bool:
    """Resolve ``model.data_preprocessor.channels_last`` (None: on for a CNN backbone on CUDA) and, when on, convert
    the model's 4-D weights to channels-last (not under a model wrapper); returns whether it is on."""
    net = model.module if is_model_wrapper(model) else model
    pre = getattr(net, 'data_preprocessor', None)
    if pre is None or not hasattr(pre, 'channels_last'):
        return False
    setting = pre.channels_last
    if setting is None:
        setting = channels_last_default(getattr(net, 'backbone', None), next(net.parameters(), torch.empty(0)).device)
    pre.channels_last = bool(setting)
    if pre.channels_last:
        wrapped = is_model_wrapper(model)
        if not wrapped:
            net.to(memory_format=torch.channels_last)
        print_log('channels_last: batches ' + ('only (the model is wrapped: its weights keep their layout)' if wrapped
                  else 'and 4-D weights') + ' in channels-last memory format', logger='current')
    return pre.channels_last
