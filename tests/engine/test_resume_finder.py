"""--resume's choice of checkpoint and the file-naming load errors, on real files (issue 11, items 4 and 10)."""
import os
import pickle

import pytest
import torch

from openmix.utils.checkpoint import CorruptCheckpointError, load_checkpoint_file
from openmix.utils.resume import find_resume_checkpoint, remove_stale_temp_files, write_last_checkpoint


class NotAllowed:
    pass


def _save(path, it, optimizer=True, epoch=1):
    ckpt = dict(meta=dict(epoch=epoch, iter=it), state_dict=dict(w=torch.ones(4)))
    if optimizer:
        ckpt['optimizer'] = dict(state={}, param_groups=[])
    torch.save(ckpt, path)
    return path


def test_furthest_intact_resumable_checkpoint_wins(tmp_path):
    _save(tmp_path / 'epoch_3.pth', 30, epoch=3)
    _save(tmp_path / 'epoch_9.pth', 10, epoch=9)  # the larger name and the newest file, but less far into training
    _save(tmp_path / 'best_accuracy_top1_epoch_4.pth', 40, optimizer=False)  # weights only: not resumable
    cut = _save(tmp_path / 'epoch_4_iter_35.pth', 35, epoch=3)
    os.truncate(cut, cut.stat().st_size // 2)
    write_last_checkpoint(str(tmp_path), str(tmp_path / 'epoch_9.pth'))  # stale
    path, why = find_resume_checkpoint(str(tmp_path))
    assert path == str(tmp_path / 'epoch_3.pth')
    assert 'iteration 30' in why and f'last_checkpoint points at {tmp_path / "epoch_9.pth"} (stale)' in why
    assert 'epoch_4_iter_35.pth: does not load' in why and 'best_accuracy_top1_epoch_4.pth: no optimizer state' in why


def test_ties_go_to_the_pointer_and_nothing_means_scratch(tmp_path):
    assert find_resume_checkpoint(str(tmp_path))[0] is None
    _save(tmp_path / 'epoch_2.pth', 20)
    _save(tmp_path / 'epoch_2_iter_20.pth', 20)
    write_last_checkpoint(str(tmp_path), str(tmp_path / 'epoch_2.pth'))
    assert find_resume_checkpoint(str(tmp_path))[0] == str(tmp_path / 'epoch_2.pth')
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path / 'epoch_2.pth')


def test_only_damaged_checkpoints_refuse_to_start_over(tmp_path):
    (tmp_path / 'epoch_1.pth').write_bytes(b'PK\x03\x04 cut')
    with pytest.raises(RuntimeError, match=r'no intact checkpoint in .* epoch_1\.pth: does not load'):
        find_resume_checkpoint(str(tmp_path))


def test_only_atomic_write_leftovers_are_removed(tmp_path):
    leftover = tmp_path / '.epoch_2.pth.tmp-0123456789ab'
    keep = [tmp_path / '.hidden', tmp_path / 'epoch_2.pth.tmp-0123456789ab', tmp_path / '.x.tmp-short']
    for p in [leftover, *keep]:
        p.write_text('x')
    assert remove_stale_temp_files(str(tmp_path)) == [str(leftover)]
    assert all(p.exists() for p in keep) and not leftover.exists()


def test_load_errors_name_the_file(tmp_path):
    good = _save(tmp_path / 'good.pth', 1)
    assert load_checkpoint_file(good)['meta']['iter'] == 1
    cut = tmp_path / 'cut.pth'
    cut.write_bytes(good.read_bytes()[:100])
    with pytest.raises(CorruptCheckpointError, match=rf'checkpoint {cut} is truncated or corrupt \(100 bytes'):
        load_checkpoint_file(cut)
    evil = tmp_path / 'evil.pth'
    torch.save(dict(x=NotAllowed()), evil)  # a global weights-only loading refuses: still refused, file named
    with pytest.raises(pickle.UnpicklingError, match=f'cannot load checkpoint {evil}: Weights only load failed'):
        load_checkpoint_file(evil)
