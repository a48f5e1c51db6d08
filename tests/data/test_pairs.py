"""Tests for audiogan.data.pairs: MelWavePairDataset keeps mel frames and wave samples aligned
and names the file when they do not fit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from dataset_helpers import _ramp, _write

from audiogan.data import DataError, ManifestEntry, MelAlignmentError, MelWavePairDataset

# --------------------------------------------------------------------------- MelWavePairDataset

HOP, N_MELS = 64, 4


def _pair(tmp_path: Path, name: str, num_samples: int, frames: int | None = None) -> ManifestEntry:
    """A wave and a fake "mel" whose frame i holds the mean of samples [i*hop, (i+1)*hop)."""
    wave = _ramp(num_samples, seed=num_samples)
    entry = _write(tmp_path / f"{name}.wav", wave)
    frames = num_samples // HOP if frames is None else frames
    padded = np.zeros(frames * HOP, np.float32)
    usable = min(frames * HOP, num_samples)
    padded[:usable] = wave[:usable]
    means = padded.reshape(frames, HOP).mean(axis=1)
    mel = np.stack([means + channel for channel in range(N_MELS)])  # (n_mels, frames)
    np.save(tmp_path / f"{name}.npy", mel)
    return ManifestEntry(
        entry.path, entry.num_samples, entry.sample_rate, mel_path=tmp_path / f"{name}.npy"
    )


def test_mel_wave_pairs_are_aligned(tmp_path: Path) -> None:
    entries = [
        _pair(tmp_path, "exact", 64 * 50),  # frames = len // hop (hifigan)
        _pair(tmp_path, "center", 64 * 40 + 17, frames=41),  # len // hop + 1 (center=True)
        _pair(tmp_path, "short", 64 * 5),
    ]
    dataset = MelWavePairDataset(entries, segment_frames=8, hop_length=HOP, n_mels=N_MELS)
    for epoch in (0, 1, 2):
        dataset.set_epoch(epoch)
        for index in range(3):
            item = dataset[index]
            mel, wave = item["mel"], item["wave"]
            assert mel.shape == (N_MELS, 8) and wave.shape == (1, 8 * HOP)
            real = 5 if index == 2 else 8  # the short pair is padded after 5 frames
            frame_means = wave.reshape(8, HOP).mean(dim=1)[:real]
            torch.testing.assert_close(mel[0, :real], frame_means)
            torch.testing.assert_close(mel[3, :real] - mel[0, :real], torch.full((real,), 3.0))
    short = dataset[2]
    assert not short["wave"][:, 5 * HOP :].any()
    assert torch.equal(short["mel"][:, 5:], short["mel"][:, :5].min().expand(N_MELS, 3))
    skipping = MelWavePairDataset(
        entries, segment_frames=8, hop_length=HOP, n_mels=N_MELS, short="skip"
    )
    assert len(skipping) == 2 and skipping.skipped == [entries[2].path]


def test_mel_wave_pair_errors_name_the_file(tmp_path: Path) -> None:
    good = _pair(tmp_path, "good", 64 * 20)
    late = _pair(tmp_path, "late", 64 * 20, frames=23)  # 3 frames too many
    with pytest.raises(MelAlignmentError) as caught:
        MelWavePairDataset([good, late], segment_frames=4, hop_length=HOP, n_mels=N_MELS)
    message = str(caught.value)
    assert "late.npy" in message and "23 frames, expected 20" in message and "hop 64" in message
    with pytest.raises(MelAlignmentError, match=r"good\.npy.*expected \(80, frames\)"):
        MelWavePairDataset([good], segment_frames=4, hop_length=HOP, n_mels=80)
    bare = ManifestEntry(good.path, good.num_samples, good.sample_rate)
    with pytest.raises(MelAlignmentError, match=r"good\.wav: no mel_path"):
        MelWavePairDataset([bare], segment_frames=4, hop_length=HOP, n_mels=N_MELS)
    with pytest.raises(DataError, match="not resampled"):
        MelWavePairDataset(
            [good], segment_frames=4, hop_length=HOP, n_mels=N_MELS, sample_rate=22050
        )
