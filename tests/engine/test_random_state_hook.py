"""RandomStateHook: save, draw, restore, draw again gives identical numbers; weights-only loadable; resume only."""
import random
from types import SimpleNamespace

import numpy as np
import torch
from torch import nn

from openmix.engine import RandomStateHook
from openmix.registry import HOOKS, MIXERS


class WithGenerator(nn.Module):
    """A module whose randomness is a ``torch.Generator`` (the contract's ``mixer.generator``)."""

    def __init__(self):
        super().__init__()
        self.enabled = True
        self.generator = torch.Generator().manual_seed(123)


class Model(nn.Module):
    def __init__(self, mixer):
        super().__init__()
        self.mixer = mixer
        self.fc = nn.Linear(2, 2)


def random_mix():
    return MIXERS.build(dict(type='RandomMix', mixers=[dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)],
                             switch_prob=0.5, seed=7))


def draw(model):
    """Numbers from every generator the hook must cover."""
    out = dict(torch=torch.rand(3).tolist(), numpy=np.random.rand(3).tolist(), gauss=np.random.randn(1).tolist(),
               python=[random.random() for _ in range(3)])
    mixer = model.mixer
    if isinstance(mixer, WithGenerator):
        out['generator'] = torch.rand(3, generator=mixer.generator).tolist()
    else:
        x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).view(2, 3, 8, 8)
        mixed = mixer(x)
        out['mixer'] = (mixed.mode, mixed.lam.tolist(), mixer.mixers[0].rng.random())
    return out


def save_draw_restore_draw(tmp_path, model, resume=True):
    hook = HOOKS.build(dict(type='RandomStateHook'))
    runner = SimpleNamespace(model=model, _resume=resume, iter=0)
    torch.manual_seed(1)
    np.random.seed(2)
    random.seed(3)
    np.random.randn(1)  # leaves a cached Gaussian in NumPy's legacy state
    checkpoint = {}
    hook.before_save_checkpoint(runner, checkpoint)
    torch.save(checkpoint, tmp_path / 'ckpt.pth')
    first = draw(model)
    loaded = torch.load(tmp_path / 'ckpt.pth', map_location='cpu', weights_only=True)
    hook.after_load_checkpoint(runner, loaded)
    return first, draw(model), loaded


def test_round_trip_numpy_mixers(tmp_path):
    model = Model(random_mix())
    first, second, loaded = save_draw_restore_draw(tmp_path, model)
    assert first == second
    assert set(loaded['random_state']['ranks'][0]['modules']) == {'mixer', 'mixer.mixers.0', 'mixer.mixers.1'}
    assert loaded['random_state']['world_size'] == 1


def test_round_trip_torch_generator(tmp_path):
    first, second, _ = save_draw_restore_draw(tmp_path, Model(WithGenerator()))
    assert first == second and len(first['generator']) == 3


def test_not_restored_without_resume(tmp_path):
    first, second, _ = save_draw_restore_draw(tmp_path, Model(random_mix()), resume=False)
    assert first['torch'] != second['torch'] and first['mixer'] != second['mixer']


def test_validation_does_not_consume_training_randomness():
    model = Model(random_mix())
    hook = RandomStateHook()
    runner = SimpleNamespace(model=model, _resume=True, iter=5)
    torch.manual_seed(0)
    hook.before_val(runner)
    iter(torch.utils.data.DataLoader(list(range(4))))  # creating a DataLoader iterator draws a torch seed
    np.random.rand(5)
    checkpoint = {}
    hook.before_save_checkpoint(runner, checkpoint)  # e.g. the save_best checkpoint, written during validation
    hook.after_val(runner)
    after_val = torch.rand(2)
    torch.manual_seed(0)
    assert torch.equal(after_val, torch.rand(2))  # as if validation had not run
    torch.manual_seed(0)
    expected = torch.get_rng_state()
    assert torch.equal(checkpoint['random_state']['ranks'][0]['torch'], expected)  # pre-validation states saved
