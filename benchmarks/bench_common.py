"""Helpers shared by the benchmark scripts: model specs, timing, machine facts, tables.

The scripts are run as files (``python benchmarks/inference_rtf.py``), so this module is imported
as a sibling (``import bench_common``); nothing here belongs to the ``audiogan`` package.

Timing rules (docs/architecture.md, 'Benchmarks'): warm up first, synchronise CUDA around every
timed call, repeat, take the median, interleave the things being compared (A, B, A, B, ...) so
that load from other processes on a shared machine affects every side alike, record the load
average next to every number, and state speed as a ratio against a peer measured in the same
run.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn


@dataclass(frozen=True)
class ModelSpec:
    """How to build one benchmarked generator.

    Attributes:
        name: benchmark name (``hifigan_v1`` ...), used on the command line and in tables.
        registry: ``audiogan.models.GENERATORS`` name.
        params: constructor keyword arguments (full size).
        tiny: overrides that shrink the model for smoke runs (``--tiny``).
        sample_rate: audio rate the model is benchmarked at (for the audio duration).
    """

    name: str
    registry: str
    params: Mapping[str, Any]
    tiny: Mapping[str, Any]
    sample_rate: int = 22050


#: Every generator of issue 3, then BigVGAN v1 base and v2 (the 22.05 kHz 80-band presets) and
#: Parallel WaveGAN (v1), in README-table order. The vocoders take 80-band mels at hop 256.
MODEL_SPECS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("hifigan_v1", "hifigan", {"preset": "v1", "in_channels": 80},
                  {"upsample_initial_channel": 16}),
        ModelSpec("hifigan_v2", "hifigan", {"preset": "v2", "in_channels": 80},
                  {"upsample_initial_channel": 16}),
        ModelSpec("hifigan_v3", "hifigan", {"preset": "v3", "in_channels": 80},
                  {"upsample_initial_channel": 16}),
        ModelSpec("melgan", "melgan", {"in_channels": 80}, {"channels": 32}),
        ModelSpec("multiband_melgan", "multiband_melgan", {"in_channels": 80}, {"channels": 32}),
        ModelSpec("istft_base", "istft", {"preset": "base", "in_channels": 80},
                  {"dim": 32, "intermediate_dim": 64, "num_layers": 2}),
        ModelSpec("istft_small", "istft", {"preset": "small", "in_channels": 80},
                  {"dim": 32, "intermediate_dim": 64, "num_layers": 2}),
        ModelSpec("bigvgan_base", "bigvgan", {"preset": "base_22khz_80band"},
                  {"upsample_initial_channel": 32}),
        ModelSpec("bigvgan_v2", "bigvgan", {"preset": "22khz_80band_256x"},
                  {"upsample_initial_channel": 64}),
        ModelSpec("parallel_wavegan", "parallel_wavegan", {"in_channels": 80},
                  {"layers": 6, "stacks": 2, "residual_channels": 16, "gate_channels": 32,
                   "skip_channels": 16}),
        ModelSpec("wavegan", "wavegan", {}, {"model_size": 4}, sample_rate=16000),
    )
}
VOCODER_NAMES: tuple[str, ...] = tuple(n for n in MODEL_SPECS if n != "wavegan")


def build_model(name: str, *, tiny: bool = False) -> nn.Module:
    """Build benchmark model ``name`` (a :data:`MODEL_SPECS` key) with random weights.

    Raises:
        SystemExit: unknown name (the message lists the valid ones).
    """
    from audiogan.models import build_generator

    try:
        spec = MODEL_SPECS[name]
    except KeyError:
        raise SystemExit(
            f"unknown model {name!r}; valid: {', '.join(MODEL_SPECS)}"
        ) from None
    params = dict(spec.params)
    if tiny:
        params.update(spec.tiny)
    return build_generator(spec.registry, **params)


def prepare_for_inference(model: nn.Module, device: torch.device) -> nn.Module:
    """Fold weight norm, switch to eval, freeze and move to ``device`` (what inference runs)."""
    remove = getattr(model, "remove_weight_norm", None)
    if callable(remove):
        remove()
    model.eval().requires_grad_(False)
    return model.to(device)


def count_parameters(model: nn.Module) -> int:
    """Number of parameters (after weight-norm removal: the inference model's size)."""
    return sum(p.numel() for p in model.parameters())


def synchronize(device: torch.device) -> None:
    """Wait for queued CUDA work on ``device`` (a no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn: Callable[[], object], device: torch.device) -> float:
    """Wall-clock seconds of one ``fn()`` call, CUDA-synchronised on both sides."""
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


def interleaved(
    fns: Mapping[str, Callable[[], object]],
    device: torch.device,
    *,
    repeats: int,
    warmup: int = 1,
    warmup_fns: Mapping[str, Callable[[], object]] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, list[float]]:
    """Time several callables round-robin: warm-ups first, then ``repeats`` rounds.

    Rounds alternate their order (A, B, C, then C, B, A, ...) so that no callable always runs
    right after the same neighbour; every round is close in time, so the per-round ratios of
    :func:`paired_ratio` compare calls made under nearly the same load.

    Args:
        fns: name -> callable to time.
        device: for CUDA synchronisation.
        repeats: timed rounds.
        warmup: untimed calls per callable before the first round.
        warmup_fns: optional cheaper warm-up callables (same keys); default ``fns``.
        progress: called with a short line after every timed call (e.g. ``print``).

    Returns:
        name -> list of ``repeats`` durations in seconds, in round order.
    """
    warm = warmup_fns or fns
    for name in fns:
        for _ in range(warmup):
            time_call(warm[name], device)
    times: dict[str, list[float]] = {name: [] for name in fns}
    names = list(fns)
    for round_index in range(repeats):
        for name in names if round_index % 2 == 0 else names[::-1]:
            seconds = time_call(fns[name], device)
            times[name].append(seconds)
            if progress is not None:
                progress(
                    f"  [{round_index + 1}/{repeats}] {name}: {seconds:.4f} s "
                    f"(load {load_string()})"
                )
    return times


def paired_ratio(numerator: Sequence[float], denominator: Sequence[float]) -> float:
    """Median over rounds of ``numerator[i] / denominator[i]`` (times from the same round).

    On a shared machine whose load comes and goes, the ratio of two calls made seconds apart
    is steadier than the ratio of two medians taken over the whole run.
    """
    ratios = [a / b for a, b in zip(numerator, denominator) if b > 0]
    return median(ratios)


def median(values: Sequence[float]) -> float:
    """Median of ``values`` (NaN when empty)."""
    return statistics.median(values) if values else math.nan


def load_average() -> tuple[float, float, float]:
    """The 1/5/15-minute load averages (NaN where the OS has none)."""
    try:
        return os.getloadavg()
    except (AttributeError, OSError):
        return (math.nan, math.nan, math.nan)


def load_string() -> str:
    """``"1.23/2.00/2.50"``: the 1/5/15-minute load averages."""
    return "/".join(f"{value:.2f}" for value in load_average())


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (or ``platform.processor()``)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info(device: torch.device) -> dict[str, Any]:
    """Date, host, CPU, core count, torch version, threads, load and GPU name for a record."""
    info: dict[str, Any] = {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
        "load_average": list(load_average()),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
    return info


def set_threads(threads: int | None) -> None:
    """Set torch's intra-op CPU threads when ``threads`` is given."""
    if threads is not None:
        if threads < 1:
            raise SystemExit(f"--threads must be >= 1, got {threads}")
        torch.set_num_threads(threads)


def resolve_device(name: str) -> torch.device:
    """``"cpu"`` / ``"cuda"`` / ``"cuda:1"`` -> device; exits clearly when CUDA is missing.

    A bare ``"cuda"`` gets the current device's index (``torch.cuda.set_device`` and memory
    statistics need one).
    """
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("--device cuda: CUDA is not available on this machine")
        if device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
    return device


def format_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], *,
                 markdown: bool = False) -> str:
    """Render ``rows`` as an aligned text table (or a Markdown table) of ``columns``."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            if math.isnan(value):
                return "-"
            if value == 0 or abs(value) >= 100:
                return f"{value:.1f}"
            if abs(value) >= 1:
                return f"{value:.2f}"
            return f"{value:.4f}"
        return str(value)

    body = [[cell(row.get(column, "")) for column in columns] for row in rows]
    if markdown:
        lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(values) + " |" for values in body]
        return "\n".join(lines)
    widths = [max([len(column)] + [len(values[i]) for values in body])
              for i, column in enumerate(columns)]
    lines = ["  ".join(column.ljust(width) for column, width in zip(columns, widths))]
    lines.append("  ".join("-" * width for width in widths))
    lines += ["  ".join(value.ljust(width) for value, width in zip(values, widths))
              for values in body]
    return "\n".join(lines)


def write_json(path: str | os.PathLike[str], payload: Mapping[str, Any]) -> Path:
    """Write ``payload`` as indented JSON (parent directories created); returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    return target


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far, in bytes (never falls)."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024


def current_rss_bytes() -> int:
    """Current resident set size of this process in bytes (Linux /proc; else the peak)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return peak_rss_bytes()


#: The committed real-speech clips the parity scripts default to.
PARITY_DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "speech" / "ljspeech"


def add_parity_arguments(parser: argparse.ArgumentParser) -> None:
    """``--data``, ``--clips``, ``--threads``, ``--json``: shared by the import-parity scripts."""
    parser.add_argument("--data", type=Path, default=PARITY_DATA,
                        help="Folder of wavs (default: tests/data/speech/ljspeech).")
    parser.add_argument("--clips", type=int, default=5, help="How many clips (sorted names).")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None, help="Write the record here.")


def parity_clips(args: argparse.Namespace, label: str, why_not: str | None) -> list[Path]:
    """Set the threads and pick the clips of an import-parity run; ``[]`` (after printing why)
    when the reference packages (``why_not``) or the clips are missing."""
    set_threads(args.threads)
    if why_not is not None:
        print(f"SKIP {label}: {why_not}; run with PYTHONPATH=.refs (see the docstring)")
        return []
    clips = sorted(args.data.glob("*.wav"))[: args.clips]
    if not clips:
        print(f"SKIP {label}: no .wav files in {args.data}")
    return clips


def print_parity_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> None:
    """An import-parity table: differences and peaks in ``%.2e`` (``-`` where not measured)."""
    shown = [{k: ("-" if v is None else f"{v:.2e}") if k.endswith(("diff", "peak")) else v
              for k, v in row.items()} for row in rows]
    print(format_table(shown, columns))


def finish_parity(args: argparse.Namespace, ok: bool, verdict: str, target: float,
                  rows: Sequence[Mapping[str, Any]], **record: Any) -> int:
    """Print ``verdict: met / NOT met``, write the ``--json`` record (machine, target, rows and
    ``record``) when asked; the exit code (0 when ``ok``)."""
    print(f"{verdict}: {'met' if ok else 'NOT met'}")
    if args.json is not None:
        write_json(args.json, {"machine": machine_info(torch.device("cpu")), **record,
                               "target": target, "met": ok, "rows": list(rows)})
    return 0 if ok else 1
