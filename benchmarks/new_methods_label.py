"""Training-step time and peak memory of TL-Align and MixPro relative to CutMix (TransMix for scale) on ViTs.

    python benchmarks/new_methods_label.py [--models demo deit_s] [--methods cutmix tl_align ...] [--steps 7]

Every (model, method) runs in its own process: the full ``train_step`` (forward, backward, AdamW) on one synthetic
batch, median of ``--steps`` single-step timings after ``--warmup`` steps; peak memory is the resident set size
above the level after building the model on the CPU (``max_memory_allocated`` above the level before the steps on
CUDA). Models: ``demo`` (the ``configs/demo_cutmix.py`` model: 64 px, 8x8 tokens, 4 blocks, batch 64) and
``deit_s`` (DeiT-S/16 at 224 px, batch 32).

Methods (the mixer mixes every step, so each step pays the label rule):
``cutmix`` (area labels), ``transmix`` (CutMix + TransMix: the class row of the last block), ``tl_align`` (CutMix +
TL-Align: one extra no-grad fp32 fused attention per block on the traced shares), ``maskmix`` (MaskMix, area labels;
cells of 2 x 2 tokens) and ``mixpro`` (MaskMix + PAL: TransMix's class row and the confidence from the logits).
Prints one JSON row per run and a ratio row per method against CutMix.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = {'demo': (64, 64, 10, 8), 'deit_s': (224, 32, 1000, 16)}  # name: (image size, batch, classes, patch)
METHODS = ['cutmix', 'transmix', 'tl_align', 'maskmix', 'mixpro']


def model_cfg(model: str, method: str) -> dict:
    from mmengine.config import Config
    if model == 'demo':
        cfg = Config.fromfile(str(ROOT / 'configs' / 'demo_cutmix.py')).model.to_dict()
    else:
        cfg = dict(type='ImageClassifier', backbone=dict(type='TimmBackbone', model_name='deit_small_patch16_224'),
                   head=dict(type='LinearClsHead', num_classes=1000), label_smoothing=0.1)
    patch = MODELS[model][3]
    cfg['mixer'] = dict(type='CutMix', alpha=1.0, seed=0)
    if method in ('maskmix', 'mixpro'):
        cfg['mixer'] = dict(type='MaskMix', alpha=1.0, mask_patch_size=2 * patch, seed=0)
    cfg['label_assigner'] = dict(type=dict(cutmix='AreaLabel', maskmix='AreaLabel', transmix='TransMixLabel',
                                           tl_align='TLAlignLabel', mixpro='MixProLabel')[method])
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
    size, batch, k, _ = MODELS[args.model]
    batch = args.batch or batch
    torch.manual_seed(0)
    model = REG.build(model_cfg(args.model, args.method)).to(device)
    optim = build_optim_wrapper(model, dict(optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05)))
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
    fused = [getattr(blk.attn, 'fused_attn', None) for blk in getattr(model.backbone.model, 'blocks', [])]
    return dict(bench='train_step', model=args.model, method=args.method, batch=batch, img_size=size,
                median_ms=round(statistics.median(times) * 1e3, 1), min_ms=round(min(times) * 1e3, 1),
                peak_mem_mib=round(peak, 1), fused_attn=all(fused), **describe_env(device, 'fp32'))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--models', nargs='+', default=['demo'], choices=list(MODELS))
    parser.add_argument('--methods', nargs='+', default=METHODS, choices=METHODS)
    parser.add_argument('--batch', type=int, default=None, help='default: 64 (demo), 32 (DeiT-S)')
    parser.add_argument('--steps', type=int, default=7)
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
