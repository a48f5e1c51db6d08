"""Tests for audiogan.data: datasets, the resumable sampler, the synthetic corpus (manifests:
test_manifest.py)."""

from __future__ import annotations

import logging
import pickle
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from audiogan.audio import audio_info, load_audio, save_audio
from audiogan.data import (
    ClipDataset,
    DataError,
    ManifestEntry,
    MelAlignmentError,
    MelWavePairDataset,
    ResumableSampler,
    SegmentDataset,
    build_synthetic_clips,
    build_synthetic_corpus,
    crop_offset,
    read_manifest,
    synthesize_utterance,
    synthesize_word,
)
from audiogan.data.synthetic import (
    DIGIT_NAMES,
    speaker_profile,
    synthesize_utterance_detailed,
)

SR = 16000


def _ramp(num_samples: int, peak: float = 0.5, seed: int = 0) -> np.ndarray:
    """Distinct, recognisable samples: noise whose peak is exactly ``peak``."""
    wave = np.random.default_rng(seed).uniform(-1.0, 1.0, num_samples)
    return (wave / np.abs(wave).max() * peak).astype(np.float32)


def _write(path: Path, wave: np.ndarray, sr: int = SR) -> ManifestEntry:
    save_audio(path, wave, sr, subtype="FLOAT")  # lossless, so tests can compare samples
    return ManifestEntry(path=path.absolute(), num_samples=wave.shape[-1], sample_rate=sr)


def _corrupt(path: Path) -> ManifestEntry:
    path.write_text("this is not audio, just text renamed to .wav\n" * 20)
    return ManifestEntry(path=path.absolute(), num_samples=16000, sample_rate=SR)


# --------------------------------------------------------------------------- SegmentDataset


@pytest.fixture
def clips(tmp_path: Path) -> list[ManifestEntry]:
    """Three long clips (peaks 0.5, 0.3, 0.8) and a short one."""
    return [
        _write(tmp_path / "long0.wav", _ramp(12000, 0.5, seed=0)),
        _write(tmp_path / "long1.wav", _ramp(9000, 0.3, seed=1)),
        _write(tmp_path / "long2.wav", _ramp(15000, 0.8, seed=2)),
        _write(tmp_path / "short.wav", _ramp(700, 0.25, seed=3)),
    ]


@pytest.mark.parametrize("cache", [True, False])
def test_segment_crop_is_a_function_of_seed_epoch_index(
    clips: list[ManifestEntry], cache: bool
) -> None:
    def make(seed: int = 0) -> SegmentDataset:
        return SegmentDataset(clips, segment_length=1024, sample_rate=SR, cache=cache, seed=seed)

    first, second = make(), make()
    source = load_audio(clips[0].path)[0]
    item = first[0]
    assert item["wave"].shape == (1, 1024) and item["wave"].dtype == torch.float32
    assert item["index"] == 0
    offset = crop_offset(0, 0, 0, 12000 - 1024)
    assert torch.equal(item["wave"], source[:, offset : offset + 1024])
    # same (seed, epoch, index) -> same crop, whatever was read before and in which order
    _ = [second[i] for i in (3, 2, 1)]
    assert torch.equal(second[0]["wave"], item["wave"])
    # another epoch or seed -> another crop; the epoch goes back -> the crop comes back
    first.set_epoch(1)
    assert not torch.equal(first[0]["wave"], item["wave"])
    first.set_epoch(0)
    assert torch.equal(first[0]["wave"], item["wave"])
    assert not torch.equal(make(seed=1)[0]["wave"], item["wave"])


def test_segment_cache_and_disk_give_the_same_items(clips: list[ManifestEntry]) -> None:
    cached = SegmentDataset(clips, segment_length=2048, sample_rate=SR, cache=True)
    disk = SegmentDataset(clips, segment_length=2048, sample_rate=SR, cache=False)
    auto = SegmentDataset(clips, segment_length=2048, sample_rate=SR)
    assert cached.cached and not disk.cached and auto.cached  # tiny corpus: auto caches
    for epoch in (0, 3):
        cached.set_epoch(epoch)
        disk.set_epoch(epoch)
        for index in range(len(clips)):
            assert torch.equal(cached[index]["wave"], disk[index]["wave"])
    # a cached dataset pickles (spawned DataLoader workers) and its items do not share memory
    clone = pickle.loads(pickle.dumps(cached))
    assert torch.equal(clone[1]["wave"], cached[1]["wave"])
    assert cached[1]["wave"].untyped_storage().nbytes() == 2048 * 4


def test_segment_pad_and_skip_short_clips(clips: list[ManifestEntry]) -> None:
    padded = SegmentDataset(clips, segment_length=1024, sample_rate=SR, short="pad")
    assert len(padded) == 4
    wave = padded[3]["wave"]
    source = load_audio(clips[3].path)[0]
    assert torch.equal(wave[:, :700], source) and not wave[:, 700:].any()

    skipped = SegmentDataset(clips, segment_length=1024, sample_rate=SR, short="skip")
    assert len(skipped) == 3 and skipped.num_skipped == 1
    assert skipped.skipped == [clips[3].path]
    assert {skipped[i]["wave"].shape for i in range(3)} == {(1, 1024)}
    with pytest.raises(DataError, match="shorter than segment_length"):
        SegmentDataset(clips[3:], segment_length=1024, sample_rate=SR, short="skip")


def test_segment_peak_normalisation(clips: list[ManifestEntry]) -> None:
    # segment longer than every clip: the whole (padded) clip comes back
    peak = SegmentDataset(clips, segment_length=16000, sample_rate=SR, normalize="peak")
    plain = SegmentDataset(clips, segment_length=16000, sample_rate=SR, normalize="none")
    for index, original in enumerate((0.5, 0.3, 0.8, 0.25)):
        assert float(peak[index]["wave"].abs().max()) == pytest.approx(0.95, abs=1e-6)
        assert float(plain[index]["wave"].abs().max()) == pytest.approx(original, abs=1e-6)
    # normalised before cropping: a crop's peak is at most 0.95 and its gain is the clip's
    crop = SegmentDataset(clips[:1], segment_length=512, sample_rate=SR, normalize="peak")[0]
    raw = SegmentDataset(clips[:1], segment_length=512, sample_rate=SR)[0]
    torch.testing.assert_close(crop["wave"], raw["wave"] * (0.95 / 0.5))


def test_segment_resamples_other_rates(tmp_path: Path) -> None:
    entry = _write(tmp_path / "8k.wav", _ramp(8000), sr=8000)
    dataset = SegmentDataset([entry], segment_length=20000, sample_rate=SR)
    wave = dataset[0]["wave"]
    assert wave.shape == (1, 20000)
    assert wave[:, :15990].abs().sum(dim=-1) > 0 and not wave[:, 16000:].any()


@pytest.mark.parametrize("cache", [True, False])
def test_segment_corrupt_file_is_skipped_and_counted(
    tmp_path: Path, clips: list[ManifestEntry], cache: bool, caplog
) -> None:
    entries = [clips[0], _corrupt(tmp_path / "corrupt.wav"), clips[1], clips[2]]
    with caplog.at_level(logging.WARNING, logger="audiogan.data.datasets"):
        dataset = SegmentDataset(entries, segment_length=1024, sample_rate=SR, cache=cache)
    assert dataset.num_failed == 1
    assert dataset.failed[0][0] == entries[1].path
    assert "not a readable audio file" in dataset.failed[0][1]
    assert "corrupt.wav" in caplog.text
    # the corrupt index serves the next file, deterministically; a whole epoch runs through
    assert dataset[1]["index"] == 2
    assert torch.equal(dataset[1]["wave"], dataset[2]["wave"])
    batches = list(DataLoader(dataset, batch_size=2, shuffle=False))
    assert [batch["wave"].shape for batch in batches] == [(2, 1, 1024), (2, 1, 1024)]
    assert batches[0]["index"].tolist() == [0, 2]
    assert dataset.num_failed == 1  # never retried


def test_segment_failure_found_while_reading(tmp_path: Path, clips: list[ManifestEntry]) -> None:
    """Without the up-front probe the bad file is found in __getitem__; the last wraps around."""
    entries = [clips[0], clips[1], _corrupt(tmp_path / "late.wav")]
    dataset = SegmentDataset(entries, segment_length=512, sample_rate=SR, cache=False, probe=False)
    assert dataset.num_failed == 0
    assert dataset[2]["index"] == 0 and dataset.num_failed == 1


def test_segment_all_files_failing_is_a_clear_error(tmp_path: Path) -> None:
    entries = [_corrupt(tmp_path / f"bad{i}.wav") for i in range(2)]
    for cache in (True, False):
        with pytest.raises(DataError, match=r"all 2 file\(s\) failed.*bad0\.wav"):
            SegmentDataset(entries, segment_length=512, sample_rate=SR, cache=cache)
    lazy = SegmentDataset(entries, segment_length=512, sample_rate=SR, cache=False, probe=False)
    with pytest.raises(DataError, match="all 2 file"):
        lazy[0]


# --------------------------------------------------------------------------- ClipDataset


def test_clip_dataset_lengths_and_labels(tmp_path: Path) -> None:
    long = _ramp(20000, seed=1)
    short = _ramp(10000, seed=2)
    entries = [
        replace(_write(tmp_path / "a.wav", long), label="yes"),
        replace(_write(tmp_path / "b.wav", short), label="no"),
        _write(tmp_path / "c.wav", short),  # unlabelled
    ]
    dataset = ClipDataset(entries, clip_length=16384, sample_rate=SR)
    assert dataset.classes == ["no", "yes"] and dataset.num_classes == 2
    items = [dataset[i] for i in range(3)]
    assert [item["label"] for item in items] == [1, 0, -1]
    assert all(item["wave"].shape == (1, 16384) for item in items)
    assert torch.equal(items[0]["wave"][0], torch.from_numpy(long[:16384]))  # cut after start
    assert torch.equal(items[1]["wave"][0, :10000], torch.from_numpy(short))  # padded at end
    assert not items[1]["wave"][0, 10000:].any()

    centred = ClipDataset(entries, clip_length=16384, sample_rate=SR, align="center")
    cut = (20000 - 16384) // 2
    assert torch.equal(centred[0]["wave"][0], torch.from_numpy(long[cut : cut + 16384]))
    pad = (16384 - 10000) // 2
    assert torch.equal(centred[1]["wave"][0, pad : pad + 10000], torch.from_numpy(short))

    given = ClipDataset(entries, sample_rate=SR, labels=["yes", "no", "maybe"])
    assert given.classes == ["yes", "no", "maybe"] and given[0]["label"] == 0
    with pytest.raises(DataError, match=r"b\.wav.*'no' is not one of"):
        ClipDataset(entries, sample_rate=SR, labels=["yes"])
    batch = next(iter(DataLoader(dataset, batch_size=3)))
    assert batch["wave"].shape == (3, 1, 16384) and batch["label"].tolist() == [1, 0, -1]


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


# --------------------------------------------------------------------------- sampler


def _shares(num_items: int, world_size: int, epoch: int, **kwargs) -> list[list[int]]:
    shares = []
    for rank in range(world_size):
        sampler = ResumableSampler(num_items, rank=rank, world_size=world_size, **kwargs)
        sampler.set_epoch(epoch)
        shares.append(list(sampler))
    return shares


@pytest.mark.parametrize("num_items", [37, 40])
def test_sampler_global_order_is_independent_of_world_size(num_items: int) -> None:
    (single,) = _shares(num_items, 1, epoch=3, seed=5)
    assert sorted(single) == list(range(num_items))
    for world_size in (2, 4):
        shares = _shares(num_items, world_size, epoch=3, seed=5)
        interleaved = [index for group in zip(*shares, strict=True) for index in group]
        assert interleaved == single[: len(interleaved)]
        assert len(interleaved) == num_items - num_items % world_size
        # per-rank batches of b make up the single-process global batches of b * world_size
        b = 2
        for step in range(len(shares[0]) // b):
            together = sorted(i for share in shares for i in share[step * b : (step + 1) * b])
            global_batch = single[step * b * world_size : (step + 1) * b * world_size]
            assert together == sorted(global_batch)
    other_epoch = _shares(num_items, 1, epoch=4, seed=5)[0]
    other_seed = _shares(num_items, 1, epoch=3, seed=6)[0]
    assert other_epoch != single and other_seed != single
    assert _shares(num_items, 1, epoch=3, seed=5, shuffle=False)[0] == list(range(num_items))
    padded = _shares(num_items, 4, epoch=3, seed=5, drop_last=False)
    assert {len(share) for share in padded} == {-(-num_items // 4)}


@pytest.mark.parametrize("num_workers", [0, 2])
def test_sampler_resumes_mid_epoch_behind_a_prefetching_loader(
    num_workers: int, tmp_path: Path
) -> None:
    dataset = torch.utils.data.TensorDataset(torch.arange(50))
    batch = 4

    def loader(sampler: ResumableSampler) -> DataLoader:
        return DataLoader(
            dataset, batch_size=batch, sampler=sampler, drop_last=True, num_workers=num_workers
        )

    reference = ResumableSampler(50, seed=7)
    reference.set_epoch(2)
    expected = [b[0].tolist() for b in loader(reference)]
    assert len(expected) == 12

    sampler = ResumableSampler(50, seed=7)
    sampler.set_epoch(2)
    seen = []
    for step, (values,) in enumerate(loader(sampler)):  # the loader has prefetched further
        seen.append(values.tolist())
        sampler.advance(batch)
        if step == 4:
            state = sampler.state_dict()
            break
    assert state == sampler.state_at(2, 5 * batch)
    assert state["epoch"] == 2 and state["position"] == 20
    torch.save({"sampler": state}, tmp_path / "ckpt.pt")
    restored = torch.load(tmp_path / "ckpt.pt", weights_only=True)["sampler"]

    resumed = ResumableSampler(50, seed=7)
    resumed.load_state_dict(restored)
    resumed.set_epoch(2)  # the trainer's usual call keeps the loaded position
    assert len(resumed) == 30
    rest = [b[0].tolist() for b in loader(resumed)]
    assert seen + rest == expected
    resumed.set_epoch(3)  # the next epoch starts at its beginning
    assert len(list(resumed)) == 50


def test_sampler_state_rolls_over_and_checks(tmp_path: Path) -> None:
    sampler = ResumableSampler(10, seed=1, world_size=2, rank=1)
    sampler.set_epoch(0)
    _ = list(sampler)
    sampler.advance(10)
    assert sampler.state_dict()["epoch"] == 0 and sampler.state_dict()["position"] == 10
    finished = ResumableSampler(10, seed=1, world_size=2, rank=1)
    finished.load_state_dict(sampler.state_dict())
    finished.set_epoch(0)
    assert len(finished) == 0 and list(finished) == []  # the trainer then moves to epoch 1
    with pytest.raises(ValueError, match="not a multiple of world_size"):
        sampler.load_state_dict({"epoch": 0, "position": 3})
    with pytest.raises(ValueError, match="num_items=11"):
        sampler.load_state_dict({"epoch": 0, "position": 2, "num_items": 11})
    # a 2-rank run's position resumes in a 1-rank run, continuing the same global order
    single = ResumableSampler(10, seed=1)
    single.load_state_dict({"epoch": 0, "position": 4})
    full = ResumableSampler(10, seed=1)
    assert list(single) == list(full)[4:]


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


def test_epoch_index_pairs_crop_like_set_epoch(tmp_path: Path) -> None:
    """(epoch, index) pairs from the sampler select the epoch, as set_epoch does."""
    path = save_audio(tmp_path / "long.wav",
                      np.random.default_rng(0).standard_normal(20000).astype(np.float32) * 0.1,
                      16000)
    entries = [ManifestEntry(path=path, num_samples=20000, sample_rate=16000)]
    dataset = SegmentDataset(entries, segment_length=1024, sample_rate=16000, seed=3)
    dataset.set_epoch(5)
    expected = dataset[0]["wave"]
    dataset.set_epoch(0)
    assert torch.equal(dataset[(5, 0)]["wave"], expected)
    sampler = ResumableSampler(1, seed=0, with_epoch=True)
    sampler.set_epoch(5)
    assert list(sampler) == [(5, 0)]
