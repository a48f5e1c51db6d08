"""Writing atomic, resumable checkpoints that load with ``torch.load(weights_only=True)``.

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
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from audiogan.core.atomic import write_with
from audiogan.core.checkpoints import (
    BEST_NAME,
    CHECKPOINT_DIR,
    CHECKPOINT_FORMAT,
    CheckpointError,
    find_checkpoint,
    latest_valid_checkpoint,
    list_step_checkpoints,
    load_checkpoint,
    step_of,
    step_path,
)
from audiogan.core.errors import describe_os_error
from audiogan.core.faults import fault_point

# The read side of the format lives in audiogan.core.checkpoints (inference reads it too); it is
# re-exported so that training code names one module.
__all__ = [
    "BEST_NAME", "CHECKPOINT_DIR", "CHECKPOINT_FORMAT", "CheckpointError", "capture_rng_state",
    "find_checkpoint", "latest_valid_checkpoint", "list_step_checkpoints", "load_checkpoint",
    "restore_rng_state", "save_checkpoint", "step_of", "step_path",
]

log = logging.getLogger(__name__)

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
        "numpy": {"name": np_name, "keys": torch.from_numpy(np.asarray(np_keys).astype(np.int64)),
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


