"""Cost of the non-finite guard per training step: none vs device-side flag vs the old per-step host check.

    python benchmarks/nonfinite_guard.py [--model vit_small_patch16_224 --img-size 224 --batch-size 128]
    python benchmarks/nonfinite_guard.py --model vit_tiny_patch16_224 --img-size 32 --patch-size 8 --batch-size 4 \
        --iters 5 --rounds 3   # CPU smoke run

Variants (same model, batch, AdamW and ``clip_grad``; forward + backward + update per step):

* ``none``: mmengine ``OptimWrapper`` with fused AdamW, no guard (mmengine's clipping still calls ``float()`` on the
  norm every step: that is stock mmengine);
* ``device``: ``GuardedOptimWrapper`` with fused AdamW: the flag goes in as ``found_inf``, nothing read on the host;
* ``host_unfused``: ``GuardedOptimWrapper`` with foreach AdamW: the flag is read on the host before each step;
* ``old_sync``: the previous guard (``isfinite(loss).item()`` before backward, then mmengine's clipping and step),
  which missed non-finite gradients.

Variants alternate within each round (round-robin, a warm-up first), so drift hits all alike. Prints one JSON row per
variant: device, dtype, versions, ms/step min/median/max over the rounds.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from common import describe_env, sync


class OldSyncGuard:
    """The guard as it was: one host read of the loss flag per step, before backward."""

    def __init__(self, optim_wrapper):
        self.ow = optim_wrapper

    def update_params(self, loss):
        if bool((~torch.isfinite(loss.detach())).any()):
            self.ow.zero_grad()
            return
        self.ow.update_params(loss)


def build(variant: str, model: torch.nn.Module, clip: float | None):
    from mmengine.optim import OptimWrapper

    from openmix.engine import GuardedOptimWrapper
    fused = variant != 'host_unfused'
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.05, fused=fused)
    kwargs = dict(optimizer=optimizer, clip_grad=dict(max_norm=clip) if clip else None)
    if variant in ('device', 'host_unfused'):
        return GuardedOptimWrapper(nonfinite='skip', **kwargs)
    ow = OptimWrapper(**kwargs)
    return OldSyncGuard(ow) if variant == 'old_sync' else ow


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--model', default='vit_small_patch16_224')
    parser.add_argument('--img-size', type=int, default=224)
    parser.add_argument('--patch-size', type=int, default=16)
    parser.add_argument('--batch-size', type=int, default=128)
    parser.add_argument('--dtype', choices=['fp32', 'bf16'], default=None, help='default: bf16 on CUDA, fp32 on CPU')
    parser.add_argument('--clip', type=float, default=5.0, help='clip_grad max_norm (0: no clipping)')
    parser.add_argument('--iters', type=int, default=30, help='steps per variant per round')
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--variants', default='none,device,host_unfused,old_sync')
    args = parser.parse_args()

    import timm
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    dtype = args.dtype or ('bf16' if device.type == 'cuda' else 'fp32')
    variants = args.variants.split(',')
    torch.manual_seed(0)
    x = torch.randn(args.batch_size, 3, args.img_size, args.img_size, device=device)
    y = torch.randint(0, 1000, (args.batch_size,), device=device)
    runs = {}
    for v in variants:  # one model and optimizer per variant, so state sizes are alike
        model = timm.create_model(args.model, img_size=args.img_size, patch_size=args.patch_size,
                                  num_classes=1000).to(device)
        runs[v] = (model, build(v, model, args.clip or None))

    def step(v):
        model, ow = runs[v]
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=dtype == 'bf16'):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        ow.update_params(loss)

    times = {v: [] for v in variants}
    for v in variants:  # warm-up: kernels, allocator, optimizer state
        for _ in range(3):
            step(v)
    sync(device)
    for _ in range(args.rounds):
        for v in variants:
            sync(device)
            t0 = time.perf_counter()
            for _ in range(args.iters):
                step(v)
            sync(device)
            times[v].append((time.perf_counter() - t0) / args.iters * 1e3)
    env = describe_env(device, dtype)
    for v in variants:
        ms = times[v]
        print(json.dumps(dict(bench='nonfinite_guard', variant=v, model=args.model, img_size=args.img_size,
                              batch_size=args.batch_size, clip=args.clip, iters=args.iters, rounds=args.rounds,
                              ms_per_step_min=round(min(ms), 3), ms_per_step_median=round(statistics.median(ms), 3),
                              ms_per_step_max=round(max(ms), 3), **env)))


if __name__ == '__main__':
    main()
