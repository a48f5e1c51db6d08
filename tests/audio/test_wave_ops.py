"""Tests for audiogan.audio.wave_ops (re-exported by audiogan.audio.io): peak_normalize, is_silent,
to_mono."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from audio_helpers import _sine

from audiogan.audio.io import is_silent, peak_normalize, to_mono


def test_peak_normalize() -> None:
    wave = torch.from_numpy(np.stack([_sine(440.0, amp=0.2), _sine(440.0, amp=0.1)]))
    out = peak_normalize(wave)
    assert out.dtype == wave.dtype
    assert torch.isclose(out.abs().max(), torch.tensor(0.95))
    torch.testing.assert_close(out[1] / out[0].abs().max(), wave[1] / wave[0].abs().max())

    silent = torch.zeros(2, 100)
    assert torch.equal(peak_normalize(silent), silent)  # no division by zero, no NaN
    assert peak_normalize(torch.zeros(0)).numel() == 0
    with pytest.raises(ValueError):
        peak_normalize(wave, peak=0.0)


def test_is_silent() -> None:
    assert is_silent(torch.zeros(1, 100))
    assert is_silent(torch.zeros(0))
    assert is_silent(torch.from_numpy(_sine(440.0, amp=10 ** (-70 / 20))))
    assert not is_silent(torch.from_numpy(_sine(440.0, amp=10 ** (-50 / 20))))
    assert is_silent(torch.from_numpy(_sine(440.0, amp=10 ** (-50 / 20))), threshold_db=-40.0)


def test_to_mono() -> None:
    wave = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    torch.testing.assert_close(to_mono(wave), torch.tensor([[0.5, 0.5]]))
    single = wave[:1]
    assert to_mono(single) is single
