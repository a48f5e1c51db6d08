"""Tests for audiogan.data.synthetic: deterministic synthetic speech (voiced at its pitch), word
classes, and the synthetic corpora built from them."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pytest

from audiogan.audio.io import audio_info
from audiogan.data import (
    ClipDataset,
    SegmentDataset,
    build_synthetic_clips,
    build_synthetic_corpus,
    read_manifest,
    synthesize_utterance,
    synthesize_word,
)
from audiogan.data.synthetic import (
    DIGIT_NAMES,
    speaker_profile,
    synthesize_utterance_detailed,
)

# --------------------------------------------------------------------------- synthetic corpus


def test_synthesize_utterance_is_deterministic_and_sane() -> None:
    first = synthesize_utterance(11, duration=1.5, speaker=1)
    second = synthesize_utterance(11, duration=1.5, speaker=1)
    assert first.dtype == np.float32 and first.shape == (int(1.5 * 22050),)
    assert first.tobytes() == second.tobytes()  # bitwise
    assert not np.array_equal(first, synthesize_utterance(12, duration=1.5, speaker=1))
    for sr in (16000, 22050, 24000):
        for speaker in range(6):
            wave = synthesize_utterance(speaker, sample_rate=sr, duration=1.0, speaker=speaker)
            assert np.isfinite(wave).all()
            assert np.abs(wave).max() <= 0.95
            assert np.abs(wave).max() > 0.3  # far from silent
            assert np.sqrt(np.mean(wave.astype(np.float64) ** 2)) > 0.01
            assert abs(float(wave.mean())) < 0.01  # no DC
    assert all(80 <= speaker_profile(k).f0 <= 250 for k in range(40))


@pytest.mark.parametrize(("seed", "speaker"), [(0, 0), (1, 1), (2, 2), (3, 3), (4, 7)])
def test_synthetic_speech_is_voiced_at_its_pitch(seed: int, speaker: int) -> None:
    """The autocorrelation of a loud voiced window peaks at the ground-truth pitch period."""
    sr = 22050
    utterance = synthesize_utterance_detailed(seed, sample_rate=sr, duration=2.0, speaker=speaker)
    wave, f0 = utterance.wave.astype(np.float64), utterance.f0
    assert 0.25 < (f0 > 0).mean() < 0.9  # voiced and unvoiced parts
    window = int(0.04 * sr)
    starts = [
        s for s in range(0, wave.size - window, window // 2) if (f0[s : s + window] > 0).all()
    ]
    start = max(starts, key=lambda s: float(np.sum(wave[s : s + window] ** 2)))
    x = wave[start : start + window] - wave[start : start + window].mean()
    ac = np.correlate(x, x, "full")[window - 1 :]
    ac /= ac[0]
    low, high = int(sr / 400), int(sr / 60)
    lag = low + int(np.argmax(ac[low:high]))
    period = sr / float(np.median(f0[start : start + window]))
    assert abs(lag - period) <= max(2.0, 0.03 * period), (lag, period)
    assert ac[lag] > 0.6
    # and speech-like spectra: most energy below 4 kHz, yet some above (fricatives, bursts)
    spectrum = np.abs(np.fft.rfft(wave)) ** 2
    freqs = np.fft.rfftfreq(wave.size, 1 / sr)
    low_share = spectrum[freqs < 4000].sum() / spectrum.sum()
    assert 0.6 < low_share < 0.999


def test_synthesis_speed_is_reported(caplog) -> None:
    start = time.perf_counter()
    total = sum(synthesize_utterance(i, duration=2.0, speaker=i % 4).size for i in range(30))
    seconds = time.perf_counter() - start
    print(f"synthetic corpus: {total / 22050:.0f} s of audio in {seconds:.2f} s of CPU")
    assert total == 30 * 44100


def test_synthesize_word_classes_differ() -> None:
    words = [synthesize_word(label, 0, speaker=0) for label in range(10)]
    assert all(w.shape == (16384,) and np.isfinite(w).all() for w in words)
    assert synthesize_word(4, 9).tobytes() == synthesize_word(4, 9).tobytes()
    assert len({w.tobytes() for w in words}) == 10


def test_build_synthetic_corpus_is_deterministic_and_idempotent(tmp_path: Path, caplog) -> None:
    kwargs = {
        "sample_rate": 16000,
        "num_utterances": 6,
        "duration_range": (0.5, 1.0),
        "num_speakers": 3,
        "seed": 4,
        "valid_fraction": 0.2,
    }
    paths = build_synthetic_corpus(tmp_path / "a", **kwargs, labels=["x", "y", "z"])
    train, valid = read_manifest(paths["train"]), read_manifest(paths["valid"])
    assert (len(train), len(valid)) == (5, 1)
    everything = train + valid
    assert {entry.speaker for entry in everything} == {"spk0", "spk1", "spk2"}
    assert {entry.label for entry in everything} == {"x", "y", "z"}
    for entry in everything:
        info = audio_info(entry.path)
        assert (info.sample_rate, info.num_frames) == (16000, entry.num_samples)
        assert 0.5 <= entry.duration <= 1.0

    mtimes = {entry.path: entry.path.stat().st_mtime_ns for entry in everything}
    with caplog.at_level(logging.INFO, logger="audiogan.data.synthetic"):
        again = build_synthetic_corpus(tmp_path / "a", **kwargs, labels=["x", "y", "z"])
    assert again == paths and "0 file(s) written, 6 reused" in caplog.text
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes
    # a damaged file is noticed and rewritten, bit-identical
    victim = train[0].path
    original = victim.read_bytes()
    victim.write_bytes(original[:100])
    build_synthetic_corpus(tmp_path / "a", **kwargs)
    assert victim.read_bytes() == original
    # the same seed elsewhere gives the same bytes; another seed other audio
    other = build_synthetic_corpus(tmp_path / "b", **kwargs)
    copy = read_manifest(other["train"])
    assert all(a.path.read_bytes() == b.path.read_bytes() for a, b in zip(train, copy, strict=True))
    reseeded = read_manifest(
        build_synthetic_corpus(tmp_path / "c", **{**kwargs, "seed": 5})["train"]
    )
    assert reseeded[0].path.read_bytes() != train[0].path.read_bytes()
    # new settings in the same root: stale files go, valid split removed when not wanted
    fewer = build_synthetic_corpus(
        tmp_path / "a", **{**kwargs, "num_utterances": 4, "valid_fraction": 0}
    )
    assert set(fewer) == {"train"} and not (tmp_path / "a" / "valid.tsv").exists()
    assert len(list((tmp_path / "a" / "wavs").glob("*.wav"))) == 4
    # and the corpus trains: a SegmentDataset reads it
    dataset = SegmentDataset(read_manifest(fewer["train"]), segment_length=4096, sample_rate=16000)
    assert dataset[0]["wave"].shape == (1, 4096) and dataset.num_failed == 0


def test_build_synthetic_clips(tmp_path: Path) -> None:
    paths = build_synthetic_clips(tmp_path, num_clips=20, clip_length=8192, sample_rate=8000)
    entries = read_manifest(paths["train"])
    assert len(entries) == 20
    assert [entry.label for entry in entries[:10]] == list(DIGIT_NAMES)
    assert all(entry.num_samples == 8192 and entry.speaker for entry in entries)
    dataset = ClipDataset(entries, clip_length=8192, sample_rate=8000, labels=DIGIT_NAMES)
    item = dataset[13]
    assert item["label"] == 3 and item["wave"].shape == (1, 8192)
    assert float(item["wave"].abs().max()) > 0.3
    many = build_synthetic_clips(
        tmp_path / "many", num_clips=12, num_classes=12, valid_fraction=0.25
    )
    assert read_manifest(many["valid"])[0].label.startswith("class")
    assert len(read_manifest(many["train"])) == 9
