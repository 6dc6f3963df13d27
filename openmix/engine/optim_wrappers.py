"""Optimizer wrappers that never apply a step with a non-finite loss or non-finite gradients, without a host sync.

The decision is a device tensor. A fused torch optimizer (``AdamW``/``Adam``/``SGD``/``Adagrad`` with ``fused=True``)
takes it as ``found_inf``, as under ``GradScaler``: the kernel leaves parameters, moments and step counts untouched.
Counters of skipped steps (and the first bad iteration, its loss and gradient norm) stay on the device;
:class:`~openmix.engine.hooks.NonFiniteCheckHook` reads them on the host at log intervals only, logs them, and
ends a ``'stop'`` run there.
"""
from __future__ import annotations

import logging
import torch
from mmengine.logging import print_log
from mmengine.optim import AmpOptimWrapper, OptimWrapper

from openmix.registry import OPTIM_WRAPPERS

__all__ = ['NonFiniteGuardMixin', 'GuardedOptimWrapper', 'GuardedAmpOptimWrapper', 'grad_total_norm']


def grad_total_norm(grads: list[torch.Tensor]) -> torch.Tensor:
    """L2 norm of all ``grads`` as one device tensor (``torch._foreach_norm`` per tensor, then one ``vector_norm``).

    No host sync. NaN or Inf in any gradient makes it non-finite (so does a total norm above float32's ~3e38).
    """
    if not grads:
        return torch.zeros(())
    return torch.nn.utils.get_total_norm(grads, norm_type=2.0, foreach=True)


class NonFiniteGuardMixin:
    """Drops every optimizer step whose loss or gradients are not finite, decided on the device.

    Per update: a non-finite loss is turned into NaN gradients (``loss * nan``), so the gradient all-reduce DDP does
    anyway carries one rank's bad loss to every rank and all ranks skip the same step without an extra collective.
    At the step the gradient norm is taken once (the clipping norm when ``clip_grad`` is a norm clip, else one
    fused ``get_total_norm``), ``ok = isfinite(norm) & loss_finite`` stays on the device, and the step is applied
    only where ``ok``:

    * fused optimizers (``optimizer=dict(type='AdamW', fused=True)``; also ``Adam``, ``SGD``, ``Adagrad``): ``ok``
      goes in as ``found_inf``; parameters, moments and ``step`` do not move (no host sync);
    * other optimizers: ``ok`` is read on the host before ``optimizer.step()`` (one sync per step; a warning at
      construction says so), same result.

    What 'skip' means: the iteration's batch is dropped. Parameters, optimizer state (moments, step counts) and
    the EMA (``EMAHook`` reads :attr:`last_step_applied`) stay as they were; LR/momentum schedulers follow the
    runner's iteration and still advance (a skipped iteration counts like a dropped batch, so epoch boundaries and
    resume stay exact). BatchNorm running statistics were updated by the forward pass; if that made them non-finite,
    the periodic model check ends the run.

    Counters on the device: :attr:`skipped` (steps skipped by this wrapper), :attr:`consecutive_skipped`,
    :attr:`first_bad_iter` (1-based global iteration of the first skipped step, ``-1`` if none) with its loss and
    gradient norm. :meth:`read_counters` reads them (one sync); ``NonFiniteCheckHook`` calls it every
    ``logger.interval`` iterations and at the end of each epoch: ``'skip'`` logs the count, ``'stop'`` ends the
    run there (so up to ``interval - 1`` later, finite steps are applied before it stops), naming the first bad
    iteration as the log shows it. With gradient accumulation a bad loss anywhere in a window drops the window's step.

    Args:
        nonfinite: ``'stop'`` (end the run at the next check) or ``'skip'`` (keep training; the check hook still ends
            the run when ``max_consecutive_skips`` steps in a row were skipped, or the last ones of the run were).
    """

    def __init__(self, *args, nonfinite: str = 'stop', **kwargs) -> None:
        if nonfinite not in ('stop', 'skip'):
            raise ValueError(f"optim_wrapper.nonfinite must be 'stop' or 'skip', got {nonfinite!r}")
        super().__init__(*args, **kwargs)
        self.nonfinite = nonfinite
        self._counters: dict[str, torch.Tensor] | None = None
        self._window_ok: torch.Tensor | None = None
        self._last_loss: torch.Tensor | None = None
        self.last_step_applied: torch.Tensor | None = None  # device bool of the latest step (None before the first)
        self._steps = 0  # optimizer steps attempted (host int, no sync)

    # ---------------------------------------------------------------- device counters
    def _init_counters(self, device: torch.device) -> dict[str, torch.Tensor]:
        if self._counters is None or self._counters['skipped'].device != device:
            self._counters = dict(
                skipped=torch.zeros((), dtype=torch.int64, device=device),
                consecutive=torch.zeros((), dtype=torch.int64, device=device),
                first_bad_iter=torch.full((), -1, dtype=torch.int64, device=device),
                first_loss=torch.zeros((), dtype=torch.float32, device=device),
                first_grad_norm=torch.zeros((), dtype=torch.float32, device=device),
                norm_sum=torch.zeros((), dtype=torch.float32, device=device),
            )
        return self._counters

    def _record(self, ok: torch.Tensor, norm: torch.Tensor | None) -> None:
        """Update the device counters for one step (a handful of tiny kernels, no sync)."""
        c = self._init_counters(ok.device)
        bad = ~ok
        c['skipped'].add_(bad)
        c['consecutive'].add_(1).mul_(bad)  # reset to 0 on an applied step
        first = bad & (c['first_bad_iter'] < 0)
        c['first_bad_iter'].masked_fill_(first, self._inner_count)
        if self._last_loss is not None:
            torch.where(first, self._last_loss.to(ok.device), c['first_loss'], out=c['first_loss'])
        if norm is not None:
            norm = norm.to(device=ok.device, dtype=torch.float32)
            torch.where(first, norm, c['first_grad_norm'], out=c['first_grad_norm'])
            c['norm_sum'].add_(torch.where(ok, norm, 0.0))
        else:
            c['first_grad_norm'].masked_fill_(first, float('nan'))
        self.last_step_applied = ok
        self._steps += 1

    def read_counters(self) -> dict[str, float | int]:
        """The device counters on the host (one sync): call at log intervals, not per step."""
        if self._counters is None:
            return dict(steps=self._steps, skipped=0, consecutive=0, first_bad_iter=-1, first_loss=float('nan'),
                        first_grad_norm=float('nan'), norm_sum=0.0)
        keys = list(self._counters)
        values = torch.stack([self._counters[k].double() for k in keys]).cpu().tolist()
        out = dict(zip(keys, values))
        for k in ('skipped', 'consecutive', 'first_bad_iter'):
            out[k] = int(out[k])
        out['steps'] = self._steps
        return out

    # ---------------------------------------------------------------- the update
    def _params_with_grad(self) -> list[torch.Tensor]:
        return [p for g in self.optimizer.param_groups for p in g['params'] if p.grad is not None]

    def _poison(self, loss: torch.Tensor) -> torch.Tensor:
        """``loss`` unchanged where finite; NaN (hence NaN gradients on every rank) where not. Tracks the window."""
        finite = torch.isfinite(loss.detach()).all()
        self._window_ok = finite if self._window_ok is None else self._window_ok & finite
        self._last_loss = loss.detach().float().reshape(-1)[0] if loss.numel() else None
        return loss * torch.where(finite, 1.0, float('nan')).to(loss.dtype)

    def update_params(self, loss: torch.Tensor, step_kwargs: dict | None = None,
                      zero_kwargs: dict | None = None) -> None:
        loss = self._poison(self.scale_loss(loss))
        self.backward(loss)
        if self.should_update():
            self.step(**(step_kwargs or {}))
            self.zero_grad(**(zero_kwargs or {}))

    def _clip_grad(self) -> torch.Tensor | None:
        """Clip like mmengine's ``OptimWrapper`` but keep the norm on the device (mmengine calls ``float()`` on it).

        Returns the total gradient norm before clipping (computed for value clipping too, where clamping would
        hide an Inf).
        """
        params = [p for p in self._params_with_grad() if p.requires_grad]
        if not params:
            return None
        if self.grad_name == 'grad_norm':
            return self.clip_func(params, **self.clip_grad_kwargs, foreach=True)
        norm = grad_total_norm([p.grad for p in params])
        self.clip_func(params, **self.clip_grad_kwargs, foreach=True)
        return norm

    def _check_and_norm(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        norm = self._clip_grad() if self.clip_grad_kwargs else None
        if norm is None:
            grads = [p.grad for p in self._params_with_grad()]
            norm = grad_total_norm(grads) if grads else None
        ok = self._window_ok if self._window_ok is not None else torch.ones((), dtype=torch.bool)
        if norm is not None:
            ok = ok.to(norm.device) & torch.isfinite(norm)
        self._window_ok = None
        return ok, norm

    def _guarded_step(self, **kwargs) -> None:
        """Clip, take the norm, and step only where the loss and the gradients were finite."""
        ok, norm = self._check_and_norm()
        self._record(ok, norm)
        if _device_skip_supported(self.optimizer):
            self.optimizer.found_inf = (~ok).to(torch.float32)
            try:
                self.optimizer.step(**kwargs)
            finally:
                del self.optimizer.found_inf
        elif bool(ok):  # host sync: the optimizer has no device-side skip
            self.optimizer.step(**kwargs)


def _device_skip_supported(optimizer: torch.optim.Optimizer) -> bool:
    """Whether ``optimizer.step`` honours a ``found_inf`` tensor (torch's fused kernels) safely."""
    if not getattr(optimizer, '_step_supports_amp_scaling', False):
        return False
    if isinstance(optimizer, torch.optim.SGD):
        # fused SGD allocates its momentum buffers with empty_like on the first step; skipping that step would keep
        # the uninitialised buffers, so the first step is checked on the host
        return all(g['momentum'] == 0 or all('momentum_buffer' in optimizer.state.get(p, {}) for p in g['params'])
                   for g in optimizer.param_groups)
    return True


@OPTIM_WRAPPERS.register_module()
class GuardedOptimWrapper(NonFiniteGuardMixin, OptimWrapper):
    """mmengine ``OptimWrapper`` that never applies a non-finite step (``nonfinite='stop'|'skip'``).

    Use a fused optimizer (``optimizer=dict(type='AdamW', fused=True)``) for a guard without per-step host syncs.

    Example:
        >>> optim_wrapper = dict(type='GuardedOptimWrapper', nonfinite='skip', clip_grad=dict(max_norm=5.0),
        ...                      optimizer=dict(type='AdamW', lr=5e-4, weight_decay=0.05, fused=True))
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not getattr(self.optimizer, '_step_supports_amp_scaling', False):
            print_log(f'{type(self.optimizer).__name__} is not fused: the non-finite guard reads its flag on the host '
                      'before every optimizer step (one sync per step). Set optim_wrapper.optimizer.fused=True '
                      '(AdamW, Adam, SGD, Adagrad) to skip bad steps on the device instead.',
                      logger='current', level=logging.WARNING)

    def step(self, **kwargs) -> None:
        self._guarded_step(**kwargs)


@OPTIM_WRAPPERS.register_module()
class GuardedAmpOptimWrapper(NonFiniteGuardMixin, AmpOptimWrapper):
    """mmengine ``AmpOptimWrapper`` with the non-finite guard (``nonfinite='stop'|'skip'``).

    The ``GradScaler`` already refuses any step with non-finite (unscaled) gradients and lowers its scale, which is
    the normal fp16 overflow handling, so those steps are not counted. A non-finite loss becomes NaN gradients (the
    scaler skips the step) and is counted and reported like in :class:`GuardedOptimWrapper`. With a fused optimizer
    the scaler skips on the device; otherwise ``GradScaler.step`` itself syncs once per step. Where the scaler is
    disabled (no accelerator), the step is guarded as in :class:`GuardedOptimWrapper`.
    """

    def step(self, **kwargs) -> None:
        if not self.loss_scaler.is_enabled():
            self._guarded_step(**kwargs)
            return
        norm = None
        if self.clip_grad_kwargs:
            self.loss_scaler.unscale_(self.optimizer)
            norm = self._clip_grad()  # of the unscaled gradients
        ok = self._window_ok if self._window_ok is not None else torch.ones((), dtype=torch.bool)
        self._window_ok = None
        self._record(ok, norm)
        self.loss_scaler.step(self.optimizer, **kwargs)
        self.loss_scaler.update(self._scale_update_param)

