"""Device-resident training data: the whole uint8 train set on the device, sharded and augmented there in batches.

Switched on with one key on an existing config, ``train_dataloader = dict(device_resident=True)``
(``--cfg-options train_dataloader.device_resident=True``): ``openmix.apis.build_runner`` then replaces the train
DataLoader by a :class:`DeviceResidentLoader` built from the same ``train_dataloader`` config. The dataset (CIFAR's
``data`` array, or a class-folder dataset such as Tiny-ImageNet or the demo data decoded once, all images of one
size) is copied to the runner's device as one ``(N, 3, H, W)`` uint8 tensor; each epoch one permutation (mmengine
``DefaultSampler``'s: ``torch.randperm`` seeded with ``seed + epoch``, padded to a multiple of the world size, rank
``r`` taking ``r::world``) picks the batches, and the dataset's ``pipeline`` runs as batched device ops
(:class:`~openmix.datasets.device_ops.DevicePipeline`: RandomCrop, flip, RandomResizedCrop, ColorJitter and
timm's RandAugment, so DeiT's whole recipe, with random erasing and mixing after it in the model). No CPU workers.

Batches follow the data contract, ``dict(inputs=uint8 (B, 3, H, W), data_samples=dict(gt_label=(B,)))``, already
on the device. The augmentation draws of batch ``b`` of epoch ``e`` on rank ``r`` come from a device generator seeded
from ``(seed, e, r, b)``: a run can start at any batch of an epoch and draw what the uninterrupted run drew, so the
only state is ``(seed, epoch)``, saved in checkpoints by :class:`DeviceLoaderStateHook` and restored on resume.
"""
from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from mmengine.dist import get_dist_info
from mmengine.hooks import Hook
from mmengine.logging import print_log

from openmix.datasets.device_ops import DevicePipeline

__all__ = ['DeviceShardSampler', 'DeviceResidentLoader', 'DeviceLoaderStateHook', 'dataset_to_uint8',
           'install_device_resident', 'GPU_REPORT_OPTIONS']

#: DataLoader keys that only concern CPU workers: accepted and ignored on the device path
_WORKER_KEYS = ('num_workers', 'pin_memory', 'persistent_workers', 'worker_init_fn', 'prefetch_factor',
                'collate_fn', 'timeout', 'pin_memory_device', 'disable_subprocess_warning', 'multiprocessing_context')


def dataset_to_uint8(dataset, num_threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """All images of ``dataset`` as one ``(N, H, W, 3)`` uint8 array and its ``(N,)`` int64 labels.

    A dataset with a ``data`` array (CIFAR) is used as it is; otherwise each image is decoded once with the
    dataset's ``load_image`` (threads: PIL releases the GIL while decoding). An in-memory dataset whose items already
    follow the data contract (``SyntheticImages``: ``inputs`` uint8 CHW tensors) is stacked. Images of different
    sizes are refused, naming the first one that differs.
    """
    if not callable(getattr(dataset, 'get_gt_labels', None)):
        return _stack_items(dataset)
    labels = np.asarray(dataset.get_gt_labels(), dtype=np.int64)
    data = getattr(dataset, 'data', None)
    if isinstance(data, np.ndarray) and data.ndim == 4 and data.shape[-1] == 3 and len(data) == len(labels):
        return np.ascontiguousarray(data, dtype=np.uint8), labels
    if not callable(getattr(dataset, 'load_image', None)):
        raise TypeError(f'device_resident: {type(dataset).__name__} has neither a (N, H, W, 3) `data` array nor '
                        '`load_image(idx)`; use the DataLoader path')
    n = len(dataset)
    first = np.asarray(dataset.load_image(0), dtype=np.uint8)
    out = np.empty((n,) + first.shape, dtype=np.uint8)
    out[0] = first

    def decode(i: int) -> None:
        img = np.asarray(dataset.load_image(i), dtype=np.uint8)
        if img.shape != first.shape:
            path = dataset.samples[i][0] if hasattr(dataset, 'samples') else f'#{i}'
            raise ValueError(f'device_resident: {path} is {img.shape[1]}x{img.shape[0]}, the first image '
                             f'{first.shape[1]}x{first.shape[0]}; the device path holds images of one size only '
                             '(resize the dataset once, or use the DataLoader path)')
        out[i] = img

    with ThreadPoolExecutor(num_threads or min(8, os.cpu_count() or 1)) as pool:
        list(pool.map(decode, range(1, n)))
    return out, labels


def _stack_items(dataset) -> tuple[np.ndarray, np.ndarray]:
    """``(N, H, W, 3)`` uint8 and ``(N,)`` labels of a dataset whose items are ``dict(inputs=uint8 (3, H, W) tensor,
    data_samples=dict(gt_label=int))`` (read once, at load time)."""
    first = dataset[0] if len(dataset) else None
    inputs = first.get('inputs') if isinstance(first, dict) else None
    if not (isinstance(inputs, torch.Tensor) and inputs.dtype == torch.uint8 and inputs.ndim == 3):
        raise TypeError(f'device_resident: {type(dataset).__name__} has no `get_gt_labels()` and its items are not '
                        'dict(inputs=uint8 (3, H, W) tensor, data_samples=dict(gt_label=...)); use the DataLoader path')
    items = [dataset[i] for i in range(len(dataset))]
    images = torch.stack([item['inputs'] for item in items]).permute(0, 2, 3, 1).contiguous().numpy()
    labels = np.asarray([int(item['data_samples']['gt_label']) for item in items], dtype=np.int64)
    return images, labels


class DeviceShardSampler:
    """mmengine ``DefaultSampler``'s order (``shuffle``, ``seed``, ``round_up=True``) as one index tensor per epoch.

    Args:
        size: Dataset length.
        shuffle: Permute each epoch (``torch.randperm`` seeded with ``seed + epoch``) or keep the order.
        seed: Shared by all ranks.
        rank, world_size: Default: the process group's.
    """

    def __init__(self, size: int, shuffle: bool = True, seed: int = 0, rank: int | None = None,
                 world_size: int | None = None) -> None:
        dist_rank, dist_world = get_dist_info()
        self.rank = dist_rank if rank is None else rank
        self.world_size = dist_world if world_size is None else world_size
        self.size, self.shuffle, self.seed, self.epoch = size, shuffle, int(seed), 0
        self.num_samples = math.ceil(size / self.world_size)
        self.total_size = self.num_samples * self.world_size

    def indices(self, device: torch.device | str = 'cpu') -> torch.Tensor:
        """This rank's ``(num_samples,)`` indices of the current epoch on ``device``."""
        if self.shuffle:
            # one int64 draw per epoch on the host (DefaultSampler's CPU generator: the same order as the DataLoader
            # path), one copy; the per-step gathers run on the device
            order = torch.randperm(self.size, generator=torch.Generator().manual_seed(self.seed + self.epoch))
        else:
            order = torch.arange(self.size)
        order = order.repeat(math.ceil(self.total_size / self.size))[:self.total_size]
        return order[self.rank:self.total_size:self.world_size].to(device, non_blocking=True)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices().tolist())

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch


class DeviceResidentLoader:
    """The train loader of the device path: see the module docstring.

    Args:
        dataset: Dataset config (built with an empty pipeline) or a built dataset.
        batch_size: Per-rank batch.
        pipeline: The train transforms (default: the dataset config's ``pipeline``), translated to device ops.
        device: Where data and augmentation live (default: cuda when present, else cpu).
        seed: Sampler and augmentation seed (the runner's).
        shuffle: As the sampler's.
        drop_last: Drop this rank's last partial batch.
        rank, world_size: Default: the process group's.
    """

    generator = None  # no DataLoader base seed: PreemptibleTrainLoop records torch's, harmlessly

    def __init__(self, dataset, batch_size: int, pipeline=None, device: torch.device | str | None = None,
                 seed: int = 0, shuffle: bool = True, drop_last: bool = False, rank: int | None = None,
                 world_size: int | None = None) -> None:
        if isinstance(dataset, dict):
            pipeline = dataset.get('pipeline', ()) if pipeline is None else pipeline
        self.pipeline = DevicePipeline(pipeline or ())  # refuse untranslatable transforms before any data is read
        self._dataset = dataset
        self.batch_size, self.drop_last = int(batch_size), bool(drop_last)
        self.device = torch.device(device or ('cuda' if torch.cuda.is_available() else 'cpu'))
        self._sampler_args = dict(shuffle=shuffle, seed=seed, rank=rank, world_size=world_size)
        self._sampler: DeviceShardSampler | None = None
        self._images: torch.Tensor | None = None
        self._labels: torch.Tensor | None = None

    @property
    def dataset(self):
        if isinstance(self._dataset, dict):  # built on first use: tools/test.py never reads the train set
            from openmix.registry import DATASETS
            self._dataset = DATASETS.build(dict(self._dataset, pipeline=[]))
        return self._dataset

    @property
    def sampler(self) -> DeviceShardSampler:
        if self._sampler is None:
            self._sampler = DeviceShardSampler(len(self.dataset), **self._sampler_args)
        return self._sampler

    def _load(self) -> None:
        if self._images is None:
            images, labels = dataset_to_uint8(self.dataset)
            self._images = torch.from_numpy(images).to(self.device).permute(0, 3, 1, 2).contiguous()
            self._labels = torch.from_numpy(labels).to(self.device)

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def _generator(self, batch: int) -> torch.Generator:
        s = self.sampler
        words = np.random.SeedSequence([s.seed % 2 ** 63, s.epoch, s.rank, batch]).generate_state(2, np.uint32)
        return torch.Generator(device=self.device).manual_seed(int(words[0]) << 31 | int(words[1]) >> 1)

    def batch(self, indices: torch.Tensor, g: torch.Generator) -> dict:
        """The augmented batch of the samples ``indices`` (on the device), drawing from ``g``."""
        self._load()
        inputs = self.pipeline(self._images.index_select(0, indices), g)
        return dict(inputs=inputs, data_samples=dict(gt_label=self._labels.index_select(0, indices)))

    def iter_from(self, start: int = 0) -> Iterator[dict]:
        """The epoch's batches from batch ``start`` on (what the full epoch yields there)."""
        self._load()
        order = self.sampler.indices(self.device)
        for b in range(start, len(self)):
            yield self.batch(order[b * self.batch_size:(b + 1) * self.batch_size], self._generator(b))

    def __iter__(self) -> Iterator[dict]:
        return self.iter_from(0)

    def __getitem__(self, key: str):
        # mmengine's Runner.scale_lr reads `dataloader['batch_size']` from anything that is not a DataLoader
        return getattr(self, key)

    def state_dict(self) -> dict:
        return dict(seed=self.sampler.seed, epoch=self.sampler.epoch)

    def load_state_dict(self, state: dict) -> None:
        self.sampler.seed, self.sampler.epoch = int(state['seed']), int(state['epoch'])

    def __repr__(self) -> str:
        return (f'DeviceResidentLoader(batch_size={self.batch_size}, drop_last={self.drop_last}, '
                f'device={self.device}, pipeline={self.pipeline!r})')


class DeviceLoaderStateHook(Hook):
    """Saves the device loader's ``(seed, epoch)`` in checkpoints (``device_loader``) and restores it on resume."""

    priority = 'LOW'

    @staticmethod
    def _loader(runner):
        loop = runner._train_loop
        loader = getattr(loop, 'dataloader', None) if not isinstance(loop, dict) else None
        return loader if isinstance(loader, DeviceResidentLoader) else runner._train_dataloader

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        loader = self._loader(runner)
        if isinstance(loader, DeviceResidentLoader):
            checkpoint['device_loader'] = loader.state_dict()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        loader = self._loader(runner)
        if not runner._resume or not isinstance(loader, DeviceResidentLoader):
            return
        if 'device_loader' not in checkpoint:
            print_log('DeviceLoaderStateHook: the checkpoint has no `device_loader` state; the device loader keeps '
                      'the seed of this run', logger='current', level=logging.WARNING)
            return
        loader.load_state_dict(checkpoint['device_loader'])


def install_device_resident(runner) -> bool:
    """Replace ``runner``'s train loader config by a :class:`DeviceResidentLoader` when it sets
    ``device_resident=True`` (before the train loop is built); returns whether it did."""
    cfg = runner._train_dataloader
    if not isinstance(cfg, dict) or not cfg.get('device_resident'):
        return False
    cfg = dict(cfg)
    cfg.pop('device_resident')
    sampler = dict(cfg.pop('sampler', None) or dict(type='DefaultSampler'))
    if sampler.get('type') not in ('DefaultSampler', 'mmengine.DefaultSampler') or cfg.get('batch_sampler'):
        raise ValueError(f'train_dataloader.device_resident: the device path shards like DefaultSampler; sampler '
                         f'{sampler.get("type")!r} / batch_sampler {cfg.get("batch_sampler")!r} are not supported')
    unknown = sorted(set(cfg) - {'dataset', 'batch_size', 'drop_last', 'shuffle', 'batch_sampler', *_WORKER_KEYS})
    if unknown:
        raise ValueError(f'train_dataloader.device_resident: keys {unknown} have no meaning on the device path')
    try:
        device = next(runner.model.parameters()).device
    except StopIteration:
        device = None
    seed = sampler.get('seed')
    loader = DeviceResidentLoader(dict(cfg['dataset']), batch_size=cfg.get('batch_size', 1), device=device,
                                  seed=runner.seed if seed is None else seed, shuffle=sampler.get('shuffle', True),
                                  drop_last=cfg.get('drop_last', False))
    runner._train_dataloader = loader
    runner.register_hook(DeviceLoaderStateHook())
    print_log(f'train data on the device: {loader!r}', logger='current')
    return True


def GPU_REPORT_OPTIONS(sizes: dict) -> list[str]:  # noqa: N802 (the name benchmarks/gpu_report.py probes for)
    """The ``tools/train.py --cfg-options`` of ``benchmarks/gpu_report.py``'s device-resident end-to-end row.

    ``configs/deit_s_baseline.py`` at the report's ``sizes`` (``img``, ``batch``, ``e2e_window``: one epoch of
    ``3 * e2e_window`` batches, as the report's other rows) with its train set replaced by as many in-memory random
    images (``SyntheticImages``, what the report's synthetic row feeds the model unaugmented) held on the device, and
    the DeiT train pipeline (RandomResizedCrop bicubic, flip, RandAugment ``rand-m9-mstd0.5-inc1``) run there in
    batches; random erasing and Mixup/CutMix follow in the model as on every path. The sampler is ``DefaultSampler``:
    the recipe's ``RepeatAugSampler`` has no device version (it changes the order, not the work per step).
    """
    img = int(sizes['img'])
    pipeline = [dict(type='RandomResizedCrop', size=img, interpolation='bicubic'),
                dict(type='RandomHorizontalFlip', prob=0.5),
                dict(type='RandAugment', config_str='rand-m9-mstd0.5-inc1', img_mean=(124, 116, 104),
                     interpolation='bicubic', img_size=img),
                dict(type='PackInputs')]
    samples = int(sizes['batch']) * 3 * int(sizes['e2e_window'])
    dataset = dict(_delete_=True, type='SyntheticImages', num_samples=samples, img_size=img, num_classes=1000,
                   pipeline=pipeline)
    sampler = dict(_delete_=True, type='DefaultSampler', shuffle=True)
    return ['train_dataloader.device_resident=True', f'train_dataloader.dataset={dataset!r}',
            f'train_dataloader.sampler={sampler!r}']
