"""Training-step time and peak memory of AdAutoMix, DecoupleMix and SUMix relative to CutMix (AutoMix for scale).

    python benchmarks/new_methods_cnn.py [--models r18 demo] [--methods cutmix decouplemix ...] [--steps 5]

Each (model, method) runs in its own process: the full ``train_step`` (forward, backward, SGD) on one synthetic
batch, median of ``--steps`` single-step timings after ``--warmup`` steps. Peak memory is the resident set size above
the level after building the model on the CPU (``max_memory_allocated`` above the level before the steps on CUDA).
The models are those of the configs: ``r18`` (``configs/mixups/c100_r18_800e_<method>.py``: CIFAR ResNet-18,
32 px, 100 classes, batch 64) and ``demo`` (``configs/demo_<method>.py``: the tiny conv-stem DeiT, 64 px, batch 64).

Methods: ``cutmix``; ``decouplemix`` (CutMix + ``DecoupledMixCrossEntropy``: a loss-only change); ``sumix`` (CutMix +
SUMix: a clean forward/backward pass and a second linear head); ``automix`` (the MixBlock and the EMA encoder);
``adautomix`` (3-image mixtures: the EMA encoder's clean and mixed passes, three encoder passes). Prints one JSON row
per run and a ratio row per method against CutMix.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = {'r18': (32, 64, 100), 'demo': (64, 64, 10)}  # name: (image size, batch, classes)
METHODS = ['cutmix', 'decouplemix', 'sumix', 'automix', 'adautomix']
CONFIGS = {
    'r18': dict(cutmix='mixups/c100_r18_800e_cutmix.py', decouplemix='mixups/c100_r18_800e_cutmix_decouple.py',
                sumix='mixups/c100_r18_800e_cutmix_sumix.py', automix='mixups/c100_r18_800e_automix.py',
                adautomix='mixups/c100_r18_800e_adautomix.py'),
    'demo': dict(cutmix='demo_cutmix.py', decouplemix='demo_decouplemix.py', sumix='demo_sumix.py',
                 automix='demo_automix.py', adautomix='demo_adautomix.py'),
}


def model_cfg(model: str, method: str) -> dict:
    from mmengine.config import Config
    cfg = Config.fromfile(str(ROOT / 'configs' / CONFIGS[model][method])).model.to_dict()
    if cfg.get('mixer'):
        cfg['mixer']['seed'] = 0
    if cfg.get('type') in ('AutoMixClassifier', 'AdAutoMixClassifier'):
        cfg['seed'] = 0
    return cfg


def run_one(args) -> dict:
    """Child process: time ``train_step`` of one (model, method)."""
    import resource
    import time

    import torch
    from mmengine.optim import build_optim_wrapper

    sys.path.insert(0, str(ROOT / 'benchmarks'))
    from common import describe_env, sync
    from openmix.registry import MODELS as REG
    from openmix.utils.setup_env import register_all_modules
    register_all_modules()
    device = torch.device(args.device)
    size, batch, k = MODELS[args.model]
    batch = args.batch or batch
    torch.manual_seed(0)
    model = REG.build(model_cfg(args.model, args.method)).to(device)
    optim = build_optim_wrapper(model, dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4)))
    data = dict(inputs=torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8),
                data_samples=dict(gt_label=torch.randint(0, k, (batch,))))
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    else:
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(args.warmup):
        model.train_step(data, optim)
    times = []
    for _ in range(args.steps):
        sync(device)
        start = time.perf_counter()
        model.train_step(data, optim)
        sync(device)
        times.append(time.perf_counter() - start)
    if device.type == 'cuda':
        peak = (torch.cuda.max_memory_allocated(device) - base) / 2 ** 20
    else:
        peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
    return dict(bench='train_step', model=args.model, method=args.method, batch=batch, img_size=size,
                config=CONFIGS[args.model][args.method], median_ms=round(statistics.median(times) * 1e3, 1),
                min_ms=round(min(times) * 1e3, 1), peak_mem_mib=round(peak, 1), **describe_env(device, 'fp32'))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--models', nargs='+', default=['r18'], choices=list(MODELS))
    parser.add_argument('--methods', nargs='+', default=METHODS, choices=METHODS)
    parser.add_argument('--batch', type=int, default=None, help='default: 64')
    parser.add_argument('--steps', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--device', default=None)
    parser.add_argument('--child', nargs=2, metavar=('MODEL', 'METHOD'), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.device is None:
        import torch
        args.device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if args.child:
        args.model, args.method = args.child
        print(json.dumps(run_one(args)), flush=True)
        return
    from common import compare_to_cutmix_in_children
    child_args = ['--steps', str(args.steps), '--warmup', str(args.warmup), '--device', args.device]
    compare_to_cutmix_in_children(__file__, args.models, args.methods,
                                  child_args + (['--batch', str(args.batch)] if args.batch else []), 'median_ms')

if __name__ == '__main__':
    main()
