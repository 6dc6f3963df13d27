"""Safe checkpoint loading and atomic checkpoint writing for mmengine runners.

Two process-wide fixes, both idempotent and applied by ``openmix.utils.setup_env.register_all_modules``:

* ``allow_mmengine_checkpoint_globals``: torch >= 2.6 loads checkpoints with ``weights_only=True``, and mmengine
  0.10.7's resume then fails on mmengine's own objects (the ``MessageHub``'s ``HistoryBuffer`` holding NumPy arrays and
  scalars). Instead of turning weights-only loading off (which would let a checkpoint run arbitrary code), the few
  globals an mmengine checkpoint really contains are allow-listed, and ``getattr`` only in the one form mmengine
  pickles (``HistoryBuffer``'s statistics methods).
* ``register_atomic_local_backend``: mmengine's ``LocalBackend.put`` writes the destination in place, so a crash or a
  full disk mid-write leaves a truncated ``epoch_N.pth`` that ``--resume`` then picks up. ``AtomicLocalBackend``
  writes a temporary file in the same directory, flushes and fsyncs it, and renames it over the destination.
"""
from __future__ import annotations

import errno
import os
import os.path as osp
import pickle
import shutil
import uuid
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from mmengine.fileio import LocalBackend

__all__ = ['allow_mmengine_checkpoint_globals', 'mmengine_checkpoint_globals', 'AtomicLocalBackend',
           'register_atomic_local_backend', 'CorruptCheckpointError', 'load_checkpoint_file',
           'register_checkpoint_loader', 'release_checkpoint_globals']

_HISTORY_BUFFER_METHODS = ('min', 'max', 'current', 'mean')


def _history_buffer_getattr(obj: Any, name: str) -> Callable:
    """``getattr`` as an mmengine checkpoint uses it, and nothing else.

    ``HistoryBuffer.__getstate__`` stores its statistics methods (``HistoryBuffer.min`` ...); pickle protocol 2 writes
    a function with a dotted qualname as ``getattr(HistoryBuffer, 'min')``. Allowing the real ``builtins.getattr``
    would let a checkpoint fetch e.g. ``getattr(numpy.ndarray, 'tofile')`` and call it, so only the built-in
    statistics of ``HistoryBuffer`` resolve here.
    """
    from mmengine.logging.history_buffer import HistoryBuffer
    if obj is HistoryBuffer and name in _HISTORY_BUFFER_METHODS:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(f'weights-only load: getattr({obj!r}, {name!r}) is not allowed (openmix allows '
                                 f'getattr only for HistoryBuffer.{{{", ".join(_HISTORY_BUFFER_METHODS)}}})')


def mmengine_checkpoint_globals() -> list:
    """The globals an mmengine 0.10.7 checkpoint holds beyond torch's default weights-only allow-list.

    Found by saving a runner checkpoint and reading ``torch.serialization.get_unsafe_globals_in_checkpoint``: the
    message hub's ``HistoryBuffer`` (float64 arrays of logged values, int64 arrays of counts, and its statistics
    methods pickled as ``getattr(HistoryBuffer, 'mean')``) and runtime info such as ``eta`` (a NumPy float64 scalar).
    The concrete dtype classes ``numpy.dtypes.Float64DType``/``Int64DType`` never appear as GLOBALs but are needed
    too: unpickling a dtype calls ``numpy.dtype('f8', ...)`` and then BUILDs the result, whose type is the concrete
    class. The ``numpy.core.multiarray`` names are the same functions as written by NumPy 1.x, so checkpoints saved
    there load too.
    """
    from mmengine.logging.history_buffer import HistoryBuffer
    multiarray = (np._core if hasattr(np, '_core') else np.core).multiarray  # NumPy 2 renamed numpy.core
    return [
        HistoryBuffer,
        np.ndarray,
        np.dtype,
        np.dtypes.Float64DType,
        np.dtypes.Int64DType,
        multiarray._reconstruct,
        multiarray.scalar,
        (multiarray._reconstruct, 'numpy.core.multiarray._reconstruct'),
        (multiarray.scalar, 'numpy.core.multiarray.scalar'),
        (_history_buffer_getattr, 'builtins.getattr'),
    ]


def release_checkpoint_globals() -> list:
    """Globals of released checkpoints that ``openmix.utils.convert`` reads: ``argparse.Namespace`` (the ``args`` of
    timm's ``train.py`` (TransMix) and DeiT/CaiT/XCiT ``main.py`` checkpoints; a plain attribute bag, no methods run)."""
    import argparse
    return [argparse.Namespace]


def allow_mmengine_checkpoint_globals() -> None:
    """Allow-list (``torch.serialization.add_safe_globals``) exactly what mmengine checkpoints need; idempotent.

    Weights-only loading stays on: any other class or callable in a checkpoint still fails to load.
    """
    # the allow-list is a set, so adding the same objects again is a no-op
    torch.serialization.add_safe_globals(mmengine_checkpoint_globals() + release_checkpoint_globals())


#: write errors that mean "no room": full disk, quota, file size limit (``ulimit -f``)
_NO_ROOM = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def _no_room_error(e: OSError, filepath: str) -> OSError:
    """The same ``OSError`` (errno kept) naming the file that could not be written and the free space left."""
    dirname = osp.dirname(osp.abspath(filepath))
    try:
        free = f'{shutil.disk_usage(dirname).free / 2**20:.1f} MiB free in {dirname}'
    except OSError:
        free = f'free space in {dirname} unknown'
    cause = 'the file size limit (ulimit -f) was reached' if e.errno == errno.EFBIG else e.strerror
    return OSError(e.errno, f'cannot write {filepath}: {cause} ({free}). Nothing was replaced: the partial temporary '
                            f'file was removed and any previous {osp.basename(filepath)} is intact. Free some space '
                            f'or pass --work-dir on a disk with room, then --resume')


class AtomicLocalBackend(LocalBackend):
    """mmengine ``LocalBackend`` whose writes are atomic: temporary file, flush + fsync, ``os.replace``.

    A reader (or a resumed run) sees either the old file or the complete new one, never a partial write. The temporary
    file lives in the destination's directory (``os.replace`` is atomic only within one filesystem), is hidden, and is
    removed if anything fails. It is created with mode 0o666 minus the umask, like ``open(path, 'w')``.
    """

    def put(self, obj: bytes, filepath: str | Path) -> None:
        self._atomic_write(filepath, lambda f: f.write(obj), 'wb')

    def put_text(self, obj: str, filepath: str | Path, encoding: str = 'utf-8') -> None:
        self._atomic_write(filepath, lambda f: f.write(obj), 'w', encoding=encoding)

    @staticmethod
    def _atomic_write(filepath: str | Path, write: Callable, mode: str, encoding: str | None = None) -> None:
        filepath = os.fspath(filepath)
        dirname = osp.dirname(osp.abspath(filepath))
        os.makedirs(dirname, exist_ok=True)
        tmp = osp.join(dirname, f'.{osp.basename(filepath)}.tmp-{uuid.uuid4().hex[:12]}')
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(fd, mode, encoding=encoding) as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, filepath)
        except BaseException as e:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            if isinstance(e, OSError) and e.errno in _NO_ROOM:
                raise _no_room_error(e, filepath) from e
            raise
        # make the rename itself durable; some filesystems cannot fsync a directory, which only weakens durability
        try:
            dir_fd = os.open(dirname, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(dir_fd)
        except OSError:
            pass
        finally:
            os.close(dir_fd)


def register_atomic_local_backend() -> None:
    """Make ``AtomicLocalBackend`` mmengine's ``'local'`` backend (plain paths); idempotent.

    ``mmengine.fileio.get_file_backend`` resolves a path without a ``scheme://`` through ``prefix_to_backends['']``
    and ``backend_args=dict(backend='local')`` through ``backends['local']``; both are replaced, and cached
    ``LocalBackend`` singletons are dropped so they are rebuilt as atomic ones. ``mmengine.runner.save_checkpoint``
    (used by ``Runner.save_checkpoint`` and ``CheckpointHook``) writes through ``get_file_backend(...).put``, and
    ``mmengine.dump`` through ``put_text``. The deprecated ``FileClient('disk')`` path is switched as well.
    """
    from mmengine.fileio import FileClient, register_backend
    from mmengine.fileio.backends import backends, prefix_to_backends
    from mmengine.fileio.io import backend_instances

    if backends.get('local') is not AtomicLocalBackend or prefix_to_backends.get('') is not AtomicLocalBackend:
        register_backend('local', AtomicLocalBackend, force=True, prefixes='')
    for key, instance in list(backend_instances.items()):
        if isinstance(instance, LocalBackend) and not isinstance(instance, AtomicLocalBackend):
            backend_instances.pop(key)
    if FileClient._backends.get('disk') is not _AtomicHardDiskBackend:
        FileClient.register_backend('disk', _AtomicHardDiskBackend, force=True)


class _AtomicHardDiskBackend(AtomicLocalBackend):
    """``FileClient``'s ``'disk'`` backend (deprecated mmengine API, used with ``file_client_args``), atomic too."""


class CorruptCheckpointError(RuntimeError):
    """A checkpoint file that cannot be read: truncated (a crash or a full disk mid-write) or otherwise damaged."""


# torch's messages for a file that is not a complete zip/pickle checkpoint
_CORRUPT_MARKERS = ('PytorchStreamReader', 'zip archive', 'central directory', 'file not found in archive',
                    'Ran out of input', 'invalid load key', 'unexpected EOF', 'truncated', 'mmap can only be used')


def load_checkpoint_file(path: str | Path, map_location: Any = 'cpu', mmap: bool = False) -> Any:
    """``torch.load(path, weights_only=True)`` whose errors name the file.

    A truncated or damaged file raises :class:`CorruptCheckpointError` naming it, its size and the likely cause; a file
    refused by weights-only loading (a disallowed global) keeps torch's exception type with the file named in front.
    """
    path = os.fspath(path)
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint not found: {path}')
    try:
        return torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except (EOFError, RuntimeError, ValueError, pickle.UnpicklingError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if isinstance(e, EOFError) or any(m in str(e) for m in _CORRUPT_MARKERS):
            raise CorruptCheckpointError(
                f'checkpoint {path} is truncated or corrupt ({osp.getsize(path)} bytes; torch: {first[:160]}). It was '
                f'probably cut off while being written (a kill or a full disk) or damaged when copied; use another '
                f'checkpoint from {osp.dirname(osp.abspath(path))}, or `--resume` with no path, which picks the newest '
                f'intact one') from e
        raise type(e)(f'cannot load checkpoint {path}: {e}') from e


def _load_from_local(filename: str, map_location: Any = None) -> Any:
    """mmengine ``CheckpointLoader`` scheme for plain paths: weights-only, errors name the file; released checkpoints
    (TransMix/DeiT, LV-ViT, OpenMixup) are converted to openmix's layout (``openmix.utils.convert``), so ``load_from``
    takes them as they are."""
    from openmix.utils.convert import convert_checkpoint
    return convert_checkpoint(load_checkpoint_file(osp.expanduser(filename), map_location=map_location))


def register_checkpoint_loader() -> None:
    """Make :func:`load_checkpoint_file` the loader of mmengine's ``CheckpointLoader`` for local paths; idempotent.

    ``Runner.resume`` and ``Runner.load_checkpoint`` (``load_from``) then read weights-only and name a truncated file.
    """
    from mmengine.runner.checkpoint import CheckpointLoader
    if CheckpointLoader._schemes.get('') is not _load_from_local:
        CheckpointLoader.register_scheme(prefixes='', loader=_load_from_local, force=True)
