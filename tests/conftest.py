"""Shared fixtures: the committed real-speech set, seeded generators, the gpu marker's skip."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
# Real speech committed with the tests: LJSpeech, VCTK, Speech Commands and FSDD clips in one
# folder per corpus; origin and licences in tests/data/SOURCES.md.
DEV_DATA = ROOT / "tests" / "data" / "speech"


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA (marked gpu)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _few_threads():
    # Small deterministic CPU runs; keeps timings stable on 2-core CI machines.
    previous = torch.get_num_threads()
    torch.set_num_threads(min(previous, 2))
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def dev_data() -> Path:
    """tests/data/speech: the real speech committed with the tests (never skipped)."""
    return DEV_DATA
