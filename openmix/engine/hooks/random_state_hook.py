"""Random-number-generator states in checkpoints, so a resumed run draws what the uninterrupted one drew."""
from __future__ import annotations

import logging
import random

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_rank, get_world_size
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from openmix.registry import HOOKS

__all__ = ['RandomStateHook', 'get_random_state', 'set_random_state']


def _modules_with_rng(model: torch.nn.Module):
    """(name, module) of submodules that own a generator: ``get_rng_state``/``set_rng_state`` or ``generator``."""
    for name, module in model.named_modules():
        has_methods = callable(getattr(module, 'get_rng_state', None)) and callable(
            getattr(module, 'set_rng_state', None))
        if has_methods or isinstance(getattr(module, 'generator', None), torch.Generator):
            yield name, module


def get_random_state(model: torch.nn.Module | None = None) -> dict:
    """All RNG states of this process as weights-only-loadable types (tensors, ints, floats, str, None, dicts).

    Covers torch's CPU generator, the current CUDA device's generator, NumPy's global ``RandomState``, Python's
    ``random``, and every submodule of ``model`` that owns a generator: openmix mixers and the data preprocessor
    (NumPy ``Generator`` states through ``get_rng_state()``) or a ``generator: torch.Generator`` attribute.
    """
    kind, key, pos, has_gauss, cached = np.random.get_state()
    version, mt_state, gauss_next = random.getstate()
    state = dict(
        torch=torch.get_rng_state(),
        numpy=dict(kind=str(kind), key=torch.from_numpy(key.astype(np.int64)), pos=int(pos),
                   has_gauss=int(has_gauss), cached_gaussian=float(cached)),
        python=dict(version=int(version), state=torch.tensor(mt_state, dtype=torch.int64), gauss_next=gauss_next),
        modules={},
    )
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state()
    if model is not None:
        for name, module in _modules_with_rng(model):
            entry = {}
            if callable(getattr(module, 'get_rng_state', None)):
                entry['rng'] = module.get_rng_state()
            if isinstance(getattr(module, 'generator', None), torch.Generator):
                entry['generator'] = module.generator.get_state()
            state['modules'][name] = entry
    return state


def set_random_state(state: dict, model: torch.nn.Module | None = None) -> None:
    """Restore states produced by ``get_random_state`` (modules of ``model`` matched by name)."""
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state['cuda'])
    npy = state['numpy']
    np.random.set_state((npy['kind'], npy['key'].numpy().astype(np.uint32), npy['pos'], npy['has_gauss'],
                         npy['cached_gaussian']))
    py = state['python']
    random.setstate((py['version'], tuple(py['state'].tolist()), py['gauss_next']))
    if model is None:
        return
    saved = state.get('modules', {})
    for name, module in _modules_with_rng(model):
        entry = saved.get(name)
        if entry is None:
            print_log(f'RandomStateHook: no saved generator state for module `{name}`; it keeps its current state',
                      logger='current', level=logging.WARNING)
            continue
        if 'rng' in entry and callable(getattr(module, 'set_rng_state', None)):
            module.set_rng_state(entry['rng'])
        if 'generator' in entry and isinstance(getattr(module, 'generator', None), torch.Generator):
            module.generator.set_state(entry['generator'])


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Saves every RNG state in the checkpoint (``random_state``) and restores it on resume.

    Saved: torch CPU and CUDA (current device) generators, NumPy's and Python's global generators, and the
    generators of the model's mixers and data preprocessor (see ``get_random_state``), in weights-only-safe types.
    They are restored in ``after_load_checkpoint`` only when resuming (``runner._resume``), not for ``load_from``.

    Two details make a resume reproduce the uninterrupted run:

    * Validation does not consume training randomness: the states are taken at ``before_val`` and put back at
      ``after_val`` (iterating a DataLoader draws a base seed from torch's generator, and the resumed run does not
      repeat the validation that followed the checkpoint). Checkpoints written during validation (``save_best``)
      hold the pre-validation states.
    * Under DDP only rank 0 writes the checkpoint, but generators differ per rank (mixers are seeded with the rank),
      so at the end of each training epoch the states of all ranks are gathered (one small ``all_gather_object``
      per epoch) and saved; each rank restores its own. The preemption checkpoint gathers them too (``gather``).
      Checkpoints written at another point (iteration-based checkpointing) hold rank 0's states, which every rank
      then restores.
    """

    priority = 'LOW'  # after_train_epoch before CheckpointHook (VERY_LOW) writes the checkpoint

    def __init__(self) -> None:
        self._held: dict | None = None  # states taken at before_val
        self._gathered: tuple[int, list[dict]] | None = None  # (runner.iter, states of every rank)

    @staticmethod
    def _model(runner) -> torch.nn.Module:
        return runner.model.module if is_model_wrapper(runner.model) else runner.model

    def _states(self, runner) -> dict:
        return self._held if self._held is not None else get_random_state(self._model(runner))

    def gather(self, runner) -> None:
        """Collect the states of every rank for the next checkpoint at ``runner.iter`` (collective under DDP).

        Called at the end of each training epoch, and by ``PreemptibleTrainLoop`` before its mid-epoch checkpoint.
        """
        if get_world_size() > 1:
            self._gathered = (runner.iter, all_gather_object(self._states(runner)))

    def after_train_epoch(self, runner) -> None:
        self.gather(runner)

    def before_val(self, runner) -> None:
        self._held = get_random_state(self._model(runner))

    def after_val(self, runner) -> None:
        if self._held is not None:
            set_random_state(self._held, self._model(runner))
            self._held = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self._gathered is not None and self._gathered[0] == runner.iter:
            ranks = self._gathered[1]
        else:
            ranks = [self._states(runner)]
        checkpoint['random_state'] = dict(world_size=len(ranks), ranks=ranks)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if not runner._resume:
            return
        saved = checkpoint.get('random_state')
        if saved is None:
            print_log('RandomStateHook: the checkpoint has no `random_state`; the resumed run draws different '
                      'random numbers than an uninterrupted one', logger='current', level=logging.WARNING)
            return
        ranks = saved['ranks']
        rank, world_size = get_rank(), get_world_size()
        if len(ranks) != world_size and world_size > 1:
            print_log(f'RandomStateHook: states of {len(ranks)} rank(s) saved, resuming on {world_size}; rank {rank} '
                      f'restores the states of rank {rank % len(ranks)}', logger='current', level=logging.WARNING)
        set_random_state(ranks[rank % len(ranks)], self._model(runner))
