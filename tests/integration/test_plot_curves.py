"""tools/plot_curves.py on hand-written scalars.json files: a PNG of two runs, resumed launches merged, errors."""
import json
from pathlib import Path

import pytest

from .conftest import ROOT, run_cli


def write_run(work_dir: Path, stamp: str, epochs: range, ema: bool = True, loss_offset: float = 0.0) -> None:
    """Rows as mmengine's LocalVisBackend writes them for an epoch-based run with EMAValLoop (4 iterations/epoch)."""
    rows = []
    for epoch in epochs:
        for it in (2, 4):
            step = (epoch - 1) * 4 + it
            rows.append(dict(base_lr=1e-3, lr=1e-3 / step, loss=2.3 / step + loss_offset, time=0.1, data_time=0.01,
                             epoch=epoch, iter=step, step=step))
        val = {'accuracy/top1': 10.0 * epoch, 'accuracy/top5': 30.0 + epoch, 'data_time': 0.01, 'time': 0.1,
               'step': epoch}
        if ema:
            val['ema/accuracy/top1'] = 9.0 * epoch
        rows.append(val)
    path = work_dir / stamp / 'vis_data' / 'scalars.json'
    path.parent.mkdir(parents=True)
    path.write_text('\n'.join(json.dumps(r) for r in rows) + '\n')


def test_two_runs_into_one_png(tmp_path):
    pytest.importorskip('matplotlib')
    write_run(tmp_path / 'cutmix', '20250101_000000', range(1, 4))
    write_run(tmp_path / 'vanilla', '20250101_000000', range(1, 4), ema=False)
    out = tmp_path / 'plots' / 'curves.png'
    proc = run_cli([str(ROOT / 'tools/plot_curves.py'), str(tmp_path / 'cutmix'), str(tmp_path / 'vanilla'),
                    '--out', str(out)], cwd=tmp_path)
    assert f'curves saved to {out}' in proc.stdout
    data = out.read_bytes()
    assert data[:8] == b'\x89PNG\r\n\x1a\n' and len(data) > 5000
    from PIL import Image
    with Image.open(out) as img:
        img.verify()


def test_resumed_launches_are_merged_later_wins(tmp_path):
    from tools.plot_curves import KEY_ALIASES, read_run
    write_run(tmp_path / 'run', '20250101_000000', range(1, 3))
    write_run(tmp_path / 'run', '20250102_000000', range(2, 4), loss_offset=1.0)  # resumed after epoch 1
    run = read_run(tmp_path / 'run')
    assert sorted(run.series[KEY_ALIASES['top1']]) == [1, 2, 3]
    assert run.series['loss'][2] == pytest.approx(2.3 / 2)  # epoch 1 from the first launch
    assert run.series['loss'][6] == pytest.approx(2.3 / 6 + 1.0)  # epoch 2 from the second
    assert 'loss' in run.iter_keys and 'accuracy/top1' not in run.iter_keys and run.epoch_based


def test_missing_dir_and_unknown_key_are_named(tmp_path, capsys):
    pytest.importorskip('matplotlib')
    from tools.plot_curves import main
    write_run(tmp_path / 'run', '20250101_000000', range(1, 2))
    missing = tmp_path / 'no_such_run'
    assert main([str(tmp_path / 'run'), str(missing), '--out', str(tmp_path / 'c.png')]) == 2
    assert f'{missing}: no such work dir' in capsys.readouterr().err
    empty = tmp_path / 'empty'
    empty.mkdir()
    assert main([str(empty), '--out', str(tmp_path / 'c.png')]) == 2
    assert f'{empty}: no scalars.json' in capsys.readouterr().err
    assert main([str(tmp_path / 'run'), '--keys', 'loss', 'top9', '--out', str(tmp_path / 'c.png')]) == 2
    err = capsys.readouterr().err
    assert "'top9'" in err and 'accuracy/top5' in err  # names the key and lists the logged ones
    assert main([str(tmp_path / 'run'), '--labels', 'a', 'b', '--out', str(tmp_path / 'c.png')]) == 2
    assert not (tmp_path / 'c.png').exists()
