"""DeferredRuntimeInfoHook: the message hub sees what mmengine's RuntimeInfoHook gives it, read once per log interval."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from mmengine.hooks import LoggerHook, RuntimeInfoHook
from mmengine.logging import MessageHub

from openmix.engine.hooks import DeferredRuntimeInfoHook


def fake_runner(name: str, iters_per_epoch: int, epochs: int, log_interval: int):
    return SimpleNamespace(message_hub=MessageHub(name), train_dataloader=Loader(iters_per_epoch), iter=0, epoch=0,
                           max_epochs=epochs, max_iters=iters_per_epoch * epochs,
                           hooks=[LoggerHook(interval=log_interval)])


class Loader(list):
    def __init__(self, n: int) -> None:
        super().__init__(range(n))
        self.dataset = SimpleNamespace()


def history(runner, key):
    return list(runner.message_hub.log_scalars[key].data[0]) if key in runner.message_hub.log_scalars else []


def test_same_history_as_mmengine_at_every_log_point_and_one_read_per_interval(monkeypatch):
    torch.manual_seed(0)
    n, epochs, interval = 7, 2, 3
    ref, ours = fake_runner('ref_rih', n, epochs, interval), fake_runner('ours_rih', n, epochs, interval)
    hook_ref, hook = RuntimeInfoHook(), DeferredRuntimeInfoHook()
    hook.before_train(ours)
    assert hook.flush_interval == interval

    reads, values_seen = dict(item=0, tolist=0), []
    counting = [False]

    def spy(name):
        real = getattr(torch.Tensor, name)

        def wrapped(self, *args, **kwargs):
            reads[name] += counting[0]
            return real(self, *args, **kwargs)
        return wrapped
    monkeypatch.setattr(torch.Tensor, 'item', spy('item'))
    monkeypatch.setattr(torch.Tensor, 'tolist', spy('tolist'))
    update = ours.message_hub.update_scalar
    ours.message_hub.update_scalar = lambda key, value, count=1: values_seen.append(value) or update(key, value, count)

    log_points = 0
    for epoch in range(epochs):
        for b in range(n):
            outputs = dict(loss=torch.rand(()) * 3, loss_cls=torch.rand((), dtype=torch.float64),
                           correct=torch.randint(0, 64, ()), note=0.5)
            hook_ref.after_train_iter(ref, b, outputs=outputs)
            counting[0] = True
            hook.after_train_iter(ours, b, outputs=outputs)
            counting[0] = False
            logs_here = (b + 1) % interval == 0 or b + 1 == n
            if logs_here:  # where the LoggerHook reads: the histories are the same
                log_points += 1
                for key in ('train/loss', 'train/loss_cls', 'train/correct', 'train/note'):
                    assert history(ours, key) == history(ref, key), (epoch, b, key)
            else:  # between log points the values wait on the device
                assert len(history(ours, 'train/loss')) < len(history(ref, 'train/loss'))
            ref.iter += 1
            ours.iter += 1
    # no .item(); one host read per dtype group per log point: float32, float64 and int64 values -> 3 per flush
    assert reads['item'] == 0 and reads['tolist'] == 3 * log_points == 3 * 3 * epochs
    assert all(type(v) in (float, int) for v in values_seen)  # the message hub never gets a tensor to .item()


def test_checkpoint_and_validation_flush_the_buffer():
    runner = fake_runner('ckpt_rih', 10, 1, 5)
    hook = DeferredRuntimeInfoHook()
    hook.before_train(runner)
    for b in range(2):
        hook.after_train_iter(runner, b, outputs=dict(loss=torch.tensor(float(b + 1))))
        runner.iter += 1
    checkpoint = dict(message_hub=runner.message_hub.state_dict())
    assert 'train/loss' not in checkpoint['message_hub']['log_scalars']
    hook.before_save_checkpoint(runner, checkpoint)
    assert list(checkpoint['message_hub']['log_scalars']['train/loss'].data[0]) == [1.0, 2.0]
    hook.after_train_iter(runner, 2, outputs=dict(loss=torch.tensor(7.0)))
    hook.before_val(runner)
    assert history(runner, 'train/loss') == [1.0, 2.0, 7.0]


def test_bad_interval_is_refused():
    with pytest.raises(ValueError, match='flush_interval must be an int >= 1'):
        DeferredRuntimeInfoHook(flush_interval=0)
