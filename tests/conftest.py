"""Shared fixtures: dev-data location, seeded generators, the gpu marker's skip."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
DEV_DATA = ROOT.parent / "shared" / "data" / "dev"


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
    """../shared/data/dev, or skip with a reason when absent (e.g. on a user's fresh machine)."""
    if not DEV_DATA.is_dir():
        pytest.skip(f"real speech dev data not found at {DEV_DATA}")
    return DEV_DATA
