"""Exponential moving average of the model weights (DeiT/timm ``ModelEma``), kept beside the raw weights."""
from __future__ import annotations

import copy
import logging

import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from torch import nn

from openmix.registry import HOOKS

__all__ = ['EMAHook']


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if is_model_wrapper(model) else model


@HOOKS.register_module()
class EMAHook(Hook):
    """Keeps an EMA copy of the (unwrapped) model: ``ema = decay * ema + (1 - decay) * param`` after each step.

    DeiT (Touvron et al., ICML 2021) evaluates timm's ``ModelEma`` (decay 0.99996) beside the raw model. Unlike
    mmengine's ``EMAHook``, nothing is swapped: the raw weights stay in the model and in the checkpoint's
    ``state_dict``; the EMA weights go to ``ema_state_dict`` (same parameter names) and come back on resume.
    ``EMAValLoop`` evaluates ``ema_module`` beside the raw model.

    The update is one fused ``torch._foreach_lerp_`` over the floating-point tensors, on the device and without host
    syncs (mmengine's ``ExponentialMovingAverage`` uses ``momentum = 1 - decay`` for the same rule). Integer buffers
    (BatchNorm's ``num_batches_tracked``) are copied. With gradient accumulation the EMA moves only on iterations
    where the optimizer stepped, as in timm's ``train.py``. A step the non-finite guard skipped
    (``GuardedOptimWrapper.last_step_applied``, a device flag) does not move the EMA either: its weight is zeroed on
    the device, so the EMA is what it would have been had the batch been dropped.

    Args:
        momentum: the decay (timm/DeiT convention, close to 1): weight of the old average.
        update_buffers: average floating-point buffers (BatchNorm statistics) too; if False they are copied.
        begin_iter: before this iteration the EMA copies the weights instead of averaging them.
        interval: average every ``interval`` iterations (the decay applies per update).
    """

    priority = 'NORMAL'

    def __init__(self, momentum: float = 0.99996, update_buffers: bool = True, begin_iter: int = 0,
                 interval: int = 1) -> None:
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f'momentum (the EMA decay) must be in [0, 1], got {momentum}')
        if begin_iter < 0 or interval < 1:
            raise ValueError(f'need begin_iter >= 0 and interval >= 1, got {begin_iter}, {interval}')
        self.decay = float(momentum)
        self.update_buffers = update_buffers
        self.begin_iter = begin_iter
        self.interval = interval
        self.ema_module: nn.Module | None = None
        self._src: nn.Module | None = None
        self._restored = False
        self._training = False

    # ---------------------------------------------------------------- setup
    def _build(self, runner) -> None:
        self._src = _unwrap(runner.model)
        self.ema_module = copy.deepcopy(self._src).eval().requires_grad_(False)

    def before_run(self, runner) -> None:
        if self.ema_module is None:
            self._build(runner)

    def before_train(self, runner) -> None:
        # weights are initialised (`init_weights`) and loaded (`load_from`) after `before_run`: start from them
        if not self._restored:
            self.copy_from_model()
        self._training = True

    def before_val(self, runner) -> None:
        # a validation-only run (`runner.val()`) evaluates the EMA of the loaded weights, i.e. those weights
        if not self._training and not self._restored:
            self.copy_from_model()

    # ---------------------------------------------------------------- update
    def _pairs(self) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
        """(ema, src) tensors to average and (ema, src) tensors to copy."""
        avg_e, avg_s, cp_e, cp_s = [], [], [], []
        for e, s in zip(self.ema_module.parameters(), self._src.parameters()):
            (avg_e if e.is_floating_point() else cp_e).append(e)
            (avg_s if e.is_floating_point() else cp_s).append(s.detach())
        for e, s in zip(self.ema_module.buffers(), self._src.buffers()):
            average = self.update_buffers and e.is_floating_point()
            (avg_e if average else cp_e).append(e)
            (avg_s if average else cp_s).append(s)
        return avg_e, avg_s, cp_e, cp_s

    @torch.no_grad()
    def copy_from_model(self) -> None:
        """Set the EMA weights to the model's current weights."""
        for e, s in zip(self.ema_module.state_dict().values(), self._src.state_dict().values()):
            e.copy_(s)

    @torch.no_grad()
    def update(self, applied: torch.Tensor | None = None) -> None:
        """One EMA step: ``ema += (1 - decay) * (param - ema)`` for averaged tensors, copy for the rest.

        Args:
            applied: optional device bool; where False the averaged tensors stay as they are (no host sync).
        """
        avg_e, avg_s, cp_e, cp_s = self._pairs()
        if avg_e and applied is None:
            torch._foreach_lerp_(avg_e, avg_s, 1.0 - self.decay)
        elif avg_e:
            # a 0-dim tensor weight would be read on the host (lerp has no Tensor-scalar overload): expand it instead
            weight = applied.to(device=avg_e[0].device, dtype=torch.float32) * (1.0 - self.decay)
            torch._foreach_lerp_(avg_e, avg_s, [weight.to(e.dtype).expand_as(e) for e in avg_e])
        for e, s in zip(cp_e, cp_s):
            e.copy_(s)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        optim_wrapper = getattr(runner, 'optim_wrapper', None)
        should_update = getattr(optim_wrapper, 'should_update', None)
        if callable(should_update) and not should_update():
            return  # inside a gradient-accumulation window: the weights did not change
        if runner.iter + 1 < self.begin_iter:
            self.copy_from_model()
        elif (runner.iter + 1) % self.interval == 0:
            self.update(getattr(optim_wrapper, 'last_step_applied', None))

    # ---------------------------------------------------------------- checkpoints
    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self.ema_module is None:
            return
        checkpoint['ema_state_dict'] = {k: v.detach().cpu() for k, v in self.ema_module.state_dict().items()}

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if self.ema_module is None:
            self._build(runner)
        if runner._resume and 'ema_state_dict' in checkpoint:
            state = {k[7:] if k.startswith('module.') else k: v for k, v in checkpoint['ema_state_dict'].items()}
            self.ema_module.load_state_dict(state, strict=True)
            self._restored = True
            return
        if runner._resume:
            print_log('the checkpoint has no `ema_state_dict`: the EMA restarts from the resumed weights',
                      logger='current', level=logging.WARNING)
        # otherwise the EMA starts from the loaded weights, copied once the model holds them (`before_train`, or
        # `before_val` in a validation-only run)
