"""In-memory random images for benchmarks and smoke tests (no files, no decoding)."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.utils.data import Dataset

from openmix.registry import DATASETS


@DATASETS.register_module()
class SyntheticImages(Dataset):
    """``num_samples`` fixed random uint8 images ``(3, img_size, img_size)`` with labels ``i % num_classes``.

    Items follow the data contract (``dict(inputs=uint8 CHW, data_samples=dict(gt_label=int))``), so a dataloader
    over it measures the model step and the framework without image decoding. Items are never transformed: a
    ``pipeline`` is accepted only empty, or on the device-resident path (``train_dataloader.device_resident=True``),
    which stacks the images once and runs the pipeline on the device.
    """

    def __init__(self, num_samples: int = 1024, img_size: int = 224, num_classes: int = 1000, seed: int = 0,
                 pipeline: Sequence[dict] = (), **kwargs) -> None:
        if pipeline:
            raise ValueError('SyntheticImages: items are not transformed; a pipeline runs only on the device-resident '
                             'path (train_dataloader.device_resident=True)')
        g = torch.Generator().manual_seed(seed)
        self.images = torch.randint(0, 256, (min(num_samples, 64), 3, img_size, img_size), dtype=torch.uint8,
                                    generator=g)
        self.num_samples = num_samples
        self.num_classes = num_classes
        self.metainfo = dict(classes=tuple(str(i) for i in range(num_classes)))

    def __len__(self) -> int:
        return self.num_samples

    def __getitem__(self, idx: int) -> dict:
        return dict(inputs=self.images[idx % len(self.images)], data_samples=dict(gt_label=idx % self.num_classes))
