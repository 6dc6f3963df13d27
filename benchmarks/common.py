"""Shared pieces of the benchmark scripts: environment description, timing, peak memory, model FLOPs."""
from __future__ import annotations

import platform
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# dense bf16 peak per device, TFLOP/s (vendor figures; H100/H200 SXM dense bf16 = 989)
PEAK_TFLOPS = {'H100': 989.0, 'H200': 989.0, 'A100': 312.0}


def _version(module: str) -> str | None:
    try:
        return __import__(module).__version__
    except Exception:  # noqa: BLE001 - absent or broken: reported as None
        return None


def describe_env(device: torch.device, dtype: str) -> dict:
    name = torch.cuda.get_device_name(device) if device.type == 'cuda' else platform.processor() or 'cpu'
    return dict(device=name, device_type=device.type, dtype=dtype, torch=torch.__version__, timm=_version('timm'),
                mmengine=_version('mmengine'), threads=torch.get_num_threads(), python=platform.python_version(),
                torchvision=_version('torchvision'), mmcv=_version('mmcv'), cuda=torch.version.cuda,
                cudnn=torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None)


def peak_tflops(device: torch.device) -> float | None:
    if device.type != 'cuda':
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_TFLOPS.items() if k in name), None)


def sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def reset_peak_memory(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_mib(device: torch.device) -> float:
    """Peak device memory (CUDA) or peak resident set size of this process (CPU), MiB."""
    if device.type == 'cuda':
        return torch.cuda.max_memory_allocated(device) / 2 ** 20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def step_flops(fn) -> int:
    """FLOPs of one call of ``fn`` (forward + backward), counted by ``torch.utils.flop_counter``."""
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def timed(fn, iters: int, warmup: int, device: torch.device) -> float:
    """Seconds per call of ``fn`` after ``warmup`` calls (device synchronised only around the timed block)."""
    for _ in range(warmup):
        fn()
    sync(device)
    start = time.perf_counter()
    for _ in range(iters):
        fn()
    sync(device)
    return (time.perf_counter() - start) / iters


def timed_rounds(fns: dict, iters: int, warmup: int, rounds: int, device: torch.device) -> dict[str, list[float]]:
    """Seconds per call of each of ``fns`` (name -> callable) in ``rounds`` alternating rounds (every function timed
    over ``iters`` calls in turn, after ``warmup`` calls of each), so drift and noise hit all of them alike."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            times[name].append(timed(fn, iters, 0, device))
    return times


def spread_ms(seconds: list[float]) -> dict:
    """``min_ms``, ``median_ms``, ``max_ms`` of per-call times in seconds."""
    import statistics
    return dict(min_ms=round(min(seconds) * 1e3, 3), median_ms=round(statistics.median(seconds) * 1e3, 3),
                max_ms=round(max(seconds) * 1e3, 3))


def matmul_tflops(device: torch.device, dtype: torch.dtype, n: int, iters: int = 10, warmup: int = 3) -> float:
    """Measured dense matmul rate (TFLOP/s) of ``n x n @ n x n`` in ``dtype``: the MFU peak where no vendor figure
    is known (CPUs, unlisted GPUs), and a check of the listed one."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    sec = timed(lambda: a @ b, iters, warmup, device)
    return 2 * n ** 3 / sec / 1e12


def loader_images_per_s(loader_cfg: dict, batches: int) -> tuple[int, float]:
    """``(images, images/s)`` of a train DataLoader built from ``loader_cfg``, timed over ``batches`` batches after
    the first (workers started, first batch decoded)."""
    import copy

    from mmengine.runner import Runner
    it = iter(Runner.build_dataloader(copy.deepcopy(loader_cfg), seed=0))
    next(it)
    n, start = 0, time.perf_counter()
    for _ in range(batches):
        try:
            n += next(it)['inputs'].shape[0]
        except StopIteration:
            break
    return n, n / (time.perf_counter() - start)


def compare_to_cutmix_in_children(script: str, models, methods, child_args: list[str], time_key: str) -> None:
    """Run ``script --child MODEL METHOD *child_args`` in a fresh process for CutMix and each method (so peak memory
    is each method's own), print each child's JSON row, then each method's time and peak-memory ratio to CutMix."""
    import json
    import subprocess
    for model in models:
        rows = {}
        for method in dict.fromkeys(['cutmix', *methods]):
            proc = subprocess.run([sys.executable, script, '--child', model, method, *child_args], capture_output=True,
                                  text=True, cwd=Path(__file__).resolve().parents[1])
            if proc.returncode != 0:
                err = (proc.stderr.strip().splitlines() or ['?'])[-1]
                print(json.dumps(dict(bench='train_step', model=model, method=method, error=err)), flush=True)
                continue
            rows[method] = json.loads(proc.stdout.strip().splitlines()[-1])
            print(json.dumps(rows[method]), flush=True)
        ref = rows.get('cutmix')
        for method, row in rows.items():
            if ref and method != 'cutmix':
                print(json.dumps(dict(bench='ratio_to_cutmix', model=model, method=method,
                                      time=round(row[time_key] / ref[time_key], 3),
                                      memory=round(row['peak_mem_mib'] / max(ref['peak_mem_mib'], 1e-9), 3))),
                      flush=True)
