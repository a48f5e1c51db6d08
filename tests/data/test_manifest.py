"""Tests for audiogan.data.manifest: TSV manifests (round trip, errors that name the file and
line, byte-order marks, bad bytes, atomic writes with the umask) and build_manifest_from_audio."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from audiogan.audio.io import save_audio
from audiogan.data import (
    ManifestEntry,
    ManifestError,
    build_manifest_from_audio,
    read_manifest,
    write_manifest,
)
from audiogan.data.manifest import rejected_path_for

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


# --------------------------------------------------------------------------- manifests


def test_manifest_round_trip_relative_paths(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    entries = [
        _write(corpus / "wavs" / "a.wav", _ramp(1000)),
        ManifestEntry(
            path=(corpus / "wavs" / "b c.wav").absolute(),  # a space in the name
            num_samples=2000,
            sample_rate=22050,
            speaker="spk1",
            label="yes",
            mel_path=(corpus / "mels" / "b.npy").absolute(),
        ),
    ]
    manifest = write_manifest(corpus / "manifests" / "train.tsv", entries)
    lines = manifest.read_text().splitlines()
    assert lines[0].split("\t") == [
        "path",
        "num_samples",
        "sample_rate",
        "speaker",
        "label",
        "mel_path",
    ]
    assert lines[1].split("\t")[0] == "../wavs/a.wav"
    assert lines[2].split("\t")[-1] == "../mels/b.npy"
    assert read_manifest(manifest) == entries
    assert not list(manifest.parent.glob(".*tmp"))  # atomic write leaves no temp file

    # the whole corpus moves: paths follow the manifest
    moved = tmp_path / "elsewhere"
    shutil.move(str(corpus), str(moved))
    again = read_manifest(moved / "manifests" / "train.tsv")
    assert again[0].path == (moved / "wavs" / "a.wav").absolute()
    assert again[1].mel_path == (moved / "mels" / "b.npy").absolute()
    assert again[0].speaker is None and again[1].label == "yes"
    assert again[0].path.is_absolute() and again[0].duration == pytest.approx(1000 / SR)


def test_manifest_minimal_columns_and_comments(tmp_path: Path) -> None:
    manifest = tmp_path / "m.tsv"
    manifest.write_text("# a comment\npath\tnum_samples\tsample_rate\n\nx.wav\t10\t8000\n")
    (entry,) = read_manifest(manifest)
    assert entry == ManifestEntry(tmp_path.absolute() / "x.wav", 10, 8000)
    write_manifest(manifest, [entry])
    assert manifest.read_text() == "path\tnum_samples\tsample_rate\nx.wav\t10\t8000\n"


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("path\tnum_samples\nx.wav\t10\n", 1, "sample_rate"),
        ("path\tnum_samples\tsample_rate\tspeeker\n", 1, "speeker"),
        ("path\tnum_samples\tsample_rate\na.wav\t1\t8000\nb.wav\tten\t8000\n", 3, "num_samples"),
        ("path\tnum_samples\tsample_rate\na.wav\t1\t0\n", 2, "sample_rate"),
        ("path\tnum_samples\tsample_rate\n\na.wav\t1\n", 3, "3 tab-separated fields"),
        ("path\tnum_samples\tsample_rate\n\t5\t8000\n", 2, "empty path"),
        ("path\tnum_samples\tsample_rate\n", None, "no entries"),
        ("", None, "no header"),
    ],
)
def test_manifest_errors_name_file_and_line(
    tmp_path: Path, text: str, line: int | None, needle: str
) -> None:
    manifest = tmp_path / "bad.tsv"
    manifest.write_text(text)
    with pytest.raises(ManifestError) as caught:
        read_manifest(manifest)
    message = str(caught.value)
    assert "\n" not in message
    assert needle in message
    where = f"{manifest}:{line}:" if line is not None else f"{manifest}:"
    assert message.startswith(where), message
    assert caught.value.line == line


def test_manifest_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    # issue 11 defect 13: the BOM glued to "path" made the header "unknown column"
    manifest = tmp_path / "excel.tsv"
    manifest.write_bytes(b"\xef\xbb\xbfpath\tnum_samples\tsample_rate\r\nx.wav\t10\t8000\r\n")
    (entry,) = read_manifest(manifest)
    assert entry == ManifestEntry(tmp_path.absolute() / "x.wav", 10, 8000)


@pytest.mark.parametrize(
    ("content", "line", "needle"),
    [
        (b"path\tnum_samples\tsample_rate\ncaf\xe9.wav\t1\t8000\n", 2,
         "not UTF-8 text (byte 0xe9); save the manifest as UTF-8"),
        (b"path\tnum_samples\tsample_rate\n\x00\x01", 2, "binary data"),
    ],
)
def test_manifest_bad_bytes_name_the_line(
    tmp_path: Path, content: bytes, line: int, needle: str
) -> None:
    manifest = tmp_path / "bad.tsv"
    manifest.write_bytes(content)
    with pytest.raises(ManifestError) as caught:
        read_manifest(manifest)
    assert str(caught.value).startswith(f"{manifest}:{line}: ") and needle in str(caught.value)


def test_manifest_that_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=r"is a directory, not a manifest; pass the \.tsv"):
        read_manifest(tmp_path)


def test_manifest_written_with_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        write_manifest(tmp_path / "m.tsv", [ManifestEntry(tmp_path / "x.wav", 10, 8000)])
    finally:
        os.umask(old)
    assert (tmp_path / "m.tsv").stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["m.tsv"]


def test_manifest_missing_file_and_empty_write(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="not found"):
        read_manifest(tmp_path / "nope.tsv")
    with pytest.raises(ManifestError, match="empty"):
        write_manifest(tmp_path / "empty.tsv", [])


def test_build_manifest_from_audio_rejects_bad_files(tmp_path: Path, caplog) -> None:
    good = [_write(tmp_path / f"good{i}.wav", _ramp(800 + i, seed=i)).path for i in range(3)]
    corrupt = _corrupt(tmp_path / "corrupt.wav").path
    short = _write(tmp_path / "short.wav", _ramp(100)).path
    other_rate = _write(tmp_path / "rate.wav", _ramp(800), sr=8000).path
    silent = _write(tmp_path / "silent.wav", np.zeros(900, np.float32)).path
    files = [good[0], corrupt, good[1], short, other_rate, silent, good[2]]
    with caplog.at_level(logging.WARNING, logger="audiogan.data.manifest"):
        result = build_manifest_from_audio(
            files,
            tmp_path / "out" / "train.tsv",
            speaker_of=lambda path: path.stem[:4],
            sample_rate=SR,
            min_duration=0.02,
            reject_silent=True,
        )
    entries, rejected = result
    assert [entry.path for entry in entries] == good
    assert [entry.num_samples for entry in entries] == [800, 801, 802]
    assert entries[0].speaker == "good"
    assert [path for path, _ in rejected] == [corrupt, short, other_rate, silent]
    reasons = dict(rejected)
    assert "not a readable audio file" in reasons[corrupt]
    assert "too short" in reasons[short] and "8000 Hz" in reasons[other_rate]
    assert "silent" in reasons[silent]
    assert read_manifest(tmp_path / "out" / "train.tsv") == entries
    listing = rejected_path_for(tmp_path / "out" / "train.tsv").read_text().splitlines()
    assert listing[0] == "path\treason" and listing[1].startswith("../corrupt.wav\t")
    assert "4 file(s) rejected" in caplog.text

    with pytest.raises(ManifestError, match="all 1 file"):
        build_manifest_from_audio([corrupt], tmp_path / "none.tsv")


@pytest.mark.parametrize(("header", "problem"), [
    ("path\tnum_samples\tsample_rate\tpitch", "unknown column(s) 'pitch' in the header"),
    ("path\tnum_samples\tsample_rate\tlabel\tlabel", "repeated column(s) label"),
    ("path\tsample_rate", "header lacks required column(s) num_samples (need path, "
                          "num_samples, sample_rate, tab-separated)"),
])
def test_manifest_header_problems(tmp_path: Path, header: str, problem: str) -> None:
    manifest = tmp_path / "train.tsv"
    manifest.write_text(header + "\n", encoding="utf-8")
    with pytest.raises(ManifestError) as caught:
        read_manifest(manifest)
    assert problem in str(caught.value) and "train.tsv" in str(caught.value)
