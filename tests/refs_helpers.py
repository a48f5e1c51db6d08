"""The peers' reference packages in .refs/ (made by benchmarks/install_refs.sh) for the import
parity tests: skipped where absent on a developer's machine, a failure where they are required
(CI sets ``AUDIOGAN_REQUIRE_REFS=1`` after installing them; any ``CI`` variable counts too)."""

from __future__ import annotations

import os
from pathlib import Path

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
