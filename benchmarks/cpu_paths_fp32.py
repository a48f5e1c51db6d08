"""fp32 CPU levers for the generators without real weights here (issue 16): speed only.

MelGAN, multi-band MelGAN and the ``istft`` base keep float32 (reduced precision becomes a
default only for a generator measured on real weights), so their levers must keep the audio:
for each model - built from ``recipes/ljspeech/<model>.yaml`` with random weights (seed 0;
HiFi-GAN V1 is included as the reference point) and written as a model directory - this script
times, interleaved as in ``cpu_paths.py``, the float32 paths of ``cpu_path_runners``:

- ``fp32``: eager, at ``--threads`` (the reference);
- ``fp32_1thread``: eager at one thread (torch's threads switched around each call): what the
  second thread buys;
- ``channels_last``: Conv1d as channels-last 2-D convolutions;
- ``compile``: ``torch.compile`` (inductor); first-call time (the compilation) reported;
- ``ort_fp32``: ONNX Runtime on audiogan's ``generator.onnx`` with ``--threads`` intra-op
  threads.

A path counts (``same_audio``) only when its output equals eager fp32 to 1e-4 (max |diff| on
the speed input, a real-speech mel from ``--data``). ``speedup`` = fp32 time / path time
(median of per-round ratios). Noisy on a shared machine: re-run on a quiet one with::

    python benchmarks/cpu_paths_fp32.py --threads 2 --seconds 10 --batch-sizes 1 16 \\
        --repeats 5 --json benchmarks/results/cpu_paths_fp32.json
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import bench_common as bc
import torch
from cpu_path_runners import FP32_TOLERANCE, PathRunner, build_paths, cpu_features
from cpu_paths import command_line, read_clips, speed_mel, speed_rows

ROOT = Path(__file__).resolve().parents[1]
#: Benchmark name -> recipe (the published shapes: ParallelWaveGAN's MelGAN / MB-MelGAN
#: configurations, Vocos' mel model for istft base).
MODELS = {"hifigan_v1": "hifigan_v1.yaml", "melgan": "melgan.yaml",
          "multiband_melgan": "multiband_melgan.yaml", "istft_base": "istft.yaml"}
PATHS = ("fp32", "fp32_1thread", "channels_last", "compile", "ort_fp32")
COLUMNS = ("model", "path", "batch", "seconds", "warmup_s", "median_s", "x_realtime",
           "speedup", "max_abs_diff", "same_audio", "load")


def random_model_dir(name: str, out: Path, config_dir: Path, overrides: Sequence[str]) -> Path:
    """Model directory of ``config_dir/MODELS[name]`` with random weights (seed 0)."""
    from audiogan.config import load_config
    from audiogan.config.build import generator_from_config
    from audiogan.inference.export import export_model
    from audiogan.inference.model_dir import LoadedModel

    config = load_config(config_dir / MODELS[name], overrides=list(overrides))
    torch.manual_seed(0)
    generator = generator_from_config(config).eval()
    return export_model(LoadedModel(generator, config), out / name).out_dir


def one_thread(runner: PathRunner, threads: int) -> PathRunner:
    """``runner`` (eager fp32) run at one torch thread, ``threads`` restored after each call."""
    fn = runner.fn
    assert fn is not None

    def run(mel: torch.Tensor) -> torch.Tensor:
        torch.set_num_threads(1)
        try:
            return fn(mel)
        finally:
            torch.set_num_threads(threads)

    return PathRunner("fp32_1thread", fn=run)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--paths", nargs="+", default=list(PATHS), choices=PATHS)
    parser.add_argument("--config-dir", type=Path, default=ROOT / "recipes" / "ljspeech",
                        help="Where the recipes are (default: recipes/ljspeech).")
    parser.add_argument("--set", dest="overrides", nargs="*", default=[],
                        help="Recipe overrides KEY=VALUE for every model (smoke runs).")
    parser.add_argument("--data", type=Path, default=bc.PARITY_DATA,
                        help="Real speech wavs for the input mel (default: the test clips).")
    parser.add_argument("--seconds", type=float, default=10.0, help="Audio per timed call.")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None,
                        help="Write the record here and the Markdown table beside it (.md).")
    parser.add_argument("--progress", action="store_true", help="Print every timed call.")
    args = parser.parse_args(argv)
    if "fp32" not in args.paths:
        args.paths = ["fp32", *args.paths]
    return args


def measure(name: str, model_dir: Path, args: argparse.Namespace,
            record: dict[str, list[dict[str, Any]]]) -> None:
    """Build, check and time the paths of one model; rows appended to ``record``."""
    from audiogan import Vocoder

    vocoder = Vocoder.load(model_dir, dtype="float32")  # not the CPU policy's path
    clips = read_clips(args.data, 4, vocoder.sample_rate)
    mels = [vocoder.features(torch.from_numpy(wave))[None] for _, wave in clips]
    frames = max(1, math.ceil(args.seconds * vocoder.sample_rate / vocoder.hop_length))
    mel = speed_mel(mels, frames)
    built = [p for p in args.paths if p != "fp32_1thread"]
    runners = build_paths(built, model_dir, threads=args.threads, calibration=[],
                          probe=mel, work_dir=model_dir.parent / f"{name}_paths")
    if "fp32_1thread" in args.paths:
        runners["fp32_1thread"] = one_thread(runners["fp32"], args.threads)
    reference = runners["fp32"].fn(mel)  # type: ignore[misc]
    diffs: dict[str, float] = {}
    for path, runner in runners.items():
        record["paths"].append({"model": name, "path": path, "skip": runner.skip,
                                "setup_s": runner.setup_s, "first_call_s": runner.first_call_s,
                                **runner.notes})
        if runner.fn is None:
            print(f"SKIP {name} {path}: {runner.skip}")
            continue
        diffs[path] = float((runner.fn(mel) - reference).abs().max())
    seconds = frames * vocoder.hop_length / vocoder.sample_rate
    for row in speed_rows(name, runners, mel, args.batch_sizes, args.repeats, seconds,
                          progress=args.progress):
        row["max_abs_diff"] = diffs[row["path"]]
        row["same_audio"] = diffs[row["path"]] <= FP32_TOLERANCE
        record["speed"].append(row)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    bc.set_threads(args.threads)
    record: dict[str, Any] = {"paths": [], "speed": []}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="cpu_paths_fp32_") as tmp:
        for name in args.models:
            model_dir = random_model_dir(name, Path(tmp), args.config_dir, args.overrides)
            measure(name, model_dir, args, record)
            print(f"{name}: done after {time.perf_counter() - started:.0f} s")
    machine = bc.machine_info(torch.device("cpu"))
    machine["command"] = command_line("cpu_paths_fp32.py", argv, args.data)
    record.update(machine=machine, cpu_features=cpu_features(), threads=args.threads)
    shown = [{**row, "max_abs_diff": f"{row['max_abs_diff']:.1e}"} for row in record["speed"]]
    print(bc.format_table(shown, COLUMNS))
    if args.json is not None:
        bc.write_json(args.json, record)
        paths = [{k: ("" if v is None else v) for k, v in p.items()} for p in record["paths"]]
        text = [f"fp32 CPU levers, {machine['date']}: {machine['cpu']}, {args.threads} threads, "
                f"torch {machine['torch']}, load {bc.load_string()}; random weights.", "",
                f"Command: `{machine['command']}`", "",
                bc.format_table(paths, ["model", "path", "setup_s", "first_call_s", "skip"],
                                markdown=True), "",
                bc.format_table(shown, COLUMNS, markdown=True), ""]
        args.json.with_suffix(".md").write_text("\n".join(text), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
