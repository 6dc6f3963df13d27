"""Images/s of CIFAR-100 ResNet-18 CutMix training (configs/mixups/c100_r18_800e_cutmix.py) fed by the device-resident
path (``train_dataloader.device_resident=True``) vs the DataLoader path (PIL transforms in CPU workers).

The data is a generated set in the official CIFAR-100 pickle format (random pixels; written once under ``--root``)
when the real one is absent. Each path is timed twice: the loader alone (batches on the device) and the whole
training step (``model.train_step``: preprocessor, CutMix, ResNet-18, loss, SGD); first ``--warmup`` steps skipped.
Same recipe on both paths (RandomCrop 32 pad 4 reflect + flip, batch 100, CutMix alpha 1.0, SGD); what differs is
only where the augmentation runs and its random stream.

Usage:
    python benchmarks/device_data.py --steps 300                     # CPU or the GPU present
    python benchmarks/device_data.py --n-train 400 --steps 3 --warmup 1 --workers 0   # a check in seconds
    python benchmarks/device_data.py --path dataloader; ... --path device_resident       # each path's peak memory
"""
from __future__ import annotations

import argparse
import json
import pickle
import resource
import time
from pathlib import Path

import numpy as np
import torch

from common import describe_env, sync  # noqa: I001 - puts the repository on sys.path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / 'configs/mixups/c100_r18_800e_cutmix.py'


def write_cifar100(root: Path, n_train: int, n_test: int = 100, seed: int = 0) -> Path:
    """A CIFAR-100-format set (``cifar-100-python/{train,test,meta}``) of random images, unless one is there."""
    folder = root / 'cifar-100-python'
    if (folder / 'meta').is_file():
        return root
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name, n in (('train', n_train), ('test', n_test)):
        batch = {'data': rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 'fine_labels': rng.integers(0, 100, n).tolist(), 'coarse_labels': [0] * n}
        with open(folder / name, 'wb') as f:
            pickle.dump(batch, f, protocol=2)
    with open(folder / 'meta', 'wb') as f:
        pickle.dump({'fine_label_names': [f'class{i}' for i in range(100)]}, f, protocol=2)
    return root


def run(loader, model, optim, steps: int, warmup: int, device: torch.device, train: bool) -> float:
    """Images/s over ``steps`` batches after ``warmup`` (epochs restart as needed)."""
    done, images, start = 0, 0, None
    while done < steps + warmup:
        for data in loader:
            if done == warmup:
                sync(device)
                start = time.perf_counter()
            if train:
                model.train_step(data, optim)
            else:
                data = model.data_preprocessor(data, True)
            if done >= warmup:
                images += len(data['inputs'])
            done += 1
            if done == steps + warmup:
                break
    sync(device)
    return images / (time.perf_counter() - start)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--root', default='data/cifar100_generated')
    p.add_argument('--n-train', type=int, default=50000)
    p.add_argument('--steps', type=int, default=300)
    p.add_argument('--warmup', type=int, default=10)
    p.add_argument('--workers', type=int, default=2)
    p.add_argument('--path', choices=('both', 'dataloader', 'device_resident'), default='both',
                   help='one path alone: its peak memory is then its own (host RSS on a CPU, device memory on CUDA)')
    p.add_argument('--out', default=None, help='JSON file for the results')
    args = p.parse_args(argv)

    from mmengine.config import Config
    from mmengine.optim import OptimWrapper
    from mmengine.runner import Runner

    from openmix.datasets.device_loader import DeviceResidentLoader
    from openmix.registry import MODELS
    from openmix.utils.setup_env import register_all_modules
    register_all_modules()
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    cfg = Config.fromfile(str(CONFIG))
    real = Path('data/cifar100/cifar-100-python/train').is_file()
    data_root = 'data/cifar100' if real else str(write_cifar100(Path(args.root), args.n_train))
    loader_cfg = cfg.train_dataloader.to_dict()
    loader_cfg['dataset']['data_root'] = data_root
    loader_cfg.update(num_workers=args.workers, persistent_workers=args.workers > 0, pin_memory=device.type == 'cuda')
    if args.workers == 0:
        loader_cfg.pop('prefetch_factor', None)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).to(device)
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4))
    model.train()
    builders = {
        'dataloader': lambda: Runner.build_dataloader(dict(loader_cfg), seed=0),
        'device_resident': lambda: DeviceResidentLoader(dict(loader_cfg['dataset']), batch_size=loader_cfg['batch_size'],
                                                        device=device, seed=0),
    }
    loaders = {name: build() for name, build in builders.items() if args.path in ('both', name)}
    rows = []
    for name, loader in loaders.items():
        if device.type == 'cuda':
            torch.cuda.reset_peak_memory_stats(device)
        row = dict(path=name, data=('CIFAR-100' if real else f'generated {args.n_train} images'),
                   batch=loader_cfg['batch_size'], workers=args.workers if name == 'dataloader' else 0)
        row['loader_img_s'] = run(loader, model, optim, args.steps, args.warmup, device, train=False)
        row['train_img_s'] = run(loader, model, optim, args.steps, args.warmup, device, train=True)
        if device.type == 'cuda':
            row['peak_mem_gib'] = torch.cuda.max_memory_allocated(device) / 2 ** 30
        elif args.path != 'both':  # host memory of this process (DataLoader workers are processes of their own)
            row['peak_rss_mib'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        rows.append(row)
        print(json.dumps(row))
    ratio = rows[1]['train_img_s'] / rows[0]['train_img_s'] if len(rows) == 2 else None
    if ratio is not None:
        print(f'device-resident / DataLoader, train step: {ratio:.2f}x on {device} ({args.steps} steps)')
    if args.out:
        Path(args.out).write_text(json.dumps(dict(env=describe_env(device, 'fp32'), rows=rows, ratio=ratio), indent=1))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
