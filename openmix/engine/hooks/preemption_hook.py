"""Hand a preemption checkpoint's position inside the epoch to the training loop, and tidy up after it."""
from __future__ import annotations

import logging
import os
import os.path as osp
import re

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.logging import print_log

from openmix.registry import HOOKS

__all__ = ['PreemptionHook']

_PREEMPTION_NAME = re.compile(r'epoch_\d+_iter_\d+\.pth')


@HOOKS.register_module()
class PreemptionHook(Hook):
    """The checkpoint side of ``PreemptibleTrainLoop`` (signal handling and the stop live in the loop).

    * ``after_load_checkpoint`` (``--resume`` only): a checkpoint written on preemption carries
      ``meta['train_position']`` (step inside the epoch, the epoch's DataLoader base-seed generator state per rank);
      it is handed to the loop, whose next epoch starts at that step. With a loop that cannot resume inside an
      epoch, a warning says that the epoch is trained again from its start.
    * ``after_train_epoch`` (after ``CheckpointHook``): once a later checkpoint has been written and
      ``last_checkpoint`` points elsewhere, the ``epoch_{E}_iter_{I}.pth`` this run resumed from is removed, so
      repeated preemptions do not pile up full checkpoints.

    Added to every run by ``openmix.apis.load_config``.
    """

    priority = 'LOWEST'  # after_train_epoch after CheckpointHook (VERY_LOW) has written and pointed last_checkpoint

    def __init__(self) -> None:
        self._resumed_from: str | None = None

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if not runner._resume:
            return
        position = (checkpoint.get('meta') or {}).get('train_position')
        if not position:
            return
        self._resumed_from = runner._load_from
        last = osp.join(runner.work_dir, 'last_checkpoint')
        if self._resumed_from is None and osp.isfile(last):
            with open(last) as f:
                self._resumed_from = f.read().strip() or None
        loop = runner.train_loop
        if hasattr(loop, 'resume_position'):
            loop.resume_position = position
        elif position.get('epoch_iter'):
            print_log(f'PreemptionHook: the checkpoint stopped inside an epoch (step {position["epoch_iter"]}), but '
                      f'the train loop {type(loop).__name__} resumes only at epoch starts: the epoch is trained again '
                      f'from its start (use PreemptibleTrainLoop)', logger='current', level=logging.WARNING)

    def after_train_epoch(self, runner) -> None:
        path = self._resumed_from
        if not path or not is_main_process():
            return
        last = osp.join(runner.work_dir, 'last_checkpoint')
        if not osp.isfile(last):
            return
        with open(last) as f:
            current = f.read().strip()
        # only a preemption checkpoint of this run's checkpoint folder (an explicit --resume PATH elsewhere is kept)
        ours = _PREEMPTION_NAME.fullmatch(osp.basename(path)) and current and \
            osp.dirname(osp.abspath(current)) == osp.dirname(osp.abspath(path))
        if ours and osp.abspath(current) != osp.abspath(path) and osp.isfile(current):
            try:
                os.remove(path)
                print_log(f'removed the preemption checkpoint {path} (superseded by {current})', logger='current')
            except FileNotFoundError:
                pass
        self._resumed_from = None
