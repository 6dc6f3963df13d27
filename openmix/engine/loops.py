"""Loops: validation of the raw and the EMA model; an epoch-based training loop that survives preemption."""
from __future__ import annotations

import itertools
import logging
import os.path as osp
import signal
from collections.abc import Iterator

import torch
import torch.distributed as torch_dist
from mmengine.dist import all_gather_object, get_rank, get_world_size, is_main_process
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log
from mmengine.runner import EpochBasedTrainLoop, ValLoop
from mmengine.runner.amp import autocast
from mmengine.runner.loops import _parse_losses, _update_losses

from openmix.registry import LOOPS
from .hooks.ema_hook import EMAHook
from .preemption import PreemptionSignal, TrainingPreempted

__all__ = ['EMAValLoop', 'PreemptibleTrainLoop']


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


class _SkipSampler:
    """A sampler that yields ``sampler``'s indices from position ``skip`` on; its length stays the full epoch's.

    Skipped indices are never handed to the dataset, so the batches already trained on are not loaded again.
    """

    def __init__(self, sampler, skip: int) -> None:
        self.sampler = sampler
        self.skip = skip

    def __iter__(self) -> Iterator[int]:
        return itertools.islice(iter(self.sampler), self.skip, None)

    def __len__(self) -> int:
        return len(self.sampler)


@LOOPS.register_module()
class PreemptibleTrainLoop(EpochBasedTrainLoop):
    """mmengine's ``EpochBasedTrainLoop`` that stops cleanly on SIGTERM/SIGUSR1 and resumes inside an epoch.

    While it runs, :class:`~openmix.engine.preemption.PreemptionSignal` turns SIGTERM/SIGUSR1 into a flag. At each
    step boundary the ranks agree on it (a one-element CPU ``all_reduce(MAX)``), so every rank stops after the same
    step; then the states of all ranks are gathered, rank 0 writes ``epoch_{E}_iter_{I}.pth`` (``E`` the epoch being
    trained, 1-based; ``I`` the global iteration; ``meta`` holds ``epoch=E-1`` epochs done and ``iter=I`` as mmengine's
    resume expects, plus ``train_position``) and points ``last_checkpoint`` at it, the log says where it stopped, and
    :class:`~openmix.engine.preemption.TrainingPreempted` ends the run (``tools/train.py`` exits with
    ``PREEMPTED_EXIT_CODE`` = 75). A signal that arrives during validation is acted on after it, at the epoch
    boundary. ``openmix.apis.load_config`` makes every epoch-based config use this loop.

    ``train_position`` records the step inside the epoch and the state of the generator the epoch's DataLoader
    iterator drew its base seed from (per rank). ``PreemptionHook`` hands it to the loop on ``--resume``, which then
    recreates the epoch's iterator with the same base seed (without touching the global generator) and makes the
    sampler start at the saved position: the batches already trained on are not loaded, and the rest of the epoch
    is the uninterrupted run's (same sampler permutation; the main process's generators, the mixers' and the data
    preprocessor's are restored by ``RandomStateHook``). With ``num_workers > 0`` the workers of the resumed epoch
    start from their epoch seeds rather than from where the interrupted workers were, so the same images come in
    the same order but their augmentations differ from the uninterrupted run's for the rest of that epoch.

    Args:
        preempt_check_interval: Steps between two agreements on the flag. Default: every step with gloo (or a
            single process, where it is a Python attribute read); every 10 steps with another backend (NCCL), where
            the flag travels through a separate gloo group (a CPU collective, no device synchronisation), so a stop
            comes at most 9 steps after the signal. Schedulers give tens of seconds (SLURM ``--signal=USR1@120``).
        Others as mmengine's ``EpochBasedTrainLoop``.
    """

    def __init__(self, runner, dataloader, max_epochs: int, val_begin: int = 1, val_interval: int = 1,
                 dynamic_intervals=None, preempt_check_interval: int | None = None) -> None:
        super().__init__(runner, dataloader, max_epochs, val_begin, val_interval, dynamic_intervals)
        if preempt_check_interval is not None and int(preempt_check_interval) < 1:
            raise ValueError(f'train_cfg.preempt_check_interval must be >= 1, got {preempt_check_interval}')
        self.preempt_check_interval = preempt_check_interval
        self.preemption = PreemptionSignal()
        #: set by ``PreemptionHook`` when resuming from a mid-epoch checkpoint; used by the next ``run_epoch``
        self.resume_position: dict | None = None
        self._interval = 1
        self._group = None
        self._loader_rng: torch.Tensor | None = None  # generator state the current epoch's base seed came from
        self._stop_signal: str | None = None  # name of the signal the ranks agreed to stop on

    # ------------------------------------------------------------------ running
    def run(self) -> torch.nn.Module:
        with self.preemption:
            self._setup_agreement()
            self.runner.call_hook('before_train')
            while self._epoch < self._max_epochs and not self.stop_training:
                self.run_epoch()
                self._decide_current_val_interval()
                if (self.runner.val_loop is not None and self._epoch >= self.val_begin
                        and (self._epoch % self.val_interval == 0 or self._epoch == self._max_epochs)):
                    self.runner.val_loop.run()
                if self._epoch < self._max_epochs and self._stop_requested(force=True):
                    self._preempt(0, len(self.dataloader))
            self.runner.call_hook('after_train')
        return self.runner.model

    def run_epoch(self) -> None:
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
        length = len(self.dataloader)
        start, loader_rng = self._take_resume_position(length)
        iterator, restore = self._epoch_iterator(start, loader_rng)
        try:
            for idx, data_batch in enumerate(iterator, start):
                self.run_iter(idx, data_batch)
                # after the epoch's last step the epoch ends normally (its checkpoint, validation), then the check
                if idx + 1 < length and self._stop_requested():
                    self._preempt(idx + 1, length)
        finally:
            restore()
        self.runner.call_hook('after_train_epoch')
        self._epoch += 1

    # ------------------------------------------------------------------ stopping
    def _setup_agreement(self) -> None:
        self._group = None
        gloo = get_world_size() == 1 or torch_dist.get_backend() == 'gloo'
        if not gloo:
            self._group = torch_dist.new_group(backend='gloo')  # collective: every rank runs this line
        default = 1 if gloo else 10
        self._interval = int(self.preempt_check_interval or default)

    def _stop_requested(self, force: bool = False) -> bool:
        """Whether any rank received a preemption signal; every rank calls it at the same steps."""
        if not force and self._iter % self._interval:
            return False
        received = self.preemption.received or 0
        if get_world_size() > 1:
            flag = torch.tensor([received], dtype=torch.int32)  # the signal number: every rank can name it
            torch_dist.all_reduce(flag, op=torch_dist.ReduceOp.MAX, group=self._group)
            received = int(flag.item())
        self._stop_signal = signal.Signals(received).name if received else None
        return bool(received)

    def _preempt(self, epoch_iter: int, length: int) -> None:
        """Write the iteration-level checkpoint (rank 0), point ``last_checkpoint`` at it, raise on every rank."""
        runner = self.runner
        for hook in runner.hooks:
            if callable(getattr(hook, 'gather', None)) and type(hook).__name__ == 'RandomStateHook':
                hook.gather(runner)  # every rank's generators, not only rank 0's
        loader_rng = self._loader_rng if epoch_iter else None
        loader_rngs = all_gather_object(loader_rng) if get_world_size() > 1 else [loader_rng]
        epoch = self._epoch + 1
        filename = f'epoch_{epoch}_iter_{self._iter}.pth'
        ckpt_hook = next((h for h in runner.hooks if isinstance(h, CheckpointHook)), None)
        out_dir = getattr(ckpt_hook, 'out_dir', None) or runner.work_dir
        filepath = osp.join(out_dir, filename)
        position = dict(epoch_iter=epoch_iter, epoch_length=length, world_size=get_world_size(),
                        batch_size=getattr(self.dataloader, 'batch_size', None), loader_rng=loader_rngs,
                        signal=self._stop_signal)
        runner.message_hub.update_info('last_ckpt', filepath)
        runner.save_checkpoint(out_dir, filename, meta=dict(epoch=self._epoch, iter=self._iter,
                                                             train_position=position))
        message = (f'preempted at epoch {epoch} iteration {epoch_iter}/{length} ({self._stop_signal}, '
                   f'global iteration {self._iter}); checkpoint {filepath}; resume with --resume')
        if is_main_process():
            from openmix.utils.checkpoint import AtomicLocalBackend
            AtomicLocalBackend().put_text(filepath, osp.join(runner.work_dir, 'last_checkpoint'))
            runner.logger.warning(message)
        if get_world_size() > 1:
            torch_dist.barrier(group=self._group)  # no rank exits (and gets the others killed) before the file is whole
        raise TrainingPreempted(message, filepath)

    # ------------------------------------------------------------------ resuming
    def _take_resume_position(self, length: int) -> tuple[int, torch.Tensor | None]:
        """(first step, base-seed generator state) of this epoch: (0, None) unless resuming inside it."""
        position, self.resume_position = self.resume_position, None
        if not position or not position.get('epoch_iter'):
            return 0, None
        start = int(position['epoch_iter'])
        saved = (position.get('epoch_length'), position.get('world_size'), position.get('batch_size'))
        now = (length, get_world_size(), getattr(self.dataloader, 'batch_size', None))
        if saved != now:
            start = min(start, length - 1)
            print_log(f'PreemptibleTrainLoop: the checkpoint stopped at step {position["epoch_iter"]} of an epoch of '
                      f'{saved[0]} steps (world size {saved[1]}, batch size {saved[2]}); this run has {now[0]} steps '
                      f'(world size {now[1]}, batch size {now[2]}). Resuming at step {start}: the rest of the epoch '
                      f'does not match the interrupted run', logger='current', level=logging.WARNING)
        rngs = position.get('loader_rng') or [None]
        rng = rngs[get_rank() % len(rngs)]
        print_log(f'resuming epoch {self._epoch + 1} at iteration {start}/{length} (global iteration {self._iter}); '
                  f'the sampler skips the {start} batches already trained on without loading them', logger='current')
        return start, rng

    def _epoch_iterator(self, start: int, loader_rng: torch.Tensor | None):
        """The epoch's DataLoader iterator from step ``start``, and a function that undoes the sampler change."""
        loader = self.dataloader
        generator = loader.generator
        if loader_rng is None:
            # the state the iterator's base seed (workers' seeds) is about to be drawn from, for a later preemption
            self._loader_rng = (generator if generator is not None else torch.default_generator).get_state()
        else:
            self._loader_rng = loader_rng
        if start == 0:
            return iter(loader), lambda: None
        if callable(getattr(loader, 'iter_from', None)):  # a loader that starts at a batch itself (device-resident)
            return loader.iter_from(start), lambda: None
        batch_sampler = getattr(loader, 'batch_sampler', None)
        if batch_sampler is None or not hasattr(batch_sampler, 'sampler') or not hasattr(batch_sampler, 'batch_size'):
            raise RuntimeError(f'PreemptibleTrainLoop cannot resume inside an epoch with the batch sampler '
                               f'{type(batch_sampler).__name__}: it needs one with `sampler` and `batch_size`')
        sampler = batch_sampler.sampler
        batch_sampler.sampler = _SkipSampler(sampler, start * batch_sampler.batch_size)
        if loader_rng is not None:
            replay = torch.Generator()
            replay.set_state(loader_rng)
            loader.generator = replay  # the base seed of the interrupted epoch; the global generator is not touched
        try:
            iterator = iter(loader)
        except BaseException:
            batch_sampler.sampler = sampler
            raise
        finally:
            loader.generator = generator

        def restore() -> None:
            batch_sampler.sampler = sampler

        return iterator, restore
