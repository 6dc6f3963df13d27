"""Checks of the built datasets and loaders against the model and the schedule, before the first step.

mmengine builds the train loop, then the optimizer, scales the lr (``auto_scale_lr``) and builds the schedulers, all
inside ``Runner.train()`` before any hook runs. A batch larger than the data fails there with
``epoch_length must be a positive integer, got 0`` (``drop_last=True``) or trains one partial step per epoch with an lr
scaled for a batch the data cannot fill; a dataset whose class count differs from the head fails in the one-hot
(``index 10 is out of bounds``) or trains silently on the wrong head. :func:`check_training_data` builds the train
and val loops first (``Runner.train()`` then reuses them, in the same order) and says what is wrong.
"""
from __future__ import annotations

import math
from typing import Any

from mmengine.logging import print_log

__all__ = ['check_training_data', 'check_class_count', 'check_batch_fits', 'dataset_num_classes']


class DataConfigError(ValueError):
    """The data does not fit the model or the loader config; the message names the numbers and the keys."""


def dataset_num_classes(dataset: Any) -> int | None:
    """The class count a dataset declares (``num_classes``, ``classes`` or ``metainfo['classes']``), or None."""
    num = getattr(dataset, 'num_classes', None)
    if isinstance(num, int):
        return num
    classes = getattr(dataset, 'classes', None)
    if classes is None:
        classes = (getattr(dataset, 'metainfo', None) or {}).get('classes')
    return len(classes) if classes is not None else None


def _where(cfg: Any, split: str) -> str:
    dataset = (cfg.get(f'{split}_dataloader') or {}).get('dataset') or {}
    parts = [f"{k}={dataset[k]!r}" for k in ('type', 'data_root', 'split') if k in dataset]
    return f'{split}_dataloader.dataset ({", ".join(parts)})' if parts else f'{split}_dataloader.dataset'


def check_class_count(dataset: Any, num_classes: int, where: str) -> None:
    """Raise :class:`DataConfigError` when ``dataset`` declares another class count than the head's ``num_classes``,
    or holds a label outside ``[0, num_classes)`` (datasets with a label list, e.g. CIFAR or an annotation file)."""
    found = dataset_num_classes(dataset)
    if found is not None and found != num_classes:
        raise DataConfigError(
            f'{where} has {found} classes but model.head.num_classes is {num_classes}: set model.head.num_classes='
            f'{found} (or fix the dataset: an extra or missing class folder, the wrong CIFAR variant, a classes file).')
    labels = dataset.get_gt_labels() if hasattr(dataset, 'get_gt_labels') else None
    if labels:
        bad = sorted({int(x) for x in labels if not 0 <= int(x) < num_classes})
        if bad:
            raise DataConfigError(f'{where} has labels {bad[:5]} outside [0, {num_classes}) of '
                                  f'model.head.num_classes={num_classes}')


def check_batch_fits(loader: Any, world_size: int, key: str = 'train_dataloader',
                     auto_scale_lr: dict | None = None) -> str | None:
    """Raise :class:`DataConfigError` when ``drop_last=True`` leaves no step per epoch; return a warning when one
    process's share of the data is smaller than the batch (one partial step per epoch); else None."""
    batch_size = getattr(loader, 'batch_size', None)
    if not batch_size:
        return None
    total = len(loader.dataset)
    sampler = getattr(loader, 'sampler', None)
    per_rank = len(sampler) if hasattr(sampler, '__len__') else math.ceil(total / world_size)
    if per_rank >= batch_size:
        return None
    share = (f'{total} images over world size {world_size} = {per_rank} per process' if world_size > 1
             else f'{total} images (world size 1)')
    fix = f'Set {key}.batch_size to at most {per_rank}'
    if getattr(loader, 'drop_last', False):
        raise DataConfigError(f'{key}.batch_size={batch_size} is larger than the training data: {share}, and with '
                              f'{key}.drop_last=True no batch is ever full, so an epoch has no step at all. {fix} '
                              f'(or set {key}.drop_last=False).')
    msg = (f'{key}.batch_size={batch_size} is larger than the training data: {share}, so every epoch is one partial '
           f'step of {per_rank} images')
    if auto_scale_lr and auto_scale_lr.get('enable') and auto_scale_lr.get('base_batch_size'):
        base = auto_scale_lr['base_batch_size']
        msg += (f', and auto_scale_lr scales the lr by {world_size * batch_size / base:g} for a total batch of '
                f'{world_size * batch_size} (base_batch_size={base}) that the data cannot fill')
    return msg + f'. {fix}.'


def check_training_data(runner: Any) -> None:
    """Build ``runner``'s train and val loops (``Runner.train()`` reuses them) and check their data: the class count
    against ``model.head.num_classes`` (train and val) and the train batch against the data (see
    :func:`check_batch_fits`). Raises :class:`DataConfigError`; a batch larger than the data is logged as a warning.
    """
    cfg = runner.cfg
    if runner._train_loop is not None:
        runner._train_loop = runner.build_train_loop(runner._train_loop)
    if runner._val_loop is not None:
        runner._val_loop = runner.build_val_loop(runner._val_loop)
    head = (cfg.get('model') or {}).get('head') or {}
    num_classes = head.get('num_classes') if isinstance(head, dict) else None
    for split, loop in (('train', runner._train_loop), ('val', runner._val_loop)):
        loader = getattr(loop, 'dataloader', None)
        if loader is None:
            continue
        if isinstance(num_classes, int):
            check_class_count(loader.dataset, num_classes, _where(cfg, split))
        if split == 'train':
            warning = check_batch_fits(loader, runner.world_size, auto_scale_lr=cfg.get('auto_scale_lr'))
            if warning:
                print_log(warning, logger='current', level=30)
