"""Tests for audiogan.features.stats.compute_stats: streamed per-channel mean and scale that
z-normalise the features, and its edge cases."""

from __future__ import annotations

import pytest
import torch
from mel_reference import chirp, noise, sines

from audiogan.features.mel import MelSpectrogram, compute_stats


def test_compute_stats_streams_and_normalises() -> None:
    mel = MelSpectrogram("pwg")
    clips = [torch.from_numpy(make()).float() for make in (sines, chirp, noise)]
    features = [mel(clip) for clip in clips]
    mean, scale = compute_stats(iter(features))
    stacked = torch.cat(features, dim=1).double()
    torch.testing.assert_close(mean.double(), stacked.mean(dim=1), rtol=0, atol=1e-5)
    torch.testing.assert_close(scale.double(), stacked.std(dim=1, correction=0), rtol=1e-5,
                               atol=1e-6)
    batched_mean, batched_scale = compute_stats([torch.stack(features[:2]), features[2]])
    torch.testing.assert_close(batched_mean, mean)
    torch.testing.assert_close(batched_scale, scale)

    normed = MelSpectrogram("pwg", mean=mean, scale=scale)
    out = torch.cat([normed(clip) for clip in clips], dim=1).double()
    torch.testing.assert_close(out.mean(dim=1), torch.zeros(80, dtype=torch.float64),
                               rtol=0, atol=1e-4)
    torch.testing.assert_close(out.std(dim=1, correction=0), torch.ones(80, dtype=torch.float64),
                               rtol=0, atol=1e-4)


def test_compute_stats_edge_cases() -> None:
    constant = torch.ones(3, 50)
    mean, scale = compute_stats([constant])
    assert torch.equal(mean, torch.ones(3)) and torch.equal(scale, torch.ones(3))
    with pytest.raises(ValueError, match="at least one frame"):
        compute_stats([])
    with pytest.raises(ValueError, match="n_mels"):
        compute_stats([torch.zeros(3, 5), torch.zeros(4, 5)])
