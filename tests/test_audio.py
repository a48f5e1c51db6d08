"""Tests for audiogan.audio: round trips, resampling, every AudioError case, atomic saves."""

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

from audiogan.audio import (
    MAX_CHANNELS,
    AudioError,
    AudioInfo,
    audio_info,
    is_silent,
    load_audio,
    peak_normalize,
    resample,
    save_audio,
    to_mono,
)

SR = 16000


def _sine(freq: float, seconds: float = 0.5, amp: float = 0.5, sr: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _noise(seconds: float = 0.5, amp: float = 0.1, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(-amp, amp, int(seconds * SR)).astype(np.float32)


def _valid_wav(path: Path) -> Path:
    sf.write(path, _sine(440.0) + _noise(), SR, subtype="PCM_16")
    return path


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


def test_save_accepts_tensors_and_creates_parent_dirs(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "clip.wav"
    wave = torch.from_numpy(_sine(440.0)).to(torch.float64).requires_grad_()
    assert save_audio(target, wave, SR) == target
    assert audio_info(target) == AudioInfo(SR, wave.numel(), 1, wave.numel() / SR)
    assert sorted(p.name for p in target.parent.iterdir()) == ["clip.wav"]


# --------------------------------------------------------------------------- resampling


def test_resample_there_and_back_is_exact_in_length_and_close_in_value() -> None:
    t = np.arange(SR) / SR  # one second
    tones = [(0.3, 220.0, 0.0), (0.2, 1000.0, 1.0), (0.15, 2500.0, 2.0), (0.1, 4000.0, 0.5)]
    signal = sum(a * np.sin(2 * np.pi * f * t + phase) for a, f, phase in tones)
    wave = torch.tensor(signal, dtype=torch.float32)[None]

    up = resample(wave, 16000, 22050)
    back = resample(up, 22050, 16000)
    assert up.shape == (1, 22050)
    assert back.shape == wave.shape
    error = (back - wave).abs()[0]
    # Measured: 9.4e-4 away from the edges; up to 3.6e-2 within the first/last 32 samples
    # (the sinc filter sees zeros beyond the ends); relative RMS 1.9e-3 overall.
    assert error[64:-64].max() < 2e-3
    assert (error.pow(2).mean() / wave.pow(2).mean()).sqrt() < 5e-3


def test_resample_is_a_no_op_at_equal_rates_and_checks_arguments() -> None:
    wave = torch.from_numpy(_sine(440.0))
    assert resample(wave, SR, SR) is wave
    with pytest.raises(ValueError, match="target_sr"):
        resample(wave, SR, 0)
    with pytest.raises(TypeError):
        resample(torch.zeros(10, dtype=torch.int16), SR, 8000)


def test_load_audio_resamples_when_asked(tmp_path: Path) -> None:
    path = save_audio(tmp_path / "clip.wav", _sine(440.0, seconds=1.0), SR)
    wave, sr = load_audio(path, sample_rate=22050)
    assert (sr, wave.shape) == (22050, (1, 22050))
    assert wave.abs().max() <= 1.0
    same, sr_same = load_audio(path, sample_rate=SR)
    assert (sr_same, same.shape) == (SR, (1, SR))


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
    with caplog.at_level(logging.WARNING, logger="audiogan.audio"):
        wave, _ = load_audio(path)
    assert wave.abs().max() == 1.0
    assert "hot.wav" in caplog.text and "clipped" in caplog.text


# --------------------------------------------------------------------------- saving


@pytest.mark.parametrize("subtype", ["PCM_16", "FLOAT"])
def test_save_clips_with_a_warning_instead_of_wrapping(
    tmp_path: Path, caplog, subtype: str
) -> None:
    wave = _sine(440.0, amp=1.5)
    with caplog.at_level(logging.WARNING, logger="audiogan.audio"):
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


# --------------------------------------------------------------------------- helpers


def test_peak_normalize() -> None:
    wave = torch.from_numpy(np.stack([_sine(440.0, amp=0.2), _sine(440.0, amp=0.1)]))
    out = peak_normalize(wave)
    assert out.dtype == wave.dtype
    assert torch.isclose(out.abs().max(), torch.tensor(0.95))
    torch.testing.assert_close(out[1] / out[0].abs().max(), wave[1] / wave[0].abs().max())

    silent = torch.zeros(2, 100)
    assert torch.equal(peak_normalize(silent), silent)  # no division by zero, no NaN
    assert peak_normalize(torch.zeros(0)).numel() == 0
    with pytest.raises(ValueError):
        peak_normalize(wave, peak=0.0)


def test_is_silent() -> None:
    assert is_silent(torch.zeros(1, 100))
    assert is_silent(torch.zeros(0))
    assert is_silent(torch.from_numpy(_sine(440.0, amp=10 ** (-70 / 20))))
    assert not is_silent(torch.from_numpy(_sine(440.0, amp=10 ** (-50 / 20))))
    assert is_silent(torch.from_numpy(_sine(440.0, amp=10 ** (-50 / 20))), threshold_db=-40.0)


def test_to_mono() -> None:
    wave = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    torch.testing.assert_close(to_mono(wave), torch.tensor([[0.5, 0.5]]))
    single = wave[:1]
    assert to_mono(single) is single


# --------------------------------------------------------------------------- rates and resampler


def _tones(rate: int, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return sum(0.2 / k * np.sin(2 * np.pi * 140 * k * t + k) for k in range(1, 30)
               if 140 * k < 7000)


@pytest.mark.parametrize(("orig", "target"), [(44100, 22050), (48000, 24000), (16000, 22050)])
def test_resample_matches_the_exact_signal(orig: int, target: int) -> None:
    wave = torch.from_numpy(_tones(orig))[None]
    out = resample(wave, orig, target)
    assert out.shape == (1, target) and out.dtype == torch.float64
    exact, middle = _tones(target), slice(500, target - 500)
    error = out[0].numpy()[middle] - exact[middle]
    # Measured: about -130 dB (libsoxr HQ); the windowed-sinc resampler it replaced: -64 to -67 dB.
    assert 10 * np.log10((error**2).sum() / (exact[middle] ** 2).sum()) < -100


def test_resample_keeps_batch_shape_dtype_and_length_convention() -> None:
    wave = torch.randn(2, 3, 1001, dtype=torch.float16).clamp(-1, 1)
    out = resample(wave, 44100, 22050)
    assert out.shape == (2, 3, 501) and out.dtype == torch.float16  # ceil(1001 / 2)
    single = resample(wave[1, 2:3].float(), 44100, 22050)
    torch.testing.assert_close(out[1, 2:3].float(), single, atol=2e-3, rtol=0)
    assert resample(torch.zeros(1, 1), 44100, 22050).shape == (1, 1)
    assert resample(torch.zeros(1, 0), 44100, 22050).shape == (1, 0)


def test_odd_rate_resampling_stays_within_a_memory_cap() -> None:
    """44,101 -> 22,050 Hz: a gcd-sized polyphase kernel needed ~16 GB; under a 2 GiB cap now."""
    import subprocess
    import sys

    code = ("import resource; resource.setrlimit(resource.RLIMIT_DATA, (2 << 30, 2 << 30))\n"
            "import torch; from audiogan.audio import resample\n"
            "import numpy as np\n"
            "t = torch.arange(44101, dtype=torch.float64) / 44101\n"
            "out = resample(0.5 * torch.sin(2 * np.pi * 440 * t)[None], 44101, 22050)\n"
            "u = torch.arange(22050, dtype=torch.float64) / 22050\n"
            "exact = 0.5 * torch.sin(2 * np.pi * 440 * u)\n"
            "assert out.shape == (1, 22050), out.shape\n"
            "assert (out[0, 500:-500] - exact[500:-500]).abs().max() < 1e-5\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.parametrize("rate", [500, 1_000_000])
def test_rates_outside_the_supported_range_are_one_line_errors(tmp_path: Path, rate: int) -> None:
    from audiogan.audio import SampleRateError

    path = tmp_path / f"odd{rate}.wav"
    sf.write(path, np.zeros(rate // 10, dtype=np.float32), rate)
    for call in (lambda: load_audio(path, sample_rate=22050), lambda: audio_info(path)):
        with pytest.raises(AudioError, match=rf"odd{rate}\.wav: sample rate {rate} Hz .*outside"):
            call()
    with pytest.raises(SampleRateError, match="target_sr"):
        resample(torch.zeros(1, 10), 22050, rate)
    with pytest.raises(SampleRateError, match="sample_rate"):
        save_audio(tmp_path / "out.wav", _sine(440.0), rate)
    assert not (tmp_path / "out.wav").exists()


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


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads chmod-000 files")
def test_a_chmod_000_file_is_named_with_the_permission_fix(tmp_path: Path) -> None:
    path = _valid_wav(tmp_path / "locked.wav")
    path.chmod(0)
    with pytest.raises(AudioError, match="locked.wav: permission denied; check the file's"):
        audio_info(path)


def test_saved_files_follow_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = save_audio(tmp_path / "clip.wav", _sine(440.0), SR)
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644


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
