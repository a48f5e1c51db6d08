"""The peers' reference packages in .refs/ (made by benchmarks/install_refs.sh) for the import
parity tests: skipped where absent on a developer's machine, a failure where they are required
(CI sets ``AUDIOGAN_REQUIRE_REFS=1`` after installing them; any ``CI`` variable counts too)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

REFS = Path(__file__).resolve().parents[1] / ".refs"


def refs_required() -> bool:
    """Whether a missing reference is a failure (CI) rather than a skip."""
    return any(os.environ.get(name, "") not in ("", "0", "false")
               for name in ("AUDIOGAN_REQUIRE_REFS", "CI"))


def require_reference(marker: str, what: str) -> Path:
    """``REFS`` when ``REFS / marker`` exists; otherwise skip, or fail where required."""
    if (REFS / marker).exists():
        return REFS
    why = f"{what} is not in .refs/ (missing {marker}); make it with benchmarks/install_refs.sh"
    if refs_required():
        pytest.fail(why)
    pytest.skip(why)


def pwg_reference() -> Any:
    """``parallel_wavegan.models`` of the parallel-wavegan 0.6.1 package in ``REFS`` (skip or
    fail as :func:`require_reference`). It imports ``scipy.signal.kaiser``, which SciPy now keeps
    in ``scipy.signal.windows`` only: the alias is added first."""
    import scipy.signal
    import scipy.signal.windows

    refs = require_reference("parallel_wavegan/models/parallel_wavegan.py",
                             "the parallel-wavegan 0.6.1 reference package")
    if str(refs) not in sys.path:
        sys.path.insert(0, str(refs))
    if not hasattr(scipy.signal, "kaiser"):
        scipy.signal.kaiser = scipy.signal.windows.kaiser
    import parallel_wavegan.models

    return parallel_wavegan.models


def randomise_weight_norm_state(model: Any, seed: int) -> None:
    """Give a reference model with weight norm weights well away from any initialisation, in
    place: norms ``weight_g`` in [0.5, 1.5), directions and other weights N(0, 1), biases
    N(0, 0.1^2), drawn in ``state_dict`` order from a generator seeded with ``seed``."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith("weight_g"):
                tensor.copy_(0.5 + torch.rand(tensor.shape, generator=gen))
            else:
                tensor.copy_(torch.randn(tensor.shape, generator=gen)
                             * (0.1 if name.endswith("bias") else 1.0))
