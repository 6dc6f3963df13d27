"""Tiny-ImageNet-200 in the layout of its release archive (``tiny-imagenet-200.zip``)."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from openmix.datasets.base import DATASETS_DOC, IMG_EXTENSIONS, BaseImageDataset, check_no_empty_classes
from openmix.datasets.imagenet import _read_classes
from openmix.registry import DATASETS


@DATASETS.register_module()
class TinyImageNet(BaseImageDataset):
    """Tiny-ImageNet-200 (200 classes, 64 x 64 px; 500 train and 50 val images per class), read as released:

    * ``<data_root>/wnids.txt``: the 200 class ids;
    * ``<data_root>/train/<wnid>/images/<wnid>_<i>.JPEG``;
    * ``<data_root>/val/images/val_<i>.JPEG`` with ``<data_root>/val/val_annotations.txt``: tab-separated
      ``<file> <wnid> <x0> <y0> <x1> <y1>`` per line.

    A val split already re-arranged into class folders (``val/<wnid>/...``) is read too. Labels are the index of the
    wnid in the sorted class list (the order of a class-folder reading, as OpenMixup's and torchvision-style prepared
    copies use); ``classes='wnids.txt'`` keeps the file's order instead.

    Args:
        data_root: The ``tiny-imagenet-200`` folder.
        split: ``'train'`` or ``'val'`` (the test split has no labels).
        classes: Class ids or a file of them (relative to ``data_root``); default: sorted ``wnids.txt``.
        pipeline: Transforms.
        skip_corrupt: See :class:`BaseImageDataset`.
    """

    def __init__(self, data_root: str = 'data/tiny-imagenet-200', split: str = 'train',
                 classes: str | Sequence[str] | None = None, pipeline: Sequence = (),
                 skip_corrupt: bool = False) -> None:
        root = Path(data_root).expanduser()
        how = (f'Download tiny-imagenet-200.zip (http://cs231n.stanford.edu/tiny-imagenet-200.zip), unzip it and set '
               f'data_root to the tiny-imagenet-200 folder (see {DATASETS_DOC}).')
        wnids = root / 'wnids.txt'
        if classes is None:
            if not wnids.is_file():
                raise FileNotFoundError(f'TinyImageNet: {wnids.absolute()} does not exist. {how}')
            class_list = sorted(_read_classes('wnids.txt', root))
        else:
            class_list = _read_classes(classes, root)
        index = {c: i for i, c in enumerate(class_list)}
        if split == 'train':
            samples = self._train(root / 'train', index, how)
        elif split == 'val':
            samples = self._val(root / 'val', index, how)
        else:
            raise ValueError(f"TinyImageNet: split must be 'train' or 'val', got {split!r} (test has no labels)")
        if not samples:
            raise FileNotFoundError(f'TinyImageNet split {split!r}: no images under {(root / split).absolute()}. {how}')
        self.data_root, self.split = str(root), split
        super().__init__(samples, class_list, pipeline, skip_corrupt)

    @staticmethod
    def _images(folder: Path) -> list[Path]:
        return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMG_EXTENSIONS) if folder.is_dir() else []

    def _train(self, folder: Path, index: dict[str, int], how: str) -> list[tuple[str, int]]:
        if not folder.is_dir():
            raise FileNotFoundError(f'TinyImageNet split train: {folder.absolute()} does not exist. {how}')
        samples = []
        for wnid, label in sorted(index.items(), key=lambda kv: kv[1]):
            sub = folder / wnid
            if not sub.is_dir():
                raise FileNotFoundError(f'TinyImageNet split train: class folder {sub.absolute()} is missing. {how}')
            images = self._images(sub / 'images') or self._images(sub)
            samples += [(str(p), label) for p in images]
        if samples:
            check_no_empty_classes(folder, [w for w, _ in sorted(index.items(), key=lambda kv: kv[1])],
                                   {label for _, label in samples})
        return samples

    def _val(self, folder: Path, index: dict[str, int], how: str) -> list[tuple[str, int]]:
        ann = folder / 'val_annotations.txt'
        if not ann.is_file():
            if folder.is_dir() and any((folder / w).is_dir() for w in index):  # already in class folders
                return [(str(p), label) for w, label in sorted(index.items(), key=lambda kv: kv[1])
                        for p in (self._images(folder / w / 'images') or self._images(folder / w))]
            raise FileNotFoundError(f'TinyImageNet split val: {ann.absolute()} does not exist. {how}')
        samples = []
        for lineno, line in enumerate(ann.read_text().splitlines(), 1):
            if not line.strip():
                continue
            fields = line.split('\t')
            if len(fields) < 2:
                raise ValueError(f'{ann}:{lineno}: expected "<file>\\t<wnid>\\t<box>", got {line!r}')
            name, wnid = fields[0].strip(), fields[1].strip()
            if wnid not in index:
                raise ValueError(f'{ann}:{lineno}: class {wnid!r} is not in the class list ({len(index)} classes)')
            samples.append((str(folder / 'images' / name), index[wnid]))
        return samples
