"""Evaluate a checkpoint: ``python tools/test.py CONFIG CHECKPOINT [--ema] [--out metrics.json]``.

Beyond top-k: ``--ece [--reliability-png PATH]`` (calibration), ``--occlusion 0.25 0.5 0.75`` (random patch drop) and
``--patch-shuffle 2 4 8`` (patch shuffle); see openmix/evaluation/calibration.py and robustness.py.
"""
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
    extra = parser.add_argument_group('calibration and robustness')
    extra.add_argument('--ece', action='store_true', help='expected calibration error of the top-1 confidence')
    extra.add_argument('--ece-bins', type=int, default=15, help='equal-width confidence bins of the ECE (default 15)')
    extra.add_argument('--reliability-png', metavar='PATH', help='write a reliability diagram there (implies --ece)')
    extra.add_argument('--occlusion', type=float, nargs='+', metavar='RATIO',
                       help='top-1 with this share of the patches set to black (random per image), e.g. 0.25 0.5 0.75')
    extra.add_argument('--occlusion-patch-size', type=int, metavar='N',
                       help='occlusion patch size (default: the model\'s patch size, 16 for CNNs)')
    extra.add_argument('--occlusion-fill', choices=['black', 'mean'], default='black',
                       help='dropped patches: black pixels (0 before normalising, Naseer et al.; default) or 0 after '
                            'normalising (the mean colour)')
    extra.add_argument('--patch-shuffle', type=int, nargs='+', metavar='G',
                       help='top-1 with each image cut into G x G patches shuffled, e.g. 2 4 8')
    extra.add_argument('--robustness-seed', type=int, default=0, help='seed of the drops and shuffles (default 0)')
    args = parser.parse_args(argv)
    if args.reliability_png:
        args.ece = True
    if args.ece_bins < 1:
        parser.error(f'--ece-bins must be a positive integer, got {args.ece_bins}')
    bad = [r for r in args.occlusion or () if not 0.0 <= r <= 1.0]
    if bad:
        parser.error(f'--occlusion ratios must be in [0, 1], got {bad}')
    bad = [g for g in args.patch_shuffle or () if g < 1]
    if bad:
        parser.error(f'--patch-shuffle grid sizes must be positive integers, got {bad}')
    return args


def add_test_metric(cfg, metric: dict) -> None:
    """Append ``metric`` to the config's ``test_evaluator`` (a metric dict, a list of them, or an Evaluator dict)."""
    evaluator = cfg.get('test_evaluator')
    if evaluator is None:
        raise KeyError('the config has no test_evaluator to add the calibration metric to')
    if isinstance(evaluator, dict) and 'metrics' in evaluator:
        metrics = evaluator['metrics']
        evaluator['metrics'] = [*(metrics if isinstance(metrics, (list, tuple)) else [metrics]), metric]
    elif isinstance(evaluator, (list, tuple)):
        cfg.test_evaluator = [*evaluator, metric]
    else:
        cfg.test_evaluator = [evaluator, metric]


def main(argv=None) -> int:
    from openmix.apis import build_runner, exit_status, load_config
    from openmix.utils.checkpoint import AtomicLocalBackend
    from openmix.utils.weights import load_model_weights
    args = parse_args(argv)
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {args.checkpoint}')
    cfg = load_config(args)
    cfg.load_from = None  # weights are loaded below (raw or EMA), not by the runner
    cfg.custom_hooks = [h for h in cfg.get('custom_hooks', []) if h.get('type') != 'EMAHook']
    if args.ece:
        add_test_metric(cfg, dict(type='CalibrationError', n_bins=args.ece_bins,
                                  reliability_png=osp.abspath(args.reliability_png) if args.reliability_png else None))
    robust = bool(args.occlusion or args.patch_shuffle)
    settings = None
    results_dir = cfg.work_dir
    if not args.work_dir:  # keep the training work dir free of one log folder per test call
        cfg.work_dir = tempfile.mkdtemp(prefix='openmix_test_')
    try:
        runner = build_runner(cfg)
        load_model_weights(runner.model, args.checkpoint, ema=args.ema)
        metrics = runner.test()
        if robust:
            from openmix.evaluation import evaluate_robustness
            robust_metrics, settings = evaluate_robustness(runner, args.occlusion or (), args.patch_shuffle or (),
                                                           args.occlusion_patch_size, args.robustness_seed,
                                                           args.occlusion_fill)
            metrics.update(robust_metrics)
    finally:
        if not args.work_dir:
            shutil.rmtree(cfg.work_dir, ignore_errors=True)
    if runner.rank == 0:
        out = args.out or osp.join(results_dir, 'test_metrics_ema.json' if args.ema else 'test_metrics.json')
        os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
        payload = dict(config=args.config, checkpoint=args.checkpoint, ema=args.ema,
                       metrics={k: float(v) for k, v in metrics.items()})
        if args.ece:
            payload['calibration'] = dict(n_bins=args.ece_bins, reliability_png=args.reliability_png)
        if settings is not None:
            payload['robustness'] = settings
        AtomicLocalBackend().put_text(json.dumps(payload, indent=2), out)  # temporary file, then renamed
        print(json.dumps(payload['metrics'], indent=2))
        if args.ece or robust:
            from openmix.evaluation.robustness import robustness_table
            print(robustness_table(payload['metrics']))
        if args.reliability_png:
            print(f'reliability diagram saved to {args.reliability_png}')
        print(f'metrics saved to {out}')
    return exit_status(0, runner)  # torchrun: os._exit after flushing, as tools/train.py


if __name__ == '__main__':
    sys.exit(main())
