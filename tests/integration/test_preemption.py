"""Preemption: a real SIGTERM at a random step, then ``--resume``, ends bit-identical to the uninterrupted run (CPU).

The signal is sent by the test to the training process (one rank of two under torchrun) once the log shows a chosen
iteration, so it lands wherever that process is by then (a step, its hooks, validation, a checkpoint write).
"""
import os
import random
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import torch

from openmix.engine.preemption import PREEMPTED_EXIT_CODE

from .conftest import EMA_HOOK, ROOT, run_cli, tiny_demo_config
from .test_distributed import free_port
from .test_resume import assert_same

# Observes the run without changing its numbers: slows each step a little (so the signal lands inside the run) and
# counts the training samples the dataset loads in this process (the resumed run must not load skipped ones).
TEST_HOOK = '''
import time
from mmengine.hooks import Hook
from openmix.registry import HOOKS


@HOOKS.register_module(force=True)
class SlowStepsCountLoads(Hook):
    def __init__(self, seconds):
        self.seconds = seconds

    def before_train(self, runner):
        dataset, cls = runner.train_dataloader.dataset, type(runner.train_dataloader.dataset)
        original = cls.__getitem__
        self.loads = 0

        def counting(ds, index):
            if ds is dataset:
                self.loads += 1
            return original(ds, index)

        cls.__getitem__ = counting
        self._undo = lambda: setattr(cls, '__getitem__', original)

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        time.sleep(self.seconds)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        print(f'test: loaded {self.loads}', flush=True)

    def after_train(self, runner):
        self._undo()
'''
LOG_ITER = re.compile(r'Epoch\(train\)\s+\[(\d+)\]\[\s*(\d+)/(\d+)\]')
PREEMPTED = re.compile(r'preempted at epoch (\d+) iteration (\d+)/(\d+) \(SIGTERM, global iteration (\d+)\); '
                       r'checkpoint (\S+); resume with --resume')


def env_for(tmp_path: Path) -> dict:
    return {**os.environ, 'PYTHONPATH': f'{ROOT}:{tmp_path}', 'OMP_NUM_THREADS': '1'}


def child_with_rank(parent: int, rank: int) -> int:
    """The pid of ``parent``'s child process whose environment has ``RANK=rank`` (torchrun's workers)."""
    for pid in (int(p) for p in os.listdir('/proc') if p.isdigit()):
        try:
            stat = Path(f'/proc/{pid}/stat').read_text()
            environ = Path(f'/proc/{pid}/environ').read_bytes().split(b'\0')
        except OSError:
            continue
        ppid = int(stat.rsplit(')', 1)[1].split()[1])
        if ppid == parent and f'RANK={rank}'.encode() in environ:
            return pid
    raise AssertionError(f'no child of {parent} with RANK={rank}')


def run_and_signal(args: list[str], tmp_path: Path, global_iter: int, steps_per_epoch: int, rank: int | None = None):
    """Run ``args``; once the log shows ``global_iter``, SIGTERM the process (or its torchrun worker ``rank``)."""
    proc = subprocess.Popen([sys.executable, *args], cwd=tmp_path, env=env_for(tmp_path), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL)
    watchdog = threading.Timer(240, proc.kill)
    watchdog.start()
    lines, sent = [], False
    try:
        for line in proc.stdout:
            lines.append(line)
            m = LOG_ITER.search(line)
            if not sent and m and (int(m[1]) - 1) * steps_per_epoch + int(m[2]) == global_iter:
                target = proc.pid if rank is None else child_with_rank(proc.pid, rank)
                os.kill(target, signal.SIGTERM)
                sent = True
        rc = proc.wait()
    finally:
        watchdog.cancel()
    out = ''.join(lines)
    assert sent, f'the log never showed global iteration {global_iter}:\n{out[-4000:]}'
    return rc, out


def check_preemption_checkpoint(out: str, work: Path, steps_per_epoch: int, sent_at: int) -> tuple[int, int]:
    """The log line, the file, its meta and ``last_checkpoint`` agree; returns (epoch being trained, iteration)."""
    found = PREEMPTED.findall(out)
    assert len(found) == 1, out[-4000:]  # rank 0 only
    epoch, epoch_iter, length, global_iter, path = found[0]
    epoch, epoch_iter, length, global_iter = int(epoch), int(epoch_iter), int(length), int(global_iter)
    assert length == steps_per_epoch and global_iter == (epoch - 1) * steps_per_epoch + epoch_iter
    assert global_iter >= sent_at  # the step running when the signal came is finished, not cut
    assert Path(path) == work / f'epoch_{epoch}_iter_{global_iter}.pth' and Path(path).is_file()
    assert (work / 'last_checkpoint').read_text().strip() == path
    meta = torch.load(path, map_location='cpu', weights_only=True)['meta']
    assert (meta['epoch'], meta['iter'], meta['train_position']['epoch_iter']) == (epoch - 1, global_iter, epoch_iter)
    return epoch, global_iter


def assert_same_final(straight: Path, resumed: Path) -> None:
    a, b = (torch.load(w / 'epoch_2.pth', map_location='cpu', weights_only=True) for w in (straight, resumed))
    for key in ('state_dict', 'ema_state_dict', 'optimizer', 'param_schedulers'):
        assert_same(a[key], b[key], key)
    assert a['meta']['iter'] == b['meta']['iter']


def slow_config(tmp_path: Path, demo_root: Path) -> tuple[Path, Path, Path]:
    """The tiny demo config with slowed steps that count image loads, and the straight/preempted work dirs."""
    (tmp_path / 'preempt_test_hook.py').write_text(TEST_HOOK)
    hooks = [EMA_HOOK, dict(type='SlowStepsCountLoads', seconds=0.2)]
    cfg = tiny_demo_config(tmp_path, demo_root, custom_imports=dict(imports=['preempt_test_hook']), custom_hooks=hooks)
    return cfg, tmp_path / 'straight', tmp_path / 'work'


def test_sigterm_mid_epoch_then_resume_is_bit_identical(tmp_path, demo_root):
    cfg, straight, work = slow_config(tmp_path, demo_root)

    def train(work_dir: Path, *extra: str) -> list[str]:
        return [str(ROOT / 'tools/train.py'), str(cfg), '--work-dir', str(work_dir), '--deterministic', *extra,
                '--cfg-options', 'default_hooks.logger.interval=1']

    run_cli(train(straight), tmp_path, PYTHONPATH=f'{ROOT}:{tmp_path}')
    steps = 6  # 88 images, batch 16
    # any step of either epoch but the last two; PREEMPT_AT=<iteration> replays a failure
    sent_at = int(os.environ.get('PREEMPT_AT') or random.randint(1, 2 * steps - 2))
    rc, out = run_and_signal(train(work), tmp_path, sent_at, steps)
    assert rc == PREEMPTED_EXIT_CODE, f'signal after iteration {sent_at}: exit {rc}\n{out[-4000:]}'
    epoch, global_iter = check_preemption_checkpoint(out, work, steps, sent_at)
    loaded_before = int(re.findall(r'test: loaded (\d+)', out)[-1])
    assert not (work / 'epoch_2.pth').exists()
    resumed = run_cli(train(work, '--resume'), tmp_path, PYTHONPATH=f'{ROOT}:{tmp_path}')
    epoch_iter = global_iter - (epoch - 1) * steps
    if epoch_iter:
        assert f'resuming epoch {epoch} at iteration {epoch_iter}/{steps}' in resumed.stdout, resumed.stdout[-3000:]
    # every training image of the 2 epochs is loaded once over both runs: the skipped batches were not read again
    assert loaded_before + int(re.findall(r'test: loaded (\d+)', resumed.stdout)[-1]) == 2 * 88
    assert_same_final(straight, work)
    # the preemption checkpoint is removed once a later checkpoint supersedes it
    assert not (work / f'epoch_{epoch}_iter_{global_iter}.pth').exists()


def test_sigterm_to_one_rank_of_two_stops_both_then_resume_is_bit_identical(tmp_path, demo_root):
    cfg, straight, work = slow_config(tmp_path, demo_root)

    def torchrun(work_dir: Path, *extra: str) -> list[str]:
        return ['-m', 'torch.distributed.run', '--nproc_per_node=2', '--master_addr=127.0.0.1',
                f'--master_port={free_port()}', str(ROOT / 'tools/train.py'), str(cfg), '--launcher', 'pytorch',
                '--work-dir', str(work_dir), '--deterministic', *extra, '--cfg-options', 'default_hooks.logger.interval=1']

    run_cli(torchrun(straight), tmp_path, timeout=400, PYTHONPATH=f'{ROOT}:{tmp_path}')
    steps = 3  # 44 images per rank, batch 16
    sent_at = int(os.environ.get('PREEMPT_AT') or random.randint(1, 2 * steps - 2))
    # only rank 1 gets the signal: the ranks agree at the step boundary and both stop after the same step
    rc, out = run_and_signal(torchrun(work), tmp_path, sent_at, steps, rank=1)
    assert rc != 0 and out.count(f'exitcode  : {PREEMPTED_EXIT_CODE}') + out.count(
        f'exitcode: {PREEMPTED_EXIT_CODE}') >= 1, f'signal after iteration {sent_at}: exit {rc}\n{out[-4000:]}'
    check_preemption_checkpoint(out, work, steps, sent_at)
    run_cli(torchrun(work, '--resume'), tmp_path, timeout=400, PYTHONPATH=f'{ROOT}:{tmp_path}')
    assert_same_final(straight, work)
