"""Validation loop that evaluates the raw model and, when ``EMAHook`` is registered, its EMA weights."""
from __future__ import annotations

import torch
from mmengine.runner import ValLoop
from mmengine.runner.amp import autocast
from mmengine.runner.loops import _parse_losses, _update_losses

from openmix.registry import LOOPS
from .hooks.ema_hook import EMAHook

__all__ = ['EMAValLoop']


@LOOPS.register_module()
class EMAValLoop(ValLoop):
    """mmengine ``ValLoop`` that also evaluates ``EMAHook``'s EMA model, with metric keys prefixed ``ema/``.

    DeiT reports the raw and the EMA model side by side; here both sets of metrics go into the one dict handed to
    ``after_val_epoch``, so ``LoggerHook`` writes ``accuracy/top1`` and ``ema/accuracy/top1`` to
    ``vis_data/scalars.json`` and TensorBoard, and ``CheckpointHook(save_best=...)`` can rank by either. The EMA
    module is run directly (no swapping of weights), on the same dataloader and evaluator; the per-iteration hooks
    fire for the raw pass only. Without an ``EMAHook`` this is mmengine's ``ValLoop``.

    Config: ``val_cfg = dict(type='EMAValLoop')`` (optionally ``fp16=True``).
    """

    def _ema_hook(self) -> EMAHook | None:
        for hook in self.runner.hooks:
            if isinstance(hook, EMAHook) and hook.ema_module is not None:
                return hook
        return None

    def run(self) -> dict:
        self.runner.call_hook('before_val')
        self.runner.call_hook('before_val_epoch')
        self.runner.model.eval()
        self.val_loss.clear()
        for idx, data_batch in enumerate(self.dataloader):
            self.run_iter(idx, data_batch)
        metrics = self.evaluator.evaluate(len(self.dataloader.dataset))
        if self.val_loss:
            metrics.update(_parse_losses(self.val_loss, 'val'))
        hook = self._ema_hook()
        if hook is not None:
            metrics.update(self.evaluate_module(hook.ema_module, prefix='ema/'))
        self.runner.call_hook('after_val_epoch', metrics=metrics)
        self.runner.call_hook('after_val')
        return metrics

    @torch.no_grad()
    def evaluate_module(self, module: torch.nn.Module, prefix: str = '') -> dict:
        """Metrics of ``module`` (an unwrapped ``BaseModel``) on this loop's data, keys prefixed with ``prefix``."""
        was_training = module.training
        module.eval()
        losses: dict = {}
        for data_batch in self.dataloader:
            with autocast(enabled=self.fp16):
                outputs = module.val_step(data_batch)
            outputs, losses = _update_losses(outputs, losses)
            self.evaluator.process(data_samples=outputs, data_batch=data_batch)
        metrics = self.evaluator.evaluate(len(self.dataloader.dataset))
        if losses:
            metrics.update(_parse_losses(losses, 'val'))
        module.train(was_training)
        return {f'{prefix}{k}': v for k, v in metrics.items()}
