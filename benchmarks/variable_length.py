"""Synthesis of inputs of many different lengths, three ways (issue 17: variable-length input
must not re-autotune per length):

- ``eager``: one plain call per input, ``cudnn.benchmark`` off (``fixed_shapes=False``);
- ``fixed``: fixed-shape windows (``fixed_shapes=True``), ``cudnn.benchmark`` on;
- ``graphs``: fixed shapes + ``cuda_graphs=True`` (CUDA only; on other devices the row says why
  it was skipped).

Each mode synthesises the list once (the *first pass*: autotuning and graph captures happen
here) and then ``--repeats`` more times (the *steady state*). A row gives the first call's and the
first pass's mean per-call milliseconds, the steady per-call median, the distinct generator input
shapes seen, the graphs captured (and failed captures), and the largest difference from the
eager output (the levers do not change the arithmetic: <= 1e-4 in fp32 without TF32).
cuDNN's autotuning results are kept per process, so ``graphs`` (run after ``fixed``) finds its
window shapes already tuned: its first pass shows capture cost only.

Used by the GPU suite through :func:`variable_length_rows`; as a script::

    python benchmarks/variable_length.py --device cuda --model hifigan_v1 \\
        --lengths 1.3 2.7 4.1 5.6 7.9 10 12.4 3.3 --json benchmarks/results/variable_length.json
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import bench_common as bc
import torch
from torch import Tensor

from audiogan import Vocoder
from audiogan.features.mel import MelSpectrogram

MODES: tuple[str, ...] = ("eager", "fixed", "graphs")
COLUMNS: tuple[str, ...] = (
    "model", "device", "mode", "batch", "calls", "audio_s", "first_call_ms", "first_pass_ms",
    "steady_ms", "x_realtime", "shapes", "graphs", "graph_failures", "max_diff", "skipped",
)
DEFAULT_LENGTHS_S: tuple[float, ...] = (1.3, 2.7, 4.1, 5.6, 7.9, 10.0, 12.4, 3.3)


def _vocoder(model: str, tiny: bool, device: torch.device, core_frames: int | None,
             model_dir: str | os.PathLike[str] | None) -> Vocoder:
    if model_dir is not None:
        voc = Vocoder.load(model_dir, device=device, dtype="float32")
    else:
        torch.manual_seed(0)
        voc = Vocoder(bc.build_model(model, tiny=tiny), MelSpectrogram("hifigan")).to(device)
    if core_frames is not None:
        voc.window_core_frames = int(core_frames)
    return voc


def _mels(voc: Vocoder, lengths_s: Sequence[float], batch: int, seed: int) -> list[Tensor]:
    gen = torch.Generator().manual_seed(seed)
    frames = [max(1, math.ceil(s * voc.sample_rate / voc.hop_length)) for s in lengths_s]
    return [(torch.rand(batch, voc.n_mels, n, generator=gen) * 8.0 - 9.0).to(voc.device)
            for n in frames]


def _mode_row(voc: Vocoder, mode: str, mels: list[Tensor], repeats: int,
              reference: list[Tensor] | None) -> tuple[dict[str, Any], list[Tensor]]:
    """Time one mode; -> (row, its outputs of the first pass)."""
    device = voc.device
    voc.set_shape_options(mode != "eager", cuda_graphs=mode == "graphs")
    shapes: set[tuple[int, ...]] = set()
    hook = voc.generator.register_forward_pre_hook(
        lambda _module, args: shapes.add(tuple(args[0].shape)))
    outputs: list[Tensor] = []
    first: list[float] = []
    try:
        for mel in mels:
            first.append(bc.time_call(lambda mel=mel: outputs.append(voc(mel)), device))
    finally:
        hook.remove()
    steady = [bc.time_call(lambda mel=mel: voc(mel), device)
              for _ in range(max(1, repeats)) for mel in mels]
    audio_s = sum(mel.shape[0] * mel.shape[-1] * voc.hop_length for mel in mels) / voc.sample_rate
    cache = voc.graph_cache
    diff = 0.0 if reference is None else max(
        float((out - ref).abs().max()) for out, ref in zip(outputs, reference))
    row = {
        "mode": mode, "calls": len(mels), "audio_s": audio_s,
        "first_call_ms": 1000 * first[0], "first_pass_ms": 1000 * statistics.fmean(first),
        "steady_ms": 1000 * statistics.median(steady),
        "x_realtime": audio_s / max(sum(steady) / max(1, repeats), 1e-12),
        "shapes": len(shapes), "graphs": 0 if cache is None else cache.captures,
        "graph_failures": 0 if cache is None else len(cache.failures), "max_diff": diff,
        "skipped": "",
    }
    return row, outputs


def variable_length_rows(device: torch.device | str, lengths_s: Sequence[float] = DEFAULT_LENGTHS_S,
                         *, model: str = "hifigan_v1", tiny: bool = False,
                         model_dir: str | os.PathLike[str] | None = None, batch: int = 1,
                         repeats: int = 3, core_frames: int | None = None,
                         seed: int = 0) -> list[dict[str, Any]]:
    """Time synthesis of inputs of ``lengths_s`` seconds eagerly, with fixed shapes and with
    fixed shapes + CUDA graphs (rows in :data:`MODES` order, columns :data:`COLUMNS`).

    Args:
        device: where to run (``cuda`` for the real measurement; ``graphs`` rows are skipped
            elsewhere, with the reason in ``skipped``).
        lengths_s: the inputs' durations (each a different length).
        model: a :data:`bench_common.MODEL_SPECS` vocoder (random weights, fp32).
        tiny: the small variant (smoke runs).
        model_dir: a vocoder to load instead (fp32; e.g. an imported jik876 V1).
        batch: items per call (every item of a call has the call's length).
        repeats: steady-state passes over the list after the first one.
        core_frames: frames a full window computes exactly (default: the Vocoder's, 512).
        seed: the inputs' seed.
    """
    run_on = torch.device(device)
    voc = _vocoder(model, tiny, run_on, core_frames, model_dir)
    name = model if model_dir is None else Path(model_dir).name
    mels = _mels(voc, lengths_s, batch, seed)
    rows: list[dict[str, Any]] = []
    reference: list[Tensor] | None = None
    for mode in MODES:
        common = {"model": name, "device": str(run_on), "batch": batch}
        if mode == "graphs" and run_on.type != "cuda":
            rows.append({**common, "mode": mode, "calls": len(mels),
                         "skipped": f"cuda_graphs needs CUDA, not {run_on.type}"})
            continue
        row, outputs = _mode_row(voc, mode, mels, repeats, reference)
        reference = outputs if reference is None else reference
        rows.append({**common, **row})
    voc.set_shape_options(None)  # drop the graphs
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--model", default="hifigan_v1", choices=bc.VOCODER_NAMES)
    parser.add_argument("--lengths", type=float, nargs="+", default=list(DEFAULT_LENGTHS_S),
                        help="input durations in seconds")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3, help="steady passes over the list")
    parser.add_argument("--model-dir", default=None, help="load this vocoder instead")
    parser.add_argument("--core-frames", type=int, default=None)
    parser.add_argument("--tiny", action="store_true", help="small model (smoke runs)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", default=None, help="write rows and the machine here")
    args = parser.parse_args(argv)
    bc.set_threads(args.threads)
    device = bc.resolve_device(args.device)
    rows = variable_length_rows(device, args.lengths, model=args.model, tiny=args.tiny,
                                model_dir=args.model_dir, batch=args.batch,
                                repeats=args.repeats, core_frames=args.core_frames)
    print(bc.format_table(rows, COLUMNS))
    if args.json:
        bc.write_json(args.json, {"machine": bc.machine_info(device), "lengths_s": args.lengths,
                                  "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
