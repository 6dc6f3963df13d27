"""glibc malloc settings for a training process: keep the step's activation memory mapped between steps.

A training step on the CPU (and the host side of a GPU step) frees and re-allocates the same hundreds of MB of
activations every iteration. glibc's malloc serves blocks above ``M_MMAP_THRESHOLD`` with a fresh ``mmap`` and
returns them on ``free``, and gives the top of its heap back to the kernel once more than ``M_TRIM_THRESHOLD`` is
free there. Both thresholds start small (128 KiB / 256 KiB) and only grow when a mapped block is freed, so whether
a run re-faults its activations page by page every step depends on its allocation history, not on the job: on the
CPU peer job of ``benchmarks/cpu_peer.py`` (DeiT-tiny depth 4, 64 px, batch 64, 2 epochs) openmix took 2.15 M page
faults and 6.8 s of system time with glibc's heuristics, and timm's ``train.py`` 0.72 M, for the same model step.
Fixed thresholds (the defaults below) took openmix to 0.64-0.96 M faults and 4.7-5.3 s; see ``benchmarks/cpu_peer.py``.

The price is memory held, not used: up to ``trim_threshold`` of free heap stays mapped after a peak, as PyTorch's
CUDA caching allocator does on the device. ``env_cfg.host_malloc=None`` keeps glibc's own heuristics. Nothing is
changed when the C library is not glibc, when ``LD_PRELOAD`` names another allocator (jemalloc, tcmalloc,
mimalloc), or when the environment already sets glibc's malloc knobs (``MALLOC_*_`` or ``GLIBC_TUNABLES``):
the user's choice stands.
"""
from __future__ import annotations

import ctypes
import difflib
import os
import platform

__all__ = ['DEFAULT_HOST_MALLOC', 'configure_host_malloc']

#: mallopt parameter numbers (glibc's malloc.h)
_MALLOPT = dict(trim_threshold=-1, top_pad=-2, mmap_threshold=-3)
_MIB = 1 << 20
#: Blocks below 1 GiB come from the heap and are reused; up to 1 GiB of free heap stays mapped; the heap grows in
#: 64 MiB steps. mallopt takes an ``int``: at most 2 GiB - 1.
DEFAULT_HOST_MALLOC = dict(mmap_threshold=1024 * _MIB, trim_threshold=1024 * _MIB, top_pad=64 * _MIB)
_USER_ENV = ('MALLOC_TRIM_THRESHOLD_', 'MALLOC_MMAP_THRESHOLD_', 'MALLOC_TOP_PAD_', 'MALLOC_MMAP_MAX_',
             'MALLOC_ARENA_MAX', 'MALLOC_ARENA_TEST')
_OTHER_ALLOCATORS = ('jemalloc', 'tcmalloc', 'mimalloc', 'hoard', 'snmalloc')


def _check(settings: dict, key: str) -> dict:
    if not isinstance(settings, dict):
        raise TypeError(f'config key `{key}`: expected a dict of byte counts ({", ".join(_MALLOPT)}) or None, got '
                        f'{type(settings).__name__} {settings!r}')
    for name, value in settings.items():
        if name not in _MALLOPT:
            close = difflib.get_close_matches(str(name), list(_MALLOPT), n=1)
            hint = f' Did you mean: {close[0]}?' if close else ''
            raise KeyError(f'config key `{key}.{name}`: unknown setting.{hint} Valid: {", ".join(_MALLOPT)}')
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2 ** 31:
            raise ValueError(f'config key `{key}.{name}`: expected a byte count, an int in [0, 2**31), got {value!r}')
    return settings


def configure_host_malloc(settings: dict | None = DEFAULT_HOST_MALLOC, key: str = 'env_cfg.host_malloc') -> str:
    """Apply ``settings`` (byte counts for ``mmap_threshold``, ``trim_threshold``, ``top_pad``) with ``mallopt``.

    Returns one line for the log saying what was set, or why nothing was. Raises for a malformed ``settings`` (the
    message names ``key``) even where nothing would be set, so a config is checked on every machine.
    """
    if settings is None:
        return f"host malloc: glibc's own thresholds ({key}=None)"
    settings = _check(settings, key)
    if platform.system() != 'Linux' or platform.libc_ver()[0] != 'glibc':
        return f'host malloc: left as it is (C library {platform.libc_ver()[0] or platform.system()}, not glibc)'
    preload = os.environ.get('LD_PRELOAD', '')
    other = next((name for name in _OTHER_ALLOCATORS if name in preload), None)
    if other:
        return f'host malloc: left to {other} (LD_PRELOAD={preload})'
    user = [name for name in _USER_ENV if name in os.environ]
    if 'glibc.malloc.' in os.environ.get('GLIBC_TUNABLES', ''):
        user.append('GLIBC_TUNABLES')
    if user:
        return f'host malloc: left to the environment ({", ".join(user)})'
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return 'host malloc: left as it is (no mallopt in this process)'
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    done = []
    for name, value in settings.items():
        ok = mallopt(_MALLOPT[name], value) == 1
        done.append(f'{name} {value / _MIB:g} MiB' + ('' if ok else ' (refused by mallopt)'))
    _trim_before_fork()
    return (f'host malloc: glibc {", ".join(done)}, free heap returned before each fork ({key}; None keeps '
            f'glibc\'s heuristics)')


_TRIM_REGISTERED = False


def _trim_before_fork() -> None:
    """Return the free heap to the kernel before every ``os.fork`` of this process (DataLoader workers each epoch).

    A forked child shares the parent's pages copy-on-write, so each heap page the parent writes after the fork takes
    a write-protect fault with a TLB shoot-down on every CPU the process runs on, far dearer than a fresh page in a
    VM. Between steps, where workers are started, the activations' memory is free: ``malloc_trim(0)`` unmaps it, so
    the next step faults in fresh pages once instead of copy-on-write pages.
    """
    global _TRIM_REGISTERED
    if _TRIM_REGISTERED:
        return
    try:
        malloc_trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return
    malloc_trim.argtypes, malloc_trim.restype = [ctypes.c_size_t], ctypes.c_int
    os.register_at_fork(before=lambda: malloc_trim(0))
    _TRIM_REGISTERED = True
