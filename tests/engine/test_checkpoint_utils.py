"""Weights-only loading of mmengine checkpoints (exact allow-list) and atomic checkpoint writes."""
import os
import pickle
import uuid

import numpy as np
import pytest
import torch
from mmengine.evaluator import BaseMetric
from mmengine.fileio import get_file_backend
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.runner import Runner
from mmengine.runner.checkpoint import save_checkpoint
from torch import nn
from torch.utils.data import Dataset

from openmix.utils.checkpoint import (AtomicLocalBackend, allow_mmengine_checkpoint_globals,
                                      mmengine_checkpoint_globals, register_atomic_local_backend)


class ToyModel(BaseModel):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.bn = nn.BatchNorm1d(3)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.bn(self.fc(inputs))
        if mode == 'loss':
            return dict(loss=nn.functional.cross_entropy(out, data_samples))
        if mode == 'predict':
            return [dict(scores=out, gt_label=data_samples)]
        return out


class ToyData(Dataset):
    def __len__(self):
        return 16

    def __getitem__(self, i):
        return dict(inputs=torch.randn(4, generator=torch.Generator().manual_seed(i)), data_samples=i % 3)


class MeanScore(BaseMetric):
    def process(self, data_batch, data_samples):
        self.results.append(float(data_samples[0]['scores'].mean()))

    def compute_metrics(self, results):
        return dict(score=float(np.mean(results)))


def make_runner(work_dir, max_epochs, resume=False):
    loader = dict(dataset=ToyData(), batch_size=4, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=True),
                  collate_fn=dict(type='default_collate'))
    return Runner(model=ToyModel(), work_dir=str(work_dir), train_dataloader=loader, val_dataloader=loader,
                  val_evaluator=dict(type=MeanScore), train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
                  val_cfg=dict(), optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-3)),
                  param_scheduler=[dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=3,
                                        convert_to_iter_based=True)],
                  default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1, save_best='score',
                                                     rule='greater')),
                  randomness=dict(seed=0), resume=resume, default_scope='openmix',
                  experiment_name=f'ckpt_{uuid.uuid4().hex[:8]}')


@pytest.fixture(scope='module')
def runner_checkpoint(tmp_path_factory):
    work = tmp_path_factory.mktemp('ckpt_runner')
    make_runner(work, max_epochs=1).train()
    return work


def test_exact_globals_of_an_mmengine_checkpoint(runner_checkpoint):
    path = str(runner_checkpoint / 'epoch_1.pth')
    previous = torch.serialization.get_safe_globals()
    try:
        torch.serialization.clear_safe_globals()
        unsafe = set(torch.serialization.get_unsafe_globals_in_checkpoint(path))
        # what torch's default allow-list misses in a real runner checkpoint (MessageHub history, eta scalar)
        assert unsafe == {'mmengine.logging.history_buffer.HistoryBuffer', 'numpy._core.multiarray._reconstruct',
                          'numpy._core.multiarray.scalar', 'numpy.ndarray', 'numpy.dtype', 'builtins.getattr'}
        with pytest.raises(pickle.UnpicklingError):
            torch.load(path, weights_only=True)
        allow_mmengine_checkpoint_globals()
        allow_mmengine_checkpoint_globals()  # idempotent
        assert torch.serialization.get_unsafe_globals_in_checkpoint(path) == []
        ckpt = torch.load(path, weights_only=True)
    finally:
        torch.serialization.clear_safe_globals()
        torch.serialization.add_safe_globals(previous)
    history = ckpt['message_hub']['log_scalars']['train/loss']
    assert isinstance(history, HistoryBuffer) and history.data[0].dtype == np.float64
    assert history.data[1].dtype == np.int64 and history.data[1].tolist() == [1, 1, 1, 1]
    assert len(history.data[0]) == 4  # 16 samples / batch 4, one loss per iteration
    assert ckpt['meta']['epoch'] == 1
    names = {g[1] if isinstance(g, tuple) else f'{g.__module__}.{g.__qualname__}'
             for g in mmengine_checkpoint_globals()}
    # plus the dtype classes BUILD needs (float64 values, int64 counts) and NumPy 1.x names of the same functions
    assert names == unsafe | {'numpy.dtypes.Float64DType', 'numpy.dtypes.Int64DType',
                              'numpy.core.multiarray._reconstruct', 'numpy.core.multiarray.scalar'}


def test_runner_resumes_weights_only(runner_checkpoint):
    runner = make_runner(runner_checkpoint, max_epochs=2, resume=True)
    runner.train()
    assert runner.iter == 8 and runner.epoch == 2
    assert (runner_checkpoint / 'epoch_2.pth').exists()
    # the resumed message hub carries the first epoch's losses
    assert len(runner.message_hub.get_scalar('train/loss').data[0]) == 8


class Payload:
    def __init__(self):
        self.x = 1


class GetattrExploit:
    """Pickles as getattr(numpy.ndarray, 'tofile'): the getattr form is allowed, this target is not."""

    def __reduce__(self):
        return getattr, (np.ndarray, 'tofile')


class HistoryMethod:
    def __reduce__(self):
        return getattr, (HistoryBuffer, 'mean')


@pytest.mark.parametrize('payload', [Payload(), os.system, GetattrExploit(), np.dtype('int32')])
def test_other_objects_still_fail_to_load(tmp_path, payload):
    path = tmp_path / 'evil.pth'
    torch.save(dict(state_dict={'w': torch.ones(2)}, extra=payload), path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)


def test_getattr_only_resolves_history_buffer_statistics(tmp_path):
    path = tmp_path / 'ok.pth'
    torch.save(dict(m=HistoryMethod()), path)
    assert torch.load(path, weights_only=True)['m'] is HistoryBuffer.mean


def test_save_checkpoint_goes_through_atomic_backend(tmp_path, monkeypatch):
    register_atomic_local_backend()
    register_atomic_local_backend()  # idempotent
    assert type(get_file_backend(str(tmp_path / 'a.pth'))) is AtomicLocalBackend
    assert type(get_file_backend(str(tmp_path), enable_singleton=True)) is AtomicLocalBackend
    assert type(get_file_backend(backend_args=dict(backend='local'))) is AtomicLocalBackend
    replaced = []
    real_replace = os.replace

    def spy(src, dst):
        replaced.append((os.path.basename(src), os.path.basename(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, 'replace', spy)
    path = tmp_path / 'epoch_1.pth'
    save_checkpoint({'w': torch.arange(3.0)}, str(path))
    assert len(replaced) == 1 and replaced[0][1] == 'epoch_1.pth' and replaced[0][0].startswith('.epoch_1.pth.tmp-')
    assert torch.equal(torch.load(path, weights_only=True)['w'], torch.arange(3.0))
    assert sorted(p.name for p in tmp_path.iterdir()) == ['epoch_1.pth']


@pytest.mark.parametrize('fail_at', ['fsync', 'replace'])
def test_failed_write_keeps_the_old_file_and_no_temporary(tmp_path, monkeypatch, fail_at):
    path = tmp_path / 'epoch_1.pth'
    save_checkpoint({'w': torch.zeros(2)}, str(path))
    old = path.read_bytes()

    def boom(*args):
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(os, fail_at, boom)
    with pytest.raises(OSError, match='No space left'):
        save_checkpoint({'w': torch.ones(1000)}, str(path))
    monkeypatch.undo()
    assert path.read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ['epoch_1.pth']


def test_put_text_atomic_and_file_mode_like_open(tmp_path):
    backend = AtomicLocalBackend()
    backend.put_text('héllo\n', tmp_path / 'sub' / 'a.txt')
    assert (tmp_path / 'sub' / 'a.txt').read_text(encoding='utf-8') == 'héllo\n'
    with open(tmp_path / 'ref.txt', 'w') as f:
        f.write('x')
    assert os.stat(tmp_path / 'sub' / 'a.txt').st_mode == os.stat(tmp_path / 'ref.txt').st_mode
