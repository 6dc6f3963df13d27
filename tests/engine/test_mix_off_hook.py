"""MixOffHook: mixing off for the last epochs, set from the epoch (so resume is right), wrappers, no mixer."""
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from openmix.engine import MixOffHook
from openmix.registry import HOOKS, MIXERS


class Model(nn.Module):
    def __init__(self, mixer=None):
        super().__init__()
        self.mixer = mixer
        self.fc = nn.Linear(1, 1)


def mixer():
    return MIXERS.build(dict(type='Mixup', alpha=0.8, seed=0))


def run_epochs(hook, model, max_epochs, epochs):
    runner = SimpleNamespace(model=model, max_epochs=max_epochs, epoch=0)
    states = []
    for epoch in epochs:
        runner.epoch = epoch
        hook.before_train_epoch(runner)
        inner = model.module if isinstance(model, nn.DataParallel) else model
        states.append(inner.mixer.enabled)
    return states


def test_off_for_the_last_epochs_and_logs_once(monkeypatch):
    logged = []
    monkeypatch.setattr('openmix.engine.hooks.mix_off_hook.print_log', lambda msg, logger=None: logged.append(msg))
    hook = HOOKS.build(dict(type='MixOffHook', off_epochs=2))
    states = run_epochs(hook, Model(mixer()), max_epochs=5, epochs=range(5))
    assert states == [True, True, True, False, False]
    assert logged == ['MixOffHook: input mixing off from epoch 4 (last 2 of 5 epochs)']


def test_resume_sets_state_from_epoch_not_toggle():
    model = Model(mixer())
    # a run resumed at epoch 4 of 5 (0-based 3) starts with mixing off, whatever the previous state was
    assert run_epochs(MixOffHook(off_epochs=2), model, 5, [3]) == [False]
    assert run_epochs(MixOffHook(off_epochs=2), model, 5, [3, 4]) == [False, False]
    # resumed before the switch (e.g. from an earlier checkpoint): on again
    model.mixer.enabled = False
    assert run_epochs(MixOffHook(off_epochs=2), model, 5, [1]) == [True]


def test_wrapped_model_and_zero_off_epochs():
    model = nn.DataParallel(Model(mixer()))  # a model wrapper: the hook reaches `.module.mixer`
    assert run_epochs(MixOffHook(off_epochs=1), model, 3, range(3)) == [True, True, False]
    assert run_epochs(MixOffHook(off_epochs=0), Model(mixer()), 3, range(3)) == [True, True, True]


def test_no_mixer_is_a_no_op_and_mixing_really_stops():
    hook = MixOffHook(off_epochs=1)
    hook.before_train_epoch(SimpleNamespace(model=Model(None), max_epochs=2, epoch=1))  # no error
    m = mixer()
    run_epochs(hook, Model(m), 2, [1])
    x = torch.arange(16.0).view(2, 2, 2, 2)
    out = m(x)
    assert out.mode == 'none' and torch.equal(out.inputs, x) and out.lam.tolist() == [1.0, 1.0]
    with pytest.raises(ValueError):
        MixOffHook(off_epochs=-1)
