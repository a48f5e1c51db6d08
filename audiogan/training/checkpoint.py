"""Atomic, resumable checkpoints that load with ``torch.load(weights_only=True)``.

A run directory holds ``checkpoints/step_%08d.pt`` (every N steps and at exit) and
``checkpoints/best.pt`` (best validation score). Each file holds everything needed to continue
bit-for-bit: models, optimisers, schedulers, grad scaler, EMA, step, RNG states, sampler state and
the run's identity (``run_id``, see :mod:`audiogan.training.rundir`).

Writes go through :func:`audiogan.core.atomic.write_with` (temporary file beside the target, fsync,
rename, directory fsync; the user's umask decides the mode), so a crash at any point leaves either
the old file or the new one, never half of one. Loading never runs code from the file.

Fault point (see :mod:`audiogan.core.faults`): ``checkpoint.write`` - after the state is serialised
to
the temporary file, before it is committed (``checkpoint.write@2=enospc``: the second checkpoint
write finds the disk full).
"""

from __future__ import annotations

import logging
import os
import pickle
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from audiogan.core.atomic import write_with
from audiogan.core.errors import AudioganError, describe_os_error
from audiogan.core.faults import fault_point

log = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoints"
BEST_NAME = "best.pt"
_STEP_RE = re.compile(r"^step_(\d{8,})\.pt$")  # %08d: 9+ digits past 99,999,999


class CheckpointError(AudioganError, RuntimeError):
    """A checkpoint cannot be read or written; the message names the file and the fix."""


def step_path(run_dir: str | os.PathLike, step: int) -> Path:
    """``run_dir/checkpoints/step_%08d.pt``."""
    return Path(run_dir) / CHECKPOINT_DIR / f"step_{step:08d}.pt"


def step_of(path: str | os.PathLike) -> int | None:
    """The step in a ``step_%08d.pt`` file name, or None for any other name."""
    match = _STEP_RE.match(Path(path).name)
    return int(match.group(1)) if match else None


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write ``state`` to ``path`` atomically (:func:`audiogan.core.atomic.write_with`).

    Args:
        state: tensors, numbers, strings and containers of them (``weights_only``-loadable).
        path: the target file; its directory is created.

    Raises:
        CheckpointError: the write failed (e.g. a full disk); the message names ``path``. The
            file at ``path`` (if any) is untouched and no temporary file is left.
    """
    path = Path(path)

    def writer(handle: Any) -> None:
        torch.save(state, handle)
        handle.flush()
        fault_point("checkpoint.write")

    try:
        write_with(path, writer)
    except OSError as exc:
        raise CheckpointError(
            f"{describe_os_error(exc, path)} (writing a checkpoint; earlier checkpoints are "
            "intact, continue with --resume once fixed)"
        ) from exc
    return path


def _reason(exc: BaseException) -> str:
    """Why ``torch.load`` refused a file, in words that never suggest loading it unsafely."""
    text = str(exc)
    if isinstance(exc, EOFError) or "empty" in text.lower():
        return "the file is empty"
    if isinstance(exc, pickle.UnpicklingError):
        found = re.search(r"unsupported GLOBAL (\S+)", text)
        if found:
            return (f"it holds objects a checkpoint never contains ({found.group(1)}), refused "
                    "without running them")
        return "it is not a PyTorch checkpoint file"
    if "zip archive" in text or "central directory" in text:
        return "the file is truncated or damaged"
    first = text.splitlines()[0] if text else type(exc).__name__
    return first.split(". ")[0][:160]


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu", *,
                    mmap: bool = False) -> dict:
    """Load a checkpoint without executing code from it (``weights_only=True``).

    ``mmap=True`` maps the tensors instead of reading them (a cheap validity check).

    Raises:
        CheckpointError: missing, truncated or not a checkpoint; the message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except Exception as exc:  # torch raises many types for truncated/corrupt files
        raise CheckpointError(
            f"{path}: not an audiogan checkpoint, or damaged ({_reason(exc)}); use another "
            "checkpoint (an earlier checkpoints/step_*.pt) or train afresh"
        ) from None
    if not isinstance(state, dict):
        raise CheckpointError(
            f"{path}: not an audiogan checkpoint (it holds a {type(state).__name__}, not a "
            "dict); use a checkpoint written by audiogan train"
        )
    return state


def list_step_checkpoints(run_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """``(step, path)`` of every ``step_*.pt`` in the run, oldest first (by step number)."""
    directory = Path(run_dir) / CHECKPOINT_DIR
    if not directory.is_dir():
        return []
    found = []
    for entry in directory.iterdir():
        step = step_of(entry)
        if step is not None:
            found.append((step, entry))
    return sorted(found)


def latest_valid_checkpoint(run_dir: str | os.PathLike) -> tuple[Path, dict] | None:
    """The newest step checkpoint that loads, skipping broken ones with a warning."""
    for _, path in reversed(list_step_checkpoints(run_dir)):
        try:
            return path, load_checkpoint(path)
        except CheckpointError as exc:
            log.warning("skipping %s", exc)
    return None


# --------------------------------------------------------------------------------------------
# RNG state as tensors and ints (weights_only-loadable)
# --------------------------------------------------------------------------------------------


def capture_rng_state() -> dict[str, Any]:
    """Python, NumPy, torch CPU (and CUDA) RNG states in weights_only-safe types."""
    py_version, py_state, py_gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": {"version": py_version, "state": torch.tensor(py_state, dtype=torch.int64),
                   "gauss": py_gauss},
        "numpy": {"name": np_name, "keys": torch.from_numpy(np_keys.astype(np.int64)),
                  "pos": int(np_pos), "has_gauss": int(np_has_gauss), "gauss": float(np_gauss)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`."""
    py = state["python"]
    random.setstate((py["version"], tuple(int(x) for x in py["state"].tolist()), py["gauss"]))
    npy = state["numpy"]
    np.random.set_state(
        (npy["name"], npy["keys"].numpy().astype(np.uint32), npy["pos"], npy["has_gauss"],
         npy["gauss"])
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def find_checkpoint(path: str | os.PathLike) -> Path:
    """Resolve a checkpoint file or a run directory to one checkpoint file.

    A run directory gives ``checkpoints/best.pt`` when present, else the newest loadable
    ``step_*.pt``.

    Raises:
        CheckpointError: nothing usable at ``path``; the message says what was looked for.
    """
    path = Path(path)
    if path.is_file():
        return path
    if not path.is_dir():
        raise CheckpointError(f"{path}: no such checkpoint file or run directory")
    best = path / CHECKPOINT_DIR / BEST_NAME
    if best.is_file():
        return best
    found = latest_valid_checkpoint(path)
    if found is None:
        raise CheckpointError(
            f"{path}: no checkpoints/best.pt or loadable checkpoints/step_*.pt in this directory"
        )
    return found[0]
