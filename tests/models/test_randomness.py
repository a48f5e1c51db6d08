"""Keyed randomness: integer keys and the noise signal noise-driven vocoders read."""

from __future__ import annotations

import pytest
import torch

from audiogan.models.randomness import NOISE_BLOCK, keyed_noise, sample_key


def test_sample_key_is_stable_and_order_sensitive() -> None:
    assert sample_key(1, 2, 3) == sample_key(1, 2, 3)
    assert sample_key(1, 2, 3) != sample_key(3, 2, 1)
    assert 0 <= sample_key(-5, 2**70) < 2**63


@pytest.mark.parametrize("cuts", [[0, 7, 4096, 9000, 12000], [0, 1, 2, 3, 12000],
                                  [0, 4095, 4097, 8192, 12000]])
def test_noise_in_pieces_equals_noise_in_one_call(cuts: list[int]) -> None:
    whole = keyed_noise(11, 0, 12000, channels=2)
    pieces = [keyed_noise(11, a, b - a, channels=2) for a, b in zip(cuts, cuts[1:])]
    assert torch.equal(torch.cat(pieces, dim=1), whole)


def test_noise_window_is_keyed_by_absolute_index() -> None:
    whole = keyed_noise(5, 0, 3 * NOISE_BLOCK)
    window = keyed_noise(5, NOISE_BLOCK + 100, 500)
    assert torch.equal(window, whole[:, NOISE_BLOCK + 100:NOISE_BLOCK + 600])


def test_noise_depends_on_seed_and_channel() -> None:
    a, b = keyed_noise(1, 0, 1000, channels=2), keyed_noise(2, 0, 1000, channels=2)
    assert not torch.allclose(a, b)
    assert not torch.allclose(a[0], a[1])
    assert torch.equal(keyed_noise(1, 0, 1000, channels=2), a)


def test_noise_is_standard_normal() -> None:
    x = keyed_noise(0, 0, 200_000)
    assert x.dtype == torch.float32 and x.shape == (1, 200_000)
    assert abs(float(x.mean())) < 0.01
    assert abs(float(x.std()) - 1.0) < 0.01


def test_noise_empty_and_invalid_windows() -> None:
    assert keyed_noise(0, 10, 0, channels=3).shape == (3, 0)
    with pytest.raises(ValueError, match="start >= 0"):
        keyed_noise(0, -1, 10)
    with pytest.raises(ValueError, match="length >= 0"):
        keyed_noise(0, 0, -1)
