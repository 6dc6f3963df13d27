"""Batched device versions of the train transforms, on uint8 ``(B, 3, H, W)`` batches with per-sample parameters.

One file per family: :mod:`.crop_flip_jitter` (RandomCrop with padding, RandomHorizontalFlip, ColorJitter),
:mod:`.resized_crop` (RandomResizedCrop with Pillow's filters), :mod:`.randaugment` (timm's RandAugment,
``DeviceRandAugment``); :mod:`.pipeline` translates a dataset's train pipeline into them (``DevicePipeline``, used by
the device-resident loader, :mod:`openmix.datasets.device_loader`). Each op is a pure function of given per-sample
parameters, tested against the PIL transform it replaces, plus a draw of those parameters with the CPU transform's
rule. No per-sample Python loops, no host synchronisation.
"""
from .common import host_generator, uniform
from .crop_flip_jitter import FlipOp, JitterOp, RandomCropOp, color_jitter, crop_padded, hflip
from .pipeline import TRANSLATED_TRANSFORMS, DevicePipeline
from .randaugment import (OP_FAMILY, RAND_INCREASING_TRANSFORMS, RAND_TRANSFORMS, DeviceRandAugment, RandAugmentOp,
                          affine_warp, apply_op)
from .resized_crop import ResizedCropOp, resized_crop, rrc_boxes

__all__ = ['crop_padded', 'hflip', 'color_jitter', 'resized_crop', 'rrc_boxes', 'DevicePipeline',
           'TRANSLATED_TRANSFORMS', 'DeviceRandAugment', 'RandAugmentOp', 'apply_op', 'affine_warp', 'OP_FAMILY',
           'RAND_TRANSFORMS', 'RAND_INCREASING_TRANSFORMS', 'RandomCropOp', 'FlipOp', 'JitterOp', 'ResizedCropOp',
           'host_generator', 'uniform']
