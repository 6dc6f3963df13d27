"""openmix ``tools/train.py`` beside timm's own ``train.py`` on the same CPU job, as whole processes (issue 12).

The job: DeiT-tiny (depth 4, 64 px, patch 8, no drop path) on the built-in demo data, batch 64, Mixup 0.8 / CutMix 1.0
switched with p 0.5, label smoothing 0.1, RandAugment ``rand-m9-mstd0.5-inc1`` (bicubic), random erasing 0.25, AdamW
lr 5e-4 wd 0.05, 1 warm-up epoch then cosine to 1e-5, grad clip 5, 2 workers, validation every epoch, no EMA,
``--epochs`` epochs. Rounds alternate timm, openmix, timm, ...; each pair gives one ratio (openmix / timm wall time),
and the script prints one JSON row per tool (wall, user, system seconds: min/median/max) and the ratio's
min/median/max. Time only when nothing else runs on the machine.

timm's ``train.py`` is not part of the timm wheel: pass a checkout's (``--timm-train``). With Pillow >= 13 timm's
RandAugment posterize can ask for 0 bits and fail; give timm an older Pillow on ``--timm-pythonpath`` (e.g.
``pip install --target /tmp/pil12 'pillow<13'``).

Example:
    python benchmarks/cpu_peer.py --timm-train ~/pytorch-image-models/train.py --timm-pythonpath /tmp/pil12 --rounds 3
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The peer job spelled out (not inherited from configs/demo.py, which is tuned for the demo's own budget): what timm's
# command line below asks for, in openmix's config language.
OPENMIX_CFG = """
_base_ = [{models!r}, {dataset!r}, {schedule!r}, {runtime!r}]
model = dict(
    backbone=dict(_delete_=True, type='TimmBackbone', model_name='deit_tiny_patch16_224', img_size=64, patch_size=8,
                  depth=4, drop_path_rate=0.0),
    head=dict(num_classes=10),
    mixer=dict(type='RandomMix', mixers=[dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)],
               switch_prob=0.5, prob=1.0, mode='batch'),
    label_assigner=dict(type='AreaLabel'))
data_root = {data!r}
# the demo data's recipe and loaders (configs/_base_/datasets/demo_shapes.py) on the set timm reads (no class hue);
# drop_last as timm's train loader (31 steps an epoch on 2000 images, not 32); 2 validation workers as --workers 2
peer_data = dict(data_root=data_root, class_colour_prob=0.0)
train_dataloader = dict(drop_last=True, dataset=peer_data)
val_dataloader = dict(num_workers=2, dataset=peer_data)
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(lr=5e-4, weight_decay=0.05), clip_grad=dict(max_norm=5.0))
auto_scale_lr = dict(enable=False)
max_epochs = {epochs}
param_scheduler = [
    dict(type='LinearWarmupLR', start_lr=1e-6, by_epoch=True, begin=0, end=1, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=1, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=1)
custom_hooks = []
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=1, max_keep_ckpts=1))
"""


def timm_command(train_py: str, data: Path, out: Path, epochs: int) -> list[str]:
    return [sys.executable, train_py, '--data-dir', str(data), '--train-split', 'train', '--val-split', 'val',
            '--model', 'deit_tiny_patch16_224', '--model-kwargs', 'depth=4', 'patch_size=8', 'img_size=64',
            '--img-size', '64', '--num-classes', '10', '--batch-size', '64', '--validation-batch-size', '250',
            '--mixup', '0.8', '--cutmix', '1.0', '--mixup-switch-prob', '0.5', '--smoothing', '0.1',
            '--aa', 'rand-m9-mstd0.5-inc1', '--train-interpolation', 'bicubic', '--scale', '0.35', '1.0',
            '--reprob', '0.25', '--opt', 'adamw', '--lr', '5e-4', '--weight-decay', '0.05', '--clip-grad', '5',
            '--sched', 'cosine', '--epochs', str(epochs), '--warmup-epochs', '1', '--warmup-lr', '1e-6',
            '--min-lr', '1e-5', '--cooldown-epochs', '0', '--workers', '2', '--device', 'cpu', '--log-interval', '50',
            '--checkpoint-hist', '1', '--output', str(out), '--seed', '0']


def openmix_command(cfg: Path, out: Path) -> list[str]:
    return [sys.executable, str(ROOT / 'tools' / 'train.py'), str(cfg), '--work-dir', str(out), '--seed', '0']


def timed(cmd: list[str], env: dict) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f'command failed ({proc.returncode}): {" ".join(cmd)}\n{proc.stdout[-2000:]}\n'
                           f'{proc.stderr[-4000:]}')
    return dict(wall=wall, user=after.ru_utime - before.ru_utime, sys=after.ru_stime - before.ru_stime)


def spread(values: list[float]) -> dict:
    return dict(min=round(min(values), 3), median=round(statistics.median(values), 3), max=round(max(values), 3))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--timm-train', required=True, help="timm's train.py (from a pytorch-image-models checkout)")
    parser.add_argument('--timm-pythonpath', default='', help='prepended to PYTHONPATH for timm (e.g. Pillow < 13)')
    parser.add_argument('--data', default=str(ROOT / 'data' / 'demo_shapes'), help='demo data (generated if absent)')
    parser.add_argument('--epochs', type=int, default=3)
    parser.add_argument('--rounds', type=int, default=3)
    args = parser.parse_args(argv)

    from openmix.datasets.demo import generate_demo_dataset
    data = generate_demo_dataset(args.data, num_classes=10, train_per_class=200, val_per_class=50, image_size=64,
                                 seed=0)
    work = Path(tempfile.mkdtemp(prefix='cpu_peer_'))
    cfg = work / 'openmix_peer.py'
    base = ROOT / 'configs' / '_base_'
    cfg.write_text(OPENMIX_CFG.format(models=str(base / 'models' / 'deit_small.py'),
                                      dataset=str(base / 'datasets' / 'demo_shapes.py'),
                                      schedule=str(base / 'schedules' / 'deit_300e.py'),
                                      runtime=str(base / 'default_runtime.py'), data=str(data), epochs=args.epochs))
    # timm is an installed package, byte-compiled when pip installed it; compile openmix's modules the same way once,
    # so neither side pays for compiling its library at every start (PYTHONDONTWRITEBYTECODE=1 would otherwise make
    # a source checkout recompile each run)
    import compileall
    compileall.compile_dir(str(ROOT / 'openmix'), quiet=1)
    base_env = {**os.environ, 'PYTHONUNBUFFERED': '1'}
    timm_env = {**base_env, 'PYTHONPATH': os.pathsep.join(p for p in (args.timm_pythonpath,
                                                                       base_env.get('PYTHONPATH', '')) if p)}
    om_env = {**base_env, 'PYTHONPATH': os.pathsep.join(p for p in (str(ROOT), base_env.get('PYTHONPATH', '')) if p)}
    runs = {'timm': [], 'openmix': []}
    for r in range(args.rounds):
        runs['timm'].append(timed(timm_command(args.timm_train, data, work / f'timm_{r}', args.epochs), timm_env))
        runs['openmix'].append(timed(openmix_command(cfg, work / f'openmix_{r}'), om_env))
        print(json.dumps(dict(round=r, timm=runs['timm'][-1], openmix=runs['openmix'][-1])), flush=True)
    import timm
    import torch
    for tool, rows in runs.items():
        print(json.dumps(dict(tool=tool, epochs=args.epochs, rounds=args.rounds, device='cpu',
                              threads=torch.get_num_threads(), torch=torch.__version__, timm=timm.__version__,
                              **{k: spread([row[k] for row in rows]) for k in ('wall', 'user', 'sys')})))
    ratios = [o['wall'] / t['wall'] for o, t in zip(runs['openmix'], runs['timm'])]
    print(json.dumps(dict(ratio='openmix / timm wall time, paired', **spread(ratios))))
    return 0


if __name__ == '__main__':
    sys.exit(main())
