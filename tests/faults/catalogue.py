"""Every fault case, collected from the ``cases_*.py`` modules of this package."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from .harness import Case


def all_cases() -> list[Case]:
    """The catalogue: every ``CASES`` list of every ``cases_*`` module, in module order."""
    cases: list[Case] = []
    package = Path(__file__).parent
    for info in sorted(pkgutil.iter_modules([str(package)]), key=lambda m: m.name):
        if info.name.startswith("cases_"):
            module = importlib.import_module(f".{info.name}", __package__)
            cases.extend(module.CASES)
    names = [case.name for case in cases]
    duplicates = {name for name in names if names.count(name) > 1}
    if duplicates:
        raise ValueError(f"duplicate fault case names: {sorted(duplicates)}")
    return cases
