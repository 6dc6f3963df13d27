"""Training curves of one or several runs in one PNG: ``python tools/plot_curves.py WORK_DIR... [--out curves.png]``.

Reads the scalars mmengine's ``LocalVisBackend`` writes (``WORK_DIR/<timestamp>/vis_data/scalars.json``, one JSON
object per line): training rows every ``logger.interval`` iterations (``loss``, ``lr``, ``grad_norm``, ... with
``step`` = iteration) and one validation row per evaluation (``accuracy/top1``, ``ema/accuracy/top1`` from
``EMAValLoop``, with ``step`` = epoch in epoch-based runs). A work dir launched several times (resumed) has one
timestamp folder per launch; they are read in order and a later launch's value of a step replaces an earlier one.

Examples:
    python tools/plot_curves.py work_dirs/demo work_dirs/demo_cutmix --out curves.png
    python tools/plot_curves.py work_dirs/a work_dirs/b --labels TransMix CutMix --keys loss top1 grad_norm
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

#: short names for the keys openmix logs; any other key is used as it is
KEY_ALIASES = {'top1': 'accuracy/top1', 'top5': 'accuracy/top5', 'ema_top1': 'ema/accuracy/top1',
               'ema_top5': 'ema/accuracy/top5', 'ece': 'calibration/ece'}
DEFAULT_KEYS = ('loss', 'lr', 'top1', 'ema_top1')
TITLES = {'loss': 'training loss', 'lr': 'learning rate', 'accuracy/top1': 'top-1 (%)',
          'ema/accuracy/top1': 'EMA top-1 (%)', 'accuracy/top5': 'top-5 (%)', 'ema/accuracy/top5': 'EMA top-5 (%)'}
PLOT_HINT = 'matplotlib is needed for plots: pip install openmix[plot] (or pip install matplotlib)'


def scalar_files(path: Path) -> list[Path]:
    """The scalars.json files of a work dir (one per launch, oldest first), a timestamp folder, or the file itself."""
    if not path.exists():
        raise FileNotFoundError(f'{path}: no such work dir')
    if path.is_file():
        return [path]
    for pattern in ('scalars.json', 'vis_data/scalars.json', '*/vis_data/scalars.json'):
        files = sorted(path.glob(pattern))
        if files:
            return files
    raise FileNotFoundError(f'{path}: no scalars.json in it (expected {path}/<timestamp>/vis_data/scalars.json, '
                            'written by mmengine\'s LocalVisBackend)')


@dataclass
class Run:
    """The scalars of one run: ``series[key][step] = value``; ``iter_keys`` are logged per training iteration."""
    series: dict[str, dict[int, float]] = field(default_factory=dict)
    iter_keys: set[str] = field(default_factory=set)
    epoch_based: bool = False


def read_run(path: Path) -> Run:
    """The scalars of the run in ``path``; a later launch's value of a step replaces an earlier one."""
    run = Run()
    for file in scalar_files(path):
        for n, line in enumerate(file.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f'{file}, line {n}: not JSON ({e.msg})') from None
            step = row.get('step')
            if step is None:
                continue
            run.epoch_based |= 'epoch' in row
            for key, value in row.items():
                if key in ('step', 'iter', 'epoch') or not isinstance(value, (int, float)):
                    continue
                run.series.setdefault(key, {})[int(step)] = float(value)
                if 'iter' in row:
                    run.iter_keys.add(key)
    return run


def run_labels(paths: list[Path], labels: list[str] | None) -> list[str]:
    if labels is not None:
        if len(labels) != len(paths):
            raise ValueError(f'--labels gives {len(labels)} names for {len(paths)} work dirs')
        return labels
    names = [p.name if p.is_dir() else p.parent.name for p in (q.resolve() for q in paths)]
    if len(set(names)) < len(names):  # same folder names: add the parent
        names = [f'{p.resolve().parent.name}/{name}' for p, name in zip(paths, names)]
    return names


def plot_curves(paths: list[Path], out: Path, keys: list[str] | None = None, labels: list[str] | None = None) -> Path:
    """Draw one subplot per key and one line per run into ``out``; returns ``out``."""
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ImportError(PLOT_HINT) from e
    runs = [read_run(p) for p in paths]
    names = run_labels(paths, labels)
    wanted = [KEY_ALIASES.get(k, k) for k in (keys or DEFAULT_KEYS)]
    present = [k for k in wanted if any(k in run.series for run in runs)]
    missing = [k for k in wanted if k not in present]
    if missing and keys is not None:
        available = sorted({k for run in runs for k in run.series})
        raise KeyError(f'no run logs {missing}; keys found: {available} (aliases: {KEY_ALIASES})')
    if missing:
        print(f'plot_curves: not logged by any run, left out: {missing}')
    if not present:
        raise KeyError(f'none of {wanted} is logged by these runs')
    cols = min(len(present), 2)
    rows = (len(present) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, 3.8 * rows), squeeze=False)
    for ax, key in zip(axes.flat, present):
        xlabel = 'epoch'
        for run, name in zip(runs, names):
            points = run.series.get(key)
            if not points:
                continue
            steps = sorted(points)
            style = dict(marker='o', markersize=3) if len(steps) < 50 else {}
            ax.plot(steps, [points[s] for s in steps], label=name, **style)
            if key in run.iter_keys or not run.epoch_based:
                xlabel = 'iteration'
        ax.set_title(TITLES.get(key, key))
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize='small')
    for ax in list(axes.flat)[len(present):]:
        ax.axis('off')
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Plot loss, lr, top-1 and EMA top-1 of openmix runs into one PNG')
    parser.add_argument('work_dirs', nargs='+', metavar='WORK_DIR',
                        help='run folders (or their <timestamp> folders, or scalars.json files)')
    parser.add_argument('--out', default='curves.png', help='output PNG (default curves.png)')
    parser.add_argument('--keys', nargs='+', default=None,
                        help=f'scalars to plot, one subplot each (default {" ".join(DEFAULT_KEYS)}); aliases '
                             + ', '.join(f'{a}={k}' for a, k in KEY_ALIASES.items()))
    parser.add_argument('--labels', nargs='+', help='legend names, one per work dir (default: the folder names)')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        out = plot_curves([Path(p) for p in args.work_dirs], Path(args.out), args.keys, args.labels)
    except (FileNotFoundError, KeyError, ValueError, ImportError) as e:
        message = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f'plot_curves: error: {message}', file=sys.stderr)
        return 2
    print(f'curves saved to {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
