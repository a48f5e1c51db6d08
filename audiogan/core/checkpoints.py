"""The checkpoint file format: names, the safe reader and finding a run's checkpoint.

A run directory holds ``checkpoints/step_%08d.pt`` and ``checkpoints/best.pt``; each file is a
dict whose ``format`` is :data:`CHECKPOINT_FORMAT`. Written by :mod:`audiogan.training` (which
owns what goes in: :mod:`audiogan.training.checkpoint`, :mod:`audiogan.training.state`); read here
by both training (resume) and inference (``Vocoder.load`` of a run directory or checkpoint), so
that inference needs nothing from training. Loading never runs code from the file
(``torch.load(weights_only=True)``).
"""

from __future__ import annotations

import logging
import os
import pickle
import re
from pathlib import Path

import torch

from audiogan.core.errors import AudioganError

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "audiogan-checkpoint"
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
