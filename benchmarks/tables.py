"""Markdown tables of finished runs beside the published numbers (benchmarks/reference.py).

    python benchmarks/tables.py work_dirs/deit_s_baseline work_dirs/deit_s_transmix ... [--table NAME] [--k 5]
    python benchmarks/tables.py work_dirs/*                      # every table with at least one matching run

A work dir matches a row by its name, which tools/train.py sets to the config's file stem
(``work_dirs/<config name>``). Each table uses its paper's convention: best raw epoch, best EMA epoch, or the
median of the last k epochs.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference import TABLES  # noqa: E402


def read_epochs(work_dir: Path) -> list[dict]:
    """Validation rows (one per epoch, oldest first) from every run folder of a work dir (resumes included)."""
    rows = {}
    for scalars in sorted(work_dir.glob('*/vis_data/scalars.json')):
        for line in scalars.read_text().splitlines():
            rec = json.loads(line)
            if 'accuracy/top1' in rec:
                rows[rec['step']] = rec  # a resumed run re-logs nothing twice; the later file wins
    return [rows[k] for k in sorted(rows)]


def summarise(epochs: list[dict], convention: str, k: int | None) -> float | None:
    if not epochs:
        return None
    if convention == 'ema_best':
        vals = [e.get('ema/accuracy/top1') for e in epochs if e.get('ema/accuracy/top1') is not None]
        return max(vals) if vals else None
    raw = [e['accuracy/top1'] for e in epochs]
    if convention == 'median_last_k':
        return statistics.median(raw[-(k or 10):])
    return max(raw)


def render(name: str, runs: dict[str, list[dict]], k_override: int | None = None) -> str | None:
    table = TABLES[name]
    k = k_override or table['k']
    conv = table['convention'] + (f' (k={k})' if table['convention'] == 'median_last_k' else '')
    lines = [f"### {table['title']}", '', f"Convention: {conv}. Source: {table['source']}.", '',
             '| row | config | epochs | ours | paper | diff |', '|---|---|---|---|---|---|']
    hit = False
    for config, label, paper, verified in table['rows']:
        epochs = runs.get(config)
        ours = summarise(epochs or [], table['convention'], k)
        hit |= ours is not None
        paper_s = '-' if paper is None else f'{paper:.2f}' + ('' if verified else ' [UNVERIFIED]')
        ours_s = '-' if ours is None else f'{ours:.2f}'
        diff = '-' if ours is None or paper is None else f'{ours - paper:+.2f}'
        n = len(epochs) if epochs else 0
        lines.append(f'| {label} | `{config}` | {n or "-"} | {ours_s} | {paper_s} | {diff} |')
    return '\n'.join(lines) if hit else None


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('work_dirs', nargs='+')
    parser.add_argument('--table', choices=sorted(TABLES), action='append', help='only these tables')
    parser.add_argument('--k', type=int, default=None, help='k of median-of-last-k conventions')
    args = parser.parse_args(argv)
    runs = {}
    for d in map(Path, args.work_dirs):
        if not d.is_dir():
            raise SystemExit(f'not a work dir: {d}')
        epochs = read_epochs(d)
        if not epochs:
            print(f'note: {d} has no validation results (<timestamp>/vis_data/scalars.json)', file=sys.stderr)
            continue
        runs[d.name] = epochs
    out = [t for t in (render(n, runs, args.k) for n in (args.table or TABLES)) if t]
    text = '\n\n'.join(out) if out else 'no run matches a table row (work dir names must be config names)'
    print(text)
    return text


if __name__ == '__main__':
    main()
