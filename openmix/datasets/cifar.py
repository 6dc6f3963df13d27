"""CIFAR-10 / CIFAR-100 from the official python pickle batches (read with a restricted unpickler)."""
from __future__ import annotations

import pickle
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from openmix.datasets.base import DATASETS_DOC, BaseImageDataset
from openmix.registry import DATASETS

# The official batches hold only dicts, lists, str/bytes and numpy arrays: nothing else may be unpickled.
_ALLOWED = {('numpy.core.multiarray', '_reconstruct'), ('numpy._core.multiarray', '_reconstruct'),
            ('numpy.core.multiarray', 'scalar'), ('numpy._core.multiarray', 'scalar'),
            ('numpy', 'ndarray'), ('numpy', 'dtype'), ('_codecs', 'encode')}  # py3 protocol-2 bytes


class _ArrayOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f'refusing to load {module}.{name}: a CIFAR batch holds only numpy arrays')
        return super().find_class(module, name)


def load_cifar_batch(path: Path) -> dict:
    """One official batch file as a dict with ``str`` keys; errors name the file."""
    try:
        with open(path, 'rb') as f:
            return _ArrayOnlyUnpickler(f, encoding='latin1').load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as e:
        raise ValueError(f'{path} is not a readable CIFAR python batch ({type(e).__name__}: {e}); re-download '
                         f'and extract the archive as described in {DATASETS_DOC}') from e


@DATASETS.register_module()
class CIFAR10(BaseImageDataset):
    """CIFAR-10 (Krizhevsky 2009) from ``<data_root>/cifar-10-batches-py/`` (``data_batch_1..5``, ``test_batch``,
    ``batches.meta``), the official "python version" archive extracted under ``data_root``.

    Items are ``dict(img=PIL RGB 32x32, img_path='<batch>#<row>', gt_label=int)`` passed through ``pipeline``.

    Args:
        data_root: Folder holding the extracted archive folder (or that folder itself).
        split: ``'train'`` (50,000 images) or ``'test'`` (10,000).
        pipeline: Transforms.
    """

    base_folder = 'cifar-10-batches-py'
    archive = 'cifar-10-python.tar.gz'
    files = {'train': [f'data_batch_{i}' for i in range(1, 6)], 'test': ['test_batch']}
    meta_file, label_key, names_key = 'batches.meta', 'labels', 'label_names'

    def __init__(self, data_root: str = 'data/cifar10', split: str = 'train', pipeline: Sequence = ()) -> None:
        if split not in self.files:
            raise ValueError(f'{type(self).__name__}: split must be one of {sorted(self.files)}, got {split!r}')
        root = Path(data_root).expanduser()
        folder = root if root.name == self.base_folder else root / self.base_folder
        needed = self.files[split] + [self.meta_file]
        missing = [n for n in needed if not (folder / n).is_file()]
        if missing:
            raise FileNotFoundError(
                f'{type(self).__name__} split {split!r}: {", ".join(missing)} not found in {folder.absolute()}. '
                f'Download {self.archive} from https://www.cs.toronto.edu/~kriz/cifar.html and extract it into '
                f'{root.absolute()} (see {DATASETS_DOC}).')
        data, labels, names = [], [], []
        for name in self.files[split]:
            batch = load_cifar_batch(folder / name)
            try:
                arr = np.asarray(batch['data'], dtype=np.uint8).reshape(-1, 3, 32, 32)
                lab = list(batch[self.label_key])
            except (KeyError, ValueError) as e:
                raise ValueError(f'{folder / name}: not a CIFAR batch (needs "data" (N, 3072) uint8 and '
                                 f'"{self.label_key}"): {e}') from e
            if len(lab) != len(arr):
                raise ValueError(f'{folder / name}: {len(arr)} images but {len(lab)} labels')
            data.append(arr)
            labels.extend(lab)
            names.extend(f'{name}#{i}' for i in range(len(arr)))
        self.data = np.ascontiguousarray(np.concatenate(data).transpose(0, 2, 3, 1))  # (N, 32, 32, 3)
        labels = [int(x) for x in labels]
        classes = list(load_cifar_batch(folder / self.meta_file)[self.names_key])
        bad = [x for x in set(labels) if not 0 <= x < len(classes)]
        if bad:
            raise ValueError(f'{folder}: labels {sorted(bad)[:5]} out of range for {len(classes)} classes')
        self.split = split
        super().__init__(list(zip(names, labels)), classes, pipeline)

    def load_image(self, idx: int) -> Image.Image:
        return Image.fromarray(self.data[idx])


@DATASETS.register_module()
class CIFAR100(CIFAR10):
    """CIFAR-100 (fine labels) from ``<data_root>/cifar-100-python/`` (``train``, ``test``, ``meta``)."""

    base_folder = 'cifar-100-python'
    archive = 'cifar-100-python.tar.gz'
    files = {'train': ['train'], 'test': ['test']}
    meta_file, label_key, names_key = 'meta', 'fine_labels', 'fine_label_names'

    def __init__(self, data_root: str = 'data/cifar100', split: str = 'train', pipeline: Sequence = ()) -> None:
        super().__init__(data_root, split, pipeline)
