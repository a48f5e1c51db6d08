"""CLI: help, version, `features` on real and broken files, exit codes and one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from audiogan import __version__
from audiogan.cli.main import cli


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "audiogan", *args], capture_output=True, text=True, timeout=300
    )


def _sine(path: Path, sr: int = 22050, seconds: float = 1.0) -> Path:
    t = np.arange(int(sr * seconds)) / sr
    sf.write(path, (0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), sr)
    return path


def test_help_and_version() -> None:
    result = _run("--help")
    assert result.returncode == 0
    assert "features" in result.stdout
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_features_on_real_speech(dev_data: Path, tmp_path: Path) -> None:
    wav = dev_data / "ljspeech" / "LJ001-0090.wav"
    result = _run("features", str(wav), "-o", str(tmp_path / "mels"))
    assert result.returncode == 0, result.stderr
    mel = np.load(tmp_path / "mels" / "LJ001-0090.npy")
    info = sf.info(wav)
    assert mel.dtype == np.float32
    assert mel.shape == (80, info.frames // 256)  # hifigan: frames = len // hop
    # ln of a magnitude floored at 1e-5: never below ln(1e-5), speech peaks well above 0.
    assert mel.min() >= np.log(1e-5) - 1e-6 and mel.max() > 0


def test_features_resamples_with_a_note(tmp_path: Path) -> None:
    wav = _sine(tmp_path / "tone16k.wav", sr=16000, seconds=1.0)
    result = CliRunner().invoke(cli, ["features", str(wav), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    mel = np.load(tmp_path / "out" / "tone16k.npy")
    assert mel.shape == (80, 22050 // 256)


def test_features_profile_and_overrides(tmp_path: Path) -> None:
    wav = _sine(tmp_path / "tone.wav", sr=24000)
    result = CliRunner().invoke(
        cli, ["features", str(wav), "-o", str(tmp_path / "out"), "--profile", "vocos",
              "--n-mels", "64"],
    )
    assert result.exit_code == 0, result.output
    assert np.load(tmp_path / "out" / "tone.npy").shape == (64, 24000 // 256 + 1)


def test_corrupt_file_alone_exits_2_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "broken.wav"
    bad.write_text("this is not audio")
    result = _run("features", str(bad), "-o", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "broken.wav" in errors[0]
    assert not list((tmp_path / "out").glob("*.npy"))


def test_corrupt_file_among_good_exits_1_and_writes_the_rest(tmp_path: Path) -> None:
    good1 = _sine(tmp_path / "a.wav")
    good2 = _sine(tmp_path / "c.wav")
    bad = tmp_path / "b.wav"
    bad.write_bytes(b"RIFF\x00\x00")
    result = _run("features", str(good1), str(bad), str(good2), "-o", str(tmp_path / "out"))
    assert result.returncode == 1
    assert sorted(p.name for p in (tmp_path / "out").glob("*.npy")) == ["a.npy", "c.npy"]
    assert "1 of 3 files failed" in result.stderr and "b.wav" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_option_is_a_usage_error(tmp_path: Path) -> None:
    wav = _sine(tmp_path / "a.wav")
    result = _run("features", str(wav), "-o", str(tmp_path / "o"), "--profile", "nope")
    assert result.returncode == 2
    assert "nope" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("missing", ["missing.wav"])
def test_missing_file_is_reported(tmp_path: Path, missing: str) -> None:
    result = _run("features", str(tmp_path / missing), "-o", str(tmp_path / "o"))
    assert result.returncode == 2 and missing in result.stderr


def _features(*args: str):
    return CliRunner().invoke(cli, ["features", *args])


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def test_one_failure_is_one_error_line_and_one_summary(tmp_path: Path) -> None:
    bad = tmp_path / "broken.wav"
    bad.write_text("this is not audio")
    result = _features(str(bad), "-o", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert len(_error_lines(result.stderr)) == 1 and result.stderr.count("broken.wav") == 1
    assert result.stderr.splitlines()[-1] == "1 of 1 files failed"


def test_same_stem_in_two_folders_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    first = _sine((tmp_path / "a").mkdir() or tmp_path / "a" / "x.wav")
    second = _sine((tmp_path / "b").mkdir() or tmp_path / "b" / "x.wav")
    result = _features(str(first), str(second), "-o", str(tmp_path / "out"))
    assert result.exit_code == 2
    errors = _error_lines(result.stderr)
    assert len(errors) == 1 and str(first) in errors[0] and str(second) in errors[0]
    assert not (tmp_path / "out").exists()
    again = _features(str(first), str(first), "-o", str(tmp_path / "out"))  # same file twice
    assert again.exit_code == 0 and [p.name for p in (tmp_path / "out").iterdir()] == ["x.npy"]


def test_an_unreadable_input_is_listed_and_the_others_written(tmp_path: Path,
                                                              monkeypatch) -> None:
    import errno
    import os

    good, locked = _sine(tmp_path / "good.wav"), _sine(tmp_path / "locked.wav")
    real_open = os.open

    def denied(file, flags, *args, **kwargs):
        if os.fspath(file) == str(locked):
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(file))
        return real_open(file, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", denied)
    result = _features(str(locked), str(good), "-o", str(tmp_path / "out"))
    assert result.exit_code == 1, result.output
    assert _error_lines(result.stderr) == [
        f"error: {locked}: permission denied; check the file's permissions"]
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["good.npy"]


def test_a_file_too_short_for_one_frame_fails_instead_of_writing_an_empty_array(
        tmp_path: Path) -> None:
    tiny = tmp_path / "tiny.wav"
    sf.write(tiny, np.full(1, 0.1, dtype=np.float32), 22050)
    good = _sine(tmp_path / "good.wav")
    result = _features(str(tiny), str(good), "-o", str(tmp_path / "out"))
    assert result.exit_code == 1
    (error,) = _error_lines(result.stderr)
    assert "tiny.wav: too short: 1 samples" in error and "256 samples" in error
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good.npy"]


def test_npy_files_follow_the_umask(tmp_path: Path) -> None:
    import os

    wav = _sine(tmp_path / "tone.wav")
    old = os.umask(0o022)
    try:
        result = _features(str(wav), "-o", str(tmp_path / "out"))
    finally:
        os.umask(old)
    assert result.exit_code == 0
    assert (tmp_path / "out" / "tone.npy").stat().st_mode & 0o777 == 0o644


def test_a_sample_rate_option_outside_the_supported_range_is_one_line(tmp_path: Path) -> None:
    wav = _sine(tmp_path / "tone.wav")
    result = _features(str(wav), "-o", str(tmp_path / "out"), "--sample-rate", "500000")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert _error_lines(result.stderr) == [
        "error: --sample-rate 500000: must be from 1000 to 384000 Hz"]
