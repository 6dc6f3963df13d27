"""ImageNet (class folders or annotation files) and a generic class-folder dataset."""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from openmix.datasets.base import DATASETS_DOC, IMG_EXTENSIONS, BaseImageDataset, find_class_folders
from openmix.registry import DATASETS


def _read_classes(classes: str | Sequence[str] | None, root: Path) -> list[str] | None:
    if classes is None:
        return None
    if isinstance(classes, (str, os.PathLike)):
        path = Path(classes) if Path(classes).is_absolute() else root / classes
        if not path.is_file():
            raise FileNotFoundError(f'classes file {path} does not exist (one class name per line)')
        return [line.strip() for line in path.read_text().splitlines() if line.strip()]
    return list(classes)


def read_ann_file(ann_file: Path, prefix: Path) -> list[tuple[str, int]]:
    """``relative/path label`` per line (paths relative to ``prefix``); bad lines raise naming file and line."""
    samples = []
    with open(ann_file, encoding='utf-8') as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith('#'):
                continue
            name, _, label = line.rpartition(' ')
            try:
                if not name:
                    raise ValueError
                samples.append((str(prefix / name.strip()), int(label)))
            except ValueError:
                raise ValueError(f'{ann_file}:{lineno}: expected "<relative/path> <integer label>", got {line!r}')
    if not samples:
        raise ValueError(f'annotation file {ann_file} lists no images')
    return samples


@DATASETS.register_module()
class ImageFolder(BaseImageDataset):
    """Generic class-folder dataset: ``<data_root>/<class>/**/<image>``, labels = sorted folder index.

    Args:
        data_root: The folder holding one sub-folder per class.
        pipeline: Transforms.
        classes: Class names (list or a text file, one per line) fixing the label order; default: sorted folders.
        extensions: Image file extensions (case-insensitive).
        skip_corrupt: See :class:`BaseImageDataset`.
    """

    def __init__(self, data_root: str, pipeline: Sequence = (), classes: str | Sequence[str] | None = None,
                 extensions: Sequence[str] = IMG_EXTENSIONS, skip_corrupt: bool = False) -> None:
        root = Path(data_root).expanduser()
        if not root.is_dir():
            raise FileNotFoundError(f'ImageFolder: {root.absolute()} does not exist; it must hold one sub-folder of '
                                    f'images per class (see {DATASETS_DOC})')
        found, samples = find_class_folders(root, extensions)
        classes = _read_classes(classes, root)
        if classes is not None:
            samples = _relabel(samples, found, classes, root)
        if not samples:
            raise FileNotFoundError(f'ImageFolder: no images with extensions {tuple(extensions)} in class folders '
                                    f'under {root.absolute()} (see {DATASETS_DOC})')
        super().__init__(samples, classes or found, pipeline, skip_corrupt)


def _relabel(samples: list[tuple[str, int]], found: list[str], classes: list[str], root: Path):
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted(set(found) - set(index))
    if unknown:
        raise ValueError(f'{root}: class folders {unknown[:5]} are not in the configured classes '
                         f'({len(classes)} names); fix `classes` or the folders')
    return [(p, index[found[label]]) for p, label in samples]


@DATASETS.register_module()
class ImageNet(BaseImageDataset):
    """ImageNet-1k (or any dataset in its layouts) for one split.

    Two layouts are read (docs/datasets.md):

    * class folders: ``<data_root>/<split>/<wnid>/<image>`` (train and val);
    * annotation file: ``<data_root>/meta/<split>.txt`` with lines ``<path relative to <data_root>/<split>> <label>``
      (mmpretrain's layout, e.g. the flat ``val/`` folder), or any ``ann_file`` given explicitly.

    The class list (label order) is ``classes`` if given, else ``meta/classes.txt`` if present, else the sorted
    class folders of ``<data_root>/train`` (also for the val split, so labels agree across splits), else those of
    the split itself.

    Args:
        data_root: Dataset root.
        split: ``'train'``, ``'val'`` (or any folder name under ``data_root``).
        ann_file: Annotation file (relative to ``data_root`` or absolute); default: ``meta/<split>.txt`` when the
            split has no class folders.
        data_prefix: Folder the annotation paths are relative to (relative to ``data_root``); default ``split``.
        classes: Class names or a file of them.
        pipeline: Transforms.
        extensions: Image extensions for the folder layout.
        skip_corrupt: See :class:`BaseImageDataset`.
    """

    def __init__(self, data_root: str = 'data/imagenet', split: str = 'train', ann_file: str | None = None,
                 data_prefix: str | None = None, classes: str | Sequence[str] | None = None, pipeline: Sequence = (),
                 extensions: Sequence[str] = IMG_EXTENSIONS, skip_corrupt: bool = False) -> None:
        root = Path(data_root).expanduser()
        name = type(self).__name__
        folder = root / split
        default_ann = root / 'meta' / f'{split}.txt'
        if ann_file is None and not self._has_class_folders(folder) and default_ann.is_file():
            ann_file = str(default_ann)
        class_list = _read_classes(classes, root)
        if class_list is None and (root / 'meta' / 'classes.txt').is_file():
            class_list = _read_classes('meta/classes.txt', root)
        if ann_file is not None:
            ann = Path(ann_file) if Path(ann_file).is_absolute() else root / ann_file
            if not ann.is_file():
                raise FileNotFoundError(f'{name} split {split!r}: annotation file {ann.absolute()} does not exist. '
                                        f'Prepare the dataset as described in {DATASETS_DOC}.')
            samples = read_ann_file(ann, root / (data_prefix if data_prefix is not None else split))
            if class_list is None and self._has_class_folders(root / 'train'):
                class_list = find_class_folders(root / 'train', extensions)[0]
            n = max(label for _, label in samples) + 1
            if class_list is None:
                class_list = [str(i) for i in range(n)]
            elif n > len(class_list):
                raise ValueError(f'{ann}: label {n - 1} is out of range for {len(class_list)} classes')
        elif self._has_class_folders(folder):
            found, samples = find_class_folders(folder, extensions)
            if class_list is None and split != 'train' and self._has_class_folders(root / 'train'):
                class_list = find_class_folders(root / 'train', extensions)[0]
            if class_list is not None:
                samples = _relabel(samples, found, class_list, folder)
            class_list = class_list or found
            if not samples:
                raise FileNotFoundError(f'{name} split {split!r}: class folders in {folder.absolute()} hold no '
                                        f'images with extensions {tuple(extensions)} (see {DATASETS_DOC}).')
        else:
            raise FileNotFoundError(
                f'{name} split {split!r} not found: looked for class folders in {folder.absolute()} and for the '
                f'annotation file {default_ann.absolute()}. Put the data there (or set data_root, e.g. '
                f"--cfg-options train_dataloader.dataset.data_root=/path/to/imagenet) as described in "
                f'{DATASETS_DOC}.')
        self.data_root = str(root)
        self.split = split
        super().__init__(samples, class_list, pipeline, skip_corrupt)

    @staticmethod
    def _has_class_folders(folder: Path) -> bool:
        return folder.is_dir() and any(e.is_dir() and not e.name.startswith('.') for e in os.scandir(folder))
