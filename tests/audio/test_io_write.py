"""Tests for audiogan.audio.io's writing side: save_audio's clipping, atomic writes that keep the
previous file, refused requests, the umask."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from audio_helpers import SR, _sine

from audiogan.audio.io import AudioError, AudioInfo, audio_info, save_audio

# --------------------------------------------------------------------------- saving


def test_save_accepts_tensors_and_creates_parent_dirs(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "clip.wav"
    wave = torch.from_numpy(_sine(440.0)).to(torch.float64).requires_grad_()
    assert save_audio(target, wave, SR) == target
    assert audio_info(target) == AudioInfo(SR, wave.numel(), 1, wave.numel() / SR)
    assert sorted(p.name for p in target.parent.iterdir()) == ["clip.wav"]


@pytest.mark.parametrize("subtype", ["PCM_16", "FLOAT"])
def test_save_clips_with_a_warning_instead_of_wrapping(
    tmp_path: Path, caplog, subtype: str
) -> None:
    wave = _sine(440.0, amp=1.5)
    with caplog.at_level(logging.WARNING, logger="audiogan.audio.io"):
        path = save_audio(tmp_path / "loud.wav", wave, SR, subtype=subtype)
    assert "loud.wav" in caplog.text and "clipped" in caplog.text

    stored, _ = sf.read(path, dtype="float32")  # what is in the file, not what load_audio makes
    over, under = wave > 1.0, wave < -1.0
    assert over.any() and under.any()
    assert np.abs(stored).max() <= 1.0
    # A wrapped 16-bit sample flips sign; a clipped one sits at full scale.
    assert stored[over].min() >= 1.0 - 2.0 / 2**15
    assert stored[under].max() <= -1.0 + 2.0 / 2**15
    inside = ~(over | under)
    assert np.abs(stored[inside] - wave[inside]).max() <= 1.0 / 2**15


def _fail_mid_write(*args, **kwargs) -> None:
    handle = args[0]
    handle.write(b"RIFF half a file")  # leave junk in the temp file, then fail
    raise RuntimeError("disk on fire")


def _fail_rename(*args, **kwargs) -> None:
    raise OSError(28, "No space left on device")


@pytest.mark.parametrize(
    ("module", "name", "failure"),
    [(sf, "write", _fail_mid_write), (os, "replace", _fail_rename)],
    ids=["soundfile.write", "os.replace"],
)
def test_failed_save_keeps_the_previous_file_and_leaves_no_temp(
    tmp_path: Path, monkeypatch, module, name: str, failure
) -> None:
    path = save_audio(tmp_path / "clip.wav", _sine(440.0), SR)
    before = path.read_bytes()

    monkeypatch.setattr(module, name, failure)
    with pytest.raises(AudioError, match=r"clip\.wav: cannot write"):
        save_audio(path, _sine(880.0), SR)
    monkeypatch.undo()

    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["clip.wav"]


def test_save_of_a_new_path_that_fails_leaves_nothing(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(sf, "write", _fail_mid_write)
    with pytest.raises(AudioError, match=r"new\.wav"):
        save_audio(tmp_path / "new.wav", _sine(440.0), SR)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_input_raises_and_writes_nothing(tmp_path: Path, value: float) -> None:
    existing = save_audio(tmp_path / "kept.wav", _sine(440.0), SR)
    before = existing.read_bytes()
    wave = _sine(440.0)
    wave[10] = value

    with pytest.raises(AudioError, match=r"new\.wav: 1 non-finite"):
        save_audio(tmp_path / "new.wav", wave, SR)
    with pytest.raises(AudioError, match=r"kept\.wav: 1 non-finite"):
        save_audio(existing, torch.from_numpy(wave), SR)
    assert [p.name for p in tmp_path.iterdir()] == ["kept.wav"]
    assert existing.read_bytes() == before


@pytest.mark.parametrize(
    ("name", "wave", "subtype", "words"),
    [
        ("clip.mp3", _sine(440.0), "PCM_16", r"unsupported extension '\.mp3'.*\.wav, \.flac"),
        ("clip.flac", _sine(440.0), "FLOAT", r"subtype 'FLOAT' cannot be written as FLAC.*PCM_"),
        ("clip.wav", np.zeros(0, dtype=np.float32), "PCM_16", "nothing to write"),
        ("clip.wav", np.zeros((1000, 2), dtype=np.float32), "PCM_16", "looks transposed"),
    ],
    ids=["extension", "subtype", "empty", "transposed"],
)
def test_save_rejects_bad_requests_naming_the_file(
    tmp_path: Path, name: str, wave: np.ndarray, subtype: str, words: str
) -> None:
    with pytest.raises(AudioError, match=name.replace(".", r"\.") + ": .*" + words):
        save_audio(tmp_path / name, wave, SR, subtype=subtype)
    assert list(tmp_path.iterdir()) == []


def test_save_rejects_integer_samples_and_bad_shapes(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        save_audio(tmp_path / "a.wav", np.zeros(10, dtype=np.int16), SR)
    with pytest.raises(ValueError, match="channels, T"):
        save_audio(tmp_path / "a.wav", np.zeros((1, 2, 10), dtype=np.float32), SR)
    with pytest.raises(ValueError, match="sample_rate"):
        save_audio(tmp_path / "a.wav", _sine(440.0), 0)


def test_saved_files_follow_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = save_audio(tmp_path / "clip.wav", _sine(440.0), SR)
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644
