"""Schedules of AutoMix/SAMix training: EMA momentum, mask-loss weight and the MixBlock's own learning rate.

They reproduce OpenMixup's ``CosineScheduleHook`` (``core/hooks/momentum_hook.py``),
``CustomCosineAnnealingHook`` and ``CosineAnnealingLrAdditionalHook`` (``core/hooks/addtional_scheduler.py``, the
``addtional_scheduler`` of the ImageNet and DeiT configs). Each value is a closed form of ``runner.iter`` (or
``runner.epoch``), so a resumed run continues the schedule exactly.
"""
from __future__ import annotations

import math

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from torch import nn

from openmix.registry import HOOKS

__all__ = ['AutoMixMomentumHook', 'AttrCosineAnnealingHook', 'MixBlockLrHook', 'annealing_cos', 'ema_momentum']


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if is_model_wrapper(model) else model


def annealing_cos(start: float, end: float, progress: float) -> float:
    """Cosine from ``start`` (progress 0) to ``end`` (progress 1): ``end + (start - end) (cos(pi p) + 1) / 2``."""
    return end + 0.5 * (start - end) * (math.cos(math.pi * progress) + 1.0)


def ema_momentum(it: int, max_iters: int, base: float, end: float, adjust_scope: tuple[float, float] = (0.1, 1.0),
                 warmup: str = 'constant') -> float | None:
    """EMA momentum at iteration ``it`` (0-based) of ``max_iters`` (OpenMixup ``CosineScheduleHook``).

    With ``T0 = int(max_iters * adjust_scope[0])`` and ``T1 = int(max_iters * adjust_scope[1])`` (``max_iters`` when
    ``adjust_scope[1] >= 1``):

    * ``T0 <= it <= T1``: ``m = end - (end - base) (cos(pi it / T1) + 1) / 2``. ``it / T1`` is not rescaled to
      ``[T0, T1]``, so ``m`` jumps at ``T0`` from ``base`` to the value of the cosine there.
    * ``it < T0``: ``base`` (``warmup='constant'``, every official config) or the linear ramp
      ``end - (end - base) (T0 - it) / T0`` (``'linear'``, the hook's default in OpenMixup).
    * ``it > T1``: None (the momentum keeps its last value).
    """
    if base > end:
        raise ValueError(f'the EMA momentum must grow: base {base} > end_momentum {end}')
    t1 = int(max_iters * adjust_scope[1]) if adjust_scope[1] < 1 else max_iters
    t0 = int(max_iters * adjust_scope[0]) if adjust_scope[0] > 0 else 0
    if t0 <= it <= t1:
        return end - (end - base) * (math.cos(math.pi * it / float(t1)) + 1.0) / 2.0
    if it < t0:
        return base if warmup == 'constant' else end - (end - base) * (t0 - it) / t0
    return None


@HOOKS.register_module()
class AutoMixMomentumHook(Hook):
    """Cosine schedule of the EMA momentum of AutoMix's k encoder, per iteration (:func:`ema_momentum`).

    Sets ``model.momentum`` before each training iteration from ``model.base_momentum`` (0.999) to
    ``end_momentum`` (CIFAR 0.999999, ImageNet 0.99999, CIFAR DeiT 0.99996) over ``adjust_scope`` (``(0.1, 1.0)``;
    ``(0.25, 1.0)`` for DeiT/Swin). After the iteration it runs ``model.momentum_update()`` if the model's own
    ``train_step`` did not (mmengine's DDP wrapper calls the module's forward, not its ``train_step``) and the
    optimizer stepped, so the k encoder moves once per optimizer step in every setting.

    Args:
        end_momentum: momentum at the last iteration.
        adjust_scope: ``(start, end)`` fractions of training where the cosine applies.
        warmup: ``'constant'`` (base momentum before ``start``) or ``'linear'``.

    Differences from the reference code (OpenMixup @37e1372 ``core/hooks/momentum_hook.py::CosineScheduleHook``;
    the schedule is tested against its formula read from the code, not against recorded output):
        - With ``adjust_scope[0] == 0`` OpenMixup sets the momentum to 0 at iteration 0 (its ``restart_step`` test
          ``0 % restart_step == 0``), so after the first iteration the k encoder is a copy of the trained one; ours
          starts the cosine at ``base_momentum``. Never with the shipped configs (start 0.1 or 0.25); no flag.
        - The k encoder moves once per optimizer step; OpenMixup's after every iteration. The same without gradient
          accumulation (no OpenMixup AutoMix config accumulates). ``update_interval``/``switch_ema``: not supported.
    """

    priority = 'NORMAL'

    def __init__(self, end_momentum: float = 0.99999, adjust_scope: tuple[float, float] = (0.1, 1.0),
                 warmup: str = 'constant') -> None:
        if warmup not in ('constant', 'linear'):
            raise ValueError(f"AutoMixMomentumHook.warmup must be 'constant' or 'linear', got {warmup!r}")
        if len(adjust_scope) != 2 or not 0 <= adjust_scope[0] <= adjust_scope[1]:
            raise ValueError(f'AutoMixMomentumHook.adjust_scope must be (start, end) with 0 <= start <= end, got '
                             f'{adjust_scope}')
        if not 0.0 <= end_momentum <= 1.0:
            raise ValueError(f'AutoMixMomentumHook.end_momentum must be in [0, 1], got {end_momentum}')
        self.end_momentum = float(end_momentum)
        self.adjust_scope = (float(adjust_scope[0]), float(adjust_scope[1]))
        self.warmup = warmup

    def before_run(self, runner) -> None:
        model = _unwrap(runner.model)
        if not (hasattr(model, 'base_momentum') and callable(getattr(model, 'momentum_update', None))):
            raise TypeError(f'AutoMixMomentumHook needs a model with `base_momentum` and `momentum_update()` '
                            f'(AutoMixClassifier), got {type(model).__name__}')

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        model = _unwrap(runner.model)
        m = ema_momentum(runner.iter, runner.max_iters, model.base_momentum, self.end_momentum, self.adjust_scope,
                         self.warmup)
        if m is not None:
            model.momentum = m

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        model = _unwrap(runner.model)
        if model._ema_done:
            return
        should_update = getattr(runner.optim_wrapper, 'should_update', None)
        if not callable(should_update) or should_update():
            model.momentum_update()


@HOOKS.register_module()
class AttrCosineAnnealingHook(Hook):
    """Cosine annealing of a float attribute of the model per iteration, e.g. AutoMix's ``mask_loss`` weight.

    Before iteration ``t`` of ``T``: ``value = end + (start - end) (cos(pi t / T) + 1) / 2`` (OpenMixup
    ``CustomCosineAnnealingHook(attr_name='mask_loss', attr_base=0.1, min_attr=0, by_epoch=False)`` on ImageNet and
    DeiT; CIFAR ResNet configs keep the weight constant and do not add the hook).

    ``legacy_compound=True`` reproduces OpenMixup's code rather than its stated schedule: its hook anneals from the
    attribute's *current* value each iteration, so the weight is ``start * prod_{s<=t} (cos(pi s / T) + 1) / 2``.
    It falls below ``1e-3 * start`` after about ``(83 T^2 / pi^2)^(1/3)`` iterations: on a 100-epoch ImageNet run
    (T = 500,400) it halves after 1.2 epochs and is below 1e-3 after 2.6. Here the product is replayed from ``t`` on
    a resume, so it continues (OpenMixup restarts it from ``start``).

    Args:
        attr_name: the model attribute (``'mask_loss'``).
        start: value at iteration 0 (default: the model's value when the run starts).
        end: value at the last iteration.
        legacy_compound: use OpenMixup's compounding rule.

    Differences from the reference code (OpenMixup @37e1372 ``core/hooks/addtional_scheduler.py::
    CustomCosineAnnealingHook``; tested against its formula read from the code, not against recorded output):
        - The compounding rule above: every iteration after the first differs by default; ``legacy_compound=True``
          restores it (set in the ImageNet/DeiT AutoMix rows). After a resume OpenMixup restarts from ``start``;
          ours continues the product: no flag.
    """

    priority = 'NORMAL'

    def __init__(self, attr_name: str = 'mask_loss', start: float | None = None, end: float = 0.0,
                 legacy_compound: bool = False) -> None:
        self.attr_name = attr_name
        self.start = None if start is None else float(start)
        self.end = float(end)
        self.legacy_compound = legacy_compound
        self._last: tuple[int, float] | None = None  # (iteration, value) of the compounding rule

    def before_run(self, runner) -> None:
        model = _unwrap(runner.model)
        value = getattr(model, self.attr_name, None)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise AttributeError(f'AttrCosineAnnealingHook: the model has no float attribute '
                                 f'`{self.attr_name}` (attr_name)')
        if self.start is None:
            self.start = float(value)

    def value_at(self, it: int, max_iters: int) -> float:
        """The attribute's value at iteration ``it``."""
        if not self.legacy_compound:
            return annealing_cos(self.start, self.end, it / max_iters)
        # OpenMixup: v_t = annealing_cos(v_{t-1}, end, t / T) from v_{-1} = start; replayed once after a resume
        if self._last is not None and self._last[0] == it - 1:
            value = self._last[1]
        else:
            value = self.start
            for s in range(it):
                value = annealing_cos(value, self.end, s / max_iters)
        value = annealing_cos(value, self.end, it / max_iters)
        self._last = (it, value)
        return value

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        setattr(_unwrap(runner.model), self.attr_name, self.value_at(runner.iter, runner.max_iters))


@HOOKS.register_module()
class MixBlockLrHook(Hook):
    """The MixBlock's own cosine learning-rate schedule (OpenMixup ``addtional_scheduler``).

    OpenMixup gives the MixBlock its own schedule on ImageNet: cosine from its base lr to ``min_lr`` (1e-3 for
    ResNets at lr 0.1 by epoch, 1e-4 for DeiT at 1e-3 by iteration; OpenMixup's DeiT config names
    ``warmup_iters=5`` but no ``warmup`` policy, so its MixBlock has no warm-up), while the encoder follows the main
    ``param_scheduler``. Before every training iteration this hook overwrites the lr of the
    optimizer's MixBlock param groups (groups whose parameters all belong to ``model.<module>``) with

        regular = min_lr + (base - min_lr) (cos(pi p) + 1) / 2,   p = iter / max_iters  (by_epoch: epoch / max_epochs)

    and, for ``iter < warmup_iters``, the mmcv warm-up of ``regular`` (``'linear'``:
    ``regular (1 - (1 - iter / warmup_iters) (1 - warmup_ratio))``, ``'constant'``: ``regular * warmup_ratio``,
    ``'exp'``: ``regular * warmup_ratio ** (1 - iter / warmup_iters)``). ``base`` is the group's ``initial_lr``
    (its configured lr). The main schedulers also move these groups after each iteration, but this hook writes them
    again before the next one.

    The MixBlock parameters must be in their own param groups, e.g. with mmengine's default constructor::

        optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4),
                             paramwise_cfg=dict(custom_keys={'mix_block': dict(lr_mult=1.0)}))
        custom_hooks = [dict(type='MixBlockLrHook', min_lr=1e-3)]

    Args:
        min_lr: final lr of the MixBlock (exclusive with ``min_lr_ratio``).
        min_lr_ratio: final lr as a fraction of the base lr.
        by_epoch: anneal by epoch (OpenMixup ImageNet ResNet configs) instead of by iteration (DeiT configs).
        warmup: None, ``'linear'``, ``'constant'`` or ``'exp'``.
        warmup_iters: warm-up length in iterations (in epochs with ``warmup_by_epoch``).
        warmup_ratio: lr factor at the start of the warm-up.
        warmup_by_epoch: ``warmup_iters`` counts epochs.
        module: name of the MixBlock in the model.

    Differences from the reference code (OpenMixup @37e1372 ``core/hooks/addtional_scheduler.py::
    CosineAnnealingLrAdditionalHook``; tested against its formula read from the code, not against recorded
    output): none known. OpenMixup's DeiT config names ``warmup_iters`` without a ``warmup`` policy, so no
    warm-up runs there; the DeiT rows keep the default ``warmup=None`` accordingly.
    """

    priority = 'NORMAL'

    def __init__(self, min_lr: float | None = None, min_lr_ratio: float | None = None, by_epoch: bool = False,
                 warmup: str | None = None, warmup_iters: int = 0, warmup_ratio: float = 0.1,
                 warmup_by_epoch: bool = False, module: str = 'mix_block') -> None:
        if (min_lr is None) == (min_lr_ratio is None):
            raise ValueError('MixBlockLrHook: set exactly one of min_lr and min_lr_ratio')
        if warmup not in (None, 'linear', 'constant', 'exp'):
            raise ValueError(f"MixBlockLrHook.warmup must be None, 'linear', 'constant' or 'exp', got {warmup!r}")
        if warmup is not None and (warmup_iters <= 0 or not 0.0 <= warmup_ratio <= 1.0):
            raise ValueError('MixBlockLrHook: a warm-up needs warmup_iters > 0 and warmup_ratio in [0, 1]')
        self.min_lr, self.min_lr_ratio = min_lr, min_lr_ratio
        self.by_epoch = by_epoch
        self.warmup, self.warmup_ratio = warmup, float(warmup_ratio)
        self.warmup_length, self.warmup_by_epoch = int(warmup_iters), warmup_by_epoch
        self.warmup_iters = int(warmup_iters)
        self.module = module
        self.groups: list[dict] = []

    def find_groups(self, model: nn.Module, optimizer) -> list[dict]:
        """The param groups of ``optimizer`` made only of parameters of ``model.<module>``."""
        block = getattr(model, self.module, None)
        if not isinstance(block, nn.Module):
            raise AttributeError(f'MixBlockLrHook: the model has no module `{self.module}` (module)')
        own = {id(p) for p in block.parameters()}
        groups, mixed = [], []
        for group in optimizer.param_groups:
            ids = {id(p) for p in group['params']}
            if ids and ids <= own:
                groups.append(group)
            elif ids & own:
                mixed.append(group)
        if mixed or not groups:
            raise ValueError(f'MixBlockLrHook: the parameters of model.{self.module} must be in param groups of their '
                             f"own; set optim_wrapper.paramwise_cfg=dict(custom_keys={{'{self.module}': "
                             f"dict(lr_mult=1.0)}}) (mmengine's DefaultOptimWrapperConstructor)")
        return groups

    def before_train(self, runner) -> None:
        optimizer = getattr(runner.optim_wrapper, 'optimizer', None)
        if optimizer is None:
            raise TypeError('MixBlockLrHook supports a single OptimWrapper, not an OptimWrapperDict')
        self.groups = self.find_groups(_unwrap(runner.model), optimizer)
        for group in self.groups:
            group.setdefault('initial_lr', group['lr'])  # kept in the optimizer state, so resumes see the base
        if self.warmup_by_epoch:
            self.warmup_iters = self.warmup_length * len(runner.train_dataloader)

    def lr_at(self, base: float, it: int, max_iters: int, epoch: int = 0, max_epochs: int = 1) -> float:
        """The MixBlock lr at iteration ``it`` (epoch ``epoch``) for a group of base lr ``base``."""
        target = self.min_lr if self.min_lr is not None else base * self.min_lr_ratio
        progress = epoch / max_epochs if self.by_epoch else it / max_iters
        regular = annealing_cos(base, target, progress)
        if self.warmup is None or it >= self.warmup_iters:
            return regular
        if self.warmup == 'constant':
            return regular * self.warmup_ratio
        if self.warmup == 'linear':
            return regular * (1 - (1 - it / self.warmup_iters) * (1 - self.warmup_ratio))
        return regular * self.warmup_ratio ** (1 - it / self.warmup_iters)

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        max_epochs = getattr(runner, 'max_epochs', 1) if self.by_epoch else 1
        epoch = runner.epoch if self.by_epoch else 0
        for group in self.groups:
            group['lr'] = self.lr_at(group['initial_lr'], runner.iter, runner.max_iters, epoch, max_epochs)
