"""mmengine's RuntimeInfoHook without its host synchronisation per training step."""
from __future__ import annotations

from collections import defaultdict

import torch
from mmengine.hooks import RuntimeInfoHook

from openmix.registry import HOOKS

__all__ = ['DeferredRuntimeInfoHook']


@HOOKS.register_module()
class DeferredRuntimeInfoHook(RuntimeInfoHook):
    """mmengine's ``RuntimeInfoHook`` whose per-step log variables reach the message hub in one host read per log
    interval instead of one ``.item()`` per value per step.

    mmengine's hook hands every value of the model's ``log_vars`` (device tensors: ``loss``, ``loss_cls``, ...) to
    ``MessageHub.update_scalar``, which calls ``.item()``: on CUDA each call waits for the step's kernels, so the host
    cannot queue the next step (the data copy, the mixer's draws) while the device works. Here the values stay on the
    device, detached, and are moved to the message hub in their order in one ``torch.stack(...).tolist()`` per
    (device, dtype) group whenever something reads them: at the ``LoggerHook``'s iterations (its interval, the end of
    an epoch, the last iteration), before validation, before a checkpoint is saved (the checkpoint's message hub is
    refreshed) and after training. The message hub's history is the same as mmengine's (tested): the logged window
    means and the values in ``scalars.json`` do not change. Everything else (epoch, iteration, learning rates, loop
    stage, dataset meta) is mmengine's code.

    Readers of ``train/*`` scalars between log lines see them only at those points; a parameter scheduler monitoring
    a training scalar every iteration (``ReduceOnPlateauParamScheduler`` on ``loss``) needs ``flush_interval=1``.

    Args:
        flush_interval: iterations between host reads; default: the ``LoggerHook``'s interval.
    """

    def __init__(self, flush_interval: int | None = None) -> None:
        super().__init__()
        if flush_interval is not None and (not isinstance(flush_interval, int) or flush_interval < 1):
            raise ValueError(f'DeferredRuntimeInfoHook: flush_interval must be an int >= 1, got {flush_interval!r}')
        self.flush_interval = flush_interval
        self._buffer: list[dict] = []

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if self.flush_interval is None:
            loggers = [h for h in runner.hooks if type(h).__name__ == 'LoggerHook']
            self.flush_interval = int(getattr(loggers[0], 'interval', 50)) if loggers else 50
        self._buffer = []

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs: dict | None = None) -> None:
        if outputs:
            self._buffer.append({k: v.detach() if isinstance(v, torch.Tensor) else v for k, v in outputs.items()})
        if (self.every_n_inner_iters(batch_idx, self.flush_interval)
                or self.end_of_epoch(runner.train_dataloader, batch_idx) or self.is_last_train_iter(runner)):
            self.flush(runner)

    def before_val(self, runner) -> None:
        self.flush(runner)
        super().before_val(runner)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self._buffer:
            self.flush(runner)
            if 'message_hub' in checkpoint:  # the runner took its state before calling the hooks
                checkpoint['message_hub'] = runner.message_hub.state_dict()

    def after_train(self, runner) -> None:
        self.flush(runner)
        super().after_train(runner)

    @staticmethod
    def host_values(tensors: list[torch.Tensor]) -> list:
        """Python numbers of scalar tensors, one device-to-host read per (device, dtype) group, in order."""
        groups = defaultdict(list)
        for i, t in enumerate(tensors):
            groups[(t.device, t.dtype)].append(i)
        out = [None] * len(tensors)
        for idx in groups.values():
            for i, v in zip(idx, torch.stack([tensors[i].reshape(()) for i in idx]).tolist()):
                out[i] = v
        return out

    def flush(self, runner) -> None:
        """Move the buffered log variables to the message hub, in the order the steps produced them."""
        if not self._buffer:
            return
        rows, self._buffer = self._buffer, []
        slots = [(r, k) for r, row in enumerate(rows) for k, v in row.items()
                 if isinstance(v, torch.Tensor) and v.numel() == 1]
        for (r, k), v in zip(slots, self.host_values([rows[r][k] for r, k in slots])):
            rows[r][k] = v
        for row in rows:
            for key, value in row.items():
                runner.message_hub.update_scalar(f'train/{key}', value)
