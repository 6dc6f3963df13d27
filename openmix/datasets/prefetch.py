"""Side-stream prefetch of the train batches: batch ``i + 1`` is copied to the GPU while step ``i`` trains.

On by default on CUDA (``train_dataloader.prefetch=False`` turns it off; ``True`` forces the wrapper, a pass-through
on the CPU). ``openmix.apis.build_runner`` calls :func:`install_prefetch`, which takes the key out of the loader config
(the DataLoader never sees it), sets ``pin_memory=True`` unless the config says otherwise, and registers a
:class:`PrefetchHook` that wraps the train loop's DataLoader in a :class:`PrefetchLoader` at ``before_train``.

The copy follows timm's ``PrefetchLoader`` (``timm/data/loader.py``): the tensors of the next batch go to the device
with ``non_blocking=True`` on a side stream, from pinned memory, while the current stream runs the step; before the
batch is handed out the current stream waits for the side stream (``wait_stream``, a device-side dependency, no host
sync) and every copied tensor is ``record_stream``-ed on the current stream, so the caching allocator does not reuse
its memory while the step still reads it. The data preprocessor's ``cast_data`` then finds the tensors on its device
and ``Tensor.to`` returns them as they are. Only the copies run on the side stream; the batch itself is produced by
the DataLoader as before (workers, collate), uint8, so the copy is a quarter of a float batch.

The wrapper hands everything else to the DataLoader it wraps: ``len``, ``sampler``/``batch_sampler`` (``set_epoch``
of mmengine's ``DistSamplerSeedHook``), ``generator`` (read and replaced by ``PreemptibleTrainLoop`` to replay an
interrupted epoch's base seed), ``dataset``, ``batch_size``, and ``iter_from`` where the inner loader has one. ``iter``
creates the inner iterator at once (not at the first ``next``), so what ``PreemptibleTrainLoop`` sets around
``iter(loader)`` for a mid-epoch start is what the inner iterator sees. The device-resident path
(``train_dataloader.device_resident=True``) already yields device tensors and is not wrapped.
"""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log

__all__ = ['PrefetchLoader', 'PrefetchHook', 'install_prefetch', 'to_device']


def to_device(obj: Any, device: torch.device, copied: list | None = None) -> Any:
    """``obj`` (a tensor, or dicts/lists/tuples of them) with every tensor on ``device``, copied ``non_blocking``.

    Tensors already on ``device`` are returned as they are; the copies are appended to ``copied`` (for
    ``record_stream``). Other leaves (strings, data elements, None) are left to the data preprocessor.
    """
    if torch.is_tensor(obj):
        if obj.device == device:
            return obj
        out = obj.to(device, non_blocking=True)
        if copied is not None:
            copied.append(out)
        return out
    if isinstance(obj, dict):
        return {k: to_device(v, device, copied) for k, v in obj.items()}
    if isinstance(obj, list):
        return [to_device(v, device, copied) for v in obj]
    if isinstance(obj, tuple) and not hasattr(obj, '_fields'):
        return tuple(to_device(v, device, copied) for v in obj)
    return obj


class PrefetchLoader:
    """A train loader whose next batch is copied to ``device`` on a side CUDA stream (see the module docstring).

    Args:
        loader: The DataLoader (or any iterable of batches) to wrap.
        device: The model's device. Not CUDA (or CUDA absent): batches pass through untouched.

    Example:
        >>> loader = PrefetchLoader(torch.utils.data.DataLoader(dataset, batch_size=64, pin_memory=True), 'cuda:0')
        >>> for batch in loader:  # batch['inputs'] is already on cuda:0
        ...     model.train_step(batch, optim_wrapper)
    """

    _own = ('loader', 'device')

    def __init__(self, loader, device: torch.device | str) -> None:
        object.__setattr__(self, 'loader', loader)
        device = torch.device(device)
        if device.type == 'cuda' and device.index is None and torch.cuda.is_available():
            device = torch.device('cuda', torch.cuda.current_device())  # the index the copies land on
        object.__setattr__(self, 'device', device)

    @property
    def uses_stream(self) -> bool:
        """Whether batches are copied on a side stream (CUDA), rather than passed through."""
        return self.device.type == 'cuda' and torch.cuda.is_available()

    def __getattr__(self, name: str):
        loader = self.__dict__.get('loader')
        if loader is None:  # during unpickling / before __init__
            raise AttributeError(name)
        if name == 'iter_from':  # only where the inner loader can start inside an epoch itself
            inner = getattr(loader, 'iter_from')
            return lambda start=0: self._iterate(inner(start))
        return getattr(loader, name)

    def __setattr__(self, name: str, value) -> None:
        if name in self._own:
            object.__setattr__(self, name, value)
        else:  # `generator` (PreemptibleTrainLoop), anything else a hook sets: the DataLoader's
            setattr(self.loader, name, value)

    def __getitem__(self, key: str):
        return getattr(self, key)  # mmengine's Runner.scale_lr reads ``loader['batch_size']`` from non-DataLoaders

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator:
        return self._iterate(iter(self.loader))  # the inner iterator is created now, not at the first next()

    def _iterate(self, iterator: Iterator) -> Iterator:
        if not self.uses_stream:
            return iterator
        return self._prefetch(iterator, torch.cuda.Stream(self.device))

    def _prefetch(self, iterator: Iterator, stream: torch.cuda.Stream | None) -> Iterator:
        """Yield the batches of ``iterator`` on the device, one batch ahead; ``stream=None`` copies on the current
        stream (the same order of work, no overlap: the CPU tests of this generator)."""
        ready = None
        for batch in iterator:
            copies: list[torch.Tensor] = []
            with torch.cuda.stream(stream) if stream is not None else contextlib.nullcontext():
                batch = to_device(batch, self.device, copies)
            if ready is not None:
                yield ready  # step i runs while batch i + 1 is being copied
            if stream is not None:
                current = torch.cuda.current_stream(self.device)
                current.wait_stream(stream)  # device-side ordering: the step's kernels wait for the copy, the host not
                for t in copies:
                    t.record_stream(current)  # allocated on the side stream, read on this one
            ready = batch
        if ready is not None:
            yield ready

    def __repr__(self) -> str:
        mode = 'side-stream copy' if self.uses_stream else 'pass-through'
        return f'PrefetchLoader({mode}, device={self.device}, loader={type(self.loader).__name__})'


class PrefetchHook(Hook):
    """Wraps the train loop's loader in a :class:`PrefetchLoader` at ``before_train`` (after the loop has built it).

    Args:
        device: The model's device.
    """

    priority = 'VERY_HIGH'  # before any hook that iterates the loader

    def __init__(self, device: torch.device | str) -> None:
        self.device = torch.device(device)

    def before_train(self, runner) -> None:
        loop = runner.train_loop
        loader = getattr(loop, 'dataloader', None)
        if loader is None or isinstance(loader, PrefetchLoader):
            return
        from openmix.datasets.device_loader import DeviceResidentLoader
        if isinstance(loader, DeviceResidentLoader):
            return
        wrapped = PrefetchLoader(loader, self.device)
        loop.dataloader = wrapped
        if hasattr(loop, 'dataloader_iterator'):  # IterBasedTrainLoop built its endless iterator in __init__
            from mmengine.runner.loops import _InfiniteDataloaderIterator
            loop.dataloader_iterator = _InfiniteDataloaderIterator(wrapped)
        print_log(f'train batches: {wrapped!r}', logger='current')


def install_prefetch(runner) -> bool:
    """Read ``train_dataloader.prefetch`` (default: on for a CUDA model) from ``runner``'s train loader config,
    remove the key, and register a :class:`PrefetchHook` when it is on; returns whether it did.

    Call before ``install_device_resident`` (which refuses keys it does not know); the device-resident path is never
    wrapped. On CUDA, ``pin_memory`` defaults to True (the copy is asynchronous only from pinned memory).
    """
    cfg = runner._train_dataloader
    if not isinstance(cfg, dict):
        return False
    prefetch = cfg.get('prefetch')
    if 'prefetch' in cfg:
        cfg = dict(cfg)
        cfg.pop('prefetch')
        runner._train_dataloader = cfg
    if prefetch is not None and not isinstance(prefetch, bool):
        raise TypeError(f'train_dataloader.prefetch must be True, False or None (auto: on CUDA), got {prefetch!r}')
    try:
        device = next(runner.model.parameters()).device
    except StopIteration:
        device = torch.device('cpu')
    if cfg.get('device_resident'):
        if prefetch:
            print_log('train_dataloader.prefetch: the device-resident path already yields device tensors; nothing '
                      'to prefetch', logger='current', level=logging.WARNING)
        return False
    if prefetch is None:
        prefetch = device.type == 'cuda'
    if not prefetch:
        return False
    if device.type == 'cuda' and 'pin_memory' not in cfg:
        cfg = dict(cfg, pin_memory=True)
        runner._train_dataloader = cfg
    runner.register_hook(PrefetchHook(device))
    return True
