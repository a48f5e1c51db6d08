"""Corpora the training tests share (built once per test module)."""

from __future__ import annotations

from pathlib import Path

import pytest
from training_helpers import _write_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """Synthetic speech-like clips with train/valid manifests (tests/training_helpers.py)."""
    root = tmp_path_factory.mktemp("corpus")
    _write_corpus(root)
    return root


@pytest.fixture(scope="module")
def labelled_corpus(tmp_path_factory) -> Path:
    """Eight labelled 1 s clips at 16 kHz, for the unconditional (WaveGAN) tests."""
    root = tmp_path_factory.mktemp("digits")
    _write_corpus(root, n=8, seconds=1.0, sr=16000, labels=True)
    return root
