"""Checkpoints survive kills and bad files (issue 11, items 3, 4, 10): real runs, real SIGKILLs, real truncated files.

The kill points are chosen with ``pause_before_replace.py``: the child pauses just before a chosen file is renamed into
place (its content complete under the temporary name), and the test sends SIGKILL from outside.
"""
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import ROOT, run_cli, tiny_demo_config

PAUSE = str(Path(__file__).with_name('pause_before_replace.py'))
TRAIN = str(ROOT / 'tools' / 'train.py')


def _env() -> dict:
    return {**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1'}


def _kill_before_replace(cfg: Path, work: Path, pattern: str, nth: int, tmp_path: Path) -> str:
    """Train until just before the ``nth`` rename onto a file matching ``pattern``, then SIGKILL; the destination."""
    marker = tmp_path / f'paused_{pattern.strip("*_")}'
    proc = subprocess.Popen([sys.executable, PAUSE, pattern, str(nth), str(marker), TRAIN, str(cfg), '--work-dir',
                             str(work)], cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, text=True)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            if proc.poll() is not None:
                pytest.fail(f'run ended ({proc.returncode}) before the chosen moment:\n{proc.stdout.read()[-4000:]}')
            assert time.monotonic() < deadline, 'the chosen moment never came'
            time.sleep(0.05)
        time.sleep(0.1)  # let the marker's writer reach its sleep
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
    return marker.read_text()


def _temp_files(work: Path) -> list:
    return sorted(p.name for p in work.iterdir() if '.tmp-' in p.name)


def _loads(path: Path) -> bool:
    from openmix.utils.checkpoint import load_checkpoint_file
    from openmix.utils.setup_env import register_all_modules
    register_all_modules()
    return 'state_dict' in load_checkpoint_file(path)


def test_kill_while_new_best_is_written_keeps_the_previous_best(tmp_path, demo_root):
    """Item 3: SIGKILL as the epoch-2 best is put in place; the epoch-1 best survives, resume and summary agree."""
    cfg = tiny_demo_config(tmp_path, demo_root)
    work = tmp_path / 'work'
    dst = _kill_before_replace(cfg, work, 'best_*', 2, tmp_path)
    assert Path(dst).name == 'best_accuracy_top1_epoch_2.pth'
    # mmengine's CheckpointHook had removed best_..._epoch_1.pth by now; SafeCheckpointHook removes it only afterwards
    assert _loads(work / 'best_accuracy_top1_epoch_1.pth')
    assert _temp_files(work) == [next(n for n in _temp_files(work) if n.startswith('.best_accuracy_top1_epoch_2'))]

    out = run_cli([TRAIN, str(cfg), '--work-dir', str(work), '--resume', '--cfg-options', 'train_cfg.max_epochs=3'],
                  cwd=tmp_path).stdout
    assert _temp_files(work) == []  # the killed write's leftover is removed on start
    summary = out[out.index('Training finished.'):]
    best_lines = [ln.split(None, 1)[1] for ln in summary.splitlines() if ln.startswith('best:')]
    assert best_lines and all(Path(p).is_file() for p in best_lines), summary
    checkpoint = next(ln.split(None, 1)[1] for ln in summary.splitlines() if ln.startswith('checkpoint:'))
    assert checkpoint == str(work / 'epoch_3.pth') and Path(checkpoint).is_file()
    assert len(list(work.glob('best_*.pth'))) == 1  # the previous best is removed once the new one is in place


def test_resume_finds_newest_intact_checkpoint_without_pointer(tmp_path, demo_root):
    """Item 4: SIGKILL after epoch_1.pth but before last_checkpoint; then a stale pointer and a truncated newest file."""
    cfg = tiny_demo_config(tmp_path, demo_root)
    work = tmp_path / 'work'
    _kill_before_replace(cfg, work, 'last_checkpoint', 1, tmp_path)
    assert (work / 'epoch_1.pth').is_file() and not (work / 'last_checkpoint').exists()
    assert [n for n in _temp_files(work) if n.startswith('.last_checkpoint.tmp-')]

    out = run_cli([TRAIN, str(cfg), '--work-dir', str(work), '--resume'], cwd=tmp_path).stdout
    assert f'--resume: resuming from {work / "epoch_1.pth"}' in out and 'no last_checkpoint pointer' in out
    assert 'resumed epoch: 1, iter: 6' in out and 'Did not find last_checkpoint' not in out
    assert _temp_files(work) == []
    assert (work / 'last_checkpoint').read_text() == str(work / 'epoch_2.pth')

    # a pointer at a file that is gone, and the newest checkpoint cut in half (a copy gone wrong)
    (work / 'last_checkpoint').write_text(str(work / 'epoch_9.pth'))
    newest = work / 'epoch_2.pth'
    os.truncate(newest, newest.stat().st_size // 2)
    out = run_cli([TRAIN, str(cfg), '--work-dir', str(work), '--resume', '--cfg-options', 'train_cfg.max_epochs=3'],
                  cwd=tmp_path).stdout
    assert f'--resume: resuming from {work / "epoch_1.pth"}' in out
    assert f'last_checkpoint points at {work / "epoch_9.pth"}, which does not exist' in out
    assert 'epoch_2.pth: does not load' in out and 'truncated or corrupt' in out
    assert 'resumed epoch: 1, iter: 6' in out
    assert _loads(work / 'epoch_2.pth') and _loads(work / 'epoch_3.pth')  # retrained, written whole


def test_truncated_checkpoint_is_named(tmp_path, demo_root):
    """Item 10: loading a truncated file (tools/test.py, --resume PATH) names the file and says it is truncated."""
    cfg = tiny_demo_config(tmp_path, demo_root, train_cfg=dict(max_epochs=1, val_interval=1))
    work = tmp_path / 'work'
    run_cli([TRAIN, str(cfg), '--work-dir', str(work)], cwd=tmp_path)
    bad = tmp_path / 'cut.pth'
    data = (work / 'epoch_1.pth').read_bytes()
    bad.write_bytes(data[:len(data) // 3])
    for args in ([str(ROOT / 'tools' / 'test.py'), str(cfg), str(bad)],
                 [TRAIN, str(cfg), '--work-dir', str(tmp_path / 'w2'), '--resume', str(bad)]):
        proc = subprocess.run([sys.executable, *args], cwd=tmp_path, env=_env(), capture_output=True, text=True,
                              timeout=120, stdin=subprocess.DEVNULL)
        assert proc.returncode != 0
        assert f'CorruptCheckpointError: checkpoint {bad} is truncated or corrupt ({bad.stat().st_size} bytes' \
               in proc.stderr, proc.stderr[-3000:]


def test_full_disk_names_the_file(tmp_path, demo_root):
    """Item 10: a write that runs out of room (RLIMIT_FSIZE: EFBIG, as ENOSPC) names the file and the free space."""
    cfg = tiny_demo_config(tmp_path, demo_root, train_cfg=dict(max_epochs=1, val_interval=1))
    work = tmp_path / 'work'

    def limit():  # checkpoints are ~1 MB; logs, the event file and the demo images stay far below 256 KiB
        resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, 256 * 1024))

    proc = subprocess.run([sys.executable, TRAIN, str(cfg), '--work-dir', str(work)], cwd=tmp_path, env=_env(),
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, preexec_fn=limit)
    assert proc.returncode != 0
    expected = f'OSError: [Errno 27] cannot write {work / "epoch_1.pth"}: the file size limit (ulimit -f) was reached ('
    assert expected in proc.stderr, proc.stderr[-3000:]
    assert 'MiB free in' in proc.stderr
    assert not (work / 'epoch_1.pth').exists() and _temp_files(work) == []
