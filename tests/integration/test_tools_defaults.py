"""What the tools do by default (issue 11, items 11 and 12): the skipped-image report numbers epochs as the log does,
``visualize_mix.py`` shows a TransMix config's CutMix batch with its TransMix label, ``test.py`` leaves no log folder
in the training work dir. Real runs on the tiny demo with a real unreadable image."""
import re
from pathlib import Path

import pytest

from openmix.datasets.demo import generate_demo_dataset

from .conftest import ROOT, run_cli, tiny_demo_config


@pytest.fixture(scope='module')
def skipped_run(tmp_path_factory):
    """One epoch of the tiny demo with one train image made unreadable and ``skip_corrupt=True``."""
    tmp = tmp_path_factory.mktemp('skip')
    data = tmp / 'data'
    generate_demo_dataset(data, num_classes=11, train_per_class=8, val_per_class=3, image_size=32, seed=0)
    bad = sorted((data / 'train').rglob('*.JPEG'))[5]
    bad.write_bytes(b'\xff\xd8\xff\xe0 not a jpeg any more')
    cfg = tiny_demo_config(tmp, data, train_cfg=dict(max_epochs=1, val_interval=1))
    work = tmp / 'work'
    out = run_cli([str(ROOT / 'tools' / 'train.py'), str(cfg), '--work-dir', str(work), '--cfg-options',
                   'train_dataloader.dataset.skip_corrupt=True'], cwd=tmp).stdout
    return tmp, cfg, work, out


def test_skipped_images_report_uses_the_logged_epoch(skipped_run):
    _, _, _, out = skipped_run
    assert re.search(r'Epoch\(train\)\s+\[1\]', out) and not re.search(r'Epoch\(train\)\s+\[0\]', out)
    assert 'epoch 1: skipped 1 unreadable image(s)' in out, out[-3000:]
    assert 'epoch 0:' not in out


def test_test_tool_leaves_no_log_folder_in_the_training_work_dir(skipped_run):
    tmp, cfg, work, _ = skipped_run
    before = {p.name for p in work.iterdir()}
    out = run_cli([str(ROOT / 'tools' / 'test.py'), str(cfg), str(work / 'epoch_1.pth'), '--cfg-options',
                   f'work_dir={str(work)!r}'], cwd=tmp).stdout
    assert f'metrics saved to {work / "test_metrics.json"}' in out
    assert {p.name for p in work.iterdir()} - before == {'test_metrics.json'}


def test_visualize_mix_shows_the_transmix_batch_by_default(tmp_path, demo_root):
    cfg = tiny_demo_config(tmp_path, demo_root)
    out = run_cli([str(ROOT / 'tools' / 'visualize_mix.py'), str(cfg), '--num', '3', '--out', str(tmp_path / 'm.png')],
                  cwd=tmp_path).stdout
    assert 'showing the CutMix member' in out and '--method Mixup' in out
    rows = [ln for ln in out.splitlines() if ln.startswith('row ')]
    assert len(rows) == 3 and all(re.search(r'cutmix: lam\(A\) area [\d.]+  TransMix [\d.]+', r) for r in rows), out
    assert (tmp_path / 'm.png').stat().st_size > 0
    # --method still wins: a Mixup batch, no TransMix value (attention labels apply to box batches only)
    out = run_cli([str(ROOT / 'tools' / 'visualize_mix.py'), str(cfg), '--num', '2', '--method', 'Mixup', '--out',
                   str(tmp_path / 'u.png')], cwd=tmp_path).stdout
    assert 'showing the CutMix member' not in out and 'TransMix' not in out.split('row 0:')[1]
