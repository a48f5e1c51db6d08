"""Fault cases for ``audiogan evaluate``: bad clips, bad models, bad places, full disks, signals.

Clips that are silent, near-silent, cancel out when mixed to mono, empty, truncated, corrupt,
NaN, too short or at odd rates; manifests that name missing files or are not text; empty or
missing data; missing, corrupt or broken (NaN) models; an output path that is not a report; a
full disk at every stage of writing the report; Ctrl-C and SIGTERM mid-way; memory running out
on one clip; the leftovers of a killed run; long clips under a memory cap. Each says: the exit
code, one ``error:`` line per failed clip naming it, no traceback, and that an earlier report at
the output path is unchanged (or replaced whole) with no staging directory left behind.

The model is an untrained tiny HiFi-GAN checkpoint, built once per process (no training).
"""

from __future__ import annotations

import atexit
import json
import shutil
import struct
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf

from .harness import Case, Scenario

SR = 22050
EARLIER = "the earlier report\n"
_MODEL: dict[str, Path] = {}


# ------------------------------------------------------------------------------ builders


def _model(broken: bool = False) -> Path:
    """A checkpoint of a tiny untrained HiFi-GAN (22.05 kHz), cached for the process."""
    key = "nan" if broken else "ok"
    if key in _MODEL:
        return _MODEL[key]
    import torch

    from audiogan.config import config_from_dict
    from audiogan.config.build import generator_from_config

    config = config_from_dict({
        "sample_rate": SR,
        "features": {"profile": "hifigan"},
        "generator": {"name": "hifigan", "params": {
            "preset": "v1", "upsample_initial_channel": 16, "resblock_kernel_sizes": [3],
            "resblock_dilation_sizes": [[1, 3]]}},
        "discriminator": {"name": "combined", "params": {
            "periods": [2], "scales": 1, "mpd_params": {"channels": [4, 8, 16, 16, 16]},
            "msd_params": {"channels": [16, 16, 32, 32, 32, 32, 32]}}},
        "data": {"train": "unused.tsv"},
    })
    torch.manual_seed(0)
    generator = generator_from_config(config)
    state = generator.state_dict()
    if broken:
        state = {k: torch.full_like(v, float("nan")) if v.is_floating_point() else v
                 for k, v in state.items()}
    root = Path(tempfile.mkdtemp(prefix="audiogan-eval-model-"))
    atexit.register(shutil.rmtree, root, True)
    path = root / f"tiny-{key}.pt"
    torch.save({"format": "audiogan-checkpoint", "config": config.to_dict(),
                "generator": state, "step": 0}, path)
    _MODEL[key] = path
    return path


def _tone(seconds: float = 0.3, rate: int = SR, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * 180.0 * t)).astype(np.float32)


def _wav(path: Path, samples: np.ndarray, rate: int = SR, subtype: str = "PCM_16") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, samples, rate, subtype=subtype)
    return path


def _clips(root: Path, **bad: Callable[[Path], object]) -> Path:
    """``root/good.wav`` (a tone) plus one file per keyword, written by its callable."""
    _wav(root / "good.wav", _tone())
    for name, write in bad.items():
        write(root / f"{name}.wav")
    return root


def _reset_faults() -> None:
    """Fault hit counts are per process; in-process cases start from zero."""
    from audiogan.core import faults

    faults._hits.clear()


def _earlier_report(out: Path) -> Callable[[], None]:
    """An earlier report at ``out``; returns the check that it survived, with no leftovers."""
    out.mkdir(parents=True)
    summary = json.dumps({"format": "audiogan-evaluation", "marker": "earlier"})
    (out / "summary.json").write_text(summary)
    (out / "report.html").write_text(EARLIER)
    return _earlier_intact(out)


def _earlier_intact(out: Path) -> Callable[[], None]:
    def intact() -> None:
        assert (out / "report.html").is_file(), "earlier report gone"
        assert (out / "report.html").read_text() == EARLIER, "earlier report replaced"
        assert json.loads((out / "summary.json").read_text())["marker"] == "earlier"
        _no_leftovers(out)()

    return intact


def _no_leftovers(out: Path) -> Callable[[], None]:
    def check() -> None:
        left = [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]
        assert not left, f"left behind: {left}"

    return check


def _replaced(out: Path, clips: int, failed: int = 0, skipped: int = 0) -> Callable[[], None]:
    """The new report is complete: ``clips`` evaluated, the failures and skips listed."""

    def check() -> None:
        summary = json.loads((out / "summary.json").read_text())
        info = next(iter(summary["models"].values()))
        assert info["num_clips"] == clips, f"{info['num_clips']} clips evaluated, not {clips}"
        assert len(summary["failures"]) == failed, summary["failures"]
        assert len(summary["skipped_clips"]) == skipped, summary["skipped_clips"]
        for stats in info["metrics"].values():
            assert stats["mean"] is None or abs(stats["mean"]) < 1e4, stats  # nothing poisoned
        assert (out / "report.html").is_file() and (out / "per_clip.csv").is_file()
        _no_leftovers(out)()

    return check


def _scenario(tmp: Path, data: Path, code: int, names: tuple[str, ...] = (), *,
              errors: int | None = 1, out: Path | None = None, env: dict[str, str] | None = None,
              intact: Callable[[], None] | None = None, model: Path | None = None,
              **extra: object) -> Scenario:
    _reset_faults()
    out = out or tmp / "report"
    args = ["evaluate", str(model or _model()), "--data", str(data), "-o", str(out),
            "--device", "cpu"]
    return Scenario(args=args, code=code, names=names, errors=errors, env=env or {},
                    intact=intact, **extra)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ bad clips


def _silent_reference(tmp: Path) -> Scenario:
    data = _clips(tmp / "clips", silent=lambda p: _wav(p, np.zeros(SR // 2, np.float32)))
    out = tmp / "report"
    return _scenario(tmp, data, 1, ("silent.wav", "silent reference"),
                     intact=_replaced(out, 1, skipped=1))


def _near_silent_reference(tmp: Path) -> Scenario:
    hiss = 2e-4 * np.random.default_rng(0).standard_normal(SR // 2).astype(np.float32)
    hiss[SR // 4] = 0.01  # a click at -40 dBFS: the peak alone would pass, the RMS does not
    data = _clips(tmp / "clips", hiss=lambda p: _wav(p, hiss, subtype="FLOAT"))  # -74 dBFS
    return _scenario(tmp, data, 1, ("hiss.wav", "dBFS"),
                     intact=_replaced(tmp / "report", 1, skipped=1))


def _stereo_cancels(tmp: Path) -> Scenario:
    tone = _tone()
    data = _clips(tmp / "clips", cancel=lambda p: _wav(p, np.stack([tone, -tone], axis=1)),
                  stereo=lambda p: _wav(p, np.stack([tone, 0.5 * tone], axis=1)))
    return _scenario(tmp, data, 1, ("cancel.wav", "silent reference"),
                     intact=_replaced(tmp / "report", 2, skipped=1))


def _garbage(tmp: Path) -> Scenario:
    data = _clips(tmp / "clips", broken=lambda p: p.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk"))
    return _scenario(tmp, data, 1, ("broken.wav",), intact=_replaced(tmp / "report", 1, 1))


def _empty_file(tmp: Path) -> Scenario:
    data = _clips(tmp / "clips", empty=lambda p: p.write_bytes(b""))
    return _scenario(tmp, data, 1, ("empty.wav",), intact=_replaced(tmp / "report", 1, 1))


def _no_samples(tmp: Path) -> Scenario:
    data = _clips(tmp / "clips", nosamples=lambda p: _wav(p, np.zeros(0, np.float32)))
    return _scenario(tmp, data, 1, ("nosamples.wav",), intact=_replaced(tmp / "report", 1, 1))


def _truncated(tmp: Path) -> Scenario:
    def write(path: Path) -> None:
        _wav(path, _tone(1.0))
        path.write_bytes(path.read_bytes()[: 44 + 2000])

    data = _clips(tmp / "clips", truncated=write)
    return _scenario(tmp, data, 1, ("truncated.wav",), intact=_replaced(tmp / "report", 1, 1))


def _huge_header(tmp: Path) -> Scenario:
    def write(path: Path) -> None:  # the data chunk claims 4 GB
        raw = bytearray(_wav(path, _tone()).read_bytes())
        at = raw.index(b"data") + 4
        raw[at : at + 4] = struct.pack("<I", 0xFFFFFFF0)
        path.write_bytes(bytes(raw))

    data = _clips(tmp / "clips", huge=write)
    return _scenario(tmp, data, 1, ("huge.wav",), intact=_replaced(tmp / "report", 1, 1))


def _nan_samples(tmp: Path) -> Scenario:
    def write(path: Path) -> None:
        samples = _tone()
        samples[100:110] = np.nan
        _wav(path, samples, subtype="FLOAT")

    data = _clips(tmp / "clips", nan=write)
    return _scenario(tmp, data, 1, ("nan.wav", "NaN"), intact=_replaced(tmp / "report", 1, 1))


def _too_short(tmp: Path) -> Scenario:
    data = _clips(tmp / "clips", blip=lambda p: _wav(p, _tone(0.01)))
    return _scenario(tmp, data, 1, ("blip.wav", "too short"),
                     intact=_replaced(tmp / "report", 1, 1))


def _odd_rates(tmp: Path) -> Scenario:
    data = tmp / "clips"
    for rate in (44101, 1000):  # 44101: gcd 3 with the model's rate; 1000: empty mel bands
        _wav(data / f"r{rate}.wav", _tone(0.3, rate), rate)
    return _scenario(tmp, data, 0, intact=_replaced(tmp / "report", 2))


def _not_audio_named_wav(tmp: Path) -> Scenario:
    data = _clips(tmp / "clips", text=lambda p: p.write_text("just some notes\n" * 50))
    return _scenario(tmp, data, 1, ("text.wav",), intact=_replaced(tmp / "report", 1, 1))


def _fifo_named_wav(tmp: Path) -> Scenario:
    import os

    data = _clips(tmp / "clips", fifo=lambda p: os.mkfifo(p))  # would block a reader forever
    return _scenario(tmp, data, 0, intact=_replaced(tmp / "report", 1))


def _device_link_named_wav(tmp: Path) -> Scenario:
    data = _clips(tmp / "clips", zero=lambda p: p.symlink_to("/dev/zero"))  # endless samples
    return _scenario(tmp, data, 0, intact=_replaced(tmp / "report", 1))


def _every_clip_bad(tmp: Path) -> Scenario:
    data = tmp / "clips"
    _wav(data / "zero.wav", np.zeros(SR // 2, np.float32))
    (data / "junk.wav").write_bytes(b"\x00" * 100)
    out = tmp / "report"
    return _scenario(tmp, data, 2, ("zero.wav", "junk.wav", "none of the 2 clips"), errors=3,
                     out=out, intact=_earlier_report(out))


# ------------------------------------------------------------------------------ bad data


def _empty_dir(tmp: Path) -> Scenario:
    (tmp / "nothing").mkdir()
    return _scenario(tmp, tmp / "nothing", 2, ("nothing", "no audio clips"))


def _missing_data(tmp: Path) -> Scenario:
    return _scenario(tmp, tmp / "nowhere", 2, ("nowhere", "--data"))


def _manifest_missing_file(tmp: Path) -> Scenario:
    _clips(tmp / "clips")
    manifest = tmp / "clips" / "list.tsv"
    manifest.write_text(f"path\tnum_samples\tsample_rate\ngood.wav\t{int(0.3 * SR)}\t{SR}\n"
                        f"gone.wav\t{SR}\t{SR}\n")
    return _scenario(tmp, manifest, 1, ("gone.wav",), intact=_replaced(tmp / "report", 1, 1))


def _manifest_binary(tmp: Path) -> Scenario:
    manifest = tmp / "list.tsv"
    manifest.write_bytes(b"\x00\x01\x02binary\xff" * 20)
    return _scenario(tmp, manifest, 2, ("list.tsv",))


# ------------------------------------------------------------------------------ bad models


def _missing_model(tmp: Path) -> Scenario:
    return _scenario(tmp, _clips(tmp / "clips"), 2, ("absent.pt",), model=tmp / "absent.pt")


def _corrupt_model(tmp: Path) -> Scenario:
    bad = tmp / "bad.pt"
    bad.write_bytes(b"PK\x03\x04 not a checkpoint" * 10)
    out = tmp / "report"
    return _scenario(tmp, _clips(tmp / "clips"), 2, ("bad.pt",), model=bad, out=out,
                     intact=_earlier_report(out))


def _nan_model(tmp: Path) -> Scenario:
    out = tmp / "report"
    data = _clips(tmp / "clips")
    return _scenario(tmp, data, 2, ("good.wav", "NaN", "none of the 1 clips"), errors=2,
                     model=_model(broken=True), out=out, intact=_earlier_report(out))


# ------------------------------------------------------------------------------ bad places


def _unrelated_out_dir(tmp: Path) -> Scenario:
    out = tmp / "thesis"
    out.mkdir()
    (out / "thesis.tex").write_text("keep me")

    def intact() -> None:
        assert (out / "thesis.tex").read_text() == "keep me"
        assert sorted(p.name for p in out.iterdir()) == ["thesis.tex"]

    return _scenario(tmp, _clips(tmp / "clips"), 2, ("thesis", "not an audiogan report"),
                     out=out, intact=intact)


def _out_is_a_file(tmp: Path) -> Scenario:
    out = tmp / "report.txt"
    out.write_text("mine")

    def intact() -> None:
        assert out.read_text() == "mine"

    return _scenario(tmp, _clips(tmp / "clips"), 2, ("report.txt",), out=out, intact=intact)


def _out_is_a_symlink(tmp: Path) -> Scenario:
    real = tmp / "real"
    intact = _earlier_report(real)
    (tmp / "report").symlink_to(real)
    return _scenario(tmp, _clips(tmp / "clips"), 2, ("report", "symbolic link"),
                     out=tmp / "report", intact=intact)


def _disk_full(point: str) -> Callable[[Path], Scenario]:
    def build(tmp: Path) -> Scenario:
        out = tmp / "report"
        return _scenario(tmp, _clips(tmp / "clips"), 2, ("report", "No space left", "unchanged"),
                         out=out, env={"AUDIOGAN_FAULT": f"{point}=enospc"},
                         intact=_earlier_report(out))

    return build


def _interrupted(tmp: Path) -> Scenario:
    data = _clips(tmp / "clips", second=lambda p: _wav(p, _tone(0.4)))
    out = tmp / "report"
    return _scenario(tmp, data, 130, ("report", "interrupted", "SIGINT"), out=out,
                     env={"AUDIOGAN_FAULT": "evaluate.clip@2=int"}, intact=_earlier_report(out))


def _terminated(tmp: Path) -> Scenario:
    data = _clips(tmp / "clips", second=lambda p: _wav(p, _tone(0.4)))
    out = tmp / "report"
    return _scenario(tmp, data, 143, ("report", "interrupted", "SIGTERM"), out=out,
                     env={"AUDIOGAN_FAULT": "evaluate.clip@2=term"}, subprocess=True,
                     intact=_earlier_report(out))


def _memory_on_one_clip(tmp: Path) -> Scenario:
    data = _clips(tmp / "clips", another=lambda p: _wav(p, _tone(0.4)))
    out = tmp / "report"
    return _scenario(tmp, data, 1, ("another.wav", "out of memory"), out=out,
                     env={"AUDIOGAN_FAULT": "evaluate.clip@1=memory"},
                     intact=_replaced(out, 1, failed=1))


def _killed_run_leftovers(tmp: Path) -> Scenario:
    out = tmp / "report"
    _earlier_report(out)
    stale = tmp / ".report.0123456789ab.staging"  # what a SIGKILLed run leaves
    (stale / "audio").mkdir(parents=True)
    (stale / "audio" / "half.wav").write_bytes(b"RIFF")
    return _scenario(tmp, _clips(tmp / "clips"), 0, out=out, intact=_replaced(out, 1))


def _killed_mid_swap(tmp: Path) -> Scenario:
    """Killed between moving the earlier report aside and moving the new one in: it comes back.

    This run then fails (its only clip is silent), so the restored report must stay as it was.
    """
    out = tmp / "report"
    _earlier_report(tmp / ".report.0123456789ab.old")
    (tmp / ".report.ba9876543210.staging").mkdir()
    data = tmp / "clips"
    _wav(data / "zero.wav", np.zeros(SR // 2, np.float32))
    return _scenario(tmp, data, 2, ("zero.wav", "none of the 1 clips"), errors=2, out=out,
                     intact=_earlier_intact(out))


def _long_clip(seconds: float, limit_gib: float) -> Callable[[Path], Scenario]:
    def build(tmp: Path) -> Scenario:
        t = np.arange(int(seconds * SR)) / SR
        wave = 0.3 * np.sin(2 * np.pi * (150 + 20 * np.sin(2 * np.pi * 0.5 * t)) * t)
        wave += 0.01 * np.random.default_rng(0).standard_normal(t.size)
        data = tmp / "clips"
        _wav(data / "long.wav", wave.astype(np.float32))
        out = tmp / "report"
        return _scenario(tmp, data, 0, out=out, memory_limit=int(limit_gib * 2**30),
                         timeout=600.0, intact=_replaced(out, 1))

    return build


CASES: list[Case] = [
    Case("eval_silent_reference_skipped_not_averaged", _silent_reference),
    Case("eval_near_silent_reference_skipped", _near_silent_reference),
    Case("eval_stereo_cancelling_to_silence_skipped", _stereo_cancels),
    Case("eval_garbage_wav", _garbage),
    Case("eval_zero_byte_wav", _empty_file),
    Case("eval_wav_without_samples", _no_samples),
    Case("eval_truncated_wav", _truncated),
    Case("eval_wav_header_claims_4gb", _huge_header),
    Case("eval_nan_samples", _nan_samples),
    Case("eval_clip_too_short", _too_short),
    Case("eval_odd_sample_rates", _odd_rates),
    Case("eval_text_file_named_wav", _not_audio_named_wav),
    Case("eval_fifo_named_wav_not_opened", _fifo_named_wav),
    Case("eval_dev_zero_link_named_wav_not_opened", _device_link_named_wav),
    Case("eval_every_clip_bad_keeps_earlier_report", _every_clip_bad),
    Case("eval_empty_data_dir", _empty_dir),
    Case("eval_missing_data", _missing_data),
    Case("eval_manifest_names_missing_file", _manifest_missing_file),
    Case("eval_manifest_binary", _manifest_binary),
    Case("eval_missing_model", _missing_model),
    Case("eval_corrupt_model_keeps_earlier_report", _corrupt_model),
    Case("eval_nan_model_output", _nan_model),
    Case("eval_out_dir_unrelated", _unrelated_out_dir),
    Case("eval_out_dir_is_a_file", _out_is_a_file),
    Case("eval_out_dir_is_a_symlink", _out_is_a_symlink),
    Case("eval_disk_full_text", _disk_full("atomic.before_fsync")),
    Case("eval_disk_full_audio", _disk_full("report.write")),
    Case("eval_disk_full_at_swap", _disk_full("atomic.before_swap")),
    Case("eval_ctrl_c_keeps_earlier_report", _interrupted),
    Case("eval_memory_error_on_one_clip", _memory_on_one_clip),
    Case("eval_killed_run_leftovers_removed", _killed_run_leftovers),
    Case("eval_killed_mid_swap_restored", _killed_mid_swap),
    Case("eval_sigterm_keeps_earlier_report", _terminated, slow=True),
    Case("eval_15s_clip_under_2gib", _long_clip(15.0, 2.0), slow=True),
    Case("eval_60s_clip_under_3gib", _long_clip(60.0, 3.0), slow=True),
]
