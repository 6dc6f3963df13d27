"""Token-label maps on disk: the official per-image ``.pt`` layout and a packed, memory-mapped single-file format.

A label map holds, for each location of a teacher's output grid, the top-k teacher logits and their class indices.

* Official layout (Token Labeling's ``generate_label.py``): ``<root>/<class>/<stem>.pt``, one fp16 tensor
  ``[2, k, H, W]`` per image: ``[0]`` the raw logits, ``[1]`` the class indices stored as fp16 (exact below 2048).
  Read with ``torch.load(weights_only=True)``. The released NFNet-F6 maps (k=5, 18 x 18) use it.
* Packed layout (openmix): ``<dir>/<split>.values.f16`` (``(N, k, H, W)`` float16) and ``<split>.indices.i32``
  (int32), raw C-order arrays opened with ``np.memmap``, ``<split>.done.u8`` (1 per finished row: resumable
  generation), and ``<split>.index.json`` (``k``, ``H``, ``W``, ``num_classes``, teacher, and the image keys in row
  order). Millions of images -> two files read without unpickling, one ``mmap`` each.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch


def image_key(img_path: str, root: str | os.PathLike | None = None) -> str:
    """``<class>/<stem>`` of an image path (the official map name without ``.pt``), or its path under ``root``."""
    p = Path(img_path)
    if root is not None:
        rel = p.relative_to(root)
        return str(rel.with_suffix(''))
    return f'{p.parent.name}/{p.stem}'


def save_official(path: str | os.PathLike, values: torch.Tensor, indices: torch.Tensor) -> None:
    """Write one ``[2, k, H, W]`` fp16 map (temporary file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    t = torch.stack([values.half(), indices.half()])
    tmp = path.with_name(f'.{path.name}.tmp')
    torch.save(t, tmp)
    os.replace(tmp, path)


def load_official(path: str | os.PathLike) -> tuple[torch.Tensor, torch.Tensor]:
    """``(values float32 [k, H, W], indices int64 [k, H, W])`` from an official ``.pt`` map."""
    try:
        t = torch.load(path, map_location='cpu', weights_only=True)
    except FileNotFoundError:
        raise FileNotFoundError(f'token-label map {path} does not exist; generate maps with tools/gen_token_labels.py '
                                'or point label_root at the official NFNet-F6 maps') from None
    if not (isinstance(t, torch.Tensor) and t.ndim == 4 and t.shape[0] == 2):
        raise ValueError(f'{path}: expected a [2, k, H, W] tensor (values, indices), got '
                         f'{tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__}')
    return t[0].float(), t[1].round().long()


class PackedLabelMaps:
    """The packed format: create with :meth:`create` (or open an unfinished one to resume), read with ``[key]``."""

    def __init__(self, directory: str | os.PathLike, split: str, mode: str = 'r') -> None:
        self.dir, self.split = Path(directory), split
        meta_path = self.dir / f'{split}.index.json'
        if not meta_path.is_file():
            raise FileNotFoundError(f'no packed token-label maps for split {split!r} in {self.dir} '
                                    f'({meta_path.name} missing); generate them with tools/gen_token_labels.py')
        self.meta = json.loads(meta_path.read_text())
        self.keys = self.meta['keys']
        self.row = {k: i for i, k in enumerate(self.keys)}
        shape = (len(self.keys), self.meta['k'], self.meta['H'], self.meta['W'])
        mm = 'r+' if mode == 'w' else 'r'
        self.values = np.memmap(self.dir / f'{split}.values.f16', dtype=np.float16, mode=mm, shape=shape)
        self.indices = np.memmap(self.dir / f'{split}.indices.i32', dtype=np.int32, mode=mm, shape=shape)
        self.done = np.memmap(self.dir / f'{split}.done.u8', dtype=np.uint8, mode=mm, shape=(len(self.keys),))

    @classmethod
    def create(cls, directory: str | os.PathLike, split: str, keys: list[str], k: int, hw: tuple[int, int],
               num_classes: int, **info) -> PackedLabelMaps:
        """Allocate the files for ``keys`` (kept if they exist with the same layout, so generation resumes)."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        meta = dict(format='openmix-packed-token-labels', version=1, k=int(k), H=int(hw[0]), W=int(hw[1]),
                    num_classes=int(num_classes), keys=list(keys), **info)
        meta_path = d / f'{split}.index.json'
        if meta_path.is_file():
            old = json.loads(meta_path.read_text())
            same = all(old.get(f) == meta[f] for f in ('k', 'H', 'W', 'num_classes', 'keys'))
            if not same:
                raise FileExistsError(f'{meta_path} describes other maps (k/size/classes/images differ); '
                                      'delete it or choose another --out')
            return cls(d, split, mode='w')
        n = len(keys) * meta['k'] * meta['H'] * meta['W']
        for suffix, itemsize in (('values.f16', 2), ('indices.i32', 4), ('done.u8', None)):
            with open(d / f'{split}.{suffix}', 'wb') as f:
                f.truncate(len(keys) if itemsize is None else n * itemsize)
        tmp = meta_path.with_name(f'.{meta_path.name}.tmp')
        tmp.write_text(json.dumps(meta))
        os.replace(tmp, meta_path)  # the index appears last: its presence means the files are allocated
        return cls(d, split, mode='w')

    def write(self, rows: list[int], values: torch.Tensor, indices: torch.Tensor) -> None:
        self.values[rows] = values.detach().cpu().half().numpy()
        self.indices[rows] = indices.detach().cpu().int().numpy()
        self.values.flush()
        self.indices.flush()
        self.done[rows] = 1  # marked after the data is flushed
        self.done.flush()

    def pending(self) -> list[int]:
        return np.flatnonzero(self.done == 0).tolist()

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, key: str) -> tuple[torch.Tensor, torch.Tensor]:
        try:
            i = self.row[key]
        except KeyError:
            raise KeyError(f'no token-label map for image {key!r} in {self.dir}/{self.split}.*') from None
        if not self.done[i]:
            raise KeyError(f'the token-label map of {key!r} was never written (generation unfinished: rerun '
                           'tools/gen_token_labels.py to resume)')
        return torch.from_numpy(self.values[i].astype(np.float32)), torch.from_numpy(self.indices[i].astype(np.int64))
