"""Atomic, resumable checkpoints that load with ``torch.load(weights_only=True)``.

A run directory holds ``checkpoints/step_%08d.pt`` (every N steps and at exit) and
``checkpoints/best.pt`` (best validation score). Each file holds everything needed to continue
bit-for-bit: models, optimisers, schedulers, grad scaler, EMA, step, RNG states and sampler state.

Writes go to a temporary file in the same directory, are flushed and fsynced, then renamed over
the target, so a crash at any point leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import logging
import os
import random
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from audiogan.errors import AudioganError

log = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoints"
BEST_NAME = "best.pt"
_STEP_RE = re.compile(r"^step_(\d{8})\.pt$")

#: Called between writing the temporary file and renaming it (tests inject crashes here).
FaultHook = Callable[[Path], None]


class CheckpointError(AudioganError, RuntimeError):
    """A checkpoint cannot be read; the message names the file."""


def step_path(run_dir: str | os.PathLike, step: int) -> Path:
    """``run_dir/checkpoints/step_%08d.pt``."""
    return Path(run_dir) / CHECKPOINT_DIR / f"step_{step:08d}.pt"


def save_checkpoint(
    state: dict[str, Any], path: str | os.PathLike, *, fault_hook: FaultHook | None = None
) -> Path:
    """Write ``state`` to ``path`` atomically (temp file + flush + fsync + rename).

    Args:
        state: tensors, numbers, strings and containers of them (``weights_only``-loadable).
        path: the target file; its directory is created.
        fault_hook: test hook called with the temporary path before the rename.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(state, handle)
            handle.flush()
            os.fsync(handle.fileno())
        if fault_hook is not None:
            fault_hook(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint without executing code from it (``weights_only=True``).

    Raises:
        CheckpointError: missing, truncated or not a checkpoint; the message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for truncated/corrupt files
        reason = f"{type(exc).__name__}: {exc}"
        raise CheckpointError(f"{path}: unreadable checkpoint ({reason})") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: not an audiogan checkpoint (top level is not a dict)")
    return state


def list_step_checkpoints(run_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """``(step, path)`` of every ``step_*.pt`` in the run, oldest first."""
    directory = Path(run_dir) / CHECKPOINT_DIR
    if not directory.is_dir():
        return []
    found = []
    for entry in directory.iterdir():
        match = _STEP_RE.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry))
    return sorted(found)


def latest_valid_checkpoint(run_dir: str | os.PathLike) -> tuple[Path, dict] | None:
    """The newest step checkpoint that loads, skipping broken ones with a warning."""
    for _, path in reversed(list_step_checkpoints(run_dir)):
        try:
            return path, load_checkpoint(path)
        except CheckpointError as exc:
            log.warning("skipping %s", exc)
    return None


def prune_checkpoints(run_dir: str | os.PathLike, keep_last: int) -> list[Path]:
    """Delete all but the newest ``keep_last`` step checkpoints; returns what was removed."""
    removed = []
    for _, path in list_step_checkpoints(run_dir)[:-keep_last] if keep_last > 0 else []:
        path.unlink(missing_ok=True)
        removed.append(path)
    return removed


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
