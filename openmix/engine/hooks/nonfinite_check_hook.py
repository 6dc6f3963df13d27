"""Reads the non-finite guard's device counters at log intervals; ends a run whose weights or EMA are not finite."""
from __future__ import annotations

import logging
import math
from itertools import chain

import torch
from mmengine.hooks import Hook
from mmengine.logging import MMLogger, print_log
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapperDict
from mmengine.runner import EpochBasedTrainLoop
from torch import nn

from openmix.registry import HOOKS

__all__ = ['NonFiniteCheckHook', 'nonfinite_names']


def nonfinite_names(module: nn.Module) -> list[str]:
    """Names of the floating-point parameters and buffers of ``module`` holding NaN or Inf (one host sync)."""
    named = [(n, t) for n, t in chain(module.named_parameters(), module.named_buffers()) if t.is_floating_point()]
    if not named:
        return []
    flags = torch.stack([torch.isfinite(t).all().to(named[0][1].device) for _, t in named]).cpu()
    return [n for (n, _), ok in zip(named, flags.tolist()) if not ok]


@HOOKS.register_module()
class NonFiniteCheckHook(Hook):
    """Every ``interval`` iterations, at the end of each epoch and of training, reads on the host what the guarded
    optimizer wrappers (``GuardedOptimWrapper``, ``nonfinite='stop'|'skip'``) recorded on the device, and checks the
    model and EMA weights.

    * ``'stop'``: a skipped step ends the run here with ``FloatingPointError`` naming the first bad iteration as the
      log shows it (``epoch 1, iteration 4/7 (global 4)`` for the log's ``[1][4/7]``), its loss and gradient norm.
      That step was never applied; the steps between it and this check were (when finite).
    * ``'skip'``: new skips are logged with their count (message-hub info ``nonfinite_skipped_steps``, which travels
      in checkpoints); the run ends (``RuntimeError``) when ``max_consecutive_skips`` steps in a row were skipped,
      or when the last ``interval`` steps of the run were (nothing was trained at the end).
    * Any mode, any optimizer wrapper: NaN/Inf in the model's parameters or buffers (BatchNorm statistics are
      updated by the forward pass, not the optimizer) or in an EMA copy (a hook's ``ema_module``) ends the run with
      ``FloatingPointError`` naming the tensors.

    ``openmix.apis.load_config`` adds this hook to every run. It also logs ``grad_norm`` (mean over the applied steps
    since the last check) when ``clip_grad`` is set, replacing mmengine's per-step ``float(grad_norm)``.

    Args:
        interval: iterations between checks; default: the ``LoggerHook``'s interval (so checks coincide with log
            lines).
        max_consecutive_skips: with ``'skip'``, this many skipped steps in a row end the run.
    """

    # after EMAHook's update (NORMAL = 50), before the LoggerHook (BELOW_NORMAL = 60) and checkpoints (VERY_LOW)
    priority = 55

    def __init__(self, interval: int | None = None, max_consecutive_skips: int = 100) -> None:
        if interval is not None and interval < 1:
            raise ValueError(f'NonFiniteCheckHook: interval must be >= 1, got {interval}')
        if max_consecutive_skips < 1:
            raise ValueError(f'NonFiniteCheckHook: max_consecutive_skips must be >= 1, got {max_consecutive_skips}')
        self.interval = interval
        self.max_consecutive_skips = max_consecutive_skips
        self._last: dict[int, dict] = {}
        self._base_skipped = 0

    # ---------------------------------------------------------------- helpers
    @staticmethod
    def _guarded(runner) -> list:
        from openmix.engine.optim_wrappers import NonFiniteGuardMixin
        ow = getattr(runner, 'optim_wrapper', None)
        wrappers = list(ow.values()) if isinstance(ow, OptimWrapperDict) else [ow]
        return [w for w in wrappers if isinstance(w, NonFiniteGuardMixin)]

    @staticmethod
    def where(runner, g: int) -> str:
        """The 1-based global iteration ``g`` as the log shows it."""
        if isinstance(runner.train_loop, EpochBasedTrainLoop):
            n = len(runner.train_dataloader)
            return f'epoch {(g - 1) // n + 1}, iteration {(g - 1) % n + 1}/{n} (global {g})'
        return f'iteration {g}/{runner.max_iters}'

    def before_train(self, runner) -> None:
        if self.interval is None:
            loggers = [h for h in runner.hooks if type(h).__name__ == 'LoggerHook']
            self.interval = getattr(loggers[0], 'interval', 50) if loggers else 50
        # a resumed run continues the count saved in the checkpoint's message hub
        self._base_skipped = int(runner.message_hub.get_info('nonfinite_skipped_steps') or 0)
        self._last = {}

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if isinstance(runner.train_loop, EpochBasedTrainLoop):
            due = self.every_n_inner_iters(batch_idx, self.interval) or self.end_of_epoch(runner.train_dataloader,
                                                                                           batch_idx)
        else:
            due = self.every_n_train_iters(runner, self.interval) or self.is_last_train_iter(runner)
        if due:
            self.check(runner, runner.iter + 1)

    def after_train(self, runner) -> None:
        self.check(runner, runner.iter, final=True)

    def _fail(self, err: Exception) -> None:
        MMLogger.get_current_instance().error(str(err))  # the reason in the log file too, not only on stderr
        raise err

    # ---------------------------------------------------------------- the check
    def check(self, runner, at: int, final: bool = False) -> None:
        """One host read of the guard counters and of the weights' finiteness; ``at`` is the 1-based iteration."""
        for i, ow in enumerate(self._guarded(runner)):
            self._check_wrapper(runner, i, ow, at, final)
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        bad = nonfinite_names(model)
        if bad:
            self._fail(FloatingPointError(
                f'the model has non-finite weights after {self.where(runner, at)}: {", ".join(bad[:5])}'
                f'{f" (+{len(bad) - 5} more)" if len(bad) > 5 else ""}. Resume from a checkpoint before it with a '
                'lower lr or with clip_grad.'))
        for hook in runner.hooks:
            ema = getattr(hook, 'ema_module', None)
            if isinstance(ema, nn.Module) and (bad := nonfinite_names(ema)):
                self._fail(FloatingPointError(
                    f'the EMA weights ({type(hook).__name__}) are non-finite after {self.where(runner, at)}: '
                    f'{", ".join(bad[:5])}{f" (+{len(bad) - 5} more)" if len(bad) > 5 else ""}.'))

    def _check_wrapper(self, runner, i: int, ow, at: int, final: bool) -> None:
        c = ow.read_counters()
        last = self._last.get(i, dict(steps=0, skipped=0, norm_sum=0.0))
        self._last[i] = c
        new_skips = c['skipped'] - last['skipped']
        applied = (c['steps'] - last['steps']) - new_skips
        if ow.clip_grad_kwargs and applied > 0 and getattr(ow, 'grad_name', None) == 'grad_norm':
            runner.message_hub.update_scalar('train/grad_norm', float(c['norm_sum'] - last['norm_sum']), applied)
        total = self._base_skipped + c['skipped']
        runner.message_hub.update_info('nonfinite_skipped_steps', total)
        if c['skipped'] == 0:
            return
        first = (f"{self.where(runner, c['first_bad_iter'])} (loss = {c['first_loss']:.6g}, "
                 f"grad norm = {c['first_grad_norm']:.6g})")
        kind = 'loss' if not math.isfinite(c['first_loss']) else 'gradients (finite loss)'
        if ow.nonfinite == 'stop':
            self._fail(FloatingPointError(
                f'non-finite {kind} at {first}: that optimizer step was not applied. Checked after '
                f'{self.where(runner, at)} (every {self.interval} iterations); {c["skipped"]} step(s) non-finite so '
                "far. Lower the lr, enable or tighten clip_grad, or set optim_wrapper.nonfinite='skip'."))
        if new_skips:
            print_log(f'non-finite loss or gradients: {new_skips} optimizer step(s) skipped up to '
                      f'{self.where(runner, at)}, {total} in this run (the first at {first})',
                      logger='current', level=logging.WARNING)
        stuck = c['consecutive'] >= self.max_consecutive_skips
        if final and c['steps'] > 0:
            stuck = stuck or c['consecutive'] >= min(self.interval, c['steps'])
        if stuck:
            self._fail(RuntimeError(
                f"training is stuck: the last {c['consecutive']} optimizer steps up to {self.where(runner, at)} had "
                f"non-finite losses or gradients and were skipped ({total} skipped in this run; the first at "
                f'{first}). The weights are those of the last applied step; lower the lr or enable clip_grad.'))
