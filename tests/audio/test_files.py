"""One audio-file discovery (audio/files.py) with one suffix set, shared by prepare (a folder
corpus), evaluate / train-classifier (--data DIR) and synthesize (DIR inputs)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiogan.audio.files import AUDIO_SUFFIXES, find_audio_files, has_audio_suffix
from audiogan.cli.main import Failures
from audiogan.data.corpora import SPECS
from audiogan.data.listing import list_utterances
from audiogan.evaluation.inputs import collect_clips


def test_the_suffix_set_is_what_libsndfile_reads() -> None:
    assert set(AUDIO_SUFFIXES) == {
        ".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".aifc", ".au",
        ".snd", ".w64", ".caf", ".rf64", ".sd2",
    }
    assert len(AUDIO_SUFFIXES) == len(set(AUDIO_SUFFIXES))
    assert all(s == s.lower() and s.startswith(".") for s in AUDIO_SUFFIXES)
    # each suffix names a container the installed libsndfile reads
    container = {".oga": "OGG", ".opus": "OGG", ".aif": "AIFF", ".aifc": "AIFF", ".snd": "AU"}
    formats = sf.available_formats()
    missing = [s for s in AUDIO_SUFFIXES if container.get(s, s[1:].upper()) not in formats]
    assert not missing, missing


@pytest.mark.parametrize("name, taken", [
    ("a.wav", True), ("A.WAV", True), ("b.Flac", True), ("c.aiff", True), ("d.opus", True),
    ("e.mp3", True), ("f.au", True), ("g.txt", False), ("h.npy", False), ("wav", False),
    ("i.wav.bak", False), ("j", False),
])
def test_has_audio_suffix_ignores_case(name: str, taken: bool) -> None:
    assert has_audio_suffix(name) is taken


def _tree(root: Path) -> None:
    """Clips readable by libsndfile, plus files every command must pass over."""
    wave = (0.1 * np.sin(np.arange(1600) / 5.0)).astype(np.float32)
    (root / "sub" / "deep").mkdir(parents=True)
    (root / ".hidden_dir").mkdir()
    sf.write(root / "b.wav", wave, 16000)
    sf.write(root / "A.FLAC", wave, 16000)
    sf.write(root / "c.aiff", wave, 16000, format="AIFF")
    sf.write(root / "sub" / "d.ogg", wave, 16000)
    sf.write(root / "sub" / "deep" / "e.au", wave, 16000, format="AU")
    sf.write(root / ".hidden.wav", wave, 16000)
    sf.write(root / ".hidden_dir" / "f.wav", wave, 16000)
    (root / "notes.txt").write_text("not audio")
    (root / "sub" / "g.wav.txt").write_text("not audio")
    os.mkfifo(root / "pipe.wav")  # would block a reader: listed only for prepare to report it


def test_find_audio_files_order_and_exclusions(tmp_path: Path) -> None:
    _tree(tmp_path)
    names = [p.relative_to(tmp_path).as_posix() for p in find_audio_files(tmp_path)]
    # each folder's files by name, then its sub-folders
    assert names == ["A.FLAC", "b.wav", "c.aiff", "sub/d.ogg", "sub/deep/e.au"]
    flat = [p.name for p in find_audio_files(tmp_path, recursive=False)]
    assert flat == ["A.FLAC", "b.wav", "c.aiff"]
    skipped = [p.name for p in find_audio_files(tmp_path, skip=tmp_path / "sub" / "deep")]
    assert skipped == ["A.FLAC", "b.wav", "c.aiff", "d.ogg"]
    specials = find_audio_files(tmp_path, recursive=False, special_files=True)
    assert [p.name for p in specials] == ["A.FLAC", "b.wav", "c.aiff", "pipe.wav"]
    texts = [p.name for p in find_audio_files(tmp_path, suffixes={".txt"})]
    assert texts == ["notes.txt", "g.wav.txt"]


def test_files_before_sub_folders_and_path_order_differ_only_by_sorting(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    for name in ("a/x.wav", "b.wav"):
        (tmp_path / name).write_bytes(b"")
    found = find_audio_files(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["b.wav", "a/x.wav"]
    assert [p.relative_to(tmp_path).as_posix() for p in sorted(found)] == ["a/x.wav", "b.wav"]


def test_unreadable_folders_are_reported(tmp_path: Path) -> None:
    errors: list[OSError] = []
    assert find_audio_files(tmp_path / "missing", onerror=errors.append) == []
    assert len(errors) == 1 and errors[0].filename == str(tmp_path / "missing")


def test_prepare_evaluate_and_synthesize_take_the_same_files(tmp_path: Path) -> None:
    _tree(tmp_path)
    expected = ["A.FLAC", "b.wav", "c.aiff", "sub/d.ogg", "sub/deep/e.au"]

    # prepare lists the FIFO too, to report it as a file it could not use
    utterances = list_utterances(SPECS["folder"], tmp_path, (), "mic1", tmp_path / "manifests")
    assert [u.uid for u in utterances] == [*expected[:3], "pipe.wav", *expected[3:]]

    entries, rejected = collect_clips(tmp_path)
    assert rejected == []
    assert sorted(Path(e.path).relative_to(tmp_path).as_posix() for e in entries) == expected

    from audiogan.cli.inference import _expand_inputs  # after cli.main (it registers commands)

    np.save(tmp_path / "sub" / "m.npy", np.zeros((80, 4), np.float32))
    failures = Failures()
    items = _expand_inputs((str(tmp_path),), tmp_path / "sub" / "deep", failures)
    assert failures.items == []
    assert [i.path.relative_to(tmp_path).as_posix() for i in items] == [
        "A.FLAC", "b.wav", "c.aiff", "sub/d.ogg", "sub/m.npy",  # OUT_DIR sub/deep left out
    ]
    assert [i.output.as_posix() for i in items][-1] == "sub/m.wav"


def test_the_features_command_takes_directories_through_the_same_discovery(
    tmp_path: Path,
) -> None:
    from audiogan.features.files import feature_targets
    from audiogan.features.spec import FeatureError

    _tree(tmp_path / "in")
    out = tmp_path / "in" / "sub" / "deep"  # OUT_DIR inside the input: its files left out
    single = tmp_path / "z.wav"
    pairs = feature_targets([tmp_path / "in", single], out)
    assert [(p.relative_to(tmp_path).as_posix(), t.name) for p, t in pairs] == [
        ("in/A.FLAC", "A.npy"), ("in/b.wav", "b.npy"), ("in/c.aiff", "c.npy"),
        ("in/sub/d.ogg", "d.npy"), ("z.wav", "z.npy"),
    ]
    (tmp_path / "in" / "sub" / "b.flac").write_bytes(b"")
    with pytest.raises(FeatureError, match=r"b\.wav and .*sub/b\.flac would both be written"):
        feature_targets([tmp_path / "in"], tmp_path / "out")
    (tmp_path / "empty").mkdir()  # no audio: stays an input that write_features refuses
    (tmp_path / "empty" / "notes.txt").write_text("not audio")
    assert feature_targets([tmp_path / "empty"], tmp_path / "out") == [
        (tmp_path / "empty", tmp_path / "out" / "empty.npy")]
