"""Time per batch of every mixer (default B=128, 224x224) beside timm's ``Mixup`` where timm has the method, and the
TransMix vs CutMix training-step time of DeiT-S on synthetic input (fused attention on).

    python benchmarks/mix_ops.py [--batch-size 128] [--img-size 224] [--iters 20] [--step-batch 32] [--no-step]

Prints one JSON row per measurement (ms per batch, ratio to timm where timm has the method) with device info.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import describe_env, timed  # noqa: E402

OURS = {
    'mixup': dict(type='Mixup', alpha=0.8),
    'cutmix': dict(type='CutMix', alpha=1.0),
    'mixup_cutmix_batch': dict(type='RandomMix', mixers=[dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)],
                               switch_prob=0.5, mode='batch'),
    'mixup_cutmix_elem': dict(type='RandomMix', mixers=[dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)],
                              switch_prob=0.5, mode='elem'),
    'fmix': dict(type='FMix', alpha=1.0),
    'smoothmix': dict(type='SmoothMix'),
    'resizemix': dict(type='ResizeMix'),
    'gridmix': dict(type='GridMix', alpha=1.0),
    'saliencymix': dict(type='SaliencyMix', alpha=1.0),
    'fmix_smoothmix_gridmix_elem': dict(type='RandomMix', mixers=[dict(type='FMix'), dict(type='SmoothMix'),
                                                                    dict(type='GridMix')], mode='elem'),
}
TIMM = {  # timm.data.Mixup arguments for the same method
    'mixup': dict(mixup_alpha=0.8, cutmix_alpha=0.0),
    'cutmix': dict(mixup_alpha=0.0, cutmix_alpha=1.0),
    'mixup_cutmix_batch': dict(mixup_alpha=0.8, cutmix_alpha=1.0, switch_prob=0.5, mode='batch'),
    'mixup_cutmix_elem': dict(mixup_alpha=0.8, cutmix_alpha=1.0, switch_prob=0.5, mode='elem'),
}


def mixer_rows(args, device) -> list[dict]:
    from timm.data import Mixup as TimmMixup
    from openmix.registry import MIXERS
    x0 = torch.randn(args.batch_size, 3, args.img_size, args.img_size, device=device)
    y = torch.randint(0, 1000, (args.batch_size,), device=device)
    rows = []
    for name, cfg in OURS.items():
        mixer = MIXERS.build(dict(cfg, seed=0)).to(device)
        ours = timed(lambda: mixer(x0.clone()), args.iters, 3, device)
        row = dict(bench='mix_op', method=name, batch=args.batch_size, img_size=args.img_size,
                   ms=round(ours * 1e3, 3))
        if name in TIMM:
            tm = TimmMixup(label_smoothing=0.1, num_classes=1000, **TIMM[name])
            theirs = timed(lambda: tm(x0.clone(), y), args.iters, 3, device)
            row.update(timm_ms=round(theirs * 1e3, 3), ratio_to_timm=round(ours / theirs, 3))
        clone = timed(lambda: x0.clone(), args.iters, 3, device)
        row['clone_ms'] = round(clone * 1e3, 3)  # both sides include one batch clone
        rows.append(row)
    return rows


def step_rows(args, device) -> list[dict]:
    from mmengine.optim import build_optim_wrapper
    from openmix.registry import MODELS
    models, optims = {}, {}
    for name, assigner in (('cutmix', 'AreaLabel'), ('transmix', 'TransMixLabel')):
        torch.manual_seed(0)
        models[name] = MODELS.build(dict(
            type='ImageClassifier', backbone=dict(type='TimmBackbone', model_name='deit_small_patch16_224'),
            head=dict(type='LinearClsHead', num_classes=1000), label_smoothing=0.1,
            mixer=dict(type='CutMix', alpha=1.0, seed=0), label_assigner=dict(type=assigner))).to(device)
        assert models[name].backbone.model.blocks[-1].attn.fused_attn
        optims[name] = build_optim_wrapper(models[name], dict(optimizer=dict(type='AdamW', lr=1e-4)))
    data = dict(inputs=torch.randint(0, 256, (args.step_batch, 3, 224, 224), dtype=torch.uint8),
                data_samples=dict(gt_label=torch.randint(0, 1000, (args.step_batch,))))
    times = {name: float('inf') for name in models}
    for _ in range(args.step_rounds):  # alternate the two models and keep each one's best round (CPU noise)
        for name in models:
            t = timed(lambda: models[name].train_step(data, optims[name]), args.step_iters, 1, device)
            times[name] = min(times[name], t)
    rows = [dict(bench='train_step', method=name, model='deit_small_patch16_224', batch=args.step_batch,
                 ms=round(times[name] * 1e3, 1), rounds=args.step_rounds) for name in models]
    rows.append(dict(bench='train_step_ratio', transmix_over_cutmix=round(times['transmix'] / times['cutmix'], 4)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--batch-size', type=int, default=128)
    parser.add_argument('--img-size', type=int, default=224)
    parser.add_argument('--iters', type=int, default=20)
    parser.add_argument('--step-batch', type=int, default=32)
    parser.add_argument('--step-iters', type=int, default=3)
    parser.add_argument('--step-rounds', type=int, default=3)
    parser.add_argument('--no-step', action='store_true')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    args = parser.parse_args()
    from openmix.utils.setup_env import register_all_modules
    register_all_modules()
    device = torch.device(args.device)
    env = describe_env(device, 'fp32')
    for row in mixer_rows(args, device) + ([] if args.no_step else step_rows(args, device)):
        print(json.dumps({**row, **env}), flush=True)


if __name__ == '__main__':
    main()
