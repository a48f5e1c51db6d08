"""Tests for audiogan.audio.io's reading side: round trips, every AudioError case of
load_audio/audio_info, permissions, channel mix-down (saving: test_audio_save.py; resampling:
test_resample.py; to_mono/peak_normalize/is_silent: test_wave_ops.py)."""

from __future__ import annotations

import logging
import os
import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from audio_helpers import SR, _noise, _sine, _valid_wav

from audiogan.audio.io import (
    MAX_CHANNELS,
    AudioError,
    AudioInfo,
    audio_info,
    load_audio,
    save_audio,
)

# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize(
    ("suffix", "subtype", "tolerance"),
    [
        (".wav", "PCM_16", 1.0 / 2**15),  # measured max error 0.99 / 2**15
        (".wav", "PCM_24", 1.0 / 2**23),  # measured 0.94 / 2**23
        (".wav", "FLOAT", 0.0),
        (".flac", "PCM_16", 1.0 / 2**15),
        (".flac", "PCM_24", 1.0 / 2**23),
    ],
)
def test_round_trip(tmp_path: Path, suffix: str, subtype: str, tolerance: float) -> None:
    wave = _sine(440.0, amp=0.9) + _noise(amp=0.09)
    written = save_audio(tmp_path / f"clip{suffix}", wave, SR, subtype=subtype)
    assert written == tmp_path / f"clip{suffix}"
    assert sf.info(written).subtype == subtype

    loaded, sr = load_audio(written)
    assert sr == SR
    assert loaded.dtype == torch.float32
    assert loaded.shape == (1, wave.size)
    assert np.abs(loaded[0].numpy() - wave).max() <= tolerance + 1e-9


def test_ogg_round_trip_defaults_to_vorbis(tmp_path: Path) -> None:
    wave = _sine(440.0)
    written = save_audio(tmp_path / "clip.ogg", wave, SR)  # default PCM_16 means Vorbis here
    assert sf.info(written).subtype == "VORBIS"
    loaded, _ = load_audio(written)
    assert loaded.shape == (1, wave.size)
    assert np.corrcoef(loaded[0].numpy(), wave)[0, 1] > 0.999  # lossy, but the same tone


def test_stereo_mixes_down_to_the_channel_mean(tmp_path: Path) -> None:
    left, right = _sine(440.0, amp=0.6), _sine(1000.0, amp=0.3)
    path = save_audio(tmp_path / "stereo.wav", np.stack([left, right]), SR, subtype="FLOAT")

    mono, _ = load_audio(path)
    assert mono.shape == (1, left.size)
    np.testing.assert_allclose(mono[0].numpy(), (left + right) / 2, atol=1e-7)


def test_mono_false_keeps_channels(tmp_path: Path) -> None:
    channels = np.stack([_sine(440.0), _sine(660.0), _noise()])
    path = save_audio(tmp_path / "three.wav", torch.from_numpy(channels), SR, subtype="FLOAT")

    wave, _ = load_audio(path, mono=False)
    assert wave.shape == channels.shape
    np.testing.assert_array_equal(wave.numpy(), channels)


# --------------------------------------------------------------------------- broken files


def _cut(keep: Callable[[int], int]) -> Callable[[Path], Path]:
    """A valid 16-bit WAV cut to its first ``keep(size)`` bytes."""

    def make(tmp: Path) -> Path:
        data = _valid_wav(tmp / "whole.wav").read_bytes()
        path = tmp / "cut.wav"
        path.write_bytes(data[: keep(len(data))])
        return path

    return make


def _text_as_wav(tmp: Path) -> Path:
    path = tmp / "notes.wav"
    path.write_text("these are meeting notes, not audio\n" * 20)
    return path


def _zero_frames(tmp: Path) -> Path:
    path = tmp / "zero_frames.wav"
    sf.write(path, np.zeros(0, dtype=np.float32), SR, subtype="PCM_16")
    assert path.stat().st_size > 0  # a valid header, no samples
    return path


def _zero_bytes(tmp: Path) -> Path:
    path = tmp / "zero_bytes.wav"
    path.touch()
    return path


def _non_finite(value: float) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        wave = _sine(440.0)
        wave[100] = value
        path = tmp / "non_finite.wav"
        sf.write(path, wave, SR, subtype="FLOAT")
        return path

    return make


def _truncated_flac(tmp: Path) -> Path:
    whole = tmp / "whole.flac"
    sf.write(whole, _sine(440.0) + _noise(), SR)
    path = tmp / "cut.flac"
    path.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    return path


def _missing(tmp: Path) -> Path:
    return tmp / "nowhere" / "missing.wav"


BROKEN_FILES: dict[str, tuple[Callable[[Path], Path], str, bool]] = {
    # name: (maker, words the message must hold, whether audio_info detects it from the header)
    "truncated_mid_data": (_cut(lambda size: size // 2 + 1), "truncated", True),  # mid-sample
    "truncated_in_fmt_chunk": (_cut(lambda size: 20), "not a readable audio file", True),
    "truncated_before_data_chunk": (_cut(lambda size: 40), "not a readable audio file", True),
    "truncated_after_header": (_cut(lambda size: 44), "truncated", True),
    "text_renamed_wav": (_text_as_wav, "not a readable audio file", True),
    "zero_frames": (_zero_frames, "empty", True),
    "zero_bytes": (_zero_bytes, "empty", True),
    "nan_float": (_non_finite(float("nan")), "non-finite", False),
    "inf_float": (_non_finite(float("inf")), "non-finite", False),
    "truncated_flac": (_truncated_flac, "corrupt", False),
    "missing": (_missing, "not found", True),
}


@pytest.mark.parametrize("case", list(BROKEN_FILES))
def test_broken_file_raises_audio_error_naming_it(tmp_path: Path, case: str) -> None:
    make, words, header_level = BROKEN_FILES[case]
    path = make(tmp_path)

    with pytest.raises(AudioError) as caught:
        load_audio(path)
    message = str(caught.value)
    assert path.name in message
    assert words in message
    assert "\n" not in message
    assert caught.value.path == str(path)

    if header_level:
        with pytest.raises(AudioError, match=path.name):
            audio_info(path)


def test_stream_shorter_than_its_header_says_is_truncated(tmp_path: Path) -> None:
    # MP3 with a Xing header: libsndfile knows the frame count, decoding a cut file yields fewer.
    if "MP3" not in sf.available_formats():
        pytest.skip("this libsndfile cannot write MP3")
    whole = tmp_path / "whole.mp3"
    sf.write(whole, _sine(440.0, seconds=1.0) + _noise(seconds=1.0), SR, format="MP3")
    path = tmp_path / "cut.mp3"
    path.write_bytes(whole.read_bytes()[: whole.stat().st_size * 9 // 10])

    assert audio_info(path).num_frames == SR  # the header cannot tell
    with pytest.raises(
        AudioError, match=r"cut\.mp3: truncated: audio data ends after \d+ of 16000"
    ):
        load_audio(path)


def test_too_many_channels(tmp_path: Path) -> None:
    path = tmp_path / "array.wav"
    channels = MAX_CHANNELS + 1
    sf.write(path, np.full((100, channels), 0.25, dtype=np.float32), SR, subtype="FLOAT")

    with pytest.raises(AudioError, match=rf"array\.wav: {channels} channels.*mono=True"):
        load_audio(path, mono=False)
    mixed, _ = load_audio(path)  # mono mix-down still works
    assert mixed.shape == (1, 100)
    assert audio_info(path).channels == channels


def test_audio_info_reads_the_header_only(tmp_path: Path, monkeypatch) -> None:
    path = save_audio(tmp_path / "stereo.flac", np.stack([_sine(440.0), _sine(550.0)]), SR)

    def no_decoding(*args, **kwargs):
        raise AssertionError("audio_info must not decode samples")

    monkeypatch.setattr(sf, "read", no_decoding)
    assert audio_info(path) == AudioInfo(sample_rate=SR, num_frames=8000, channels=2, duration=0.5)


def test_audio_error_pickles_with_its_type_and_path() -> None:
    error = AudioError("a.wav: empty: the file holds no samples", "a.wav")
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is AudioError
    assert (str(again), again.path) == (str(error), "a.wav")


def test_float_file_beyond_full_scale_is_clipped_with_a_warning(tmp_path: Path, caplog) -> None:
    path = tmp_path / "hot.wav"
    sf.write(path, _sine(440.0, amp=1.5), SR, subtype="FLOAT")
    with caplog.at_level(logging.WARNING, logger="audiogan.audio.io"):
        wave, _ = load_audio(path)
    assert wave.abs().max() == 1.0
    assert "hot.wav" in caplog.text and "clipped" in caplog.text


# --------------------------------------------------------------------------- permissions


def test_an_unreadable_file_is_named_with_the_permission_fix(tmp_path: Path, monkeypatch) -> None:
    """libsndfile says "System error"; the line names the file and the fix. (Injected: tests
    run as root, where chmod 000 does not stop reads.)"""
    import errno

    path = _valid_wav(tmp_path / "locked.wav")
    real_open = os.open

    def denied(file, flags, *args, **kwargs):
        if os.fspath(file) == os.fspath(path):
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(file))
        return real_open(file, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", denied)
    with pytest.raises(AudioError) as caught:
        load_audio(path)
    assert str(caught.value) == f"{path}: permission denied; check the file's permissions"


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_a_chmod_000_file_is_named_with_the_permission_fix(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        path = _valid_wav(tmp_path / "locked.wav")
        path.chmod(0)
        with pytest.raises(AudioError, match="locked.wav: permission denied; check the file's"):
            audio_info(path)
        return
    # root reads chmod-000 files: read it as nobody, in a forked child, from a folder nobody
    # may enter (pytest's tmp_path is root's alone)
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        os.chmod(folder, 0o755)
        path = _valid_wav(Path(folder) / "locked.wav")
        path.chmod(0)
        assert _error_as_nobody(lambda: audio_info(path)) == (
            f"AudioError: {path}: permission denied; check the file's permissions")


def _error_as_nobody(call: Callable[[], object]) -> str:
    """``"Type: message"`` of what ``call()`` raises in a child process running as nobody."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never returns into pytest
        os.close(read)
        try:
            os.setgid(65534)
            os.setuid(65534)
            call()
            text = "no error"
        except BaseException as exc:  # reported to the parent
            text = f"{type(exc).__name__}: {exc}"
        os.write(write, text.encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as handle:
        text = handle.read().decode()
    os.waitpid(pid, 0)
    return text


# --------------------------------------------------------------------------- many channels


def test_mixing_many_channels_down_needs_memory_for_one(tmp_path: Path) -> None:
    """16 channels x 1 M frames: decoding all of them as float32 took over 150 MB; mixed
    block by block the peak is the mono result plus one block."""
    import tracemalloc

    frames, channels = 1 << 20, 16
    ramp = np.linspace(-0.5, 0.5, frames, dtype=np.float32)
    path = tmp_path / "many.wav"
    with sf.SoundFile(path, "w", SR, channels, subtype="PCM_16") as handle:
        for start in range(0, frames, 1 << 16):
            part = ramp[start : start + (1 << 16), None]
            handle.write(np.repeat(part, channels, axis=1) * np.linspace(0.5, 1.5, channels))
    tracemalloc.start()
    try:
        wave, _ = load_audio(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert wave.shape == (1, frames)
    torch.testing.assert_close(wave[0], torch.from_numpy(ramp), atol=2 / 32768, rtol=0)
    assert peak < 40 * 2**20, peak
