"""Streaming latency: time to the first audio of ``Vocoder.stream`` and ``Streamer.push``, and the
real-time factor of the whole stream, per model and path (issue 16: first chunk <= 50 ms for
HiFi-GAN V2 and ``istft`` small, warm, 64-frame chunks, 2 threads).

Each model (random weights; :data:`bench_common.MODEL_SPECS`) is written to a temporary model
directory (with ``generator.onnx`` when onnxruntime is installed) and loaded through
``Vocoder.load`` on each path: ``fp32`` (PyTorch float32), ``bf16`` (PyTorch, generator in
bfloat16) and ``ort`` (``backend="onnxruntime"``). Every (model, path) streams one utterance of
``--seconds`` once to warm up; then ``--repeats`` rounds, paths interleaved (order alternating),
each round timing

- ``stream_first_ms``: from calling ``next()`` on ``voc.stream(mel, chunk_frames)`` (the whole
  mel available) to the first chunk returned;
- ``push_first_ms``: from the first ``streamer.push`` of a ``chunk_frames`` piece to the first
  push that returns samples (summed over the pushes before it: the mel arrives as fast as the
  vocoder takes it; ``push_frames`` says how many frames were pushed by then);
- ``stream_rtf`` / ``push_rtf``: the whole stream (every chunk; every push and the flush) over
  the audio's duration.

Medians are reported; ``max_diff`` is the largest |difference| of the path's streamed audio from
the fp32 one-shot output (random weights: a bound on rounding, not a quality measure).

Command (the lead's quiet re-run; ~1 min)::

    python benchmarks/streaming_latency.py --threads 2 \
        --json benchmarks/results/cpu_streaming_latency.json

``--tiny`` shrinks the models and the utterance (a smoke run of a few seconds).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bench_common as bc
import torch

TARGET_MS = 50.0
PATHS = ("fp32", "bf16", "ort")
COLUMNS = ["model", "path", "stream_first_ms", "push_first_ms", "push_frames", "stream_rtf",
           "push_rtf", "max_diff", "target_ms", "verdict"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["hifigan_v2", "istft_small"],
                        choices=bc.VOCODER_NAMES)
    parser.add_argument("--paths", nargs="+", default=list(PATHS), choices=PATHS)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--chunk-frames", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=5.0,
                        help="length of the streamed utterance (default 5 s)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--tiny", action="store_true", help="small models and input (smoke)")
    parser.add_argument("--json", type=Path, default=None, help="write the record here")
    return parser.parse_args(argv)


def write_model(name: str, root: Path, tiny: bool, onnx: bool) -> Path:
    """Model ``name`` with random weights as a model directory (+ generator.onnx)."""
    from audiogan.config import config_from_dict
    from audiogan.inference.export import export_model
    from audiogan.inference.model_dir import LoadedModel

    spec = bc.MODEL_SPECS[name]
    params = {**spec.params, **(spec.tiny if tiny else {})}
    params.pop("in_channels", None)
    torch.manual_seed(0)
    model = bc.prepare_for_inference(bc.build_model(name, tiny=tiny), torch.device("cpu"))
    config = config_from_dict({"generator": {"name": spec.registry, "params": params},
                               "discriminator": {"name": "combined", "params": {}}})
    formats = ("onnx",) if onnx else ()
    return export_model(LoadedModel(model, config), root / name, formats).out_dir


def load_path(model_dir: Path, path: str) -> Any:
    from audiogan import Vocoder

    if path == "ort":
        return Vocoder.load(model_dir, backend="onnxruntime")
    return Vocoder.load(model_dir, backend="torch",
                        dtype="bfloat16" if path == "bf16" else "float32")


def pushes(mel: torch.Tensor, chunk: int) -> Iterator[torch.Tensor]:
    for start in range(0, mel.shape[-1], chunk):
        yield mel[:, start : start + chunk]


def measure(voc: Any, mel: torch.Tensor, chunk: int) -> dict[str, Any]:
    """One round: first-chunk latencies and whole-stream times of ``stream`` and ``push``."""
    tick = time.perf_counter()
    stream = voc.stream(mel, chunk_frames=chunk)
    parts = [next(stream)]
    first_stream = time.perf_counter() - tick
    parts.extend(stream)
    whole_stream = time.perf_counter() - tick

    streamer = voc.streamer()
    first_push, pushed, spent, pieces = None, 0, 0.0, []
    for piece in pushes(mel, chunk):
        tick = time.perf_counter()
        out = streamer.push(piece)
        spent += time.perf_counter() - tick
        pushed += piece.shape[-1]
        pieces.append(out)
        if first_push is None and out.numel():
            first_push, first_frames = spent, pushed
    tick = time.perf_counter()
    pieces.append(streamer.flush())
    spent += time.perf_counter() - tick
    if first_push is None:  # shorter than the receptive field: only the flush gave audio
        first_push, first_frames = spent, pushed
    return {"stream_first": first_stream, "stream_all": whole_stream, "push_first": first_push,
            "push_all": spent, "push_frames": first_frames, "wave": torch.cat(parts),
            "pushed_wave": torch.cat(pieces)}


def run(args: argparse.Namespace) -> dict[str, Any]:
    bc.set_threads(args.threads)
    seconds = 0.5 if args.tiny else args.seconds
    try:
        import onnxruntime  # noqa: F401
        has_ort = True
    except ImportError:
        has_ort = False
    paths = [p for p in args.paths if p != "ort" or has_ort]
    rows: list[dict[str, Any]] = []
    times: dict[str, dict[str, list[dict[str, float]]]] = {}
    with tempfile.TemporaryDirectory(prefix="audiogan-streaming-") as tmp:
        for name in args.models:
            model_dir = write_model(name, Path(tmp), args.tiny, "ort" in paths)
            vocoders = {path: load_path(model_dir, path) for path in paths}
            frames = max(1, round(seconds * 22050 / 256))
            gen = torch.Generator().manual_seed(0)
            mel = -5.0 + 1.5 * torch.randn(80, frames, generator=gen)
            reference = vocoders.get("fp32", load_path(model_dir, "fp32"))(mel)
            for voc in vocoders.values():
                measure(voc, mel, args.chunk_frames)  # warm-up stream
            rounds: dict[str, list[dict[str, Any]]] = {path: [] for path in paths}
            for index in range(args.repeats):
                for path in paths if index % 2 == 0 else paths[::-1]:
                    rounds[path].append(measure(vocoders[path], mel, args.chunk_frames))
            audio = frames * 256 / 22050
            times[name] = {}
            for path in paths:
                got = rounds[path]
                times[name][path] = [{k: v for k, v in r.items() if "wave" not in k}
                                     for r in got]
                diff = max(float((got[-1]["wave"] - reference).abs().max()),
                           float((got[-1]["pushed_wave"] - reference).abs().max()))
                first = max(bc.median([r["stream_first"] for r in got]),
                            bc.median([r["push_first"] for r in got])) * 1e3
                rows.append({
                    "model": name, "path": path,
                    "stream_first_ms": bc.median([r["stream_first"] for r in got]) * 1e3,
                    "push_first_ms": bc.median([r["push_first"] for r in got]) * 1e3,
                    "push_frames": got[-1]["push_frames"],
                    "stream_rtf": bc.median([r["stream_all"] for r in got]) / audio,
                    "push_rtf": bc.median([r["push_all"] for r in got]) / audio,
                    "max_diff": diff, "target_ms": TARGET_MS,
                    "verdict": "meets" if first <= TARGET_MS else "misses",
                })
            print(f"{name}: done (load {bc.load_string()})", file=sys.stderr)
    return {"machine": bc.machine_info(torch.device("cpu")), "threads": args.threads,
            "chunk_frames": args.chunk_frames, "seconds": seconds, "repeats": args.repeats,
            "tiny": args.tiny, "onnxruntime": has_ort, "rows": rows, "times_s": times,
            "load_after": bc.load_string()}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    record = run(args)
    print(f"streaming latency, {args.chunk_frames}-frame chunks, {record['seconds']:g} s "
          f"utterance, {args.threads} thread(s), median of {args.repeats} (warm); target: first "
          f"chunk <= {TARGET_MS:g} ms (load {record['load_after']})")
    print(bc.format_table(record["rows"], COLUMNS))
    if args.json is not None:
        print(f"wrote {bc.write_json(args.json, record)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
