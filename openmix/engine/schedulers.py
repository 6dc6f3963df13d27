"""Linear warm-up from an absolute start value (DeiT/timm ``warmup_lr_init``), for mmengine's scheduler chain."""
from __future__ import annotations

from mmengine.optim.scheduler.lr_scheduler import LRSchedulerMixin
from mmengine.optim.scheduler.param_scheduler import INF, OptimizerType, _ParamScheduler

from openmix.registry import PARAM_SCHEDULERS

__all__ = ['LinearWarmupParamScheduler', 'LinearWarmupLR']


@PARAM_SCHEDULERS.register_module()
class LinearWarmupParamScheduler(_ParamScheduler):
    """Linear warm-up of every param group from the absolute ``start_value`` to its own base value.

    At step ``t`` of ``T = end - begin`` steps the value is ``start + (base - start) * t / T`` (timm's
    ``warmup_lr_init`` + ``warmup_t`` rule in ``timm/scheduler/scheduler.py``, used by DeiT, Touvron et al., ICML 2021).
    Unlike mmengine's ``LinearLR``, the start is an absolute value (1e-6), not a factor of each group's lr, so groups
    with different base lrs (layer decay) all start from the same value.

    The scheduler also writes step ``T`` itself (``base`` exactly): mmengine's next scheduler, e.g.
    ``CosineAnnealingLR(begin=T)``, starts from the current value of the group in its chainable form, so the
    hand-over must leave every group at its base value for the cosine to follow its closed form; and with no
    scheduler after it the value stays at base.

    Args:
        optimizer: optimizer or optimizer wrapper.
        param_name: the param-group key to schedule (``'lr'``).
        start_value: value at step ``begin``.
        begin, end: first step of the warm-up and the step where the base value is reached.
        last_step, by_epoch, verbose: see mmengine's ``_ParamScheduler``.
    """

    def __init__(self, optimizer: OptimizerType, param_name: str, start_value: float = 1e-6, begin: int = 0,
                 end: int = INF, last_step: int = -1, by_epoch: bool = True, verbose: bool = False) -> None:
        if end >= INF:
            raise ValueError('LinearWarmup needs a finite `end`')
        if start_value < 0:
            raise ValueError(f'start value must be >= 0, got {start_value}')
        self.start_value = float(start_value)
        self.warmup_steps = end - begin
        super().__init__(optimizer, param_name=param_name, begin=begin, end=end + 1, last_step=last_step,
                         by_epoch=by_epoch, verbose=verbose)

    @classmethod
    def build_iter_from_epoch(cls, *args, begin: int = 0, end: int = INF, by_epoch: bool = True,
                              epoch_length: int | None = None, **kwargs):
        """Iteration-based instance from an epoch-based config (``convert_to_iter_based=True``)."""
        if not by_epoch:
            raise ValueError('only by_epoch=True configs can be converted to iteration-based')
        if epoch_length is None or epoch_length <= 0:
            raise ValueError(f'epoch_length must be a positive integer, got {epoch_length}')
        return cls(*args, begin=int(begin * epoch_length), end=int(end * epoch_length), by_epoch=False, **kwargs)

    def _get_value(self) -> list[float]:
        frac = min(self.last_step, self.warmup_steps) / self.warmup_steps
        return [self.start_value + (base - self.start_value) * frac for base in self.base_values]


@PARAM_SCHEDULERS.register_module()
class LinearWarmupLR(LRSchedulerMixin, LinearWarmupParamScheduler):
    """Learning-rate warm-up from the absolute ``start_lr`` (DeiT: 1e-6) to each group's base lr.

    Example (DeiT: 5 warm-up epochs, then cosine to 1e-5, both per iteration)::

        param_scheduler = [
            dict(type='LinearWarmupLR', start_lr=1e-6, by_epoch=True, begin=0, end=5, convert_to_iter_based=True),
            dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=5, end=300,
                 convert_to_iter_based=True),
        ]

    Args:
        optimizer: optimizer or optimizer wrapper.
        start_lr: learning rate of every group at step ``begin``.
        begin, end, last_step, by_epoch, verbose: see ``LinearWarmupParamScheduler``.
    """

    def __init__(self, optimizer: OptimizerType, start_lr: float = 1e-6, begin: int = 0, end: int = INF,
                 last_step: int = -1, by_epoch: bool = True, verbose: bool = False) -> None:
        super().__init__(optimizer, start_value=start_lr, begin=begin, end=end, last_step=last_step,
                         by_epoch=by_epoch, verbose=verbose)
