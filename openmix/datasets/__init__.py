"""Datasets (DATASETS), transforms (TRANSFORMS), samplers (DATA_SAMPLERS) and the loader worker seeding (FUNCTIONS)."""
from . import transforms  # noqa: F401
from .base import BaseImageDataset, CorruptImageError, EmptyClassFolderError, load_rgb
from .cifar import CIFAR10, CIFAR100
from .demo import DemoShapes, generate_demo_dataset
from .device_ops import DeviceRandAugment
from .imagenet import ImageFolder, ImageNet
from .packed import PackedImageNet, pack_images, packed_decode_collate
from .samplers import RepeatAugSampler
from .synthetic import SyntheticImages
from .tiny_imagenet import TinyImageNet
from .worker import seed_worker

__all__ = ['BaseImageDataset', 'CorruptImageError', 'EmptyClassFolderError', 'load_rgb', 'CIFAR10', 'CIFAR100',
           'DemoShapes', 'generate_demo_dataset', 'ImageFolder', 'ImageNet', 'RepeatAugSampler', 'SyntheticImages',
           'TinyImageNet', 'seed_worker', 'DeviceRandAugment', 'PackedImageNet', 'pack_images', 'packed_decode_collate']
