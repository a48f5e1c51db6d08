"""Fault cases for audio input: ``audiogan features`` on bad, odd and hostile audio files.

Corrupt, truncated, empty, 0-byte, 1-sample, NaN/Inf float, unknown-format, directory and
missing inputs; sample rates outside 1-384 kHz and an odd rate (44,101 Hz) under a memory cap;
many-channel files, files too large for memory; two inputs with one stem; bad options; an output
directory that is a file; a full disk while writing (``AUDIOGAN_FAULT=atomic.before_fsync``),
and Ctrl-C in the middle. Each bad input is one ``error: <file>: ...`` line, the good inputs of
the batch are written (exit 1; 2 when none was), nothing half-written is left and an earlier
``.npy`` is never damaged.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf

from .harness import Case, Scenario

SR = 22050


# ------------------------------------------------------------------------------ builders


def _tone(samples: int, sr: int = SR) -> np.ndarray:
    t = np.arange(samples) / sr
    return (0.3 * np.sin(2 * np.pi * 220.0 * t)).astype(np.float32)


def _wav(path: Path, seconds: float = 0.25, sr: int = SR, subtype: str = "PCM_16") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, _tone(max(1, int(seconds * sr)), sr), sr, subtype=subtype, format="WAV")
    return path


def _raw_wav(path: Path, *, channels: int = 1, rate: int = SR, frames: int = 100,
             bits: int = 16, declared: int | None = None, fmt_tag: int = 1) -> Path:
    """A hand-built RIFF/WAVE file; ``declared`` overrides the data chunk's size field."""
    block = channels * bits // 8
    data = b"\x00" * (block * frames)
    fmt = struct.pack("<HHIIHH", fmt_tag, channels, rate, (rate * block) & 0xFFFFFFFF,
                      block & 0xFFFF, bits)
    size = len(data) if declared is None else declared
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", size)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body) + len(data)) + body + data)
    return path


def _float_wav(path: Path, values: np.ndarray, sr: int = SR) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, values.astype(np.float32), sr, subtype="FLOAT")
    return path


def _sparse_wav(path: Path, channels: int, data_bytes: int) -> Path:
    """A PCM-16 WAV whose data chunk holds ``data_bytes`` zero bytes, stored sparsely."""
    header = _raw_wav(path, channels=channels, frames=0, declared=data_bytes).read_bytes()
    header = header[:4] + struct.pack("<I", len(header) - 8 + data_bytes) + header[8:]
    with open(path, "wb") as handle:
        handle.write(header)
        handle.truncate(len(header) + data_bytes)
    return path


def _npys(out: Path) -> list[str]:
    return sorted(p.name for p in out.glob("*.npy")) if out.is_dir() else []


def _written(out: Path, names: list[str], frames: int | None = None,
             keep: dict[str, bytes] | None = None) -> Callable[[], None]:
    """Exactly ``names`` in ``out`` as float32 (80, frames), no temporaries, ``keep`` intact."""

    def check() -> None:
        entries = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
        assert entries == sorted(names), f"{out} holds {entries}, expected {sorted(names)}"
        for name in names:
            if keep and name in keep:
                assert (out / name).read_bytes() == keep[name], f"{name} was changed"
                continue
            array = np.load(out / name, allow_pickle=False)
            assert array.dtype == np.float32 and array.ndim == 2 and array.shape[0] == 80
            assert array.shape[1] >= 1 and np.isfinite(array).all(), f"{name}: {array.shape}"
            if frames is not None:
                assert array.shape[1] == frames, f"{name}: {array.shape}"

    return check


def _features(tmp: Path, *inputs: Path | str, extra: tuple[str, ...] = ()) -> list[str]:
    return ["features", *map(str, inputs), "-o", str(tmp / "out"), *extra]


def _one_bad(make: Callable[[Path], Path], name: str | None = None,
             alone: bool = True) -> Callable[[Path], Scenario]:
    """A bad input alone (exit 2, nothing written) or beside a good one (exit 1)."""

    def build(tmp: Path) -> Scenario:
        bad = make(tmp / "in")
        names = (name or bad.name,)
        if alone:
            return Scenario(_features(tmp, bad), 2, names, intact=_written(tmp / "out", []))
        good = _wav(tmp / "in" / "good.wav")
        return Scenario(_features(tmp, bad, good), 1, names,
                        intact=_written(tmp / "out", ["good.npy"]))

    return build


# ------------------------------------------------------------------------------ bad files


def _corrupt(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "corrupt.wav").write_text("this is not audio\n" * 20)
    return d / "corrupt.wav"


def _garbage_after_riff(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "riffjunk.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt garbage" + bytes(range(200)))
    return d / "riffjunk.wav"


def _truncated(d: Path) -> Path:
    path = _wav(d / "truncated.wav", seconds=0.5)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _cut_in_header(d: Path) -> Path:
    path = _wav(d / "cut_header.wav")
    path.write_bytes(path.read_bytes()[:30])
    return path


def _zero_bytes(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "zero.wav").write_bytes(b"")
    return d / "zero.wav"


def _no_frames(d: Path) -> Path:
    return _raw_wav(d / "noframes.wav", frames=0)


def _one_sample(d: Path) -> Path:
    return _wav(d / "one_sample.wav", seconds=1 / SR)


def _short(d: Path) -> Path:
    return _wav(d / "short.wav", seconds=200 / SR)  # under one hop (256)


def _nan(d: Path) -> Path:
    values = _tone(4000)
    values[100] = np.nan
    return _float_wav(d / "nan.wav", values)


def _inf(d: Path) -> Path:
    values = _tone(4000)
    values[-1] = np.inf
    return _float_wav(d / "inf.wav", values)


def _rate(rate: int) -> Callable[[Path], Path]:
    return lambda d: _raw_wav(d / f"rate{rate}.wav", rate=rate, frames=max(10, rate // 100))


def _zero_rate(d: Path) -> Path:
    return _raw_wav(d / "rate0.wav", rate=0)


def _zero_channels(d: Path) -> Path:
    return _raw_wav(d / "nochannels.wav", channels=0)


def _too_many_channels(d: Path) -> Path:
    return _raw_wav(d / "ch65535.wav", channels=65535, bits=8, frames=2)


def _bad_fmt(d: Path) -> Path:
    return _raw_wav(d / "fmt99.wav", fmt_tag=99)


def _huge_declared(d: Path) -> Path:
    return _raw_wav(d / "declares4g.wav", declared=0xFFFFFFF0)


def _text_as_mp3(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "song.mp3").write_text("not an mp3 at all\n")
    return d / "song.mp3"


def _flac_garbage(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "broken.flac").write_bytes(b"fLaC" + bytes(range(256)) * 4)
    return d / "broken.flac"


def _ogg_truncated(d: Path) -> Path:
    path = d / "cut.ogg"
    d.mkdir(parents=True, exist_ok=True)
    sf.write(path, _tone(SR), SR, format="OGG", subtype="VORBIS")
    path.write_bytes(path.read_bytes()[:200])
    return path


def _directory(d: Path) -> Path:
    (d / "folder.wav").mkdir(parents=True)
    return d / "folder.wav"


def _missing(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    return d / "missing.wav"


def _fifo(d: Path) -> Path:
    import os

    d.mkdir(parents=True, exist_ok=True)
    os.mkfifo(d / "pipe.wav")  # opening it for reading would wait for a writer forever
    return d / "pipe.wav"


def _device_file(d: Path) -> Path:
    return Path("/dev/zero")  # endless data, size 0


def _name_too_long(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    return d / ("x" * 300 + ".wav")


BAD_FILES: list[tuple[str, Callable[[Path], Path]]] = [
    ("corrupt", _corrupt), ("riff_garbage", _garbage_after_riff), ("truncated", _truncated),
    ("cut_in_header", _cut_in_header), ("zero_bytes", _zero_bytes), ("no_frames", _no_frames),
    ("one_sample", _one_sample), ("shorter_than_a_hop", _short), ("nan_samples", _nan),
    ("inf_samples", _inf), ("rate_500", _rate(500)), ("rate_1mhz", _rate(1_000_000)),
    ("rate_0", _zero_rate), ("zero_channels", _zero_channels),
    ("65535_channels", _too_many_channels), ("unknown_wav_codec", _bad_fmt),
    ("declares_4gb", _huge_declared), ("text_named_mp3", _text_as_mp3),
    ("flac_garbage", _flac_garbage), ("ogg_truncated", _ogg_truncated),
    ("directory", _directory), ("missing", _missing), ("fifo", _fifo),
    ("dev_zero", _device_file), ("name_too_long", _name_too_long),
]


# ------------------------------------------------------------------------------ scenarios


def _silent(tmp: Path) -> Scenario:
    path = tmp / "in" / "silent.wav"
    path.parent.mkdir(parents=True)
    sf.write(path, np.zeros(SR // 4, dtype=np.float32), SR)
    out = tmp / "out"

    def intact() -> None:
        _written(out, ["silent.npy"], frames=SR // 4 // 256)()
        assert np.allclose(np.load(out / "silent.npy"), np.log(1e-5), atol=1e-3)

    return Scenario(_features(tmp, path), 0, intact=intact)


def _loud_float(tmp: Path) -> Scenario:
    path = _float_wav(tmp / "in" / "loud.wav", 3.0 * _tone(4000))  # clipped with a warning
    return Scenario(_features(tmp, path), 0, intact=_written(tmp / "out", ["loud.npy"]))


def _many_channels(tmp: Path) -> Scenario:
    path = _raw_wav(tmp / "in" / "ch300.wav", channels=300, frames=600)
    return Scenario(_features(tmp, path), 0, intact=_written(tmp / "out", ["ch300.npy"]))


def _wav_named_txt(tmp: Path) -> Scenario:
    path = _wav(tmp / "in" / "notes.txt")  # libsndfile reads by content, not by extension
    return Scenario(_features(tmp, path), 0, intact=_written(tmp / "out", ["notes.npy"]))


def _odd_rate_capped(tmp: Path) -> Scenario:
    """44,101 Hz (gcd 1 with 22,050) under a 3 GiB cap: was a ~16 GB resampling kernel."""
    odd = _wav(tmp / "in" / "odd.wav", seconds=1.0, sr=44101)
    bad = _corrupt(tmp / "in")
    good = _wav(tmp / "in" / "good.wav")
    return Scenario(_features(tmp, odd, bad, good), 1, (bad.name,), memory_limit=3 * 2**30,
                    intact=_written(tmp / "out", ["good.npy", "odd.npy"]))


def _too_large_capped(tmp: Path) -> Scenario:
    """A 4 GB (sparse) WAV under a 2 GiB cap: one line, and the batch goes on."""
    huge = _sparse_wav(tmp / "in" / "huge.wav", 1, 0xF0000000)
    good = _wav(tmp / "in" / "good.wav")
    return Scenario(_features(tmp, huge, good), 1, ("huge.wav",), memory_limit=2 * 2**30,
                    intact=_written(tmp / "out", ["good.npy"]))


def _same_stem(tmp: Path) -> Scenario:
    first, second = _wav(tmp / "a" / "x.wav"), _wav(tmp / "b" / "x.wav")
    return Scenario(_features(tmp, first, second), 2, (str(first), str(second)),
                    intact=_written(tmp / "out", []))


def _mixed_batch(tmp: Path) -> Scenario:
    goods = [_wav(tmp / "in" / f"good{i}.wav") for i in range(3)]
    bads = [_corrupt(tmp / "in"), _truncated(tmp / "in"), _nan(tmp / "in")]
    inputs = [goods[0], bads[0], goods[1], bads[1], bads[2], goods[2]]
    return Scenario(_features(tmp, *inputs), 1, tuple(b.name for b in bads), errors=3,
                    intact=_written(tmp / "out", [f"good{i}.npy" for i in range(3)]))


def _all_bad(tmp: Path) -> Scenario:
    bads = [_corrupt(tmp / "in"), _zero_bytes(tmp / "in"), _directory(tmp / "in")]
    return Scenario(_features(tmp, *bads), 2, tuple(b.name for b in bads), errors=3,
                    intact=_written(tmp / "out", []))


def _full_disk(tmp: Path) -> Scenario:
    """The first .npy hits a full disk: named, no temporary left, the old file kept, the
    second input written."""
    from audiogan.core import faults

    faults._hits.clear()  # in-process cases share one process: count hits from this run on
    first, second = _wav(tmp / "in" / "first.wav"), _wav(tmp / "in" / "second.wav")
    out = tmp / "out"
    out.mkdir()
    old = b"an earlier first.npy"
    (out / "first.npy").write_bytes(old)
    return Scenario(_features(tmp, first, second), 1, ("first.wav", "No space left"),
                    env={"AUDIOGAN_FAULT": "atomic.before_fsync=enospc"},
                    intact=_written(out, ["first.npy", "second.npy"], keep={"first.npy": old}))


def _full_disk_every_file(tmp: Path) -> Scenario:
    from audiogan.core import faults

    faults._hits.clear()
    path = _wav(tmp / "in" / "only.wav")
    return Scenario(_features(tmp, path), 2, ("only.wav", "free some space"),
                    env={"AUDIOGAN_FAULT": "atomic.before_rename=enospc"},
                    intact=_written(tmp / "out", []))


def _interrupted(tmp: Path) -> Scenario:
    """Ctrl-C while the second file is written: exit 130, the first kept, no temporary."""
    inputs = [_wav(tmp / "in" / f"c{i}.wav") for i in range(3)]
    return Scenario(_features(tmp, *inputs), 130, ("interrupted", "c1.wav"), subprocess=True,
                    env={"AUDIOGAN_FAULT": "atomic.before_rename@2=int"},
                    intact=_written(tmp / "out", ["c0.npy"]))


def _option(extra: tuple[str, ...], named: str) -> Callable[[Path], Scenario]:
    def build(tmp: Path) -> Scenario:
        path = _wav(tmp / "in" / "a.wav")
        return Scenario(_features(tmp, path, extra=extra), 2, (named,),
                        intact=_written(tmp / "out", []))

    return build


def _out_is_a_file(tmp: Path) -> Scenario:
    path = _wav(tmp / "in" / "a.wav")
    (tmp / "out").write_text("mine")

    def intact() -> None:
        assert (tmp / "out").read_text() == "mine"

    return Scenario(_features(tmp, path), 2, ("out: exists and is not a directory",),
                    intact=intact)


CASES: list[Case] = [
    *(Case(f"audio/features/{name}", _one_bad(make)) for name, make in BAD_FILES),
    *(Case(f"audio/features/{name}+good", _one_bad(make, alone=False))
      for name, make in BAD_FILES[:6]),
    Case("audio/features/silent", _silent),
    Case("audio/features/float_above_full_scale", _loud_float),
    Case("audio/features/300_channels", _many_channels),
    Case("audio/features/wav_named_txt", _wav_named_txt),
    Case("audio/features/same_stem_two_folders", _same_stem),
    Case("audio/features/mixed_batch", _mixed_batch),
    Case("audio/features/all_bad", _all_bad),
    Case("audio/features/full_disk_first_file", _full_disk),
    Case("audio/features/full_disk_at_rename", _full_disk_every_file),
    Case("audio/features/unknown_profile", _option(("--profile", "nope"), "nope")),
    Case("audio/features/n_mels_zero", _option(("--n-mels", "0"), "n_mels")),
    Case("audio/features/f_max_above_nyquist", _option(("--f-max", "20000"), "f_max")),
    Case("audio/features/sample_rate_option_500k",
         _option(("--sample-rate", "500000", "--f-max", "0"), "--sample-rate")),
    Case("audio/features/out_dir_is_a_file", _out_is_a_file),
    Case("audio/features/odd_rate_44101_memory_capped", _odd_rate_capped),
    Case("audio/features/4gb_wav_memory_capped", _too_large_capped),
    Case("audio/features/ctrl_c_mid_batch", _interrupted, slow=True),
]
