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

import os
import os.path as osp
import pickle
import uuid
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from mmengine.fileio import LocalBackend

__all__ = ['allow_mmengine_checkpoint_globals', 'mmengine_checkpoint_globals', 'AtomicLocalBackend',
           'register_atomic_local_backend']

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


def allow_mmengine_checkpoint_globals() -> None:
    """Allow-list (``torch.serialization.add_safe_globals``) exactly what mmengine checkpoints need; idempotent.

    Weights-only loading stays on: any other class or callable in a checkpoint still fails to load.
    """
    # the allow-list is a set, so adding the same objects again is a no-op
    torch.serialization.add_safe_globals(mmengine_checkpoint_globals())


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
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
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
