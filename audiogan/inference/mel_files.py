"""Reading mel files (``.npy`` / ``.pt``) given to a vocoder: no code run, bounded memory.

``.npy`` files are opened with ``allow_pickle=False`` (an object array or a pickle is refused,
never unpickled) and memory-mapped, so the shape and dtype are checked before any sample is
read; ``.pt`` files go through ``torch.load(weights_only=True, mmap=True)``. Every problem is a
:class:`~audiogan.inference.vocoder.MelInputError` whose one-line message names the file and the
fix.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from audiogan.inference.mel_input import MelInputError

__all__ = ["MAX_MEL_VALUES", "read_mel_file"]

MAX_MEL_VALUES: int = 1 << 27
"""Most values one mel file may hold: 128 Mi (512 MiB as float32), e.g. 80 mels x 1.68 M frames
(over 5 hours at 22,050 Hz and hop 256). Larger files are refused before they are read."""


def _fail(path: Path, problem: str, fix: str) -> MelInputError:
    return MelInputError(f"{os.fspath(path)}: {problem}; {fix}")


def read_mel_file(path: str | os.PathLike[str]) -> np.ndarray | Tensor:
    """The array stored in a ``.npy`` or ``.pt`` mel file, not yet checked against a model.

    Args:
        path: A ``.npy`` file (one numeric array) or a ``.pt`` file (one tensor).

    Returns:
        The array (``np.ndarray`` for ``.npy``, CPU ``Tensor`` for ``.pt``), any shape and dtype
        (:meth:`audiogan.Vocoder.validate` checks those), at most :data:`MAX_MEL_VALUES` values.

    Raises:
        MelInputError: Unreadable, truncated, pickled/object data, more than one object, or
            too large.
    """
    path = Path(path)
    fix = "write one (n_mels, frames) float array with numpy.save or torch.save"
    if path.suffix.lower() == ".npy":
        try:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        except PermissionError:
            raise _fail(path, "permission denied", "check the file's permissions") from None
        except (OSError, ValueError, EOFError, pickle.UnpicklingError) as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise _fail(path, f"unreadable .npy file ({reason[:200]})", fix) from None
        if not isinstance(array, np.ndarray):  # an .npz archive
            raise _fail(path, "holds several arrays (.npz)", fix)
        _check_size(path, array.size, fix)
        return np.array(array)  # reads the samples now that the size is known
    try:
        value = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except PermissionError:
        raise _fail(path, "permission denied", "check the file's permissions") from None
    except pickle.UnpicklingError:
        raise _fail(path, "refused: it holds Python objects other than tensors (code in the "
                    "file is never run)", fix) from None
    except (RuntimeError, OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        if "mmap can only be used" in reason or isinstance(exc, zipfile.BadZipFile):
            reason = "not a file written by torch.save (or one in the pre-1.6 format)"
        raise _fail(path, f"unreadable .pt file ({reason[:200]})", fix) from None
    if not isinstance(value, Tensor):
        raise _fail(path, f"holds a {type(value).__name__}, not one tensor", fix)
    _check_size(path, value.numel(), fix)
    return value.clone()


def _check_size(path: Path, values: int, fix: str) -> None:
    if values > MAX_MEL_VALUES:
        raise _fail(path, f"too large: {values:,} values (limit {MAX_MEL_VALUES:,})",
                    "split it into shorter mel files")
