"""Training-step time and peak memory of TokenMix and SMMix relative to CutMix (and TransMix for scale) on ViTs.

    python benchmarks/new_methods_vit.py [--models demo deit_s] [--methods cutmix tokenmix ...] [--steps 7]

Time: one process builds every method's model and times the full ``train_step`` (forward, backward, AdamW) on one
synthetic batch in ``--steps`` alternating rounds (one step of each method per round, after ``--warmup`` steps of
each), so load from other processes on a shared machine hits all methods alike; the median (and the minimum, the
least disturbed step on a loaded machine) per method is reported.
Memory: every (model, method) in its own process, the resident set size above the level after building the model
(CPU) or ``max_memory_allocated`` (CUDA), over ``--warmup`` + 2 steps. Models: ``demo`` (the
``configs/demo_cutmix.py`` model: 64 px, 8x8 tokens, batch 64) and ``deit_s`` (DeiT-S/16 at 224 px, batch 32).

Methods: ``cutmix`` (area labels), ``transmix`` (CutMix + TransMix labels), ``tokenmix`` (token masks, token-area
labels), ``tokenmix_teacher`` (+ the frozen teacher's no-grad forward: the demo model itself for ``demo``, ResNet-50
for ``deit_s``, random weights from a local file), ``smmix`` (``switch_prob=1``: every step is an SMMix step, i.e. the
no-grad guiding forward with the O(N^2) attention row of the last block, the region paste and the two extra loss
terms; the official recipe does this on half of the steps and Mixup on the rest). Prints one JSON row per run and a
ratio row per method against CutMix.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = {'demo': (64, 64, 10), 'deit_s': (224, 32, 1000)}  # name: (image size, batch, classes)
METHODS = ['cutmix', 'transmix', 'tokenmix', 'tokenmix_teacher', 'smmix']


def model_cfg(model: str, method: str, tmp: str) -> dict:
    from mmengine.config import Config
    if model == 'demo':
        cfg = Config.fromfile(str(ROOT / 'configs' / 'demo_cutmix.py')).model.to_dict()
        grid, k = 8, 10
    else:
        cfg = dict(type='ImageClassifier', backbone=dict(type='TimmBackbone', model_name='deit_small_patch16_224'),
                   head=dict(type='LinearClsHead', num_classes=1000), label_smoothing=0.1)
        grid, k = 14, 1000
    cfg['mixer'] = dict(type='CutMix', alpha=1.0, seed=0)
    cfg['label_assigner'] = dict(type='AreaLabel')
    if method == 'transmix':
        cfg['label_assigner'] = dict(type='TransMixLabel')
    if method.startswith('tokenmix'):
        cfg['mixer'] = dict(type='TokenMix', grid_size=grid, minimum_tokens=max(1, round(14 * grid * grid / 196)),
                            seed=0)
        cfg['label_assigner'] = dict(type='TokenMixLabel')
    if method == 'tokenmix_teacher':
        teacher = (dict(config=str(ROOT / 'configs' / 'demo_cutmix.py'), checkpoint=f'{tmp}/teacher.pth')
                   if model == 'demo' else dict(model_name='resnet50', num_classes=k, checkpoint=f'{tmp}/teacher.pth'))
        cfg['label_assigner'] = dict(type='TokenMixLabel', teacher=teacher)
    if method == 'smmix':
        cfg['mixer'] = dict(type='SMMix', alpha=0.8, switch_prob=1.0, seed=0)
        cfg['label_assigner'] = dict(type='SMMixLabel', num_classes=k)
    return cfg


def build(model_name: str, method: str, device, tmp: str):
    """The classifier of ``method``, its AdamW wrapper and one synthetic batch."""
    import timm
    import torch
    from mmengine.optim import build_optim_wrapper

    from openmix.registry import MODELS as REG
    size, batch, k = MODELS[model_name]
    if method == 'tokenmix_teacher':  # the frozen teacher comes from a local file (random weights here)
        if model_name == 'demo':
            from mmengine.config import Config
            net = REG.build(Config.fromfile(str(ROOT / 'configs' / 'demo_cutmix.py')).model)
            torch.save(dict(state_dict=net.state_dict()), f'{tmp}/teacher.pth')
        else:
            torch.save(timm.create_model('resnet50', num_classes=k).state_dict(), f'{tmp}/teacher.pth')
    torch.manual_seed(0)
    model = REG.build(model_cfg(model_name, method, tmp)).to(device)
    optim = build_optim_wrapper(model, dict(optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05)))
    data = dict(inputs=torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8),
                data_samples=dict(gt_label=torch.randint(0, k, (batch,))))
    return model, optim, data


def setup(args):
    import torch
    sys.path[:0] = [str(ROOT), str(ROOT / 'benchmarks')]  # the checkout, installed or not
    from openmix.utils.setup_env import register_all_modules
    register_all_modules()
    if args.batch:
        MODELS[args.model] = MODELS[args.model][:1] + (args.batch,) + MODELS[args.model][2:]
    return torch.device(args.device)


def time_all(args) -> list[dict]:
    """Child process: median step time of every method, timed in alternating rounds."""
    import tempfile

    device = setup(args)
    from common import describe_env, spread_ms, timed_rounds
    with tempfile.TemporaryDirectory() as tmp:
        built = {m: build(args.model, m, device, tmp) for m in args.methods}
    fns = {m: (lambda b=b: b[0].train_step(b[2], b[1])) for m, b in built.items()}
    times = timed_rounds(fns, iters=1, warmup=args.warmup, rounds=args.steps, device=device)
    size, batch, _ = MODELS[args.model]
    env = describe_env(device, 'fp32')
    return [dict(bench='train_step_time', model=args.model, method=m, batch=batch, img_size=size, rounds=args.steps,
                 **spread_ms(t), **env) for m, t in times.items()]


def memory_one(args) -> dict:
    """Child process: peak memory of ``train_step`` of one (model, method)."""
    import resource
    import tempfile

    import torch
    device = setup(args)
    with tempfile.TemporaryDirectory() as tmp:
        model, optim, data = build(args.model, args.method, device, tmp)
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    else:
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(args.warmup + 2):
        model.train_step(data, optim)
    if device.type == 'cuda':
        peak = (torch.cuda.max_memory_allocated(device) - base) / 2 ** 20
    else:
        peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
    return dict(bench='train_step_memory', model=args.model, method=args.method, peak_mem_mib=round(peak, 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--models', nargs='+', default=['demo'], choices=list(MODELS))
    parser.add_argument('--methods', nargs='+', default=METHODS, choices=METHODS)
    parser.add_argument('--batch', type=int, default=None, help='default: 64 (demo), 32 (DeiT-S)')
    parser.add_argument('--steps', type=int, default=7, help='timing rounds (one step of each method per round)')
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--device', default=None)
    parser.add_argument('--child-time', metavar='MODEL', help=argparse.SUPPRESS)
    parser.add_argument('--child-memory', nargs=2, metavar=('MODEL', 'METHOD'), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.device is None:
        import torch
        args.device = 'cuda' if torch.cuda.is_available() else 'cpu'
    args.methods = list(dict.fromkeys(['cutmix', *args.methods]))
    if args.child_time:
        args.model = args.child_time
        for row in time_all(args):
            print(json.dumps(row), flush=True)
        return
    if args.child_memory:
        args.model, args.method = args.child_memory
        print(json.dumps(memory_one(args)), flush=True)
        return
    common = ['--steps', str(args.steps), '--warmup', str(args.warmup), '--device', args.device,
              '--methods', *args.methods] + (['--batch', str(args.batch)] if args.batch else [])

    def child(flags: list[str]) -> list[dict]:
        proc = subprocess.run([sys.executable, __file__, *flags, *common], capture_output=True, text=True, cwd=ROOT)
        if proc.returncode != 0:
            err = (proc.stderr.strip().splitlines() or ['?'])[-1]
            return [dict(error=err, flags=flags)]
        return [json.loads(line) for line in proc.stdout.strip().splitlines() if line.startswith('{')]

    for model in args.models:
        rows = child(['--child-time', model])
        times = {r['method']: r for r in rows if 'method' in r}
        for row in rows:
            if 'error' in row:
                print(json.dumps(dict(row, model=model)), flush=True)
        mems = {}
        for method in args.methods:
            row = child(['--child-memory', model, method])[-1]
            mems[method] = row.get('peak_mem_mib')
            print(json.dumps({**times.get(method, {}), **row, 'bench': 'train_step'}), flush=True)
        ref_t, ref_m = times.get('cutmix'), mems.get('cutmix')
        for method in args.methods:
            if method == 'cutmix' or method not in times or not ref_t:
                continue
            print(json.dumps(dict(bench='ratio_to_cutmix', model=model, method=method,
                                  time=round(times[method]['median_ms'] / ref_t['median_ms'], 3),
                                  time_min=round(times[method]['min_ms'] / ref_t['min_ms'], 3),
                                  memory=None if not (mems.get(method) and ref_m) else round(mems[method] / ref_m, 3))),
                  flush=True)


if __name__ == '__main__':
    main()
