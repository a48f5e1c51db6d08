"""Tests for audiogan.audio.io.resample (libsoxr): accuracy against the exact signal, shapes and
dtypes, a memory cap at odd rates, the supported rate range, load_audio(sample_rate=...)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from audio_helpers import SR, _sine

from audiogan.audio.io import AudioError, audio_info, load_audio, resample, save_audio

# --------------------------------------------------------------------------- resampling


def test_resample_there_and_back_is_exact_in_length_and_close_in_value() -> None:
    t = np.arange(SR) / SR  # one second
    tones = [(0.3, 220.0, 0.0), (0.2, 1000.0, 1.0), (0.15, 2500.0, 2.0), (0.1, 4000.0, 0.5)]
    signal = sum(a * np.sin(2 * np.pi * f * t + phase) for a, f, phase in tones)
    wave = torch.tensor(signal, dtype=torch.float32)[None]

    up = resample(wave, 16000, 22050)
    back = resample(up, 22050, 16000)
    assert up.shape == (1, 22050)
    assert back.shape == wave.shape
    error = (back - wave).abs()[0]
    # Measured: 9.4e-4 away from the edges; up to 3.6e-2 within the first/last 32 samples
    # (the sinc filter sees zeros beyond the ends); relative RMS 1.9e-3 overall.
    assert error[64:-64].max() < 2e-3
    assert (error.pow(2).mean() / wave.pow(2).mean()).sqrt() < 5e-3


def test_resample_is_a_no_op_at_equal_rates_and_checks_arguments() -> None:
    wave = torch.from_numpy(_sine(440.0))
    assert resample(wave, SR, SR) is wave
    with pytest.raises(ValueError, match="target_sr"):
        resample(wave, SR, 0)
    with pytest.raises(TypeError):
        resample(torch.zeros(10, dtype=torch.int16), SR, 8000)


def test_load_audio_resamples_when_asked(tmp_path: Path) -> None:
    path = save_audio(tmp_path / "clip.wav", _sine(440.0, seconds=1.0), SR)
    wave, sr = load_audio(path, sample_rate=22050)
    assert (sr, wave.shape) == (22050, (1, 22050))
    assert wave.abs().max() <= 1.0
    same, sr_same = load_audio(path, sample_rate=SR)
    assert (sr_same, same.shape) == (SR, (1, SR))


# --------------------------------------------------------------------------- rates and resampler


def _tones(rate: int, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return sum(0.2 / k * np.sin(2 * np.pi * 140 * k * t + k) for k in range(1, 30)
               if 140 * k < 7000)


@pytest.mark.parametrize(("orig", "target"), [(44100, 22050), (48000, 24000), (16000, 22050)])
def test_resample_matches_the_exact_signal(orig: int, target: int) -> None:
    wave = torch.from_numpy(_tones(orig))[None]
    out = resample(wave, orig, target)
    assert out.shape == (1, target) and out.dtype == torch.float64
    exact, middle = _tones(target), slice(500, target - 500)
    error = out[0].numpy()[middle] - exact[middle]
    # Measured: about -130 dB (libsoxr HQ); the windowed-sinc resampler it replaced: -64 to -67 dB.
    assert 10 * np.log10((error**2).sum() / (exact[middle] ** 2).sum()) < -100


def test_resample_keeps_batch_shape_dtype_and_length_convention() -> None:
    wave = torch.randn(2, 3, 1001, dtype=torch.float16).clamp(-1, 1)
    out = resample(wave, 44100, 22050)
    assert out.shape == (2, 3, 501) and out.dtype == torch.float16  # ceil(1001 / 2)
    single = resample(wave[1, 2:3].float(), 44100, 22050)
    torch.testing.assert_close(out[1, 2:3].float(), single, atol=2e-3, rtol=0)
    assert resample(torch.zeros(1, 1), 44100, 22050).shape == (1, 1)
    assert resample(torch.zeros(1, 0), 44100, 22050).shape == (1, 0)


def test_odd_rate_resampling_stays_within_a_memory_cap() -> None:
    """44,101 -> 22,050 Hz: a gcd-sized polyphase kernel needed ~16 GB; under a 2 GiB cap now."""
    import subprocess
    import sys

    code = ("import resource; resource.setrlimit(resource.RLIMIT_DATA, (2 << 30, 2 << 30))\n"
            "import torch; from audiogan.audio.io import resample\n"
            "import numpy as np\n"
            "t = torch.arange(44101, dtype=torch.float64) / 44101\n"
            "out = resample(0.5 * torch.sin(2 * np.pi * 440 * t)[None], 44101, 22050)\n"
            "u = torch.arange(22050, dtype=torch.float64) / 22050\n"
            "exact = 0.5 * torch.sin(2 * np.pi * 440 * u)\n"
            "assert out.shape == (1, 22050), out.shape\n"
            "assert (out[0, 500:-500] - exact[500:-500]).abs().max() < 1e-5\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.parametrize("rate", [500, 1_000_000])
def test_rates_outside_the_supported_range_are_one_line_errors(tmp_path: Path, rate: int) -> None:
    from audiogan.audio.io import SampleRateError

    path = tmp_path / f"odd{rate}.wav"
    sf.write(path, np.zeros(rate // 10, dtype=np.float32), rate)
    for call in (lambda: load_audio(path, sample_rate=22050), lambda: audio_info(path)):
        with pytest.raises(AudioError, match=rf"odd{rate}\.wav: sample rate {rate} Hz .*outside"):
            call()
    with pytest.raises(SampleRateError, match="target_sr"):
        resample(torch.zeros(1, 10), 22050, rate)
    with pytest.raises(SampleRateError, match="sample_rate"):
        save_audio(tmp_path / "out.wav", _sine(440.0), rate)
    assert not (tmp_path / "out.wav").exists()
