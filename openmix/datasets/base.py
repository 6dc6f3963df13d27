"""Image-list datasets: a list of ``(path, label)`` read with PIL and passed through a transform pipeline."""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from PIL import Image
from torch.utils.data import Dataset

from openmix.registry import TRANSFORMS

#: Where the README's dataset instructions live; missing-data errors point here.
DATASETS_DOC = 'docs/datasets.md'
IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff', '.webp')


class CorruptImageError(OSError):
    """An image file that exists but cannot be decoded; the message names the file."""


def load_rgb(path: str) -> Image.Image:
    """Open ``path`` fully (so a truncated file fails here, not later) and return it as RGB.

    Raises:
        CorruptImageError: The file is missing, unreadable or not a decodable image; the message names it.
    """
    try:
        with Image.open(path) as img:
            img.load()
            return img.convert('RGB')
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise CorruptImageError(f'cannot read image {path}: {type(e).__name__}: {e} (delete or replace the file, '
                                'or set skip_corrupt=True in the dataset config to skip and count such files)') from e


class Compose:
    """Apply transforms (built from configs through ``TRANSFORMS``) in order to a results dict."""

    def __init__(self, transforms: Sequence[dict | Callable] = ()) -> None:
        self.transforms = []
        for i, t in enumerate(transforms):
            if isinstance(t, dict):
                t = TRANSFORMS.build(t)
            if not callable(t):
                raise TypeError(f'pipeline[{i}] must be a config dict or a callable, got {type(t).__name__}')
            self.transforms.append(t)

    def __call__(self, results: dict) -> dict:
        for t in self.transforms:
            results = t(results)
        return results

    def __repr__(self) -> str:
        return 'Compose([' + ', '.join(repr(t) for t in self.transforms) + '])'


def find_class_folders(folder: Path, extensions: Sequence[str] = IMG_EXTENSIONS) -> tuple[list[str], list[tuple[str, int]]]:
    """Sorted class sub-folders of ``folder`` and the ``(path, label)`` of every image under them (recursively).

    Raises:
        EmptyClassFolderError: Some class folders hold images and others none: every sub-folder is a class, so an
            empty one shifts the labels of the folders sorted after it and adds a class no image has (a 10-class
            head then gets label 10, or trains on 11 dataset classes). The message names the empty folders.
    """
    classes = sorted(e.name for e in os.scandir(folder) if e.is_dir() and not e.name.startswith('.'))
    exts = tuple(x.lower() for x in extensions)
    samples = []
    for label, cls in enumerate(classes):
        for dirpath, dirnames, filenames in os.walk(folder / cls, followlinks=True):
            dirnames.sort()
            samples.extend((os.path.join(dirpath, f), label) for f in sorted(filenames)
                           if f.lower().endswith(exts) and not f.startswith('.'))
    if samples:  # all empty: the caller's "no images" error says more
        check_no_empty_classes(folder, classes, {label for _, label in samples}, extensions)
    return classes, samples


class EmptyClassFolderError(ValueError):
    """A class folder with no images beside folders that have some; the message names the empty folders."""


def check_no_empty_classes(folder: Path, classes: Sequence[str], labels_seen: set[int],
                           extensions: Sequence[str] = IMG_EXTENSIONS) -> None:
    """Raise :class:`EmptyClassFolderError` naming every folder of ``classes`` (under ``folder``) no label came from."""
    empty = [folder / c for i, c in enumerate(classes) if i not in labels_seen]
    if empty:
        listed = ', '.join(str(p.absolute()) for p in empty[:10]) + (f' (and {len(empty) - 10} more)' if len(empty) > 10
                                                                     else '')
        raise EmptyClassFolderError(
            f'{len(empty)} of the {len(classes)} class folders in {Path(folder).absolute()} hold no images with '
            f'extensions {tuple(extensions)}: {listed}. Every sub-folder is a class, so an empty one shifts the labels '
            f'of the folders after it and makes the class count {len(classes)} instead of '
            f'{len(classes) - len(empty)}: add its images or remove the folder (see {DATASETS_DOC}).')


class BaseImageDataset(Dataset):
    """Samples ``(path, label)`` read as RGB PIL images into ``dict(img, img_path, gt_label)``, then ``pipeline``.

    Args:
        samples: ``(path, label)`` pairs.
        classes: Class names, index = label.
        pipeline: Transform configs or callables; the last one is usually ``PackInputs``.
        skip_corrupt: If True, an unreadable image is replaced by the next readable one in the list and counted
            (``data_samples['num_skipped']``, summed and reported per epoch by ``SkippedImagesHook``); if False
            (default) it raises :class:`CorruptImageError` naming the file.
    """

    def __init__(self, samples: list[tuple[str, int]], classes: Sequence[str], pipeline: Sequence = (),
                 skip_corrupt: bool = False) -> None:
        self.samples = samples
        self.classes = list(classes)
        self.metainfo = dict(classes=tuple(self.classes))
        self.pipeline = Compose(pipeline)
        self.skip_corrupt = skip_corrupt

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def get_gt_labels(self) -> list[int]:
        return [label for _, label in self.samples]

    def load_image(self, idx: int) -> Image.Image:
        """The RGB image of sample ``idx`` (raises :class:`CorruptImageError` naming the file)."""
        return load_rgb(self.samples[idx][0])

    def __getitem__(self, idx: int) -> dict:
        skipped = 0
        while True:
            j = (idx + skipped) % len(self.samples)
            path, label = self.samples[j]
            try:
                img = self.load_image(j)
                break
            except CorruptImageError as e:
                if not self.skip_corrupt:
                    raise
                skipped += 1
                from mmengine.logging import print_log
                print_log(f'skipped: {e}', logger='current', level=30)
                if skipped >= len(self.samples):
                    raise CorruptImageError(f'no readable image in the dataset (last tried: {path})') from e
        results = self.pipeline(dict(img=img, img_path=path, gt_label=label))
        if self.skip_corrupt and isinstance(results, dict) and isinstance(results.get('data_samples'), dict):
            results['data_samples']['num_skipped'] = skipped
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(num_samples={len(self)}, num_classes={self.num_classes}, '
                f'pipeline={self.pipeline!r})')
