"""tools/train.py with lr=1e6 on the tiny demo (issue 11, items 1-2): steps with a finite loss and NaN gradients are
never applied; 'stop' exits non-zero naming the iteration as the log shows it; 'skip' keeps the weights and EMA finite,
reports its skips, and exits non-zero when nothing more could be trained."""
import glob
import os
import re
import subprocess
import sys

import torch

from .conftest import ROOT, tiny_demo_config


def train(tmp_path, demo_root, mode):
    cfg = tiny_demo_config(tmp_path, demo_root)
    args = [str(ROOT / 'tools' / 'train.py'), str(cfg), '--work-dir', str(tmp_path / 'wd'), '--cfg-options',
            'optim_wrapper.optimizer.lr=1e6', 'train_cfg.max_epochs=1', f'optim_wrapper.nonfinite={mode!r}']
    env = {**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1'}
    proc = subprocess.run([sys.executable, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL)
    return proc, proc.stdout + proc.stderr


def nonfinite_tensors(path):
    ckpt = torch.load(path, map_location='cpu', weights_only=False)
    return {key: [k for k, v in ckpt[key].items() if v.is_floating_point() and not torch.isfinite(v).all()]
            for key in ('state_dict', 'ema_state_dict')}


def test_stop_exits_nonzero_naming_the_iteration_the_log_shows(tmp_path, demo_root):
    proc, out = train(tmp_path, demo_root, 'stop')
    assert proc.returncode != 0, out[-3000:]
    m = re.search(r'FloatingPointError: non-finite (?:loss|gradients \(finite loss\)) at epoch (\d+), iteration '
                  r'(\d+)/(\d+) \(global (\d+)\).*not applied', out)
    assert m, out[-3000:]
    epoch, it, n, glob_it = map(int, m.groups())
    # the same iteration in the log's own terms: [epoch][it/n], n = iterations per epoch of the log lines
    assert re.search(rf'Epoch\(train\) +\[{epoch}\]\[ *\d+/{n}\]', out), out[-3000:]
    assert glob_it == (epoch - 1) * n + it
    assert 'Training finished' not in out and not glob.glob(str(tmp_path / 'wd' / '*.pth'))


def test_skip_keeps_weights_and_ema_finite_and_reports_skips(tmp_path, demo_root):
    proc, out = train(tmp_path, demo_root, 'skip')
    skipped = [int(n) for n in re.findall(r'optimizer step\(s\) skipped up to .*?, (\d+) in this run', out)]
    assert skipped and skipped == sorted(skipped), out[-3000:]
    # every step after the first bad one is non-finite at this lr: the run ends non-zero instead of 'finishing'
    assert proc.returncode != 0 and 'RuntimeError: training is stuck' in out, out[-3000:]
    assert 'Training finished' not in out
    ckpts = glob.glob(str(tmp_path / 'wd' / 'epoch_*.pth'))
    assert ckpts, out[-3000:]
    assert nonfinite_tensors(ckpts[0]) == {'state_dict': [], 'ema_state_dict': []}
