"""Registered transforms (TRANSFORMS): the DeiT recipe over timm/torchvision, and packing to uint8 tensors."""
from .formatting import PackInputs
from .processing import (CenterCrop, ColorJitter, RandAugment, RandomCrop, RandomHorizontalFlip, RandomResizedCrop,
                         Resize, safe_posterize)

__all__ = ['PackInputs', 'CenterCrop', 'ColorJitter', 'RandAugment', 'RandomCrop', 'RandomHorizontalFlip',
           'RandomResizedCrop', 'Resize', 'safe_posterize']
