"""Loading token-label maps into the data pipeline (before the geometric transforms)."""
from __future__ import annotations

from pathlib import Path

import torch

from openmix.registry import TRANSFORMS

from .label_maps import PackedLabelMaps, image_key, load_official


@TRANSFORMS.register_module()
class LoadTokenLabel:
    """Read the label map of ``results['img_path']`` into ``label_values`` (float) / ``label_indices`` (long).

    Place it first in the pipeline; ``RandomResizedCrop`` then records the crop (the map is not cropped: the crop
    is applied to the map when targets are made, as in the official code) and ``RandomHorizontalFlip`` mirrors it.
    ``PackInputs(meta_keys=('label_values', 'label_indices', 'crop', ...))`` passes them on; ``crop`` (normalised
    ``(top, left, height, width)``) is added here at pack time from ``crop_box``/``ori_shape``.

    Args:
        label_root: Official layout root (``<root>/<class>/<stem>.pt``) or the packed directory.
        fmt: ``'official'`` or ``'packed'``.
        split: Packed split name.
    """

    def __init__(self, label_root: str, fmt: str = 'official', split: str = 'train') -> None:
        if fmt not in ('official', 'packed'):
            raise ValueError(f"LoadTokenLabel: fmt must be 'official' or 'packed', got {fmt!r}")
        self.label_root, self.fmt, self.split = label_root, fmt, split
        self._packed = None

    def __call__(self, results: dict) -> dict:
        key = image_key(results['img_path'])
        if self.fmt == 'official':
            values, indices = load_official(Path(self.label_root) / f'{key}.pt')
        else:
            if self._packed is None:  # opened lazily, once per worker process
                self._packed = PackedLabelMaps(self.label_root, self.split)
            values, indices = self._packed[key]
        results['label_values'], results['label_indices'] = values, indices
        return results


@TRANSFORMS.register_module()
class NormaliseCrop:
    """``crop = crop_box / image size`` (normalised ``(top, left, height, width)``; the whole image if no crop)."""

    def __call__(self, results: dict) -> dict:
        if 'crop_box' in results:
            h, w = results['ori_shape']
            top, left, ch, cw = results['crop_box']
            results['crop'] = torch.tensor([top / h, left / w, ch / h, cw / w], dtype=torch.float32)
        else:
            results['crop'] = torch.tensor([0.0, 0.0, 1.0, 1.0])
        return results
