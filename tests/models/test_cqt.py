"""audiogan.models.cqt: the constant-Q transform of BigVGAN-v2's CQT discriminator, against
nnAudio's CQT2010v2 (from .refs/) on real speech, and on sines without any reference."""

from __future__ import annotations

import contextlib
import io
import math
import sys
from pathlib import Path
from typing import Any

import pytest
import soundfile as sf
import torch
from refs_helpers import require_reference

from audiogan.models.cqt import ConstantQTransform, early_decimation_count

# (sample rate, hop, bins per octave, n_bins): the discriminator's three resolutions at twice
# the 22.05 / 24 / 44.1 kHz rates, a partial top octave, and two with early decimation.
SETTINGS = [
    (88200, 512, 24, 216),
    (88200, 256, 36, 324),
    (48000, 256, 48, 432),
    (44100, 256, 24, 100),
    (16000, 64, 8, 32),
    (16000, 32, 12, 48),
]
# Measured max |ours - nnAudio| on the settings above: 0 (same kernels, same float32
# convolutions); the bound leaves room for other BLAS / conv back ends.
RELATIVE_TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def nnaudio_cqt() -> Any:
    """nnAudio's CQT2010v2 class (nnAudio 0.3.4 in .refs/)."""
    refs = require_reference("nnAudio/features/cqt.py", "nnAudio 0.3.4")
    if str(refs) not in sys.path:
        sys.path.insert(0, str(refs))
    from nnAudio.features import CQT2010v2

    return CQT2010v2


def _reference(cls: Any, rate: int, hop: int, bins_per_octave: int, n_bins: int) -> Any:
    with contextlib.redirect_stdout(io.StringIO()):  # it prints its progress
        return cls(sr=rate, hop_length=hop, n_bins=n_bins, bins_per_octave=bins_per_octave,
                   output_format="Complex", pad_mode="constant")


def _speech(dev_data: Path, samples: int) -> torch.Tensor:
    """(2, 1, samples): two LJSpeech clips (their samples, whatever rate the CQT assumes)."""
    clips = []
    for name in ("LJ001-0002.wav", "LJ001-0008.wav"):
        wave, _ = sf.read(dev_data / "ljspeech" / name, dtype="float32")
        clips.append(torch.from_numpy(wave[:samples]))
    return torch.stack(clips)[:, None]


@pytest.mark.parametrize(("rate", "hop", "bins_per_octave", "n_bins"), SETTINGS)
def test_equals_nnaudio_cqt2010v2_on_speech(rate: int, hop: int, bins_per_octave: int,
                                            n_bins: int, nnaudio_cqt: Any,
                                            dev_data: Path) -> None:
    reference = _reference(nnaudio_cqt, rate, hop, bins_per_octave, n_bins)
    ours = ConstantQTransform(rate, hop, n_bins=n_bins, bins_per_octave=bins_per_octave)
    assert ours.downsample_factor == reference.downsample_factor
    # The same buffers under the same names: a state dict of either loads into the other.
    theirs = reference.state_dict()
    assert sorted(ours.state_dict()) == sorted(theirs)
    for key, value in ours.state_dict().items():
        torch.testing.assert_close(value, theirs[key], rtol=0, atol=1e-7, msg=key)
    wave = _speech(dev_data, 20011)
    expected, got = reference(wave), ours(wave)
    assert got.shape == expected.shape == (2, n_bins, ours.frames(20011), 2)
    error = float((got - expected).abs().max())
    assert error <= RELATIVE_TOLERANCE * float(expected.abs().max()), error


def test_early_decimation_follows_the_band_and_the_hop() -> None:
    # 44.1 kHz discriminator resolution: the hop allows one halving, the band none.
    quality = 1 / (2 ** (1 / 24) - 1)
    top = 32.70 * 2 ** 8 * 2 ** (23 / 24)
    assert early_decimation_count(88200, 512, top, quality, 9) == 0
    # Four low octaves at 16 kHz: the band allows two halvings; a hop of 32 only one.
    quality = 1 / (2 ** (1 / 8) - 1)
    top = 32.70 * 2 ** 3 * 2 ** (7 / 8)
    assert early_decimation_count(16000, 64, top, quality, 4) == 2
    assert early_decimation_count(16000, 16, top, quality, 4) == 1
    cqt = ConstantQTransform(16000, 64, n_bins=32, bins_per_octave=8)
    assert (cqt.downsample_factor, cqt.hop_length) == (4, 16)


def test_a_sine_peaks_in_its_bin_at_the_expected_magnitude() -> None:
    """A sine of amplitude A at bin k's centre gives |X_k| = A / 2 * sqrt(N_k) (unit-gain
    kernels, librosa scaling), within 2 %, away from the edges; its bin is the loudest."""
    rate, hop, bins_per_octave = 48000, 256, 24
    cqt = ConstantQTransform(rate, hop, n_bins=9 * bins_per_octave,
                             bins_per_octave=bins_per_octave)
    t = torch.arange(rate) / rate  # 1 s
    for k in (30, 60, 100, 140, 170, 200, 215):  # octaves 1 to 8
        frequency = 32.70 * 2 ** (k / bins_per_octave)
        wave = 0.5 * torch.sin(2 * math.pi * frequency * t)
        magnitude = cqt(wave[None]).pow(2).sum(-1).sqrt()[0]
        edge = int(cqt.lenghts[k]) // (2 * hop) + 1  # frames whose kernel reaches past the ends
        profile = magnitude[:, edge:-edge].mean(dim=1)
        assert int(profile.argmax()) == k
        expected = 0.25 * float(cqt.lenghts[k].sqrt())
        assert float(profile[k]) == pytest.approx(expected, rel=0.02), k
        assert float(profile[k - 2]) < 0.7 * float(profile[k])  # two bins off: well down


@pytest.mark.parametrize("length", [16, 17, 255, 256, 257, 4097])
def test_frames_and_shapes(length: int) -> None:
    plain = ConstantQTransform(16000, 64, n_bins=32, bins_per_octave=8, early_downsample=False)
    early = ConstantQTransform(16000, 64, n_bins=32, bins_per_octave=8)  # decimates by 4 first
    assert (plain.min_length, early.min_length) == (8, 30)
    wave = torch.randn(3, 1, length)
    for cqt, frames in ((plain, length // 64 + 1), (early, ((length - 2) // 4 + 1) // 16 + 1)):
        if length < cqt.min_length:
            with pytest.raises(ValueError, match=f"at least {cqt.min_length} samples"):
                cqt(wave)
            continue
        out = cqt(wave)
        assert out.shape == (3, 32, frames, 2) and cqt.frames(length) == frames
        assert out.dtype == torch.float32 and torch.isfinite(out).all()
        torch.testing.assert_close(cqt(wave.squeeze(1)), out)  # (B, T) means the same
        with pytest.raises(ValueError, match=r"\(B, 1, T\)"):
            cqt(torch.randn(2, 2, length))
    for cqt in (plain, early):  # the minimum is enough
        assert cqt(torch.randn(1, cqt.min_length)).shape[2] == cqt.frames(cqt.min_length)


def test_float32_under_autocast_and_zero_for_silence() -> None:
    cqt = ConstantQTransform(16000, 64, n_bins=32, bins_per_octave=8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = cqt(torch.randn(1, 1, 4000).bfloat16())
    assert out.dtype == torch.float32
    assert torch.equal(cqt(torch.zeros(1, 1, 4000)), torch.zeros(1, 32, 4000 // 64 + 1, 2))


def test_settings_the_rate_or_the_hop_cannot_hold_are_refused() -> None:
    with pytest.raises(ValueError, match="above Nyquist"):
        ConstantQTransform(16000, 256, n_bins=9 * 24, bins_per_octave=24)  # top bin ~16.4 kHz
    with pytest.raises(ValueError, match="divisible by 2\\^8"):
        ConstantQTransform(88200, 384, n_bins=9 * 24, bins_per_octave=24)
    with pytest.raises(ValueError, match="must be >= 1"):
        ConstantQTransform(16000, 64, n_bins=0)
