"""Packing a results dict into the model's input contract."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from openmix.registry import TRANSFORMS


@TRANSFORMS.register_module()
class PackInputs:
    """``dict(img=PIL RGB, gt_label=int, ...)`` -> ``dict(inputs=uint8 (3, H, W) tensor, data_samples=dict(...))``.

    ``data_samples`` holds ``gt_label`` and any ``meta_keys`` present (e.g. ``crop_box``, ``flip``). Images stay
    uint8 here: conversion to float and normalisation happen batched on the device (the data preprocessor).
    """

    def __init__(self, meta_keys: Sequence[str] = ()) -> None:
        self.meta_keys = tuple(meta_keys)

    def __call__(self, results: dict) -> dict:
        img = results['img']
        arr = np.asarray(img, dtype=np.uint8)
        if arr.ndim == 2:
            arr = np.repeat(arr[:, :, None], 3, axis=2)
        inputs = torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))
        samples = dict(gt_label=int(results['gt_label']))
        for k in self.meta_keys:
            if k in results:
                v = results[k]
                samples[k] = torch.as_tensor(v) if isinstance(v, (tuple, list)) else v
        return dict(inputs=inputs, data_samples=samples)

    def __repr__(self) -> str:
        return f'PackInputs(meta_keys={self.meta_keys})'
