"""Preemption: stop cleanly on SIGTERM/SIGUSR1, write an iteration-level checkpoint, exit with a distinct code.

Schedulers (SLURM at the time limit or on preemption, Kubernetes, cloud spot instances) send SIGTERM, or a signal
asked for in advance (``srun --signal=USR1@120``), and kill the job some time later. ``PreemptibleTrainLoop``
(``openmix/engine/loops.py``) installs :class:`PreemptionSignal` for the training run on every rank: the handler
only sets a flag; the loop finishes the current step, all ranks agree on the step to stop at, rank 0 writes
``epoch_{E}_iter_{I}.pth`` and points ``last_checkpoint`` at it, and the process exits with
:data:`PREEMPTED_EXIT_CODE` (``tools/train.py`` returns it). ``--resume`` then continues inside the epoch.
"""
from __future__ import annotations

import logging
import os
import signal
import threading
from types import FrameType

from mmengine.logging import print_log

__all__ = ['PREEMPTED_EXIT_CODE', 'PREEMPTION_SIGNALS', 'PreemptionSignal', 'TrainingPreempted']

#: Exit status of a run that stopped on a preemption signal after writing its checkpoint: 75 is ``EX_TEMPFAIL``
#: of ``sysexits.h`` ("temporary failure, retry later"). It differs from 143 (128 + SIGTERM), which a shell reports
#: for a process that SIGTERM killed before it could save; ``tools/slurm_train.sh`` requeues the job on it.
PREEMPTED_EXIT_CODE = 75

#: The signals that request a checkpoint-and-exit.
PREEMPTION_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)


class TrainingPreempted(Exception):
    """Raised by ``PreemptibleTrainLoop`` on every rank once the preemption checkpoint is written.

    Attributes:
        checkpoint: Path of the checkpoint written (``epoch_{E}_iter_{I}.pth``).
        exit_code: The process exit status to use (:data:`PREEMPTED_EXIT_CODE`).
    """

    def __init__(self, message: str, checkpoint: str) -> None:
        super().__init__(message)
        self.checkpoint = checkpoint
        self.exit_code = PREEMPTED_EXIT_CODE


class PreemptionSignal:
    """Context manager: while active, SIGTERM/SIGUSR1 set :attr:`received` instead of ending the process.

    The previous handlers are put back on exit. The handler does nothing else (no I/O, no locks), so a signal may
    arrive at any point of a step. DataLoader workers forked while it is active inherit it; there it only sets a
    flag in the worker's own memory, so a signal sent to the whole process group (SLURM does that) does not kill
    the workers of a run that is about to write its checkpoint.

    Example:
        >>> with PreemptionSignal() as stop:
        ...     while not stop.received:
        ...         step()
    """

    def __init__(self, signals: tuple[int, ...] = PREEMPTION_SIGNALS) -> None:
        self.signals = signals
        self.received: int | None = None  # the first signal number received
        self._pid = os.getpid()
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if os.getpid() == self._pid and self.received is None:
            self.received = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.received).name if self.received else ''

    def __enter__(self) -> PreemptionSignal:
        self._pid = os.getpid()
        self.received = None
        if threading.current_thread() is not threading.main_thread():
            # Python delivers signals to the main thread only; a run driven from another thread keeps the defaults
            print_log('PreemptionSignal: training does not run in the main thread, so SIGTERM/SIGUSR1 end it without '
                      'a checkpoint', logger='current', level=logging.WARNING)
            return self
        for sig in self.signals:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
