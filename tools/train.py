"""Train a model from a config: ``python tools/train.py configs/deit_s_transmix.py [options]``."""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a source checkout without installing


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train an openmix model')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--work-dir', help='where checkpoints and logs go (default work_dirs/<config name>)')
    parser.add_argument('--resume', nargs='?', const='auto', default=None, metavar='PATH',
                        help='resume from PATH, or from the latest checkpoint in the work dir if no PATH')
    parser.add_argument('--amp', nargs='?', const='bf16', choices=['bf16', 'fp16'], default=None,
                        help='automatic mixed precision (default bf16)')
    parser.add_argument('--seed', type=int, default=None, help='random seed (default: the config\'s)')
    parser.add_argument('--deterministic', action='store_true', help='deterministic algorithms (bit-exact resume)')
    from openmix.engine.step_hygiene import COMPILE_MODES
    parser.add_argument('--compile', nargs='?', const='default', choices=COMPILE_MODES, default=None, metavar='MODE',
                        help=f'torch.compile the backbone, mode one of {", ".join(COMPILE_MODES)} (default: default)')
    parser.add_argument('--cfg-options', nargs='+', metavar='KEY=VALUE',
                        help='override config keys, e.g. train_cfg.max_epochs=10; values are Python literals')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'], default='none', help='job launcher')
    parser.add_argument('--local-rank', '--local_rank', type=int, default=0, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    """Train; returns the exit status: 0, or ``PREEMPTED_EXIT_CODE`` (75) after SIGTERM/SIGUSR1 and a checkpoint."""
    from openmix.apis import build_runner, check_training_data, exit_status, load_config, output_summary
    from openmix.engine import TrainingPreempted
    args = parse_args(argv)
    cfg = load_config(args)
    runner = build_runner(cfg)
    check_training_data(runner)  # class count vs head, batch vs data: before the lr is scaled for the batch
    try:
        runner.train()
    except TrainingPreempted as stop:  # logged with the checkpoint's path; resume with --resume
        return exit_status(stop.exit_code, runner)
    if runner.rank == 0:
        print('\nTraining finished.\n' + output_summary(runner), flush=True)
    return exit_status(0, runner)


if __name__ == '__main__':
    sys.exit(main())
