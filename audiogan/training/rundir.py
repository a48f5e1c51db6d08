"""The run directory's lifecycle: one trainer at a time, one run per directory, safe pruning.

A run directory (``audiogan train CONFIG -o RUN``) belongs to one training run:

* **Lock.** The trainer holds ``fcntl.flock`` on ``RUN/.lock`` for as long as it trains (rank 0
  only under DDP). The kernel releases it when the process ends, even on ``kill -9``, so a stale
  lock never blocks anybody. A second trainer into the same directory stops at once with one line
  naming the holder's pid (which the holder writes into the lock file).
* **Identity.** A run started afresh gets a run id (``uuid4`` hex), stored in ``RUN/run.json``
  and in every checkpoint it writes. ``--resume`` adopts the id of the checkpoint it resumes.
* **One run per directory.** Training into a directory that already holds checkpoints needs
  ``--resume`` (continue that run) or ``--overwrite`` (start afresh: the old run's checkpoints,
  ``metrics.jsonl``, ``events/`` and ``samples/`` are removed, after the lock is held and the new
  run is fully set up). ``--resume`` on an empty or new directory starts afresh.
* **Resume point.** The newest ``step_*.pt`` that loads and belongs to this run. A damaged newer
  file (a truncated copy, a full disk in another tool) is skipped with one warning line naming it;
  if step files exist but none is usable, resuming is refused (one line) instead of silently
  starting over.
* **Pruning** (``training.keep_last``) only deletes files verified to be this run's (they load and
  carry its run id), at or before the current step, keeping the newest ``keep_last`` of them.
  Damaged files and other runs' files are never deleted; a step file or ``best.pt`` of another
  run that this run is about to write is renamed aside (``<name>.foreign-<id>``), not overwritten.
* **Clean start.** Temporary files a killed writer left of the trainer's own files
  (:func:`audiogan.core.atomic.remove_stale_temps`) are removed under the lock at start-up.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from audiogan.core.atomic import remove_stale_temps, write_text
from audiogan.core.errors import AudioganError
from audiogan.training import checkpoint as ckpt

try:  # POSIX; elsewhere the directory is not locked
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]  # no fcntl module there: locking is skipped

log = logging.getLogger(__name__)

LOCK_NAME = ".lock"
RUN_FILE = "run.json"
#: What ``--overwrite`` removes besides the checkpoints (everything a trainer writes).
RUN_OUTPUTS = ("metrics.jsonl", "events", "samples", RUN_FILE)
#: Files the trainer writes atomically in the run directory (their stale temporaries are its own).
OWN_FILES = ("config.yaml", "metrics.jsonl", RUN_FILE)


class RunDirError(AudioganError, RuntimeError):
    """The run directory cannot be trained into as asked; the message says why and what to do."""


def new_run_id() -> str:
    """A fresh run identity (32 hex digits)."""
    return uuid.uuid4().hex


class RunLock:
    """An exclusive, non-blocking ``flock`` on ``run_dir/.lock`` holding this process's pid."""

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        self._handle: IO[str] | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._handle is not None

    def acquire(self) -> None:
        """Take the lock (a no-op when already held).

        Raises:
            RunDirError: another process holds it; the message names its pid.
        """
        if self._handle is not None or fcntl is None:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")  # kept open while held
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise RunDirError(
                f"{self.run_dir}: another trainer (pid {holder}) is training into this run "
                "directory; wait for it to finish or stop it, or choose another -o"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        """Give the lock back (the file stays: removing it would race with a new holder)."""
        if self._handle is None:
            return
        with contextlib.suppress(OSError):
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
        self._handle.close()
        self._handle = None


@dataclass
class ResumePoint:
    """The checkpoint a run continues from."""

    path: Path
    state: dict[str, Any]

    @property
    def step(self) -> int:
        return int(self.state.get("step", 0))


def read_run_id(run_dir: str | os.PathLike[str]) -> str | None:
    """The run id in ``run_dir/run.json``, or None when there is none (or it is unreadable)."""
    try:
        value = json.loads((Path(run_dir) / RUN_FILE).read_text(encoding="utf-8"))["run_id"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return value if isinstance(value, str) else None


class RunDirectory:
    """Lock, identity, resume point and pruning of one run directory (rank 0's view).

    Use :meth:`open` when the trainer is built (takes the lock, removes stale temporaries, checks
    the directory and finds the resume point), :meth:`start` when training begins (clears an old
    run for ``--overwrite``, writes ``run.json``), :meth:`note_written` after each checkpoint,
    :meth:`prune` to apply ``keep_last`` and :meth:`close` at the end.
    """

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        self.run_dir = Path(run_dir)
        self.lock = RunLock(self.run_dir)
        self.run_id: str = new_run_id()
        self.overwrite = False
        self._verified: dict[Path, tuple[int, int, bool]] = {}

    @property
    def checkpoint_dir(self) -> Path:
        return self.run_dir / ckpt.CHECKPOINT_DIR

    def existing_checkpoints(self) -> list[Path]:
        """Every checkpoint file in the directory (``step_*.pt`` and ``best.pt``)."""
        found = [path for _, path in ckpt.list_step_checkpoints(self.run_dir)]
        best = self.checkpoint_dir / ckpt.BEST_NAME
        return found + ([best] if best.is_file() else [])

    def open(self, *, resume: bool, overwrite: bool) -> ResumePoint | None:
        """Lock the directory and decide how the run starts; returns the resume point or None.

        Raises:
            RunDirError: locked by another trainer, holds another run (without ``--resume`` or
                ``--overwrite``), or ``--resume`` finds checkpoints but none usable.
        """
        if resume and overwrite:
            raise RunDirError(f"{self.run_dir}: --resume and --overwrite exclude each other; "
                              "give one of them")
        self.lock.acquire()
        try:
            # Only the trainer's own names: a report or export being written into RUN/ by
            # another command is left alone.
            for directory, names in ((self.run_dir, OWN_FILES), (self.checkpoint_dir, None)):
                for path in remove_stale_temps(directory, names):
                    log.info("removed %s (left by an interrupted write)", path)
            # --overwrite deletes a previous run's outputs only where there was a run: never
            # the user's own samples/ or events/ in a directory that never held one.
            self.overwrite = overwrite and (
                bool(self.existing_checkpoints()) or (self.run_dir / RUN_FILE).is_file())
            if overwrite:
                return None
            skipped: list[str] = []
            if resume:
                point = self._resume_point(skipped)
                if point is not None:
                    owner = point.state.get("run_id")
                    self.run_id = owner or read_run_id(self.run_dir) or self.run_id
                    self._remember(point.path, owner)
                    return point
            existing = self.existing_checkpoints()
            if existing and resume and not skipped:
                skipped.append(f"only {existing[-1].name}, no checkpoints/step_*.pt")
            if existing and skipped:
                raise RunDirError(
                    f"{self.run_dir}: --resume found no usable checkpoint ({'; '.join(skipped)});"
                    " copy a good checkpoint into checkpoints/, or start afresh with --overwrite"
                )
            if existing:
                raise RunDirError(
                    f"{self.run_dir}: holds a training run already ({existing[-1].name} in "
                    f"{existing[-1].parent}); continue it with --resume, start afresh with "
                    "--overwrite (deletes it), or choose another -o"
                )
            return None
        except BaseException:
            self.lock.release()
            raise

    def _resume_point(self, skipped: list[str]) -> ResumePoint | None:
        known = read_run_id(self.run_dir)
        for _, path in reversed(ckpt.list_step_checkpoints(self.run_dir)):
            try:
                state = ckpt.load_checkpoint(path)
            except ckpt.CheckpointError:
                skipped.append(f"{path.name} is damaged")
                continue
            owner = state.get("run_id")
            if known is not None and owner is not None and owner != known:
                skipped.append(f"{path.name} belongs to another run")
                continue
            if skipped:
                log.warning("%s: resuming from %s (step %s) because %s", self.run_dir,
                            path.name, state.get("step"), "; ".join(skipped))
            return ResumePoint(path, state)
        return None

    def start(self) -> None:
        """Training begins: clear the old run for ``--overwrite``; write ``run.json``."""
        self.lock.acquire()
        if self.overwrite:
            for path in self.existing_checkpoints():
                path.unlink(missing_ok=True)
            for name in RUN_OUTPUTS:
                target = self.run_dir / name
                if target.is_dir() and not target.is_symlink():
                    shutil.rmtree(target)
                else:
                    target.unlink(missing_ok=True)
            self.overwrite = False
            log.info("%s: --overwrite: removed the previous run's checkpoints and logs",
                     self.run_dir)
        if read_run_id(self.run_dir) != self.run_id:
            write_text(self.run_dir / RUN_FILE,
                       json.dumps({"run_id": self.run_id}, indent=2) + "\n")

    def _remember(self, path: Path, owner: object) -> None:
        with contextlib.suppress(OSError):
            info = path.stat()
            self._verified[path] = (info.st_size, info.st_mtime_ns, owner == self.run_id)

    def note_written(self, path: Path) -> None:
        """Record a checkpoint this run just wrote as verified (no need to read it back)."""
        self._remember(path, self.run_id)

    def is_ours(self, path: Path) -> bool:
        """Whether ``path`` loads and carries this run's id (cached by size and mtime)."""
        try:
            info = path.stat()
        except OSError:
            return False
        cached = self._verified.get(path)
        if cached is not None and cached[:2] == (info.st_size, info.st_mtime_ns):
            return cached[2]
        try:
            owner = ckpt.load_checkpoint(path, mmap=True).get("run_id")
        except ckpt.CheckpointError:
            owner = None
        self._remember(path, owner)
        return owner == self.run_id

    def move_foreign_aside(self, path: Path) -> None:
        """Another run's checkpoint at ``path`` (it loads and carries another run id, as
        ``--resume`` skips it) is renamed to ``<name>.foreign-<its id[:8]>`` beside it, never
        overwritten. This run's files, damaged files and files without a run id are replaced."""
        if not path.is_file() or self.is_ours(path):
            return
        try:
            owner = ckpt.load_checkpoint(path, mmap=True).get("run_id")
        except ckpt.CheckpointError:
            return  # damaged: rewritten whole, as --resume skipped it
        if not isinstance(owner, str) or owner == self.run_id:
            return
        target = path.with_name(f"{path.name}.foreign-{owner[:8]}")
        number = 1
        while target.exists():
            target = path.with_name(f"{path.name}.foreign-{owner[:8]}.{number}")
            number += 1
        path.rename(target)
        log.warning("%s belongs to another run (%s); moved it to %s instead of overwriting it",
                    path, owner, target.name)

    def prune(self, keep_last: int, step: int) -> list[Path]:
        """Keep the newest ``keep_last`` of this run's verified step files up to ``step``.

        Returns:
            The files removed. Files of other runs, damaged files and files past ``step`` stay.
        """
        if keep_last <= 0:
            return []
        ours = [path for s, path in ckpt.list_step_checkpoints(self.run_dir)
                if s <= step and self.is_ours(path)]
        removed = []
        for path in ours[:-keep_last]:
            path.unlink(missing_ok=True)
            self._verified.pop(path, None)
            removed.append(path)
        return removed

    def close(self) -> None:
        """Release the lock."""
        self.lock.release()
