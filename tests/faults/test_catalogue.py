"""Runs every case of the fault catalogue: exit code, one line naming the file, no traceback,
nothing lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from .catalogue import all_cases
from .harness import describe, judge, run

_CASES = all_cases()


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, id=c.name, marks=[pytest.mark.slow] if c.slow else []) for c in _CASES],
)
def test_fault_case(case, tmp_path: Path) -> None:
    scenario = case.build(tmp_path)
    verdict = judge(scenario, run(scenario))
    assert not verdict.problems, describe(verdict)
