"""Optimizer wrappers that stop (or skip the step) on a non-finite loss, identically on every rank."""
from __future__ import annotations

import logging

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.logging import MessageHub, print_log
from mmengine.optim import AmpOptimWrapper, OptimWrapper

from openmix.registry import OPTIM_WRAPPERS

__all__ = ['NonFiniteGuardMixin', 'GuardedOptimWrapper', 'GuardedAmpOptimWrapper']


class NonFiniteGuardMixin:
    """Checks the loss before ``backward``; on NaN/Inf either raises or drops the step.

    The check costs one host sync per iteration, which mmengine already pays to log the loss. Under DDP the flag is
    all-reduced (MAX) so every rank takes the same branch: a rank that skipped ``backward`` alone would leave the
    others waiting in the gradient all-reduce forever.

    Args:
        nonfinite: ``'stop'`` raises ``FloatingPointError`` naming the loss value and the iteration, before any
            parameter changes; ``'skip'`` drops this iteration (no backward, gradients zeroed, so a partly
            accumulated window is dropped as well), counts it in ``skipped_steps`` (also message-hub info
            ``nonfinite_skipped_steps``) and logs a warning with the iteration.
    """

    def __init__(self, *args, nonfinite: str = 'stop', **kwargs) -> None:
        if nonfinite not in ('stop', 'skip'):
            raise ValueError(f"nonfinite must be 'stop' or 'skip', got {nonfinite!r}")
        super().__init__(*args, **kwargs)
        self.nonfinite = nonfinite
        self.skipped_steps = 0

    def _loss_is_nonfinite(self, loss: torch.Tensor) -> bool:
        flag = (~torch.isfinite(loss.detach())).any().to(torch.int32).reshape(1)
        if get_world_size() > 1:
            all_reduce(flag, op='max')
        return bool(flag.item())

    def update_params(self, loss: torch.Tensor, step_kwargs: dict | None = None,
                      zero_kwargs: dict | None = None) -> None:
        if not self._loss_is_nonfinite(loss):
            super().update_params(loss, step_kwargs=step_kwargs, zero_kwargs=zero_kwargs)
            return
        message_hub = MessageHub.get_current_instance()
        it = message_hub.get_info('iter')
        where = f'iteration {it}' if it is not None else 'an unknown iteration'
        value = float(loss.detach().float().reshape(-1)[0]) if loss.numel() else float('nan')
        local = f'loss = {value}' if not torch.isfinite(loss.detach()).all() else \
            f'loss = {value} here, non-finite on another rank'
        if self.nonfinite == 'stop':
            raise FloatingPointError(f'non-finite loss at {where} ({local}); the parameters were not updated. '
                                     "Lower the lr, enable clip_grad, or set optim_wrapper.nonfinite='skip'.")
        # keep the accumulation counter aligned with the iterations, as a backward would have
        self._inner_count += 1
        self.zero_grad(**(zero_kwargs or {}))
        # the count travels in the checkpoint's message hub, so it survives a resume
        self.skipped_steps = max(self.skipped_steps, message_hub.get_info('nonfinite_skipped_steps') or 0) + 1
        message_hub.update_info('nonfinite_skipped_steps', self.skipped_steps)
        print_log(f'non-finite loss at {where} ({local}): optimizer step skipped '
                  f'({self.skipped_steps} skipped so far)', logger='current', level=logging.WARNING)


@OPTIM_WRAPPERS.register_module()
class GuardedOptimWrapper(NonFiniteGuardMixin, OptimWrapper):
    """mmengine ``OptimWrapper`` with the non-finite loss guard (``nonfinite='stop'|'skip'``)."""


@OPTIM_WRAPPERS.register_module()
class GuardedAmpOptimWrapper(NonFiniteGuardMixin, AmpOptimWrapper):
    """mmengine ``AmpOptimWrapper`` with the non-finite loss guard (``nonfinite='stop'|'skip'``).

    The loss is checked before scaling; overflowing scaled gradients are still handled by the ``GradScaler``.
    """
