"""Training throughput of a config: the model step on synthetic input and the data pipeline per worker.

    python benchmarks/throughput.py configs/deit_s_baseline.py [--batch-size 64] [--amp bf16] [--iters 20]
    python benchmarks/throughput.py configs/demo.py --data   # also time the config's train pipeline per worker

Prints one JSON row per measurement with device, dtype and versions.
"""
from __future__ import annotations

import argparse
import json

import torch
from common import (describe_env, loader_images_per_s, peak_memory_mib, peak_tflops, reset_peak_memory, step_flops,
                    timed)


def input_size(cfg) -> int:
    backbone = cfg.model.backbone
    if backbone.get('img_size'):
        return int(backbone.img_size)
    for t in cfg.train_dataloader.dataset.get('pipeline', []):
        if 'size' in t:
            return int(t['size'] if isinstance(t['size'], int) else t['size'][0])
    return 224


def model_step(cfg, args, device) -> dict:
    from mmengine.optim import build_optim_wrapper
    from openmix.registry import MODELS
    model = MODELS.build(cfg.model).to(device)
    if args.compile:
        model.backbone = torch.compile(model.backbone)
    optim_cfg = cfg.optim_wrapper.copy()
    if args.amp:
        optim_cfg.type = 'AmpOptimWrapper'
        optim_cfg.dtype = {'bf16': 'bfloat16', 'fp16': 'float16'}[args.amp]
        optim_cfg.pop('nonfinite', None)
    optim = build_optim_wrapper(model, optim_cfg)
    size = args.img_size or input_size(cfg)
    num_classes = cfg.model.head.num_classes
    data = dict(inputs=torch.randint(0, 256, (args.batch_size, 3, size, size), dtype=torch.uint8),
                data_samples=dict(gt_label=torch.randint(0, num_classes, (args.batch_size,))))
    if device.type == 'cuda':
        data = dict(inputs=data['inputs'].pin_memory(), data_samples=data['data_samples'])

    def step():
        model.train_step(data, optim)

    reset_peak_memory(device)
    sec = timed(step, args.iters, args.warmup, device)
    flops = step_flops(step) if not args.compile else None
    peak = peak_tflops(device)
    row = dict(bench='model_step', config=args.config, batch=args.batch_size, img_size=size,
               images_per_s=round(args.batch_size / sec, 1), ms_per_step=round(sec * 1e3, 2),
               peak_mem_mib=round(peak_memory_mib(device), 1), compile=args.compile,
               gflops_per_step=round(flops / 1e9, 1) if flops else None,
               mfu=round(flops / sec / (peak * 1e12), 4) if flops and peak else None,
               peak_tflops=peak)
    return row


def data_pipeline(cfg, args) -> dict:
    loader_cfg = cfg.train_dataloader.to_dict()
    loader_cfg.update(num_workers=args.workers, persistent_workers=False)
    loader_cfg.pop('worker_init_fn', None)
    n, rate = loader_images_per_s(loader_cfg, args.data_batches)
    return dict(bench='data_pipeline', config=args.config, workers=args.workers, images=n,
                images_per_s=round(rate, 1), images_per_s_per_worker=round(rate / max(args.workers, 1), 1))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--img-size', type=int, default=None)
    parser.add_argument('--iters', type=int, default=10)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--amp', choices=['bf16', 'fp16'], default=None)
    parser.add_argument('--compile', action='store_true')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--data', action='store_true', help='also time the train data pipeline')
    parser.add_argument('--workers', type=int, default=1)
    parser.add_argument('--data-batches', type=int, default=20)
    args = parser.parse_args()

    from mmengine.config import Config
    from openmix.utils.setup_env import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(args.config)
    device = torch.device(args.device)
    env = describe_env(device, args.amp or 'fp32')
    print(json.dumps({**model_step(cfg, args, device), **env}))
    if args.data:
        print(json.dumps({**data_pipeline(cfg, args), **env}))


if __name__ == '__main__':
    main()
