"""Samplers: DeiT's repeated augmentation, distributed-aware."""
from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from mmengine.dist import get_dist_info, sync_random_seed
from torch.utils.data import Sampler

from openmix.registry import DATA_SAMPLERS


@DATA_SAMPLERS.register_module()
class RepeatAugSampler(Sampler):
    """Repeated augmentation (Hoffer et al. 2020; Berman et al. 2019) as in DeiT's ``RASampler``.

    Each epoch draws one permutation of the dataset (``torch.randperm`` seeded by ``seed + epoch``), repeats every
    index ``num_repeats`` times consecutively, pads to a multiple of the world size and deals the list round-robin
    to the ranks, so the copies of one image land on different ranks (different augmentations, one per GPU). As in
    DeiT, each rank then keeps only its first ``floor(len(dataset) // selected_round * selected_round / world)``
    indices, so an epoch still visits about ``len(dataset)`` samples in total. For datasets smaller than
    ``selected_round`` (or ``selected_round=0``) every rank keeps ``ceil(len(dataset) / world)`` indices.

    Args:
        dataset: The dataset (only its length is used).
        shuffle: Permute (True) or keep the order.
        num_repeats: Copies of each index (DeiT: 3).
        selected_round: Rounding of the per-epoch sample count (DeiT: 256).
        seed: Base seed shared by all ranks; None draws one and broadcasts it.
        rank, world_size: Override the process group's (default: from ``torch.distributed``).
    """

    def __init__(self, dataset, shuffle: bool = True, num_repeats: int = 3, selected_round: int = 256,
                 seed: int | None = None, rank: int | None = None, world_size: int | None = None) -> None:
        if num_repeats < 1:
            raise ValueError(f'num_repeats must be >= 1, got {num_repeats}')
        dist_rank, dist_world = get_dist_info()
        self.rank = dist_rank if rank is None else rank
        self.world_size = dist_world if world_size is None else world_size
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f'rank {self.rank} is not in [0, world_size={self.world_size})')
        self.dataset = dataset
        self.shuffle = shuffle
        self.num_repeats = num_repeats
        self.seed = sync_random_seed() if seed is None else seed
        self.epoch = 0
        n = len(dataset)
        self.num_samples = math.ceil(n * num_repeats / self.world_size)
        self.total_size = self.num_samples * self.world_size
        if selected_round and n >= selected_round:
            self.num_selected = int(math.floor(n // selected_round * selected_round / self.world_size))
        else:
            self.num_selected = math.ceil(n / self.world_size)

    def __iter__(self) -> Iterator[int]:
        n = len(self.dataset)
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(n, generator=g)
        else:
            order = torch.arange(n)
        indices = order.repeat_interleave(self.num_repeats)
        pad = self.total_size - len(indices)
        if pad > 0:
            indices = torch.cat([indices, indices[:pad]])
        return iter(indices[self.rank:self.total_size:self.world_size][:self.num_selected].tolist())

    def __len__(self) -> int:
        return self.num_selected

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
