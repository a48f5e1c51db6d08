"""What a vocoder says about the mels it is given: :class:`MelInputError` (unusable input, one
line with the fix) and :class:`FeatureRangeWarning` (values no model of this profile was trained
on). Re-exported by :mod:`audiogan.inference.vocoder`, their public home.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from audiogan.core.errors import AudioganError

__all__ = ["FeatureRangeWarning", "MelInputError", "as_float_tensor"]


class MelInputError(AudioganError, ValueError):
    """A mel input has the wrong shape, is empty or holds NaN/Inf; the message says the fix."""


class FeatureRangeWarning(UserWarning):
    """Mel values lie outside what the model's feature profile produces (wrong log base?)."""


def as_float_tensor(value: Any, what: str) -> Tensor:
    if isinstance(value, np.ndarray):
        if not np.issubdtype(value.dtype, np.floating):
            raise MelInputError(f"{what} must be floating point, got numpy {value.dtype}")
        return torch.from_numpy(np.ascontiguousarray(value))
    if isinstance(value, Tensor):
        if not value.is_floating_point():
            raise MelInputError(f"{what} must be floating point, got {value.dtype}")
        return value.detach()
    raise MelInputError(
        f"{what} must be a numpy array or a torch tensor, got {type(value).__name__}"
    )
