"""Stopping a training run on a signal, at a step boundary, with a checkpoint to resume from.

``SIGINT`` (Ctrl-C) and ``SIGTERM`` (what job schedulers send before ``SIGKILL``) only set a flag
(:class:`StopSignals`). The training loop looks at it between steps; when set, it writes the
checkpoint of the step just finished - the state exactly as an uninterrupted run has it at that
boundary, so resuming reproduces the uninterrupted run bit for bit - and ends with
:class:`TrainingInterrupted`. Under DDP the ranks agree on the stop step (one all-reduce of the
flag per step) and only rank 0 writes.

Exit codes (``audiogan train``): 130 after ``SIGINT``, 143 after ``SIGTERM`` (128 + the signal
number, as a shell reports a process killed by it), with one line: ``interrupted at step N
(SIGTERM); checkpoint ... written; continue with --resume``.

A second signal while stopping aborts at once (:class:`StopNow`, a ``KeyboardInterrupt``): a
checkpoint write in progress is abandoned whole (its temporary file removed), never left half
written; the previous checkpoints are intact.

Data-loader worker processes ignore both signals (:func:`ignore_stop_signals`); the main process
shuts them down when it stops, so a Ctrl-C to the process group or a scheduler's ``SIGTERM`` to
every process does not kill a worker mid-batch and break the orderly stop.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

from audiogan.core.errors import AudioganError
from audiogan.training.distributed import DistContext

__all__ = ["StopNow", "StopSignals", "TrainingInterrupted", "exit_code_for", "ignore_stop_signals"]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def exit_code_for(signum: int) -> int:
    """128 + the signal number: 130 for ``SIGINT``, 143 for ``SIGTERM``."""
    return 128 + int(signum)


def signal_name(signum: int) -> str:
    """``"SIGINT"``, ``"SIGTERM"``, ..."""
    try:
        return signal.Signals(signum).name
    except ValueError:  # pragma: no cover
        return f"signal {signum}"


class TrainingInterrupted(AudioganError):
    """Training stopped on a signal at a step boundary (its checkpoint written when possible)."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.signum = signum
        self.exit_code = exit_code_for(signum)


class StopNow(KeyboardInterrupt):
    """A second stop signal: abandon whatever is in progress (``signum`` says which signal)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal_name(signum))
        self.signum = signum


class StopSignals:
    """While active, ``SIGINT``/``SIGTERM`` set :attr:`signum` instead of stopping the process.

    A second signal raises :class:`StopNow`. Handlers are installed only in the main thread (a
    trainer run from another thread keeps Python's default behaviour); the previous handlers
    come back on exit.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:
            raise StopNow(signum)
        self.signum = signum

    def requested(self, dist: DistContext) -> int | None:
        """The stop signal if any rank received one (every rank gets the same answer).

        Under DDP this is one all-reduce of a one-element tensor; a rank that received nothing
        itself reports ``SIGTERM``.
        """
        if not dist.enabled:
            return self.signum
        if dist.any(self.signum is not None):
            return self.signum if self.signum is not None else int(signal.SIGTERM)
        return None


def ignore_stop_signals(worker_id: int) -> None:
    """``DataLoader`` ``worker_init_fn``: workers ignore ``SIGINT``/``SIGTERM`` (see module doc)."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
