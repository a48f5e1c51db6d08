"""Tests for audiogan.data.datasets: SegmentDataset (crops, cache, short clips, normalisation,
resampling, failing files) and ClipDataset (mel/wave pairs: test_pairs.py; the sampler:
test_sampler.py; the synthetic corpus: test_synthetic.py; manifests: test_manifest.py)."""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from dataset_helpers import SR, _ramp, _write
from torch.utils.data import DataLoader

from audiogan.audio.io import load_audio, save_audio
from audiogan.data import (
    ClipDataset,
    DataError,
    ManifestEntry,
    ResumableSampler,
    SegmentDataset,
    crop_offset,
)
from audiogan.data.datasets import DataSettingsError


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


# --------------------------------------------------------------------------- (epoch, index) items


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


@pytest.mark.parametrize(("make", "message"), [
    (lambda: SegmentDataset([], segment_length=0, sample_rate=16000),
     "segment_length must be > 0, got 0"),
    (lambda: SegmentDataset([], segment_length=8, sample_rate=16000, short="trim"),
     "short must be 'pad' or 'skip', got 'trim'"),
    (lambda: ClipDataset([], clip_length=-1), "clip_length must be > 0, got -1"),
    (lambda: ClipDataset([], align="end"), "align must be 'start' or 'center', got 'end'"),
    (lambda: ClipDataset([], normalize="rms"), "normalize must be 'none' or 'peak', got 'rms'"),
])
def test_dataset_settings_errors(make: Callable[[], object], message: str) -> None:
    with pytest.raises(DataSettingsError) as caught:
        make()
    assert str(caught.value) == message
