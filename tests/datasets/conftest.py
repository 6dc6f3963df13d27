"""Tiny datasets written in the real on-disk formats."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

WNIDS = ['n01440764', 'n01443537', 'n01484850']


def write_jpeg(path: Path, seed: int, size: tuple[int, int] = (40, 30)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(arr).save(path, format='JPEG', quality=95)


@pytest.fixture
def imagenet_folders(tmp_path) -> Path:
    """train/<wnid>/*.JPEG (2 per class) and val/<wnid>/*.JPEG (1 per class, the last class missing)."""
    root = tmp_path / 'imagenet'
    for c, wnid in enumerate(WNIDS):
        for i in range(2):
            write_jpeg(root / 'train' / wnid / f'{wnid}_{i}.JPEG', seed=10 * c + i)
        if c < 2:
            write_jpeg(root / 'val' / wnid / f'ILSVRC2012_val_{c:08d}.JPEG', seed=100 + c)
    return root


@pytest.fixture
def imagenet_annfile(tmp_path) -> Path:
    """mmpretrain's layout: flat val/ folder listed in meta/val.txt, train listed in meta/train.txt."""
    root = tmp_path / 'imagenet_ann'
    train_lines, val_lines = [], []
    for c, wnid in enumerate(WNIDS):
        write_jpeg(root / 'train' / wnid / f'{wnid}_0.JPEG', seed=c)
        train_lines.append(f'{wnid}/{wnid}_0.JPEG {c}')
        write_jpeg(root / 'val' / f'ILSVRC2012_val_{c + 1:08d}.JPEG', seed=50 + c)
        val_lines.append(f'ILSVRC2012_val_{c + 1:08d}.JPEG {2 - c}')
    (root / 'meta').mkdir()
    (root / 'meta' / 'train.txt').write_text('\n'.join(train_lines) + '\n')
    (root / 'meta' / 'val.txt').write_text('\n'.join(val_lines) + '\n')
    return root


def write_cifar(root: Path, hundred: bool = False, per_batch: int = 4) -> np.ndarray:
    """The official python-version layout; returns the training images (N, 3072) for comparison."""
    rng = np.random.default_rng(0)
    if hundred:
        folder = root / 'cifar-100-python'
        folder.mkdir(parents=True)
        train = rng.integers(0, 256, (per_batch * 2, 3072), dtype=np.uint8)
        test = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        for name, data in (('train', train), ('test', test)):
            with open(folder / name, 'wb') as f:
                pickle.dump({'filenames': [f'{i}.png' for i in range(len(data))], 'data': data,
                             'fine_labels': [i % 100 for i in range(len(data))],
                             'coarse_labels': [i % 20 for i in range(len(data))]}, f, protocol=2)
        with open(folder / 'meta', 'wb') as f:
            pickle.dump({'fine_label_names': [f'fine{i}' for i in range(100)],
                         'coarse_label_names': [f'coarse{i}' for i in range(20)]}, f, protocol=2)
        return train
    folder = root / 'cifar-10-batches-py'
    folder.mkdir(parents=True)
    batches = []
    for b in range(1, 6):
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        batches.append(data)
        with open(folder / f'data_batch_{b}', 'wb') as f:
            pickle.dump({'batch_label': f'training batch {b} of 5', 'data': data,
                         'labels': [(b + i) % 10 for i in range(per_batch)],
                         'filenames': [f'{b}_{i}.png' for i in range(per_batch)]}, f, protocol=2)
    with open(folder / 'test_batch', 'wb') as f:
        pickle.dump({'data': rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
                     'labels': list(range(per_batch))}, f, protocol=2)
    with open(folder / 'batches.meta', 'wb') as f:
        pickle.dump({'label_names': ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse',
                                     'ship', 'truck'], 'num_cases_per_batch': per_batch, 'num_vis': 3072}, f,
                    protocol=2)
    return np.concatenate(batches)
