"""SkippedImagesHook sums the per-sample skip counts of an epoch and reports them."""
from types import SimpleNamespace
from unittest.mock import MagicMock

import torch

from openmix.registry import HOOKS


def test_skipped_images_are_counted_per_epoch_and_in_total():
    hook = HOOKS.build(dict(type='SkippedImagesHook'))
    runner = SimpleNamespace(epoch=1, logger=MagicMock(), message_hub=MagicMock())
    hook.before_train_epoch(runner)
    hook.after_train_iter(runner, 0, dict(data_samples=dict(gt_label=torch.zeros(3), num_skipped=torch.tensor([0, 2, 1]))))
    hook.after_train_iter(runner, 1, dict(data_samples=dict(gt_label=torch.zeros(2))))  # no skip_corrupt: ignored
    hook.after_train_epoch(runner)
    msg = runner.logger.warning.call_args[0][0]
    assert msg.startswith('epoch 2: ')  # runner.epoch=1 during the second epoch, which the log calls [2]
    assert 'skipped 3 unreadable image(s)' in msg and '3 in this run so far' in msg
    runner.message_hub.update_info.assert_called_with('skipped_images', 3)
    runner.logger.reset_mock()
    hook.before_train_epoch(runner)
    hook.after_train_epoch(runner)
    runner.logger.warning.assert_not_called()
    assert hook.total_skipped == 3
