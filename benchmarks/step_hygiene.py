"""The ``step_hygiene`` section of ``benchmarks/gpu_report.py`` (issue 12 item 5): each per-step setting measured
against its absence in the same process, alternating rounds.

* ``prefetch``: ``configs/deit_s_baseline.py`` train steps fed by a DataLoader (uint8 batches collated by workers,
  pinned), batch ``i + 1`` copied on a side stream by :class:`openmix.datasets.prefetch.PrefetchLoader` vs copied by
  the data preprocessor in the step. On the CPU the wrapper is a pass-through (same figure expected).
* ``compile``: the same model step on device tensors, eager vs ``torch.compile`` of the backbone
  (:func:`openmix.engine.step_hygiene.compile_backbone`, mode ``default``); ``compile_s`` is the first call's time.
* ``channels_last``: a ResNet-50 ``ImageClassifier`` step (CutMix), contiguous vs channels-last inputs and weights.
* ``adamw``: ``AdamW.step`` over the DeiT model's parameters (gradients filled), ``fused=True`` vs ``foreach=True``.

Run alone: ``python benchmarks/gpu_report.py --out /tmp/r --tiny --sections step_hygiene``.
"""
from __future__ import annotations

import statistics
import tempfile
import time
from argparse import Namespace

import torch

from common import spread_ms, sync, timed_rounds


def _deit_model(ctx, channels_last=None):
    """(model, optim wrapper, cfg) of configs/deit_s_baseline.py at the report's sizes, as ``tools/train.py`` builds
    them (``--amp bf16`` on CUDA)."""
    import gpu_report
    from mmengine.optim import build_optim_wrapper
    from openmix.apis import load_config
    from openmix.registry import MODELS
    cfg = load_config(Namespace(config=str(gpu_report.ROOT / gpu_report.CONFIGS['deit_s_baseline']),
                                amp='bf16' if ctx.amp else None, cfg_options=gpu_report.backbone_options(ctx.sz),
                                work_dir=tempfile.gettempdir()))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).to(ctx.device)
    return model, build_optim_wrapper(model, cfg.optim_wrapper), cfg


def _device_batch(ctx, b: int, s: int, k: int) -> dict:
    return dict(inputs=torch.randint(0, 256, (b, 3, s, s), dtype=torch.uint8, device=ctx.device),
                data_samples=dict(gt_label=torch.randint(0, k, (b,), device=ctx.device)))


class _UInt8Images(torch.utils.data.Dataset):
    """``n`` random uint8 images in memory, each sample packed as the data contract wants."""

    def __init__(self, n: int, size: int, k: int) -> None:
        g = torch.Generator().manual_seed(0)
        self.images = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=g)
        self.labels = torch.randint(0, k, (n,), generator=g)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict:
        return dict(inputs=self.images[i], data_samples=dict(gt_label=self.labels[i]))


def _loader_steps(model, optim, loader):
    it = iter(loader)

    def step():
        nonlocal it
        try:
            batch = next(it)
        except StopIteration:
            it = iter(loader)
            batch = next(it)
        model.train_step(batch, optim)

    return step


def _rows(group: str, times: dict, batch: int, img: int, base: str, **extra) -> list[dict]:
    rows = []
    for name, t in times.items():
        med = statistics.median(t)
        row = dict(group=group, name=name)
        if batch:
            row.update(batch=batch, img_size=img)
        row.update(spread_ms(t))
        if batch:
            row['images_per_s'] = round(batch / med, 1)
        row.update(extra.get(name, {}))
        row.update(baseline=base, speedup=round(statistics.median(times[base]) / med, 3))
        rows.append(row)
    return rows


def rows_prefetch(ctx) -> list[dict]:
    from openmix.datasets.prefetch import PrefetchLoader
    sz = ctx.sz
    model, optim, cfg = _deit_model(ctx)
    b, s = sz['batch'], sz['img']
    workers = min(4, sz['e2e_workers'])
    data = _UInt8Images(b * 4, s, cfg.model.head.num_classes)
    loader = torch.utils.data.DataLoader(data, batch_size=b, shuffle=True, num_workers=workers, drop_last=True,
                                         pin_memory=ctx.device.type == 'cuda', persistent_workers=workers > 0)
    fns = {'copy_in_step': _loader_steps(model, optim, loader),
           'side_stream_prefetch': _loader_steps(model, optim, PrefetchLoader(loader, ctx.device))}
    times = timed_rounds(fns, sz['iters'], sz['warmup'], sz['rounds'], ctx.device)
    note = {} if ctx.device.type == 'cuda' else {
        'side_stream_prefetch': dict(note='CUDA only: a pass-through on this device')}
    return _rows('prefetch', times, b, s, 'copy_in_step', **note)


def rows_compile(ctx) -> list[dict]:
    from openmix.engine.step_hygiene import compile_backbone, compile_unavailable
    sz = ctx.sz
    reason = compile_unavailable('inductor', ctx.device)
    if reason:
        return [dict(group='compile', name='compile:default', status=f'not available: {reason}')]
    b, s = sz['batch'], sz['img']
    eager, eager_optim, cfg = _deit_model(ctx)
    compiled, compiled_optim, _ = _deit_model(ctx)
    compile_backbone(compiled, 'default')
    data = _device_batch(ctx, b, s, cfg.model.head.num_classes)
    start = time.perf_counter()
    compiled.train_step(data, compiled_optim)  # traces and compiles (the unmixed/mixed paths may add a recompile)
    sync(ctx.device)
    compile_s = time.perf_counter() - start
    fns = {'eager': lambda: eager.train_step(data, eager_optim),
           'compile:default': lambda: compiled.train_step(data, compiled_optim)}
    times = timed_rounds(fns, sz['iters'], sz['warmup'], sz['rounds'], ctx.device)
    return _rows('compile', times, b, s, 'eager', **{'compile:default': dict(compile_s=round(compile_s, 1))})


def rows_channels_last(ctx) -> list[dict]:
    from mmengine.optim import build_optim_wrapper
    from openmix.engine.step_hygiene import apply_channels_last
    from openmix.registry import MODELS
    sz = ctx.sz
    b, s = sz['cl_batch'], sz['cl_img']
    fns = {}
    for name, on in (('contiguous', False), ('channels_last', True)):
        torch.manual_seed(0)
        model = MODELS.build(dict(
            type='ImageClassifier', data_preprocessor=dict(type='ClsDataPreprocessor', channels_last=on),
            backbone=dict(type='TimmBackbone', model_name='resnet50'),
            head=dict(type='LinearClsHead', num_classes=1000),
            mixer=dict(type='CutMix', alpha=1.0, seed=0))).to(ctx.device)
        apply_channels_last(model)
        optim_cfg = dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4))
        if ctx.amp:
            optim_cfg.update(type='AmpOptimWrapper', dtype='bfloat16')
        optim = build_optim_wrapper(model, optim_cfg)
        data = _device_batch(ctx, b, s, 1000)
        fns[name] = (lambda m, o, d: lambda: m.train_step(d, o))(model, optim, data)
    times = timed_rounds(fns, sz['iters'], sz['warmup'], sz['rounds'], ctx.device)
    return _rows('channels_last', times, b, s, 'contiguous')


def rows_adamw(ctx) -> list[dict]:
    sz = ctx.sz
    model, _, cfg = _deit_model(ctx)
    params = [p for p in model.parameters() if p.requires_grad]
    g = torch.Generator(device=ctx.device).manual_seed(0)
    for p in params:
        p.grad = torch.randn(p.shape, generator=g, device=ctx.device, dtype=p.dtype) * 1e-3
    oc = cfg.optim_wrapper.optimizer
    fns, rows = {}, []
    for name, kw in (('foreach', dict(foreach=True)), ('fused', dict(fused=True))):
        copies = [p.detach().clone().requires_grad_() for p in params]
        for c, p in zip(copies, params):
            c.grad = p.grad.clone()
        try:
            opt = torch.optim.AdamW(copies, lr=oc.lr, betas=oc.betas, eps=oc.eps, weight_decay=oc.weight_decay, **kw)
            opt.step()
        except (RuntimeError, TypeError, ValueError) as exc:
            rows.append(dict(group='adamw', name=name, status=f'not available: {exc}'.splitlines()[0][:200]))
            continue
        fns[name] = opt.step
    if 'foreach' not in fns:
        return rows
    times = timed_rounds(fns, sz['iters'], sz['warmup'], sz['rounds'], ctx.device)
    n = sum(p.numel() for p in params)
    return rows + _rows('adamw', times, 0, 0, 'foreach', **{k: dict(params_m=round(n / 1e6, 2)) for k in fns})


def section(ctx) -> dict:
    """The section's rows; a group that fails reports its error in its row, the others still run."""
    rows = []
    for group, fn in (('prefetch', rows_prefetch), ('compile', rows_compile), ('channels_last', rows_channels_last),
                      ('adamw', rows_adamw)):
        try:
            rows += fn(ctx)
        except Exception as exc:  # noqa: BLE001 - one broken measurement must not lose the others
            rows.append(dict(group=group, name=group, status=f'error: {type(exc).__name__}: {exc}'.splitlines()[0]
                             [:300]))
    for r in rows:
        r.setdefault('status', 'ok')
    return dict(rows=rows, note='speedup = median time of the group\'s baseline row / this row\'s (> 1: faster); '
                                'prefetch and channels-last aim at CUDA (on the CPU they are pass-through / a CPU '
                                'figure); compile_s = first compiled step (trace + codegen)')
