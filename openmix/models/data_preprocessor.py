"""Device-side preprocessing: uint8 batch -> float, normalised, randomly erased, optionally channels-last."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
from mmengine.model import BaseDataPreprocessor

from openmix.mixers.base import default_seed
from openmix.mixers.geometry import box_mask
from openmix.registry import MODELS

IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)


class BatchRandomErasing:
    """Random Erasing (Zhong et al., AAAI 2020, https://arxiv.org/abs/1708.04896), batched on the device.

    Same sampling rule as timm's ``RandomErasing`` (DeiT: ``reprob 0.25, remode pixel, recount 1``): each image is
    erased with ``prob``; a box of area ``U(min_area, max_area) * HW / count`` and aspect ``exp(U(log min_aspect,
    log max_aspect))`` is tried up to 10 times until it fits (``h < H`` and ``w < W``), placed uniformly, and filled
    with N(0, 1) noise (``mode='pixel'``), per-channel noise (``'rand'``) or zeros (``'const'``). timm loops over
    images and attempts in Python; here the attempts of the whole batch are drawn at once on the host and the boxes
    are applied with one masked ``where`` on the device, to the erased images only.
    """

    def __init__(self, prob: float = 0.25, mode: str = 'pixel', min_area: float = 0.02, max_area: float = 1 / 3,
                 min_aspect: float = 0.3, max_aspect: float | None = None, count: int = 1,
                 seed: int | None = None) -> None:
        if mode not in ('pixel', 'rand', 'const'):
            raise ValueError(f"random_erasing.mode must be 'pixel', 'rand' or 'const', got {mode!r}")
        self.prob, self.mode, self.count = prob, mode, count
        self.min_area, self.max_area = min_area, max_area
        self.log_aspect = (math.log(min_aspect), math.log(max_aspect or 1.0 / min_aspect))
        self.rng = np.random.default_rng(default_seed() + 1 if seed is None else seed)

    def boxes(self, n: int, img_hw: tuple[int, int]) -> np.ndarray:
        """``(n, 4)`` erase boxes; an empty box where the image is not erased or no attempt fit."""
        img_h, img_w = img_hw
        erase = self.rng.random(n) < self.prob
        area = self.rng.uniform(self.min_area, self.max_area, (n, 10)) * img_h * img_w / self.count
        aspect = np.exp(self.rng.uniform(*self.log_aspect, (n, 10)))
        h = np.rint(np.sqrt(area * aspect)).astype(np.int64)
        w = np.rint(np.sqrt(area / aspect)).astype(np.int64)
        fits = (w < img_w) & (h < img_h)
        first = fits.argmax(axis=1)
        ok = erase & fits.any(axis=1)
        h, w = np.where(ok, h[np.arange(n), first], 0), np.where(ok, w[np.arange(n), first], 0)
        top = (self.rng.random(n) * (img_h - h + 1)).astype(np.int64)
        left = (self.rng.random(n) * (img_w - w + 1)).astype(np.int64)
        return np.stack([top, top + h, left, left + w], axis=1)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` with the boxes erased (a new tensor; ``x`` is left as it is).

        Only the images that get a box are touched, and pixel noise is drawn for the largest box of the batch, not for
        the whole batch: with DeiT's ``prob=0.25`` that is about a tenth of the noise (N(0, 1) sampling dominated
        the step's preprocessing on the CPU). Each erased image reads its box's noise from the top-left corner of
        its own noise block, so the noise stays i.i.d. N(0, 1), as timm's per-image ``normal_()``.
        """
        b, c = x.shape[:2]
        img_hw = tuple(x.shape[-2:])
        for _ in range(self.count):
            boxes = self.boxes(b, img_hw)  # host: which images, and the sizes, are known without a device sync
            sel = np.flatnonzero(boxes[:, 1] > boxes[:, 0])
            if sel.size == 0:
                continue
            boxes = boxes[sel]
            k = sel.size
            idx = torch.from_numpy(sel).to(x.device, non_blocking=True)
            box = torch.from_numpy(boxes).to(x.device, non_blocking=True)
            part = x.index_select(0, idx)
            mask = box_mask(box, img_hw)
            if self.mode == 'pixel':
                h_max = int((boxes[:, 1] - boxes[:, 0]).max())
                w_max = int((boxes[:, 3] - boxes[:, 2]).max())
                noise = torch.randn((k, c, h_max, w_max), device=x.device, dtype=x.dtype)
                # pixel (y, x) of image i reads noise[i, :, y - top_i, x - left_i] (clamped outside the box)
                rows = (torch.arange(img_hw[0], device=x.device)[None] - box[:, 0:1]).clamp_(0, h_max - 1)
                cols = (torch.arange(img_hw[1], device=x.device)[None] - box[:, 2:3]).clamp_(0, w_max - 1)
                fill = noise.gather(2, rows[:, None, :, None].expand(k, c, img_hw[0], w_max))
                fill = fill.gather(3, cols[:, None, None, :].expand(k, c, img_hw[0], img_hw[1]))
            elif self.mode == 'rand':
                fill = torch.randn((k, c, 1, 1), device=x.device, dtype=x.dtype)
            else:
                fill = torch.zeros((), device=x.device, dtype=x.dtype)
            x = x.index_copy(0, idx, torch.where(mask, fill, part))
        return x


@MODELS.register_module()
class ClsDataPreprocessor(BaseDataPreprocessor):
    """Moves a uint8 batch to the device, then converts, normalises and (in training) randomly erases it there.

    Input: ``dict(inputs=uint8 (B, 3, H, W), data_samples=dict(gt_label=(B,)))`` from ``default_collate``.

    Args:
        mean, std: per-channel statistics in 0-255 units (ImageNet by default).
        random_erasing: ``BatchRandomErasing`` kwargs (e.g. ``dict(prob=0.25, mode='pixel')``) or None.
        channels_last: return inputs in channels-last memory format (faster convolutions on GPUs). None (default):
            decided by ``openmix.apis.build_runner`` (on for a CNN backbone on CUDA, see
            :func:`openmix.engine.step_hygiene.apply_channels_last`); off when the model is used outside a runner.
        device_augment: a device transform config applied (in training) to the uint8 batch before normalising,
            e.g. ``dict(type='DeviceRandAugment', config_str='rand-m9-mstd0.5-inc1', img_mean=(124, 116, 104))``;
            a module that owns ``generator`` has its state saved in checkpoints by ``RandomStateHook``.

    Differences from the reference code (timm's ``PrefetchLoader`` + ``RandomErasing``, OpenMixup's prefetcher):
    normalisation is ``(x - mean) / std`` in float32 on 0-255 statistics, the same arithmetic as OpenMixup's
    prefetcher and timm's (their constants, x 255, give the same float32 values: checked for the CIFAR configs);
    random erasing draws timm's distribution from our own per-rank generator (other draws, same rule; see
    ``BatchRandomErasing``). Not compared with recorded output; no flag.
    """

    def __init__(self, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
                 random_erasing: dict | None = None, channels_last: bool | None = None,
                 device_augment: dict | None = None) -> None:
        super().__init__()
        self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.register_buffer('std', torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.random_erasing = BatchRandomErasing(**random_erasing) if random_erasing else None
        self.channels_last = channels_last
        if device_augment is not None:
            from openmix.registry import TRANSFORMS
            import openmix.datasets  # noqa: F401  (registers the device transforms)
            device_augment = TRANSFORMS.build(device_augment)
        self.device_augment = device_augment

    def get_rng_state(self) -> dict | None:
        return self.random_erasing.rng.bit_generator.state if self.random_erasing else None

    def set_rng_state(self, state: dict | None) -> None:
        if self.random_erasing and state is not None:
            self.random_erasing.rng.bit_generator.state = state

    def forward(self, data: dict, training: bool = False) -> dict:
        data = self.cast_data(data)  # non-blocking copy to self.device
        inputs = data['inputs']
        if training and self.device_augment is not None:
            inputs = self.device_augment(inputs)
        if not inputs.is_floating_point():
            inputs = inputs.float()
        inputs = (inputs - self.mean) / self.std
        if training and self.random_erasing is not None:
            inputs = self.random_erasing(inputs)
        if self.channels_last:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        return dict(inputs=inputs, data_samples=data.get('data_samples'))
