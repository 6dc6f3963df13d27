"""A dataset's train pipeline translated to batched device ops (:class:`DevicePipeline`)."""
from __future__ import annotations

from collections.abc import Sequence

import torch

from .common import host_generator
from .crop_flip_jitter import FlipOp, JitterOp, RandomCropOp
from .randaugment import RandAugmentOp
from .resized_crop import ResizedCropOp

__all__ = ['DevicePipeline', 'TRANSLATED_TRANSFORMS']

#: CPU transform type -> its batched device version (same constructor arguments)
TRANSLATED_TRANSFORMS = {'RandomCrop': RandomCropOp, 'RandomHorizontalFlip': FlipOp,
                         'RandomResizedCrop': ResizedCropOp, 'ColorJitter': JitterOp, 'RandAugment': RandAugmentOp}


class DevicePipeline:
    """A dataset's train ``pipeline`` (configs of ``TRANSFORMS``) translated to batched device ops, in order.

    The last entry must be ``PackInputs`` without ``meta_keys``; anything without a device version is refused with
    a message naming it. Ops draw from the batch generator ``g`` on the device; an op whose draws must be known on
    the host (``host_draws``: RandAugment) gets a CPU generator derived from ``g``'s seed and its position.

    Example:
        >>> pipe = DevicePipeline([dict(type='RandomCrop', size=32, padding=4, padding_mode='reflect'),
        ...                        dict(type='RandomHorizontalFlip'), dict(type='PackInputs')])
        >>> out = pipe(images_uint8, torch.Generator().manual_seed(0))  # (B, 3, 32, 32) uint8

    Args:
        pipeline: The dataset's pipeline configs.
    """

    def __init__(self, pipeline: Sequence[dict]) -> None:
        self.ops, self.names, self.salts = [], [], []
        pipeline = list(pipeline)
        for i, t in enumerate(pipeline):
            name = t.get('type') if isinstance(t, dict) else type(t).__name__
            if name == 'PackInputs' and isinstance(t, dict):
                if i != len(pipeline) - 1 or t.get('meta_keys'):
                    raise ValueError('device_resident: PackInputs must be the last transform and have no meta_keys '
                                     f'(got pipeline[{i}] = {t}); the device path yields only inputs and gt_label')
                continue
            if not isinstance(t, dict) or name not in TRANSLATED_TRANSFORMS:
                raise ValueError(f'device_resident: pipeline[{i}] {name} has no batched device version (translated: '
                                 f'{", ".join(TRANSLATED_TRANSFORMS)}, PackInputs); remove it or use the DataLoader '
                                 f'path (drop train_dataloader.device_resident)')
            args = {k: v for k, v in t.items() if k != 'type'}
            try:
                self.ops.append(TRANSLATED_TRANSFORMS[name](**args))
            except TypeError as e:
                raise ValueError(f'device_resident: pipeline[{i}] {name}: {e}') from e
            self.names.append(name)
            self.salts.append(i)

    def __call__(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """Augment a uint8 ``(B, 3, H, W)`` batch with draws from ``g`` (a generator on ``x.device``)."""
        for op, salt in zip(self.ops, self.salts):
            x = op(x, host_generator(g, salt) if getattr(op, 'host_draws', False) else g)
        return x

    def __repr__(self) -> str:
        return f'DevicePipeline({self.names})'
