"""Two processes with torchrun on CPU (gloo): train, checkpoint, resume; DDP accuracy equals one-process accuracy."""
import json
import socket
from pathlib import Path

import pytest

from .conftest import ROOT, run_cli, tiny_demo_config
from .test_train_cli import read_scalars


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_torchrun_two_processes_train_resume_and_exact_metric(tmp_path, demo_root):
    cfg = tiny_demo_config(tmp_path, demo_root)
    work = tmp_path / 'work'
    torchrun = ['-m', 'torch.distributed.run', '--nproc_per_node=2', '--master_addr=127.0.0.1',
                f'--master_port={free_port()}', str(ROOT / 'tools/train.py'), str(cfg), '--launcher', 'pytorch',
                '--work-dir', str(work)]
    proc = run_cli(torchrun + ['--cfg-options', 'train_cfg.max_epochs=1'], tmp_path, timeout=400)
    assert (work / 'epoch_1.pth').exists()
    assert 'world_size: 2' in proc.stdout + proc.stderr or 'Distributed launcher: pytorch' in proc.stdout + proc.stderr
    torchrun[4] = f'--master_port={free_port()}'
    run_cli(torchrun + ['--resume'], tmp_path, timeout=400)
    assert (work / 'epoch_2.pth').exists()
    rows = [r for r in read_scalars(work) if 'accuracy/top1' in r]
    assert rows[-1]['step'] == 2
    # 33 val images on 2 ranks: the sampler pads one; the metric must drop it and equal the 1-process value
    run_cli([str(ROOT / 'tools/test.py'), str(cfg), str(work / 'epoch_2.pth'), '--work-dir', str(tmp_path / 't')],
            tmp_path)
    single = json.loads((tmp_path / 't' / 'test_metrics.json').read_text())['metrics']
    assert single['accuracy/top1'] == pytest.approx(rows[-1]['accuracy/top1'], abs=1e-6)
