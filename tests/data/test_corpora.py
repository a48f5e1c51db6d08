"""Corpora: resumable download over loopback, verification, preparation (extraction:
test_archives.py).

No test touches the network beyond 127.0.0.1: archives are built (corpus_helpers.py) from the
real speech committed in tests/data/speech and served by a threaded http.server that honours Range
requests and can cut a response short.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from click.testing import CliRunner
from corpus_helpers import (  # test_recipes.py imports these from here
    DEV_DATA,
    LJ_IDS,
    _clip,
    _excerpt,
    _Server,
    _vctk_clips,
    build_libritts,
    build_ljspeech,
    build_speech_commands,
    build_vctk,
    serve,
)

from audiogan.cli.main import cli
from audiogan.data import corpora
from audiogan.data.datasets import MelAlignmentError
from audiogan.data.download import (
    Checksum,
    CorpusError,
    DownloadError,
    RemoteFile,
    VerificationError,
    download_file,
)
from audiogan.data.listing import split_by_hash
from audiogan.data.manifest import read_manifest
from audiogan.data.prepare import prepare_corpus

__all__ = ["DEV_DATA", "LJ_IDS", "_Server", "build_libritts", "build_ljspeech",
           "build_speech_commands", "build_vctk"]


@pytest.fixture(name="server")
def _server(tmp_path: Path) -> Iterator[_Server]:
    yield from serve(tmp_path)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _remote_for(archive: Path, url: str) -> RemoteFile:
    return RemoteFile(url=url, size=archive.stat().st_size,
                      checksums=(Checksum("sha256", _sha256(archive), "this test"),))


@pytest.fixture(scope="module")
def lj_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_ljspeech(DEV_DATA, tmp_path_factory.mktemp("lj"))


# ------------------------------------------------------------------------------ download


def test_download_resumes_after_a_cut_connection(server: _Server, tmp_path: Path) -> None:
    payload = np.random.default_rng(1).bytes(300_000)
    (server.root / "blob.bin").write_bytes(payload)
    server.cuts["blob.bin"] = [100_000, 50_000]  # two cut responses, then a full one
    remote = RemoteFile(url=f"{server.url}/blob.bin", size=len(payload), checksums=(
        Checksum("sha256", hashlib.sha256(payload).hexdigest(), "test"),
        Checksum("md5", hashlib.md5(payload).hexdigest(), "test")))
    delays: list[float] = []
    dest = download_file(remote.url, tmp_path / "blob.bin", remote=remote, backoff=0.5,
                         progress=False, sleep=delays.append)
    assert dest.read_bytes() == payload
    assert not (tmp_path / "blob.bin.part").exists()
    assert server.log == [("blob.bin", None), ("blob.bin", "bytes=100000-"),
                          ("blob.bin", "bytes=150000-")]
    assert delays == [0.5, 1.0]  # exponential back-off


def test_download_gives_up_but_keeps_the_partial_file_then_resumes(
    server: _Server, tmp_path: Path
) -> None:
    payload = np.random.default_rng(2).bytes(50_000)
    (server.root / "blob.bin").write_bytes(payload)
    server.cuts["blob.bin"] = [10_000, 10_000]
    with pytest.raises(DownloadError, match="giving up after 2 attempts.*to resume"):
        download_file(f"{server.url}/blob.bin", tmp_path / "blob.bin", retries=1,
                      progress=False, sleep=lambda _: None)
    assert (tmp_path / "blob.bin.part").stat().st_size == 20_000
    download_file(f"{server.url}/blob.bin", tmp_path / "blob.bin", progress=False)
    assert (tmp_path / "blob.bin").read_bytes() == payload
    assert server.log[-1] == ("blob.bin", "bytes=20000-")


def test_checksum_mismatch_deletes_the_partial_file(server: _Server, tmp_path: Path) -> None:
    (server.root / "LJSpeech-1.1.tar.bz2").write_bytes(b"not the real archive" * 100)
    remote = RemoteFile(url=f"{server.url}/LJSpeech-1.1.tar.bz2", checksums=(
        Checksum("sha256", "0" * 64, "test"),))
    dest = tmp_path / "downloads" / "LJSpeech-1.1.tar.bz2"
    with pytest.raises(VerificationError) as info:
        download_file(remote.url, dest, remote=remote, progress=False)
    message = str(info.value)
    assert "sha256 mismatch" in message and str(dest) in message and "--archive" in message
    assert "--no-verify" in message
    assert not dest.exists() and not dest.with_name(dest.name + ".part").exists()


def test_size_only_when_no_checksum_is_published(
    server: _Server, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (server.root / "a.bin").write_bytes(b"x" * 1000)
    remote = RemoteFile(url=f"{server.url}/a.bin", size=1000)
    with caplog.at_level(logging.WARNING):
        download_file(remote.url, tmp_path / "a.bin", remote=remote, progress=False)
    assert "no published checksum" in caplog.text and "size only" in caplog.text
    with pytest.raises(VerificationError, match="size 1000 bytes, expected 999"):
        download_file(remote.url, tmp_path / "b.bin", progress=False,
                      remote=RemoteFile(url=remote.url, size=999))


def test_http_404_fails_at_once_with_a_manual_hint(server: _Server, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="HTTP 404.*put it at"):
        download_file(f"{server.url}/missing.tar.gz", tmp_path / "x.tar.gz", progress=False,
                      sleep=lambda _: pytest.fail("404 must not be retried"))


def test_local_write_errors_and_missing_file_sources_are_not_retried(
    server: _Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (server.root / "blob.bin").write_bytes(b"x" * 5000)
    monkeypatch.setenv("AUDIOGAN_FAULT", "download.block=enospc")
    with pytest.raises(DownloadError, match=r"blob.bin.part: No space left on device.*resume"):
        download_file(f"{server.url}/blob.bin", tmp_path / "blob.bin", progress=False,
                      sleep=lambda _: pytest.fail("a full disk must not be retried"))
    monkeypatch.delenv("AUDIOGAN_FAULT")
    with pytest.raises(DownloadError, match="No such file or directory; check the URL"):
        download_file((tmp_path / "nowhere.bin").as_uri(), tmp_path / "n.bin", progress=False,
                      sleep=lambda _: pytest.fail("a missing file:// source is not retried"))
    with pytest.raises(DownloadError, match="not an http"):
        download_file("htp//typo/blob.bin", tmp_path / "t.bin", progress=False)


# ------------------------------------------------------------------------------ preparation


def test_split_by_hash_is_deterministic_and_fills_every_split() -> None:
    keys = [f"spk{i}" for i in range(5)]
    first = split_by_hash(keys, 0.01, 0.01, "salt")
    assert first == split_by_hash(list(reversed(keys)), 0.01, 0.01, "salt")
    assert set(first.values()) == {"train", "valid", "test"}
    many = split_by_hash([f"u{i}" for i in range(2000)], 0.1, 0.2, "salt")
    share = {s: list(many.values()).count(s) / 2000 for s in ("valid", "test")}
    assert abs(share["valid"] - 0.1) < 0.03 and abs(share["test"] - 0.2) < 0.03


def test_prepare_ljspeech_downloads_verifies_and_is_idempotent(
    lj_archive: Path, server: _Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    (server.root / lj_archive.name).write_bytes(lj_archive.read_bytes())
    server.cuts[lj_archive.name] = [lj_archive.stat().st_size // 2]  # resume mid-archive
    # the table's official checksum, swapped for the test archive's
    monkeypatch.setitem(corpora.ARCHIVES, lj_archive.name,
                        _remote_for(lj_archive, corpora.ARCHIVES[lj_archive.name].url))
    root = tmp_path / "data"
    result = prepare_corpus("ljspeech", root, download=True, mirror=server.url + "/",
                            progress=False, backoff=0.01)
    assert result is not None and not result.up_to_date
    assert [r for _, r in server.log] == [None, f"bytes={lj_archive.stat().st_size // 2}-"]
    assert (root / "downloads" / lj_archive.name).is_file()
    manifests = root / "manifests"
    entries = {split: read_manifest(manifests / f"{split}.tsv") for split in ("train", "valid",
                                                                              "test")}
    ids = [e.path.stem for items in entries.values() for e in items]
    assert sorted(ids) == sorted(LJ_IDS) and all(len(v) >= 1 for v in entries.values())
    assert all(e.sample_rate == 22050 and e.path.is_file() for v in entries.values() for e in v)
    assert all(e.path.parent == root / "LJSpeech-1.1" / "wavs" for v in entries.values() for e in v)
    rejected = (manifests / "rejected.tsv").read_text().splitlines()
    assert rejected[0] == "path\treason"
    reasons = dict(line.split("\t") for line in rejected[1:])
    assert any("LJ999-0001" in p and "truncated" in r for p, r in reasons.items())
    assert any("LJ999-0002" in p and "silent" in r for p, r in reasons.items())
    assert any("LJ999-0003" in p and "too short" in r for p, r in reasons.items())

    # a second run does nothing: no file is written, the log says so
    watched = sorted(manifests.rglob("*")) + [root / "LJSpeech-1.1" / "metadata.csv"]
    mtimes = [p.stat().st_mtime_ns for p in watched]
    server.log.clear()
    with caplog.at_level(logging.DEBUG, logger="audiogan"):
        again = prepare_corpus("ljspeech", root, download=True, mirror=server.url,
                               progress=False)
    assert again is not None and again.up_to_date and again.counts == result.counts
    assert "up to date; nothing to do" in caplog.text
    assert [p.stat().st_mtime_ns for p in watched] == mtimes and server.log == []
    assert sorted(manifests.rglob("*")) == watched[:-1]


def test_prepare_refuses_an_archive_with_the_wrong_checksum(lj_archive: Path,
                                                            tmp_path: Path) -> None:
    # the real table: the test archive is not the official release
    with pytest.raises(CorpusError, match="sha256 mismatch|size"):
        prepare_corpus("ljspeech", tmp_path / "data", archives=[lj_archive], progress=False)
    result = prepare_corpus("ljspeech", tmp_path / "data", archives=[lj_archive], verify=False,
                            progress=False)
    assert result is not None and sum(result.counts.values()) == len(LJ_IDS)


def test_missing_archive_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(CorpusError) as info:
        prepare_corpus("vctk", tmp_path / "data", progress=False)
    message = str(info.value)
    assert "--download" in message and "datashare.ed.ac.uk" in message
    assert str(tmp_path / "data" / "downloads" / "VCTK-Corpus-0.92.zip") in message


def test_prepare_vctk_mic2_resampled_with_unseen_test_speakers(dev_data: Path,
                                                              tmp_path: Path) -> None:
    archive = build_vctk(dev_data, tmp_path)
    root = tmp_path / "vctk"
    result = prepare_corpus("vctk", root, archives=[archive], verify=False, mic="mic2",
                            out=tmp_path / "lists", progress=False)
    assert result is not None and result.sample_rate == 24000
    splits = {s: read_manifest(tmp_path / "lists" / f"{s}.tsv") for s in ("train", "valid",
                                                                          "test")}
    speakers = {s: {e.speaker for e in items} for s, items in splits.items()}
    assert speakers["train"].isdisjoint(speakers["test"] | speakers["valid"])
    assert speakers["valid"].isdisjoint(speakers["test"]) and all(speakers.values())
    for entry in (e for items in splits.values() for e in items):
        info = sf.info(str(entry.path))
        assert info.samplerate == 24000 and entry.num_samples == info.frames
        assert entry.path.is_relative_to(tmp_path / "lists" / "audio_24000")
        assert entry.path.stem.count("_") == 1  # p225_001: the mic suffix is dropped
    # mic2 was recorded at half the level in this test corpus
    mic2 = np.abs(sf.read(str(splits["train"][0].path))[0]).max()
    assert mic2 < 0.6
    assert not (root / "manifests").exists()  # --out was given


def test_prepare_sc09_and_speech_commands(dev_data: Path, tmp_path: Path) -> None:
    archive = build_speech_commands(dev_data, tmp_path)
    root = tmp_path / "corpus"
    sc09 = prepare_corpus("sc09", root, archives=[archive], verify=False, progress=False)
    assert sc09 is not None and sc09.counts == {"train": 12, "valid": 2, "test": 2}
    valid = read_manifest(root / "manifests" / "valid.tsv")
    official = (root / "speech_commands_v0.02" / "validation_list.txt").read_text().split()
    assert sorted(f"{e.label}/{e.path.name}" for e in valid) == sorted(official)
    for entry in read_manifest(root / "manifests" / "train.tsv"):
        wave, sr = sf.read(str(entry.path))
        assert sr == 16000 and len(wave) == 16384 == entry.num_samples
        assert np.all(wave[16000:] == 0) and entry.label in ("zero", "nine")
        assert entry.speaker and "_nohash_" not in entry.speaker
    words = prepare_corpus("speech_commands", root, out=root / "all_words", progress=False)
    assert words is not None and sum(words.counts.values()) == 17
    labels = {e.label for e in read_manifest(root / "all_words" / "train.tsv")}
    assert labels == {"zero", "nine", "yes"}  # _background_noise_ left out
    assert all(e.path.is_relative_to(root / "speech_commands_v0.02")
               for e in read_manifest(root / "all_words" / "train.tsv"))


def test_prepare_libritts_r_by_speaker(dev_data: Path, tmp_path: Path, server: _Server) -> None:
    archive = build_libritts(dev_data, tmp_path, top="LibriTTS_R")
    (server.root / archive.name).write_bytes(archive.read_bytes())
    result = prepare_corpus("libritts_r", tmp_path / "lt", download=True, mirror=server.url,
                            verify=False, progress=False)
    assert result is not None and result.sample_rate == 24000
    entries = [e for s in result.manifests.values() for e in read_manifest(s)]
    assert len(entries) == 8 and all("LibriTTS_R/train-clean-100" in str(e.path)
                                     for e in entries)  # 24 kHz files are used in place
    with pytest.raises(CorpusError, match="unknown subset 'train-other-500'"):
        prepare_corpus("libritts", tmp_path / "lt", subsets=["train-other-500"])


def test_prepare_folder_of_mixed_formats_and_rates(dev_data: Path, tmp_path: Path) -> None:
    root = tmp_path / "mine"
    (root / "a" / "b").mkdir(parents=True)
    for index, clip in enumerate(sorted((dev_data / "fsdd").glob("*.wav"))[:4]):  # 8 kHz
        (root / "a" / f"digit{index}.wav").write_bytes(clip.read_bytes())
    for index in range(3):  # 16 kHz
        data, sr = _excerpt(dev_data, _vctk_clips(dev_data), index, 1.0)
        sf.write(root / "a" / "b" / f"v{index}.flac", data, sr)
    data, sr = _clip(dev_data, f"ljspeech/{LJ_IDS[0]}.wav", 1.0)  # 22.05 kHz, stereo
    sf.write(root / "lj.wav", np.stack([data, data], axis=1), sr)
    sf.write(root / "lj.flac", data[: sr // 2], sr)  # same stem as lj.wav
    (root / "notes.txt").write_text("not audio")
    (root / "a" / "broken.wav").write_bytes(b"RIFF....WAVEjunk")
    result = prepare_corpus("folder", root, sample_rate=16000, progress=False)
    assert result is not None
    entries = [e for s in result.manifests.values() for e in read_manifest(s)]
    assert len(entries) == 9 and all(e.sample_rate == 16000 for e in entries)
    assert (root / "manifests" / "audio_16000" / "lj.wav.wav").is_file()
    assert (root / "manifests" / "audio_16000" / "lj.flac.wav").is_file()
    for entry in entries:
        info = sf.info(str(entry.path))
        assert info.samplerate == 16000 and info.channels == 1
    in_place = [e for e in entries if not e.path.is_relative_to(root / "manifests")]
    assert sorted(e.path.name for e in in_place) == ["v0.flac", "v1.flac", "v2.flac"]
    rejected = (root / "manifests" / "rejected.tsv").read_text()
    assert "a/broken.wav" in rejected
    again = prepare_corpus("folder", root, sample_rate=16000, progress=False)
    assert again is not None and again.up_to_date  # the cache dir was not scanned as input
    cached = next(e.path for e in entries if e.path.is_relative_to(root / "manifests"))
    cached.unlink()  # a lost cache file is noticed and written again
    redone = prepare_corpus("folder", root, sample_rate=16000, progress=False)
    assert redone is not None and not redone.up_to_date and cached.is_file()


def test_prepare_reports_rejected_files_and_unreadable_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # issue 11 defect 12: unreadable folders were skipped silently
    root = tmp_path / "wavs"
    (root / "locked").mkdir(parents=True)
    t = np.arange(8000) / 16000
    for i in range(3):
        sf.write(root / f"good{i}.wav", 0.3 * np.sin(2 * np.pi * (200 + 50 * i) * t), 16000)
    sf.write(root / "locked" / "hidden.wav", 0.3 * np.sin(2 * np.pi * 300 * t), 16000)
    (root / "empty.wav").write_bytes(b"")
    os.mkfifo(root / "pipe.wav")  # reading a FIFO would block for ever
    real_scandir = os.scandir

    def scandir(path: object = ".") -> object:  # chmod 000 does not stop root: refuse here
        if os.fspath(path).endswith("locked"):  # type: ignore[arg-type]
            raise PermissionError(13, "Permission denied", os.fspath(path))  # type: ignore
        return real_scandir(path)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "scandir", scandir)
    told: list[tuple[Path, str]] = []
    result = prepare_corpus("folder", root, sample_rate=16000, progress=False,
                            report=lambda path, reason: told.append((path, reason)))
    assert result is not None and sum(result.counts.values()) == 3
    assert [p.name for p, _ in told] == ["locked", "empty.wav", "pipe.wav"]
    assert "folder not readable (Permission denied)" in told[0][1]
    assert "not a regular file" in told[2][1]
    assert result.rejected == told
    listed = (root / "manifests" / "rejected.tsv").read_text()
    assert "locked\tfolder not readable" in listed and "pipe.wav" in listed
    again: list[tuple[Path, str]] = []
    second = prepare_corpus("folder", root, sample_rate=16000, progress=False,
                            report=lambda path, reason: again.append((path, reason)))
    assert second is not None and second.up_to_date and again == told  # reported again


def test_cli_prepare_exit_codes_follow_the_convention(tmp_path: Path) -> None:
    root = tmp_path / "wavs"
    root.mkdir()
    (root / "bad.wav").write_bytes(b"RIFFjunk")
    runner = CliRunner()
    none = runner.invoke(cli, ["prepare", "folder", "--root", str(root), "--jobs", "1"])
    errors = [line for line in none.stderr.splitlines() if line.startswith("error:")]
    assert none.exit_code == 2 and len(errors) == 2 and "bad.wav" in errors[0]
    assert "no usable audio" in errors[1] and "Traceback" not in none.output
    t = np.arange(8000) / 16000
    for i in range(3):
        sf.write(root / f"good{i}.wav", 0.3 * np.sin(2 * np.pi * (200 + 50 * i) * t), 16000)
    some = runner.invoke(cli, ["prepare", "folder", "--root", str(root), "--jobs", "1"])
    errors = [line for line in some.stderr.splitlines() if line.startswith("error:")]
    assert some.exit_code == 1 and len(errors) == 1 and "bad.wav" in errors[0]
    (root / "bad.wav").unlink()
    clean = runner.invoke(cli, ["prepare", "folder", "--root", str(root), "--jobs", "1"])
    assert clean.exit_code == 0 and "error:" not in clean.stderr


def test_prepare_outputs_follow_the_umask(tmp_path: Path) -> None:
    root = tmp_path / "wavs"
    root.mkdir()
    t = np.arange(8000) / 16000
    for i in range(3):
        sf.write(root / f"good{i}.wav", 0.3 * np.sin(2 * np.pi * (200 + 50 * i) * t), 16000)
    old = os.umask(0o022)
    try:
        prepare_corpus("folder", root, sample_rate=16000, progress=False)
    finally:
        os.umask(old)
    for name in ("train.tsv", "prepare.json"):
        assert (root / "manifests" / name).stat().st_mode & 0o777 == 0o644, name
    assert not list((root / "manifests").glob(".*.tmp"))


def test_worker_processes_give_the_same_manifests(dev_data: Path, tmp_path: Path) -> None:
    root = tmp_path / "digits"
    root.mkdir()
    clips = sorted((dev_data / "fsdd").glob("*.wav"))[:64]  # 8 kHz: resampled
    assert len(clips) == 64  # from 64 files on, prepare runs worker processes
    for clip in clips:
        (root / clip.name).write_bytes(clip.read_bytes())
    serial = prepare_corpus("folder", root, sample_rate=16000, out=tmp_path / "one",
                            progress=False)
    pooled = prepare_corpus("folder", root, sample_rate=16000, out=tmp_path / "two", jobs=2,
                            progress=False)
    assert serial is not None and pooled is not None and serial.counts == pooled.counts
    for split in serial.counts:
        one = (tmp_path / "one" / f"{split}.tsv").read_text()
        assert one == (tmp_path / "two" / f"{split}.tsv").read_text()
    wave_one, _ = sf.read(str(tmp_path / "one" / "audio_16000" / clips[0].name))
    wave_two, _ = sf.read(str(tmp_path / "two" / "audio_16000" / clips[0].name))
    assert np.array_equal(wave_one, wave_two)


def test_folder_mel_pairs_check_alignment(dev_data: Path, tmp_path: Path) -> None:
    from audiogan.features.mel import MelSpectrogram

    root, mels = tmp_path / "pairs" / "wavs", tmp_path / "pairs" / "mels"
    root.mkdir(parents=True)
    mels.mkdir()
    features = MelSpectrogram("hifigan")
    for uid in LJ_IDS[:4]:
        data, sr = _clip(dev_data, f"ljspeech/{uid}.wav", 1.0)
        sf.write(root / f"{uid}.wav", data, sr)
        mel = features(torch.from_numpy(data)[None])[0].numpy()
        np.save(mels / f"{uid}.npy", mel)
    out = tmp_path / "pairs" / "manifests"
    result = prepare_corpus("folder", root, mel_dir=mels, out=out, progress=False)
    assert result is not None
    entries = [e for s in result.manifests.values() for e in read_manifest(s)]
    assert len(entries) == 4 and all(e.mel_path and e.mel_path.is_file() for e in entries)
    bad = mels / f"{LJ_IDS[2]}.npy"
    np.save(bad, np.load(bad)[:, :-3])  # three frames short: beyond the one-hop tolerance
    with pytest.raises(MelAlignmentError, match=LJ_IDS[2]):
        prepare_corpus("folder", root, mel_dir=mels, out=out, progress=False)


def test_cli_prepare(lj_archive: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["prepare", "ljspeech", "--root", str(tmp_path / "d"), "--archive", str(lj_archive),
            "--no-verify", "--jobs", "1"]
    first = runner.invoke(cli, args)
    assert first.exit_code == 1, first.output  # some files were left out, the rest written
    assert "ljspeech: train" in first.stdout and "rejected.tsv" in first.stderr
    errors = [line for line in first.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 3 and all("LJ999-000" in line for line in errors)
    assert "3 of 13 files failed" in first.stderr
    second = runner.invoke(cli, args)
    assert second.exit_code == 1 and "up to date (nothing to do)" in second.stdout
    assert sum(line.startswith("error:") for line in second.stderr.splitlines()) == 3
    bad = runner.invoke(cli, ["prepare", "timit", "--root", str(tmp_path)])
    assert bad.exit_code == 2 and "valid corpora: ljspeech" in bad.output
    missing = runner.invoke(cli, ["prepare", "sc09", "--root", str(tmp_path / "e")])
    assert missing.exit_code == 2 and "pass --download" in missing.output
    listing = runner.invoke(cli, ["prepare", "--list"])
    assert listing.exit_code == 0 and "no published checksum" in listing.stdout


def test_table_is_complete() -> None:
    for name, remote in corpora.ARCHIVES.items():
        assert remote.url.startswith("https://") and remote.filename == name
        for checksum in remote.checksums:
            assert checksum.algorithm in ("sha256", "md5") and checksum.source
            assert len(checksum.value) == {"sha256": 64, "md5": 32}[checksum.algorithm]
        assert remote.checksums or remote.size is None or remote.size_source
    for corpus in corpora.CORPORA:
        for _, remote in corpora.archives_for(corpus):
            assert remote.filename in corpora.ARCHIVES
    assert os.path.basename(corpora.ARCHIVES["VCTK-Corpus-0.92.zip"].url).endswith(".zip")
