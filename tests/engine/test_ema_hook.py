"""EMAHook: timm/DeiT update rule by hand over 3 steps, buffers, checkpoint round trip without swapping."""
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from openmix.engine import EMAHook
from openmix.registry import HOOKS


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2)
        self.bn = nn.BatchNorm1d(2)


def fake_runner(model, resume=False):
    return SimpleNamespace(model=model, iter=0, _resume=resume, optim_wrapper=None)


def set_weights(model, value):
    with torch.no_grad():
        model.fc.weight.fill_(value)
        model.fc.bias.fill_(-value)
        model.bn.running_mean.fill_(2 * value)
        model.bn.num_batches_tracked.fill_(int(10 * value))


def test_three_steps_by_hand():
    model = Net()
    set_weights(model, 1.0)
    hook = HOOKS.build(dict(type='EMAHook', momentum=0.9))
    runner = fake_runner(model)
    hook.before_run(runner)
    hook.before_train(runner)
    ema = 1.0
    for it, value in enumerate([3.0, -1.0, 0.5]):
        set_weights(model, value)  # what the optimizer step left
        runner.iter = it
        hook.after_train_iter(runner, it)
        ema = 0.9 * ema + 0.1 * value
        e = hook.ema_module
        assert torch.allclose(e.fc.weight, torch.full((2, 2), ema), atol=1e-6)
        assert torch.allclose(e.fc.bias, torch.full((2,), -ema), atol=1e-6)
        assert torch.allclose(e.bn.running_mean, torch.full((2,), 2 * ema), atol=1e-6)  # buffers averaged too
        assert int(e.bn.num_batches_tracked) == int(10 * value)  # integer buffers copied
    assert ema == pytest.approx(0.9 ** 3 * 1.0 + 0.1 * (0.9 ** 2 * 3.0 + 0.9 * -1.0 + 0.5))
    assert not any(p.requires_grad for p in hook.ema_module.parameters()) and not hook.ema_module.training
    assert hook.ema_module is not model and model.fc.weight.data.eq(0.5).all()  # the raw model is untouched


def test_no_buffer_averaging_begin_iter_and_interval():
    model = Net()
    set_weights(model, 0.0)
    hook = EMAHook(momentum=0.5, update_buffers=False, begin_iter=2, interval=2)
    runner = fake_runner(nn.DataParallel(model))  # a model wrapper: the EMA copies `.module`
    hook.before_run(runner)
    hook.before_train(runner)
    expected = []
    for it, value in enumerate([4.0, 8.0, 2.0, 6.0]):
        set_weights(model, value)
        runner.iter = it
        hook.after_train_iter(runner, it)
        expected.append(float(hook.ema_module.fc.weight[0, 0]))
        if it != 2:  # iter 2 is between updates: nothing changes
            assert float(hook.ema_module.bn.running_mean[0]) == 2 * value  # copied, not averaged
    # iter 0: before begin (iter + 1 < 2) -> copy; iter 1: update (2 % 2 == 0); iter 2: skipped; iter 3: update
    assert expected == [4.0, 0.5 * 4.0 + 0.5 * 8.0, 6.0, 0.5 * 6.0 + 0.5 * 6.0]


def test_only_updates_when_the_optimizer_stepped():
    model = Net()
    set_weights(model, 0.0)
    hook = EMAHook(momentum=0.5)
    runner = fake_runner(model)
    runner.optim_wrapper = SimpleNamespace(should_update=lambda: False)
    hook.before_run(runner)
    hook.before_train(runner)
    set_weights(model, 4.0)
    hook.after_train_iter(runner, 0)
    assert float(hook.ema_module.fc.weight[0, 0]) == 0.0


def test_checkpoint_keeps_raw_state_and_restores_ema_on_resume():
    model = Net()
    set_weights(model, 1.0)
    hook = EMAHook(momentum=0.9)
    runner = fake_runner(model)
    hook.before_run(runner)
    hook.before_train(runner)
    set_weights(model, 2.0)
    hook.after_train_iter(runner, 0)
    checkpoint = dict(state_dict={k: v.clone() for k, v in model.state_dict().items()})
    hook.before_save_checkpoint(runner, checkpoint)
    assert checkpoint['state_dict']['fc.weight'].eq(2.0).all()  # raw weights stay raw (no mmengine-style swap)
    assert checkpoint['ema_state_dict']['fc.weight'].allclose(torch.full((2, 2), 1.1))
    assert set(checkpoint['ema_state_dict']) == set(model.state_dict())

    fresh_model = Net()
    resumed = EMAHook(momentum=0.9)
    runner2 = fake_runner(fresh_model, resume=True)
    resumed.before_run(runner2)
    resumed.after_load_checkpoint(runner2, checkpoint)
    fresh_model.load_state_dict(checkpoint['state_dict'])  # the runner loads the model after the hook
    resumed.before_train(runner2)  # must not overwrite the restored EMA
    assert resumed.ema_module.fc.weight.allclose(torch.full((2, 2), 1.1))
    resumed.after_train_iter(runner2, 1)
    assert resumed.ema_module.fc.weight.allclose(torch.full((2, 2), 0.9 * 1.1 + 0.1 * 2.0))

    # load_from (not resume): the EMA starts from the loaded raw weights
    finetune = EMAHook(momentum=0.9)
    runner3 = fake_runner(Net(), resume=False)
    finetune.before_run(runner3)
    finetune.after_load_checkpoint(runner3, checkpoint)
    runner3.model.load_state_dict(checkpoint['state_dict'])
    finetune.before_train(runner3)
    assert finetune.ema_module.fc.weight.eq(2.0).all()
