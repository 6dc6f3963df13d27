"""One-command GPU report (issue 12): model step vs a bare timm loop, mixers vs timm's Mixup, learned/attention
mixing step ratios, ``tools/train.py`` end to end, and a 1-process ``torchrun`` run; one markdown + one JSON file.

    python benchmarks/gpu_report.py --out reports/h200            # one GPU, <= 8 minutes (default budget 420 s)
    python benchmarks/gpu_report.py --out /tmp/r --tiny           # CPU smoke sizes (DeiT-tiny depth 2, 32 px, batch 8)
    python benchmarks/gpu_report.py --out /tmp/r --sections model_step mixers --budget-s 120

Sections (``--sections``): ``model_step`` (DeiT-S bf16 batch 256: configs/deit_s_baseline.py and deit_s_transmix.py
built as openmix models, one optimizer step on synthetic device tensors, beside timm + PyTorch doing the same work:
timm ``Mixup`` + ``RandomErasing`` + ``SoftTargetCrossEntropy`` + AdamW; img/s, MFU, ratio), ``mixers`` (every
standalone mixer vs timm's ``Mixup`` in batch and elem mode, ms per batch), ``step_ratios`` (TransMix/CutMix and
AutoMix/CutMix train steps), ``train_e2e`` (``tools/train.py`` on in-memory synthetic images, on a JPEG folder with N
workers, and on the device-resident / packed paths where this checkout has them), ``torchrun`` (a 1-process
``torchrun`` of ``tools/train.py``: NCCL on CUDA, gloo on CPU), ``step_hygiene`` (side-stream prefetch, backbone
``torch.compile``, channels-last ResNet-50, fused vs foreach AdamW, each beside its absence:
benchmarks/step_hygiene.py). Every timing: warm-up, then alternating rounds, min/median/max; img/s from the median.
MFU is against the peak printed in the header: the vendor dense bf16 figure for a listed GPU, else a measured matmul
rate. A section that would overrun ``--budget-s`` is skipped and says so.
Both files are rewritten (temporary name, then rename) after every section, so a killed run leaves what it measured.
"""
from __future__ import annotations

import argparse
import glob
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from argparse import Namespace
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'benchmarks'))
from common import PEAK_TFLOPS, describe_env, matmul_tflops, peak_tflops, spread_ms, step_flops, sync, timed_rounds  # noqa: E402,E501

SECTIONS = ['model_step', 'mixers', 'step_ratios', 'train_e2e', 'torchrun', 'step_hygiene']
CONFIGS = {'deit_s_baseline': 'configs/deit_s_baseline.py', 'deit_s_transmix': 'configs/deit_s_transmix.py'}

# Sizes: full = the (DeiT-S, 224 px, batch 256, bf16 on CUDA); tiny = a CPU smoke run of the same code paths.
FULL = dict(backbone=dict(model_name='deit_small_patch16_224'), img=224, batch=256, iters=10, warmup=3, rounds=3,
            mix_batch=128, mix_iters=20, ratio_batch=128, ratio_iters=5, matmul_n=8192, e2e_window=20,
            e2e_workers=min(16, os.cpu_count() or 1), jpeg_images=512, jpeg_side=288, torchrun_window=5,
            budget_s=420, mix_layer='blocks.5', cl_batch=256, cl_img=224)
TINY = dict(backbone=dict(model_name='deit_tiny_patch16_224', depth=2, img_size=32, patch_size=8), img=32, batch=8,
            iters=2, warmup=1, rounds=2, mix_batch=8, mix_iters=3, ratio_batch=8, ratio_iters=1, matmul_n=512,
            e2e_window=2, e2e_workers=1, jpeg_images=16, jpeg_side=40, torchrun_window=2, budget_s=120,
            mix_layer='blocks.0', cl_batch=8, cl_img=32)
# rough cost of each section (s), full / tiny: a section is skipped when less than this is left of the budget
COST = {'model_step': (60, 8), 'mixers': (30, 3), 'step_ratios': (60, 6), 'train_e2e': (150, 25), 'torchrun': (50, 10),
        'step_hygiene': (120, 30)}

# End-to-end input paths of issue 12 items 2 and 4. Each runs when its code is importable here; ``options`` are the
# tools/train.py --cfg-options that select it (a callable of the sizes), owned by the code that adds the path.
OPTIONAL_PATHS = {
    'device_resident': dict(probe=['openmix.datasets.device_loader', 'openmix.datasets.device_resident'],
                            hook='GPU_REPORT_OPTIONS'),
    'packed_store': dict(probe=['openmix.datasets.packed'], hook='GPU_REPORT_OPTIONS'),
}


def stats(seconds: list[float], batch: int) -> dict:
    med = statistics.median(seconds)
    return dict(spread_ms(seconds), images_per_s=round(batch / med, 1))


# ----------------------------------------------------------------------------------------------- (a) model step
def backbone_options(sz: dict) -> list[str]:
    return [f'model.backbone.{k}={v!r}' for k, v in sz['backbone'].items()]


def openmix_step(config: str, sz: dict, amp: bool, device: torch.device):
    """``train_step`` closure of the config's model and optimizer wrapper (as ``tools/train.py`` builds them, with
    ``--amp bf16`` on CUDA) on one synthetic uint8 batch already on the device."""
    from mmengine.optim import build_optim_wrapper
    from openmix.apis import load_config
    from openmix.registry import MODELS
    cfg = load_config(Namespace(config=str(ROOT / config), amp='bf16' if amp else None,
                                cfg_options=backbone_options(sz), work_dir=tempfile.gettempdir()))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).to(device)
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    b, s, k = sz['batch'], sz['img'], cfg.model.head.num_classes
    data = dict(inputs=torch.randint(0, 256, (b, 3, s, s), dtype=torch.uint8, device=device),
                data_samples=dict(gt_label=torch.randint(0, k, (b,), device=device)))
    return (lambda: model.train_step(data, optim)), cfg


def timm_step(cfg, sz: dict, amp: bool, device: torch.device):
    """The same work in timm + PyTorch: uint8 -> normalise, timm ``RandomErasing`` (as timm's PrefetchLoader),
    timm ``Mixup`` (the config's alphas, switch, mode, smoothing), forward under bf16 autocast,
    ``SoftTargetCrossEntropy``, backward, AdamW (no decay on norms/biases; fused like the config)."""
    import timm
    from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, Mixup
    from timm.data.random_erasing import RandomErasing
    from timm.loss import SoftTargetCrossEntropy
    from timm.optim import param_groups_weight_decay
    bb = {k: v for k, v in cfg.model.backbone.items() if k not in ('type', 'model_name')}
    k = cfg.model.head.num_classes
    torch.manual_seed(0)
    model = timm.create_model(cfg.model.backbone.model_name, num_classes=k, **bb).to(device).train()
    oc = cfg.optim_wrapper.optimizer
    optimizer = torch.optim.AdamW(param_groups_weight_decay(model, oc.weight_decay), lr=oc.lr, betas=oc.betas,
                                  eps=oc.eps, fused=bool(oc.get('fused')))
    mix = cfg.model.mixer  # RandomMix(Mixup, CutMix) in the DeiT configs
    alphas = {m['type']: m.get('alpha', 1.0) for m in mix.mixers}
    mixup = Mixup(mixup_alpha=alphas.get('Mixup', 0.0), cutmix_alpha=alphas.get('CutMix', 0.0),
                  switch_prob=mix.get('switch_prob', 0.5), prob=mix.get('prob', 1.0), mode=mix.get('mode', 'batch'),
                  label_smoothing=cfg.model.get('label_smoothing', 0.0), num_classes=k)
    re_cfg = cfg.model.data_preprocessor.get('random_erasing') or {}
    erase = RandomErasing(re_cfg.get('prob', 0.0), mode=re_cfg.get('mode', 'pixel'), device=str(device))
    criterion = SoftTargetCrossEntropy()
    mean = torch.tensor(IMAGENET_DEFAULT_MEAN, device=device).view(1, 3, 1, 1) * 255
    std = torch.tensor(IMAGENET_DEFAULT_STD, device=device).view(1, 3, 1, 1) * 255
    b, s = sz['batch'], sz['img']
    inputs = torch.randint(0, 256, (b, 3, s, s), dtype=torch.uint8, device=device)
    labels = torch.randint(0, k, (b,), device=device)

    def step():
        x = erase((inputs.float() - mean) / std)
        x, target = mixup(x, labels)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            loss = criterion(model(x), target)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def section_model_step(ctx) -> dict:
    sz, device, amp = ctx.sz, ctx.device, ctx.amp
    fns, cfg = {}, None
    for name, path in CONFIGS.items():
        fns[name], cfg = openmix_step(path, sz, amp, device)
    fns['timm_loop'] = timm_step(cfg, sz, amp, device)  # the baseline config's recipe (both configs share it)
    times = timed_rounds(fns, sz['iters'], sz['warmup'], sz['rounds'], device)
    flops = step_flops(fns['timm_loop'])  # model FLOPs of one step (forward + backward), the same for all three
    peak = ctx.peak['tflops']
    rows = []
    for name, t in times.items():
        row = dict(name=name, batch=sz['batch'], img_size=sz['img'], **stats(t, sz['batch']))
        row['mfu'] = round(flops / statistics.median(t) / (peak * 1e12), 4)
        if name != 'timm_loop':
            row['speed_vs_timm'] = round(statistics.median(times['timm_loop']) / statistics.median(t), 3)
        rows.append(row)
    return dict(rows=rows, gflops_per_step=round(flops / 1e9, 2),
                note='speed_vs_timm = timm loop median time / openmix median time (>= 0.97 is the target)')


# ---------------------------------------------------------------------------------------------------- (b) mixers
def section_mixers(ctx) -> dict:
    import mix_ops
    from timm.data import Mixup as TimmMixup
    from openmix.registry import MIXERS
    sz, device = ctx.sz, ctx.device
    ours = dict(mix_ops.OURS)
    timm_args = dict(mix_ops.TIMM)
    for name, alpha, kind in (('mixup', 0.8, 'Mixup'), ('cutmix', 1.0, 'CutMix')):  # the elem-mode rows
        ours[f'{name}_elem'] = dict(type='RandomMix', mixers=[dict(type=kind, alpha=alpha)], mode='elem')
        timm_args[f'{name}_elem'] = dict(timm_args[name], mode='elem')
    b, s = sz['mix_batch'], sz['img']
    x0 = torch.randn(b, 3, s, s, device=device)
    y = torch.randint(0, 1000, (b,), device=device)
    fns = {'clone': lambda: x0.clone()}  # every call below includes one batch clone
    for name, cfg in ours.items():
        mixer = MIXERS.build(dict(cfg, seed=0)).to(device)
        fns[name] = (lambda m: lambda: m(x0.clone()))(mixer)
        if name in timm_args:
            tm = TimmMixup(label_smoothing=0.1, num_classes=1000, **timm_args[name])
            fns[f'timm:{name}'] = (lambda m: lambda: m(x0.clone(), y))(tm)
    times = timed_rounds(fns, sz['mix_iters'], 3, sz['rounds'], device)
    rows = []
    for name in ['clone', *ours]:
        row = dict(name=name, batch=b, img_size=s, **spread_ms(times[name]))
        if f'timm:{name}' in times:
            theirs = times[f'timm:{name}']
            row.update(timm_median_ms=spread_ms(theirs)['median_ms'],
                       ratio_to_timm=round(statistics.median(times[name]) / statistics.median(theirs), 3))
        rows.append(row)
    return dict(rows=rows, note='ms per batch (clone included); ratio_to_timm = openmix / timm median')


# ------------------------------------------------------------------------------------------------ (c) step ratios
def section_step_ratios(ctx) -> dict:
    import learned_mix
    from mmengine.optim import build_optim_wrapper
    from openmix.registry import MODELS
    sz, device = ctx.sz, ctx.device
    backbone = dict(type='TimmBackbone', **sz['backbone'])
    cfgs = {}
    for name, assigner in (('cutmix', 'AreaLabel'), ('transmix', 'TransMixLabel')):
        cfgs[name] = dict(type='ImageClassifier', backbone=backbone, head=dict(type='LinearClsHead', num_classes=1000),
                          label_smoothing=0.1, mixer=dict(type='CutMix', alpha=1.0, seed=0),
                          label_assigner=dict(type=assigner))
    with tempfile.TemporaryDirectory() as tmp:
        automix = learned_mix.model_cfg('deit_s', 'automix', tmp)  # AutoMix as benchmarks/learned_mix.py runs it
    cfgs['automix'] = dict(automix, backbone=backbone, head=dict(type='LinearClsHead', num_classes=1000),
                           mix_layer=sz['mix_layer'])
    optim_cfg = dict(optimizer=dict(type='AdamW', lr=1e-4))
    if ctx.amp:
        optim_cfg.update(type='AmpOptimWrapper', dtype='bfloat16')
    b, s = sz['ratio_batch'], sz['img']
    data = dict(inputs=torch.randint(0, 256, (b, 3, s, s), dtype=torch.uint8, device=device),
                data_samples=dict(gt_label=torch.randint(0, 1000, (b,), device=device)))
    fns = {}
    for name, cfg in cfgs.items():
        torch.manual_seed(0)
        model = MODELS.build(cfg).to(device)
        if name == 'transmix':
            assert model.backbone.model.blocks[-1].attn.fused_attn, 'fused attention must stay on'
        optim = build_optim_wrapper(model, optim_cfg)
        fns[name] = (lambda m, o: lambda: m.train_step(data, o))(model, optim)
    times = timed_rounds(fns, sz['ratio_iters'], 1, sz['rounds'], device)
    med = {k: statistics.median(v) for k, v in times.items()}
    rows = [dict(name=k, batch=b, img_size=s, **stats(v, b)) for k, v in times.items()]
    return dict(rows=rows, transmix_over_cutmix=round(med['transmix'] / med['cutmix'], 4),
                automix_over_cutmix=round(med['automix'] / med['cutmix'], 4),
                note='median step time ratios (TransMix target <= 1.02; AutoMix paper ~2x, arithmetic floor ~3x)')


# ------------------------------------------------------------------------------------ (d, e) tools/train.py runs
def train_options(sz: dict, window: int, iters: int, dataset: list[str], workers: int) -> list[str]:
    """--cfg-options for a short run of the DeiT-S baseline: one epoch of ``iters`` batches, no validation or
    checkpoints, the iteration time logged (and averaged) every ``window`` iterations."""
    return [*backbone_options(sz), f'train_dataloader.batch_size={sz["batch"]}',
            f'train_dataloader.num_workers={workers}', f'train_dataloader.persistent_workers={workers > 0}',
            'train_cfg.max_epochs=1', 'train_cfg.val_interval=1000000',
            'val_dataloader=None', 'val_cfg=None', 'val_evaluator=None',
            'test_dataloader=None', 'test_cfg=None', 'test_evaluator=None', 'default_hooks.checkpoint=None',
            f'default_hooks.logger.interval={window}', f'log_processor.window_size={window}',
            "visualizer.vis_backends=[{'type': 'LocalVisBackend'}]", *dataset]


def run_train(ctx, name: str, options: list[str], iters: int, window: int, torchrun: bool = False) -> dict:
    """Run ``tools/train.py`` (or a 1-process ``torchrun`` of it) and read the logged iteration times: img/s from
    the windows after the first (warm-up); the process wall time beside it."""
    work = Path(ctx.tmp) / name
    cmd = [sys.executable, str(ROOT / 'tools/train.py'), CONFIGS['deit_s_baseline'], '--work-dir', str(work)]
    if torchrun:
        cmd[1:2] = ['-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=1', str(ROOT / 'tools/train.py')]
        cmd += ['--launcher', 'pytorch']
    if ctx.amp:
        cmd += ['--amp', 'bf16']
    cmd += ['--cfg-options', *options]
    env = dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS=os.environ.get('OMP_NUM_THREADS', '1'))
    timeout = max(ctx.remaining() - 5, 20)
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return dict(name=name, status=f'timed out after {timeout:.0f} s (budget)')
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        tail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-3:]
        return dict(name=name, status=f'exit {proc.returncode}: ' + ' | '.join(tail))
    logs = sorted(glob.glob(str(work / '*' / 'vis_data' / 'scalars.json')))
    recs = [json.loads(line) for line in open(logs[-1])] if logs else []
    recs = [r for r in recs if 'time' in r]
    if not recs:
        return dict(name=name, status='ran, but logged no iteration times', wall_s=round(wall, 1))
    measured = recs[1:] or recs
    t = [r['time'] for r in measured]
    return dict(name=name, status='ok', batch=ctx.sz['batch'], iters=recs[-1].get('iter', iters),
                **stats(t, ctx.sz['batch']), data_time_ms=round(statistics.median(r.get('data_time', 0) for r in
                                                                                  measured) * 1e3, 3),
                wall_s=round(wall, 1))


def synthetic_data(sz: dict, samples: int) -> list[str]:
    """--cfg-options replacing the train set by in-memory ``SyntheticImages`` (no decoding, no augmentation)."""
    ds = dict(_delete_=True, type='SyntheticImages', num_samples=samples, img_size=sz['img'], num_classes=1000)
    return [f'train_dataloader.dataset={ds!r}']


def make_jpeg_tree(root: Path, n_images: int, side: int, samples: int) -> None:
    """``n_images`` random JPEGs (``side`` x ``side * 1.25``) listed ``samples`` times in ImageNet's annotation
    layout (flat ``train/``, ``meta/train.txt``, 1000 classes), so a short run decodes and augments like ImageNet."""
    import numpy as np
    from PIL import Image
    (root / 'train').mkdir(parents=True)
    (root / 'meta').mkdir()
    rng = np.random.default_rng(0)
    for i in range(n_images):
        small = rng.integers(0, 256, (side // 8, side * 5 // 32, 3), dtype=np.uint8)  # smooth-ish, JPEG-like content
        Image.fromarray(small).resize((side * 5 // 4, side), Image.BILINEAR).save(root / 'train' / f'{i}.jpg',
                                                                                  quality=90)
    (root / 'meta' / 'classes.txt').write_text(''.join(f'n{i:08d}\n' for i in range(1000)))
    (root / 'meta' / 'train.txt').write_text(''.join(f'{i % n_images}.jpg {i % 1000}\n' for i in range(samples)))


def probe_path(spec: dict):
    """(module, None) for the first importable probe module, else (None, reason)."""
    for mod in spec['probe']:
        try:
            if importlib.util.find_spec(mod) is None:
                continue
        except ModuleNotFoundError:
            continue
        return importlib.import_module(mod), None
    return None, f'not available in this checkout (none of {", ".join(spec["probe"])} importable)'


def section_train_e2e(ctx) -> dict:
    sz, w = ctx.sz, ctx.sz['e2e_window']
    iters = 3 * w
    samples = sz['batch'] * iters
    rows = []
    rows.append(run_train(ctx, 'synthetic', train_options(sz, w, iters, synthetic_data(sz, samples),
                                                          min(4, sz['e2e_workers'])), iters, w))
    root = Path(ctx.tmp) / 'jpeg'
    make_jpeg_tree(root, sz['jpeg_images'], sz['jpeg_side'], samples)
    jpeg = [f'train_dataloader.dataset.data_root="{root}"', f'train_dataloader.dataset.pipeline.0.size={sz["img"]}']
    workers = sz['e2e_workers']
    rows.append(dict(run_train(ctx, f'jpeg_folder_{workers}w', train_options(sz, w, iters, jpeg, workers), iters, w),
                     workers=workers))
    for name, spec in OPTIONAL_PATHS.items():
        module, reason = probe_path(spec)
        hook = getattr(module, spec['hook'], None) if module else None
        if module is not None and hook is None:
            reason = (f'not available in this checkout: {module.__name__} defines no {spec["hook"]}(sizes) '
                      f'(the --cfg-options that select this path for tools/train.py at these sizes)')
        if reason:
            rows.append(dict(name=name, status=reason))
            continue
        rows.append(run_train(ctx, name, train_options(sz, w, iters, list(hook(sz)), 0), iters, w))
    ref = next((r for r in rows if r['name'] == 'synthetic' and r.get('status') == 'ok'), None)
    for r in rows:
        if ref and r.get('status') == 'ok' and r is not ref:
            r['vs_synthetic'] = round(r['images_per_s'] / ref['images_per_s'], 3)
    return dict(rows=rows, note='configs/deit_s_baseline.py through tools/train.py; img/s from the logged iteration '
                                'time (mmengine IterTimerHook) of the windows after the first; vs_synthetic target '
                                '>= 0.9 for the device-resident and packed paths')


def section_torchrun(ctx) -> dict:
    sz, w = ctx.sz, ctx.sz['torchrun_window']
    iters = 3 * w
    row = run_train(ctx, 'torchrun_1proc', train_options(sz, w, iters, synthetic_data(sz, sz['batch'] * iters),
                                                         min(4, sz['e2e_workers'])), iters, w, torchrun=True)
    row['backend'] = 'nccl' if ctx.device.type == 'cuda' else 'gloo'
    return dict(rows=[row], ran=row.get('status') == 'ok')


def section_step_hygiene(ctx) -> dict:
    import step_hygiene  # benchmarks/step_hygiene.py: prefetch, compile, channels-last, fused AdamW rows
    return step_hygiene.section(ctx)


# ---------------------------------------------------------------------------------------------------- the report
def peak_info(device: torch.device, amp: bool, sz: dict) -> dict:
    dtype = torch.bfloat16 if amp else torch.float32
    measured = max(matmul_tflops(device, dtype, sz['matmul_n'], iters=10 if device.type == 'cuda' else 5, warmup=2)
                   for _ in range(3))  # best of 3: a shared CPU's noise only ever lowers it
    listed = peak_tflops(device)
    if listed:
        name = torch.cuda.get_device_name(device)
        key = next(k for k in PEAK_TFLOPS if k in name)
        return dict(tflops=listed, source=f'{key} dense bf16 (vendor figure)', measured_matmul_tflops=round(measured, 2))
    return dict(tflops=round(measured, 3), source=f'measured {str(dtype)[6:]} matmul {sz["matmul_n"]}^3',
                measured_matmul_tflops=round(measured, 3))


def fmt(v) -> str:
    if isinstance(v, float):
        return f'{v:.4g}' if abs(v) < 1 else f'{v:,.1f}' if abs(v) < 1e4 else f'{v:,.0f}'
    return str(v).replace('|', '/')


def to_markdown(report: dict) -> str:
    env, peak = report['env'], report['peak']
    lines = [f'# openmix GPU report ({report["size"]})', '',
             f'{env["device"]} ({env["device_type"]}), dtype {env["dtype"]}; torch {env["torch"]}, torchvision '
             f'{env["torchvision"]}, timm {env["timm"]}, mmengine {env["mmengine"]}, mmcv {env["mmcv"]}, CUDA '
             f'{env["cuda"]}, cuDNN {env["cudnn"]}, Python {env["python"]}, {env["threads"]} threads.', '',
             f'MFU peak: **{peak["tflops"]} TFLOP/s** ({peak["source"]}; measured matmul '
             f'{peak["measured_matmul_tflops"]} TFLOP/s). Started {report["started"]}, {report["elapsed_s"]} s '
             f'of a {report["budget_s"]} s budget.', '']
    for name in report['sections_requested']:
        sec = report['sections'].get(name, dict(status='not run yet'))
        lines += [f'## {name}', '', f'status: {sec["status"]}', '']
        rows = sec.get('rows') or []
        if rows:
            keys = list(dict.fromkeys(k for r in rows for k in r))
            lines += ['| ' + ' | '.join(keys) + ' |', '|' + '---|' * len(keys)]
            lines += ['| ' + ' | '.join(fmt(r.get(k, '')) for k in keys) + ' |' for r in rows]
            lines.append('')
        extra = {k: v for k, v in sec.items() if k not in ('rows', 'status', 'seconds')}
        lines += [f'- {k}: {fmt(v)}' for k, v in extra.items()] + (['', f'({sec["seconds"]} s)', ''] if 'seconds' in sec
                                                                   else [''])
    return '\n'.join(lines)


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f'.{path.name}.tmp{os.getpid()}')
    tmp.write_text(text)
    os.replace(tmp, path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out', required=True, help='folder for gpu_report.md and gpu_report.json')
    parser.add_argument('--tiny', action='store_true', help='CPU smoke sizes (DeiT-tiny depth 2, 32 px, batch 8)')
    parser.add_argument('--sections', nargs='+', choices=SECTIONS, default=SECTIONS)
    parser.add_argument('--budget-s', type=float, default=None, help='default 420 (full) / 120 (tiny)')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    args = parser.parse_args(argv)
    start = time.perf_counter()
    sz = TINY if args.tiny else FULL
    budget = args.budget_s or sz['budget_s']
    device = torch.device(args.device)
    amp = device.type == 'cuda'  # bf16 autocast on CUDA; AmpOptimWrapper is CUDA-only in mmengine, so fp32 on CPU
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    from openmix.utils.setup_env import register_all_modules
    register_all_modules()
    report = dict(size='tiny' if args.tiny else 'full', started=time.strftime('%Y-%m-%d %H:%M:%S'), budget_s=budget,
                  env=describe_env(device, 'bf16' if amp else 'fp32'), peak=peak_info(device, amp, sz),
                  sizes={k: v for k, v in sz.items() if k != 'budget_s'}, sections_requested=args.sections,
                  sections={}, elapsed_s=0.0)
    ctx = Namespace(sz=sz, device=device, amp=amp, peak=report['peak'],
                    remaining=lambda: budget - (time.perf_counter() - start))
    print(f'[gpu_report] {report["env"]["device"]} {report["env"]["dtype"]} peak {report["peak"]}', flush=True)

    def save():
        report['elapsed_s'] = round(time.perf_counter() - start, 1)
        write_atomic(out / 'gpu_report.json', json.dumps(report, indent=1, default=str) + '\n')
        write_atomic(out / 'gpu_report.md', to_markdown(report) + '\n')

    funcs = dict(model_step=section_model_step, mixers=section_mixers, step_ratios=section_step_ratios,
                 train_e2e=section_train_e2e, torchrun=section_torchrun, step_hygiene=section_step_hygiene)
    with tempfile.TemporaryDirectory(prefix='openmix_gpu_report_') as tmp:
        ctx.tmp = tmp
        for name in args.sections:
            cost = COST[name][1 if args.tiny else 0]
            if ctx.remaining() < cost:
                report['sections'][name] = dict(status=f'skipped: {ctx.remaining():.0f} s left of the {budget:.0f} s '
                                                       f'budget, the section needs ~{cost} s')
            else:
                t0 = time.perf_counter()
                try:
                    sec = funcs[name](ctx)
                    failed = [r['name'] for r in sec.get('rows', []) if r.get('status', 'ok') != 'ok'
                              and not r['status'].startswith('not available')]
                    sec = dict(status=f'partial: {", ".join(failed)} failed' if failed else 'ok', **sec)
                except Exception as exc:  # noqa: BLE001 - one broken section must not lose the others
                    traceback.print_exc()
                    sec = dict(status=f'error: {type(exc).__name__}: {exc}'.splitlines()[0][:300])
                sync(device)
                sec['seconds'] = round(time.perf_counter() - t0, 1)
                report['sections'][name] = sec
            print(f'[gpu_report] {name}: {report["sections"][name]["status"]} '
                  f'({report["sections"][name].get("seconds", 0)} s)', flush=True)
            save()
    save()
    print(to_markdown(report))
    return 0


if __name__ == '__main__':
    sys.exit(main())
