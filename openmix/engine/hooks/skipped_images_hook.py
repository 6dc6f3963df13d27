"""Report images skipped as unreadable (datasets built with ``skip_corrupt=True``)."""
from __future__ import annotations

import torch
from mmengine.dist import all_reduce
from mmengine.hooks import Hook

from openmix.registry import HOOKS


@HOOKS.register_module()
class SkippedImagesHook(Hook):
    """Sum ``data_samples['num_skipped']`` over the epoch (all ranks) and log it at the epoch's end.

    The datasets log each skipped file by name as it happens; this gives the total. Added to every run by
    ``openmix.apis.load_config``; it does nothing when the batches carry no ``num_skipped``.
    """

    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self.skipped = 0
        self.total_skipped = 0

    def before_train_epoch(self, runner) -> None:
        self.skipped = 0

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        samples = data_batch.get('data_samples') if isinstance(data_batch, dict) else None
        if isinstance(samples, dict) and 'num_skipped' in samples:
            self.skipped += int(torch.as_tensor(samples['num_skipped']).sum())

    def after_train_epoch(self, runner) -> None:
        count = torch.tensor(float(self.skipped))
        all_reduce(count)  # no-op without a process group
        n = int(count.item())
        self.total_skipped += n
        if n:  # runner.epoch counts finished epochs and is bumped after this hook; the log numbers epochs from 1
            runner.logger.warning(f'epoch {runner.epoch + 1}: skipped {n} unreadable image(s) (named in the log '
                                  f'above); {self.total_skipped} in this run so far')
        runner.message_hub.update_info('skipped_images', self.total_skipped)
