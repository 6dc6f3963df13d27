"""Framework overhead: the same model, batch, optimizer and mixing in a minimal PyTorch loop vs the openmix Runner.

    python benchmarks/overhead.py configs/demo.py [--iters 40] [--batch-size 64]

Both sides read the same in-memory ``SyntheticImages`` (no decoding), use the config's model (mixer, random erasing,
label smoothing) and AdamW, and are timed over the same iterations after a warm-up. The Runner side runs everything
``tools/train.py`` runs per iteration (hooks, logging, parameter schedulers, grad clipping per config) except EMA and
checkpointing, which the minimal loop does not have either. Prints one JSON row.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time

import torch
from common import describe_env, sync


def make_loader(cfg, batch_size, num_samples):
    from torch.utils.data import DataLoader, default_collate
    from openmix.registry import DATASETS
    dataset = DATASETS.build(dict(type='SyntheticImages', num_samples=num_samples, img_size=cfg.img_size,
                                  num_classes=cfg.model.head.num_classes))
    return DataLoader(dataset, batch_size=batch_size, shuffle=True, collate_fn=default_collate, drop_last=True)


def plain_loop(cfg, args, device) -> float:
    from openmix.registry import MODELS
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).to(device).train()
    opt_cfg = cfg.optim_wrapper.optimizer
    optimizer = torch.optim.AdamW(model.parameters(), lr=opt_cfg.lr, weight_decay=opt_cfg.weight_decay)
    clip = (cfg.optim_wrapper.get('clip_grad') or {}).get('max_norm')
    loader = make_loader(cfg, args.batch_size, args.batch_size * (args.iters + args.warmup))
    start = None
    for i, data in enumerate(loader):
        if i == args.warmup:
            sync(device)
            start = time.perf_counter()
        data = model.data_preprocessor(data, True)
        loss = model(**data, mode='loss')['loss']
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
    sync(device)
    return (time.perf_counter() - start) / args.iters


def runner_loop(cfg, args, device) -> float:
    from mmengine.hooks import Hook
    from mmengine.runner import Runner
    marks = {}

    class Mark(Hook):
        priority = 'VERY_LOW'

        def before_train_iter(self, runner, batch_idx, data_batch=None):
            if runner.iter == args.warmup:
                sync(device)
                marks['start'] = time.perf_counter()

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            if runner.iter + 1 == args.warmup + args.iters:
                sync(device)
                marks['end'] = time.perf_counter()

    run_cfg = cfg.copy()
    run_cfg.work_dir = tempfile.mkdtemp(prefix='openmix_overhead_')
    run_cfg.train_dataloader = dict(
        batch_size=args.batch_size, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=True),
        collate_fn=dict(type='default_collate'),
        dataset=dict(type='SyntheticImages', num_samples=args.batch_size * (args.iters + args.warmup),
                     img_size=cfg.img_size, num_classes=cfg.model.head.num_classes))
    run_cfg.train_cfg = dict(by_epoch=True, max_epochs=1, val_interval=10 ** 6)
    run_cfg.val_dataloader = run_cfg.val_cfg = run_cfg.val_evaluator = None
    run_cfg.test_dataloader = run_cfg.test_cfg = run_cfg.test_evaluator = None
    run_cfg.custom_hooks = [h for h in run_cfg.get('custom_hooks', []) if h['type'] != 'EMAHook']
    run_cfg.default_hooks.checkpoint = None
    run_cfg.auto_scale_lr = dict(enable=False, base_batch_size=args.batch_size)
    run_cfg.log_level = 'WARNING'
    run_cfg.randomness = dict(seed=0)
    runner = Runner.from_cfg(run_cfg)
    runner.register_hook(Mark())
    runner.train()
    return (marks['end'] - marks['start']) / args.iters


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--iters', type=int, default=40)
    parser.add_argument('--warmup', type=int, default=5)
    parser.add_argument('--repeats', type=int, default=2, help='alternate plain/runner this many times, keep best')
    args = parser.parse_args()

    from mmengine.config import Config
    from openmix.utils.setup_env import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(args.config)
    backbone = cfg.model.backbone
    cfg.img_size = int(backbone.get('img_size') or 224)
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    plain, runner = [], []
    for _ in range(args.repeats):
        plain.append(plain_loop(cfg, args, device))
        runner.append(runner_loop(cfg, args, device))
    p, r = min(plain), min(runner)
    row = dict(bench='framework_overhead', config=args.config, batch=args.batch_size, iters=args.iters,
               plain_ms=round(p * 1e3, 2), runner_ms=round(r * 1e3, 2), overhead_pct=round((r / p - 1) * 100, 2),
               plain_runs_ms=[round(v * 1e3, 2) for v in plain], runner_runs_ms=[round(v * 1e3, 2) for v in runner])
    print(json.dumps({**row, **describe_env(device, 'fp32')}))


if __name__ == '__main__':
    main()
