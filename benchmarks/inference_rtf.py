"""Inference speed of every generator: real-time factor per model, device, batch and dtype.

Times the plain generator modules (weight norm folded, ``eval()``, ``torch.inference_mode()``)
on random log-mel input worth ``--seconds`` of audio (default 10 s at 22.05 kHz: 862 frames of
hop 256), so the numbers do not depend on the Vocoder wrapper. WaveGAN is timed per generated
clip (16384 samples at 16 kHz per batch item).

Per (batch, dtype) the models are timed round-robin (A, B, C, A, B, C, ...) after a warm-up, and
the median of ``--repeats`` calls is reported as

- RTF, the real-time factor: compute seconds / seconds of audio produced (batch included);
  below 1 is faster than real time;
- x real time: its inverse.

``fp32`` everywhere; ``bf16`` (autocast) is added by default on CUDA. cudnn.benchmark stays off
(plain modules; ``variable_length.py`` times Vocoder's fixed shapes). Example, the README table::

    python benchmarks/inference_rtf.py --device cpu --threads 2 --batch-sizes 1 --repeats 5 \\
        --json benchmarks/results/cpu_inference.json
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import bench_common as bc
import torch
from torch import Tensor, nn

COLUMNS: tuple[str, ...] = (
    "model", "params_M", "device", "dtype", "batch", "audio_s", "median_s", "rtf",
    "x_realtime", "min_s", "max_s", "repeats", "load",
)
DTYPES: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16,
                                          "fp16": torch.float16}


def make_input(model: nn.Module, seconds: float, batch: int, device: torch.device,
               sample_rate: int, generator: torch.Generator | None = None) -> Tensor:
    """The input that makes ``model`` emit ``seconds`` of audio per batch item.

    Vocoders get ``(batch, n_mels, ceil(seconds * sample_rate / hop))`` log-mel-like values
    (around ln-magnitude levels); latent models get ``(batch, latent_dim)`` normal z (one clip).
    """
    if getattr(model, "input_kind", "mel") == "latent":
        return torch.randn(batch, model.latent_dim, generator=generator).to(device)
    hop = int(model.hop_length)
    frames = max(1, math.ceil(seconds * sample_rate / hop))
    mel = torch.randn(batch, int(model.in_channels), frames, generator=generator) - 5.0
    return mel.to(device)


def audio_seconds(model: nn.Module, model_input: Tensor, sample_rate: int) -> float:
    """Seconds of audio one call produces for the whole batch."""
    batch = model_input.shape[0]
    if getattr(model, "input_kind", "mel") == "latent":
        return batch * int(model.hop_length) / sample_rate
    return batch * model_input.shape[-1] * int(model.hop_length) / sample_rate


def synthesis_call(model: nn.Module, model_input: Tensor, device: torch.device,
                   dtype: torch.dtype | None) -> Callable[[], Tensor]:
    """A zero-argument callable running one inference-mode forward (autocast for bf16/fp16)."""

    def run() -> Tensor:
        autocast = (torch.autocast(device.type, dtype=dtype) if dtype is not None
                    else contextlib.nullcontext())
        with torch.inference_mode(), autocast:
            return model(model_input)

    return run


def measure(
    names: Sequence[str],
    device: torch.device,
    *,
    batch_sizes: Sequence[int] = (1, 16),
    dtypes: Sequence[str] = ("fp32",),
    seconds: float = 10.0,
    warmup_seconds: float | None = None,
    repeats: int = 5,
    warmup: int = 1,
    tiny: bool = False,
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Time ``names`` (keys of :data:`bench_common.MODEL_SPECS`) and return one row per
    (model, dtype, batch), models interleaved within each (dtype, batch) group.

    Args:
        names: models to time.
        device: where to run.
        batch_sizes: batch sizes (each a group).
        dtypes: ``fp32`` / ``bf16`` / ``fp16`` (the latter two through autocast).
        seconds: audio per batch item (vocoders).
        warmup_seconds: audio per item of the warm-up calls (default ``seconds``); a shorter
            warm-up saves minutes for large CPU batches.
        repeats: timed calls per model (median reported).
        warmup: untimed calls per model first.
        tiny: shrunken models (smoke tests).
        progress: called with progress lines.

    Returns:
        Rows with the :data:`COLUMNS` keys plus ``times_s`` (all durations).
    """
    torch.manual_seed(0)
    models = {name: bc.prepare_for_inference(bc.build_model(name, tiny=tiny), device)
              for name in names}
    params = {name: bc.count_parameters(model) for name, model in models.items()}
    rows: list[dict[str, Any]] = []
    for dtype_name in dtypes:
        dtype = DTYPES[dtype_name]
        for batch in batch_sizes:
            generator = torch.Generator().manual_seed(1234)
            calls: dict[str, Callable[[], Tensor]] = {}
            warm_calls: dict[str, Callable[[], Tensor]] = {}
            durations: dict[str, float] = {}
            for name, model in models.items():
                rate = bc.MODEL_SPECS[name].sample_rate
                model_input = make_input(model, seconds, batch, device, rate, generator)
                durations[name] = audio_seconds(model, model_input, rate)
                calls[name] = synthesis_call(model, model_input, device, dtype)
                warm_input = model_input
                if warmup_seconds is not None and warmup_seconds != seconds:
                    warm_input = make_input(model, warmup_seconds, batch, device, rate, generator)
                warm_calls[name] = synthesis_call(model, warm_input, device, dtype)
            if progress is not None:
                progress(f"{dtype_name}, batch {batch}: {', '.join(models)} "
                         f"(load {bc.load_string()})")
            times = bc.interleaved(calls, device, repeats=repeats, warmup=warmup,
                                   warmup_fns=warm_calls, progress=progress)
            load = bc.load_string()
            for name in models:
                med = bc.median(times[name])
                rtf = med / durations[name]
                rows.append({
                    "model": name,
                    "params_M": params[name] / 1e6,
                    "device": device.type,
                    "dtype": dtype_name,
                    "batch": batch,
                    "audio_s": durations[name],
                    "median_s": med,
                    "rtf": rtf,
                    "x_realtime": 1.0 / rtf if rtf > 0 else math.inf,
                    "min_s": min(times[name]),
                    "max_s": max(times[name]),
                    "repeats": repeats,
                    "load": load,
                    "times_s": times[name],
                })
    return rows


def readme_table(rows: Sequence[dict[str, Any]], *, batch: int = 1, dtype: str = "fp32") -> str:
    """The README's Markdown table: model, parameters, RTF and x real time at ``batch``."""
    lines = ["| model | parameters | RTF | × real time |", "|---|---|---|---|"]
    for row in rows:
        if row["batch"] == batch and row["dtype"] == dtype:
            lines.append(f"| {row['model']} | {row['params_M']:.2f}M | {row['rtf']:.3f} | "
                         f"{row['x_realtime']:.1f} |")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(bc.MODEL_SPECS),
                        choices=list(bc.MODEL_SPECS), help="models to time (default: all)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 16])
    parser.add_argument("--dtypes", nargs="+", choices=list(DTYPES), default=None,
                        help="default: fp32 on CPU, fp32 and bf16 on CUDA")
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="audio per batch item, vocoders (default 10)")
    parser.add_argument("--warmup-seconds", type=float, default=None,
                        help="audio per item of the warm-up call (default: --seconds)")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls (median; default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed calls first (default 1)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--json", type=Path, default=None, help="write rows + machine info")
    parser.add_argument("--tiny", action="store_true", help="tiny models (smoke tests)")
    parser.add_argument("--quiet", action="store_true", help="no per-call progress lines")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.warmup < 0 or args.seconds <= 0:
        parser.error("need --repeats >= 1, --warmup >= 0 and --seconds > 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the table (and the README table for batch 1 fp32)."""
    args = parse_args(argv)
    bc.set_threads(args.threads)
    device = bc.resolve_device(args.device)
    dtypes = args.dtypes or (["fp32", "bf16"] if device.type == "cuda" else ["fp32"])
    info = bc.machine_info(device)
    print(f"# inference RTF on {info.get('gpu', info['cpu'])}, torch {info['torch']}, "
          f"{info['torch_threads']} threads, load {bc.load_string()}", flush=True)

    def progress(line: str) -> None:
        if not args.quiet:
            print(line, flush=True)

    rows = measure(args.models, device, batch_sizes=args.batch_sizes, dtypes=dtypes,
                   seconds=args.seconds, warmup_seconds=args.warmup_seconds,
                   repeats=args.repeats, warmup=args.warmup, tiny=args.tiny, progress=progress)
    info["load_average_end"] = list(bc.load_average())
    if args.json is not None:
        bc.write_json(args.json, {"benchmark": "inference_rtf", "machine": info,
                                  "settings": {k: (str(v) if isinstance(v, Path) else v)
                                               for k, v in vars(args).items()},
                                  "rows": rows})
    print()
    print(bc.format_table(rows, COLUMNS))
    if any(row["batch"] == 1 and row["dtype"] == "fp32" for row in rows):
        print()
        print(readme_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
