"""Find the checkpoint ``--resume`` continues from, keep the ``last_checkpoint`` pointer atomic, clear write leftovers.

mmengine's auto-resume trusts ``<work_dir>/last_checkpoint`` alone: a kill after ``epoch_1.pth`` is renamed into place
but before the pointer is written leaves no pointer, and ``--resume`` starts from scratch and overwrites the intact
checkpoint. :func:`find_resume_checkpoint` instead reads every ``*.pth`` in the work dir (and the pointer's target),
keeps those that load and can be resumed, and picks the furthest one by the training iteration in its ``meta``.
"""
from __future__ import annotations

import glob
import logging
import os
import os.path as osp
import re
from dataclasses import dataclass

from openmix.utils.checkpoint import AtomicLocalBackend, allow_mmengine_checkpoint_globals

__all__ = ['CheckpointInfo', 'read_last_checkpoint', 'write_last_checkpoint', 'remove_stale_temp_files',
           'scan_checkpoints', 'find_resume_checkpoint', 'pick_resume_checkpoint']

#: ``AtomicLocalBackend`` temporaries: ``.<name>.tmp-<12 hex>``
_TEMP_RE = re.compile(r'^\..+\.tmp-[0-9a-f]{12}$')
_NAME_ITER_RE = re.compile(r'(?:epoch|iter)_(\d+)(?:_iter_(\d+))?\.pth$')


@dataclass
class CheckpointInfo:
    """One ``*.pth`` file as resume sees it: its progress (``meta``), and why it cannot be resumed if it cannot."""

    path: str
    epoch: int | None = None
    iter: int | None = None
    problem: str | None = None  # None: intact and resumable

    @property
    def resumable(self) -> bool:
        return self.problem is None


def read_last_checkpoint(work_dir: str) -> str | None:
    """The path ``<work_dir>/last_checkpoint`` points at, or None when it is missing or empty."""
    pointer = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(pointer):
        return None
    with open(pointer) as f:
        target = f.read().strip()
    return target or None


def write_last_checkpoint(work_dir: str, checkpoint: str) -> None:
    """Point ``<work_dir>/last_checkpoint`` at ``checkpoint`` atomically (temporary file + rename)."""
    AtomicLocalBackend().put_text(str(checkpoint), osp.join(work_dir, 'last_checkpoint'))


def remove_stale_temp_files(work_dir: str) -> list[str]:
    """Remove ``AtomicLocalBackend`` temporaries (``.epoch_2.pth.tmp-...``) a killed run left in ``work_dir``.

    Call it at start-up on one process only, before anything writes; returns the removed paths.
    """
    removed = []
    if not osp.isdir(work_dir):
        return removed
    for name in os.listdir(work_dir):
        path = osp.join(work_dir, name)
        if _TEMP_RE.match(name) and osp.isfile(path):
            try:
                os.unlink(path)
                removed.append(path)
            except FileNotFoundError:  # another process cleaned it
                pass
    return removed


def _inspect(path: str) -> CheckpointInfo:
    """Load ``path`` weights-only with ``mmap`` (tensors are not read) and read its progress."""
    import torch
    allow_mmengine_checkpoint_globals()
    info = CheckpointInfo(path)
    try:
        ckpt = torch.load(path, map_location='cpu', weights_only=True, mmap=True)
    except Exception as e:  # noqa: BLE001 - any failure to load means "not intact"; the reason is reported
        first = (str(e).strip().splitlines() or [type(e).__name__])[0].split('. ')[0]
        info.problem = f'does not load ({osp.getsize(path)} bytes, truncated or corrupt: {first[:120]})'
        return info
    meta = ckpt.get('meta') if isinstance(ckpt, dict) else None
    if not isinstance(meta, dict) or not isinstance(meta.get('iter'), int):
        info.problem = 'no training progress in its meta (not a runner checkpoint)'
        return info
    info.epoch, info.iter = meta.get('epoch'), meta['iter']
    if 'optimizer' not in ckpt or 'state_dict' not in ckpt:
        info.problem = 'no optimizer state (a best or published checkpoint, weights only)'
    return info


def scan_checkpoints(work_dir: str, extra: tuple[str, ...] = ()) -> list[CheckpointInfo]:
    """Inspect every ``*.pth`` directly in ``work_dir`` plus ``extra`` paths (missing ones are skipped)."""
    paths = sorted(glob.glob(osp.join(glob.escape(work_dir), '*.pth')))
    for p in extra:
        if p and osp.isfile(p) and osp.abspath(p) not in {osp.abspath(q) for q in paths}:
            paths.append(p)
    return [_inspect(p) for p in paths]


def _name_order(path: str) -> tuple[int, int]:
    m = _NAME_ITER_RE.search(osp.basename(path))
    return (int(m.group(1)), int(m.group(2) or 0)) if m else (-1, -1)


def find_resume_checkpoint(work_dir: str) -> tuple[str | None, str]:
    """The checkpoint ``--resume`` (no path) should continue from, and a sentence saying why.

    Candidates are the intact, resumable ``*.pth`` files of ``work_dir`` and the ``last_checkpoint`` target; the one
    with the largest global iteration (``meta['iter']``) wins, ties going to the pointer's target, then to the larger
    epoch/iteration in the name, then to the newer file. Returns ``(None, reason)`` when there is nothing to resume;
    raises ``RuntimeError`` naming the files when checkpoints exist but none of them loads (starting from scratch
    would overwrite them).
    """
    pointer = read_last_checkpoint(work_dir)
    infos = scan_checkpoints(work_dir, extra=(pointer,) if pointer else ())
    good = [i for i in infos if i.resumable]
    rejected = '; '.join(f'{osp.basename(i.path)}: {i.problem}' for i in infos if not i.resumable)
    pointer_abs = osp.abspath(pointer) if pointer else None
    if pointer is None:
        pointer_state = 'no last_checkpoint pointer'
    elif not osp.isfile(pointer):
        pointer_state = f'last_checkpoint points at {pointer}, which does not exist'
    else:
        pointer_state = f'last_checkpoint points at {pointer}'
    if not good:
        corrupt = [i for i in infos if i.problem and i.problem.startswith('does not load')]
        if corrupt:
            raise RuntimeError(f'--resume: no intact checkpoint in {work_dir} ({pointer_state}); {rejected}. Remove '
                               f'or move the damaged files to start from scratch, or pass --resume PATH')
        return None, f'nothing to resume in {work_dir} ({pointer_state})' + (f'; {rejected}' if rejected else '')
    best = max(good, key=lambda i: (i.iter, osp.abspath(i.path) == pointer_abs, _name_order(i.path),
                                    osp.getmtime(i.path)))
    why = f'{osp.basename(best.path)} is the intact checkpoint furthest into training (epoch {best.epoch}, ' \
          f'iteration {best.iter}); {pointer_state}'
    if pointer_abs != osp.abspath(best.path) and pointer is not None and osp.isfile(pointer):
        why += ' (stale)'
    if rejected:
        why += f'; skipped {rejected}'
    return best.path, why


def pick_resume_checkpoint(work_dir: str) -> str | None:
    """:func:`find_resume_checkpoint`, logging the choice and the reason; None means start from scratch."""
    from mmengine.logging import print_log
    path, why = find_resume_checkpoint(work_dir)
    if os.environ.get('RANK', os.environ.get('SLURM_PROCID', '0')) != '0':  # every rank decides alike; one tells
        return path
    if path is None:
        print_log(f'--resume: {why}; starting from scratch', logger='current', level=logging.WARNING)
    else:
        print_log(f'--resume: resuming from {path}: {why}', logger='current', level=logging.INFO)
    return path
