"""What the benchmark smoke tests share: importing a script of benchmarks/ as the scripts import
each other, and reading the columns of a printed table."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"


def bench_script(name: str) -> ModuleType:
    """Import benchmarks/<name>.py as the scripts see each other (their directory on sys.path)."""
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    return importlib.import_module(name)


def header_columns(output: str, first: str) -> list[str]:
    """The column names of the first text table whose header starts with ``first``."""
    for line in output.splitlines():
        if line.startswith(first + " "):
            return line.split()
    raise AssertionError(f"no table starting with {first!r} in:\n{output}")
