"""benchmarks/tables.py reads finished runs and applies each table's reporting convention."""
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'benchmarks'))

import tables  # noqa: E402


def _run(work: Path, raw: list[float], ema: list[float], split_at: int | None = None) -> None:
    """scalars.json as mmengine writes it; optionally split over two run folders (a resume)."""
    folders = [(work / '20260101_000000', range(0, split_at or len(raw)))]
    if split_at:
        folders.append((work / '20260102_000000', range(split_at, len(raw))))
    for folder, epochs in folders:
        (folder / 'vis_data').mkdir(parents=True)
        lines = [json.dumps({'lr': 0.1, 'step': 7})]  # a train row, ignored
        lines += [json.dumps({'accuracy/top1': raw[i], 'ema/accuracy/top1': ema[i], 'step': i + 1}) for i in epochs]
        (folder / 'vis_data' / 'scalars.json').write_text('\n'.join(lines) + '\n')


def test_conventions_and_differences(tmp_path, capsys):
    _run(tmp_path / 'deit_s_transmix', raw=[70.0, 80.0, 79.0], ema=[69.0, 79.5, 80.9], split_at=2)
    _run(tmp_path / 'deit_s_baseline', raw=[60.0, 79.9, 79.1], ema=[60.0, 70.0, 71.0])
    text = tables.main([str(tmp_path / 'deit_s_transmix'), str(tmp_path / 'deit_s_baseline'),
                        '--table', 'transmix_table1', '--table', 'openmixup_imagenet_vit'])
    # TransMix Table 1 reports the EMA model: 80.9 vs 80.7; OpenMixup reports the best raw epoch: 80.0 vs 80.68
    assert '| DeiT-S + TransMix | `deit_s_transmix` | 3 | 80.90 | 80.70 | +0.20 |' in text
    assert '| DeiT-S | `deit_s_baseline` | 3 | 71.00 | 79.80 | -8.80 |' in text
    assert '| DeiT-S, TransMix | `deit_s_transmix` | 3 | 80.00 | 80.68 | -0.68 |' in text
    assert '| DeiT-T | `deit_t_baseline` | - | - | 72.20 [UNVERIFIED] | - |' in text


def test_median_of_last_k():
    epochs = [{'accuracy/top1': v} for v in (1, 9, 5, 7, 3, 8)]
    assert tables.summarise(epochs, 'median_last_k', 3) == 7
    assert tables.summarise(epochs, 'best', None) == 9
    assert tables.summarise([], 'best', None) is None
    with pytest.raises(SystemExit, match='not a work dir'):
        tables.main(['/nonexistent/dir'])
