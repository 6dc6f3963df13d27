"""Evaluate a checkpoint: ``python tools/test.py CONFIG CHECKPOINT [--ema] [--out metrics.json]``."""
import argparse
import json
import os
import os.path as osp
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Evaluate an openmix checkpoint')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--ema', action='store_true', help='evaluate the EMA weights stored in the checkpoint')
    parser.add_argument('--work-dir', help='where logs and the metrics file go (default: logs to a temporary folder '
                        'removed at the end, metrics to the config\'s work dir)')
    parser.add_argument('--out', help='metrics JSON path (default <work-dir>/test_metrics[_ema].json)')
    parser.add_argument('--cfg-options', nargs='+', metavar='KEY=VALUE', help='override config keys')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'], default='none', help='job launcher')
    parser.add_argument('--local-rank', '--local_rank', type=int, default=0, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None):
    from openmix.apis import build_runner, load_config
    from openmix.utils.weights import load_model_weights
    args = parse_args(argv)
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {args.checkpoint}')
    cfg = load_config(args)
    cfg.load_from = None  # weights are loaded below (raw or EMA), not by the runner
    cfg.custom_hooks = [h for h in cfg.get('custom_hooks', []) if h.get('type') != 'EMAHook']
    results_dir = cfg.work_dir
    if not args.work_dir:  # keep the training work dir free of one log folder per test call
        cfg.work_dir = tempfile.mkdtemp(prefix='openmix_test_')
    try:
        runner = build_runner(cfg)
        load_model_weights(runner.model, args.checkpoint, ema=args.ema)
        metrics = runner.test()
    finally:
        if not args.work_dir:
            shutil.rmtree(cfg.work_dir, ignore_errors=True)
    if runner.rank == 0:
        out = args.out or osp.join(results_dir, 'test_metrics_ema.json' if args.ema else 'test_metrics.json')
        os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
        payload = dict(config=args.config, checkpoint=args.checkpoint, ema=args.ema,
                       metrics={k: float(v) for k, v in metrics.items()})
        with open(out, 'w') as f:
            json.dump(payload, f, indent=2)
        print(json.dumps(payload['metrics'], indent=2))
        print(f'metrics saved to {out}')


if __name__ == '__main__':
    main()
