"""Which piece plan makes each generator fastest on this CPU (the evidence for the CPU policy's
``plan`` entries, :mod:`audiogan.inference.cpu_policy`).

For each model and batch size, every plan (:class:`audiogan.inference.pieces.PiecePlan`) runs
the same mel through a :class:`~audiogan.Vocoder` (the user's call: input checks, chunking,
keyed noise), interleaved round-robin after a warm-up; the table gives the median and fastest
call, the speed-up over whole calls and the largest difference from them (the plans compute the
same audio: <= 1e-4).

Plan specs: ``whole``; ``f256`` (pieces of 256 frames); ``i1`` (one batch item per piece);
a trailing ``p`` runs pieces on worker threads (``f256p``, ``i1p``, ``i1f256p``).

Models: ``melgan``, ``multiband_melgan`` (default shapes), ``istft_base``, ``hifigan_v1`` (on
the path the CPU policy gives it without a plan, e.g. bfloat16 with a float32 last stage);
random weights (speed does not depend on the values).

    python benchmarks/cpu_plans.py --threads 2 --seconds 10 --batch-sizes 1 16 \\
        --json benchmarks/results/cpu_plans.json
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import bench_common as bc
import torch

from audiogan.features.mel import MelSpectrogram
from audiogan.inference.pieces import PiecePlan
from audiogan.inference.vocoder import Vocoder
from audiogan.models import build_generator

MODELS = {"melgan": ("melgan", {}), "multiband_melgan": ("multiband_melgan", {}),
          "istft_base": ("istft", {"preset": "base"}), "hifigan_v1": ("hifigan", {"preset": "v1"})}
TINY = {"melgan": {"channels": 16}, "multiband_melgan": {"channels": 16},
        "istft_base": {"dim": 16, "intermediate_dim": 32, "num_layers": 2},
        "hifigan_v1": {"upsample_initial_channel": 16}}
COLUMNS = ("model", "batch", "audio_s", "plan", "median_s", "min_s", "speedup_median",
           "speedup_min", "max_abs_diff", "load")


def parse_plan(spec: str) -> PiecePlan:
    """``whole`` | ``[iN][fN][p]`` -> :class:`PiecePlan`."""
    if spec == "whole":
        return PiecePlan()
    found = re.fullmatch(r"(?:i(\d+))?(?:f(\d+))?(p?)", spec)
    if not found or not (found.group(1) or found.group(2)):
        raise SystemExit(f"bad plan {spec!r}: whole, or e.g. f256, i1, i1f256p")
    return PiecePlan(piece_frames=int(found.group(2) or 0), batch_items=int(found.group(1) or 0),
                     parallel=found.group(3) == "p")


def build_vocoder(model: str, tiny: bool) -> Vocoder:
    """``model`` as a Vocoder on the CPU policy's dtype path, with no plan."""
    name, params = MODELS[model]
    torch.manual_seed(0)
    generator = build_generator(name, **params, **(TINY[model] if tiny else {}))
    voc = Vocoder(generator, MelSpectrogram("hifigan"))  # type: ignore[arg-type]
    voc._take_path(torch.device("cpu"), None, "auto")  # what Vocoder.load does on this CPU
    voc._plan = PiecePlan()
    return voc


def measure(model: str, batch: int, seconds: float, plans: Sequence[str], repeats: int,
            tiny: bool) -> list[dict[str, Any]]:
    """Interleaved timing of ``plans`` for one model and batch size."""
    voc = build_vocoder(model, tiny)
    frames = max(1, round(seconds * 22050 / 256))
    mel = torch.randn(batch, 80, frames, generator=torch.Generator().manual_seed(0)) - 5.0
    parsed = {spec: parse_plan(spec) for spec in plans}

    def call(spec: str) -> torch.Tensor:
        voc._plan = parsed[spec]
        return voc(mel, check_range=False)

    reference = call("whole")
    diffs = {spec: float((call(spec) - reference).abs().max()) for spec in plans}  # warm-up
    times: dict[str, list[float]] = {spec: [] for spec in plans}
    for _ in range(repeats):
        for spec in plans:
            start = time.perf_counter()
            call(spec)
            times[spec].append(time.perf_counter() - start)
    whole = times.get("whole") or times[plans[0]]
    load = bc.load_string()
    return [{"model": model, "batch": batch, "audio_s": batch * frames * 256 / 22050,
             "plan": spec, "median_s": bc.median(values), "min_s": min(values),
             "speedup_median": bc.median(whole) / bc.median(values),
             "speedup_min": min(whole) / min(values), "max_abs_diff": diffs[spec],
             "load": load, "times_s": values, "dtype": str(voc.dtype).removeprefix("torch.")}
            for spec, values in times.items()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--plans", nargs="+", default=["whole", "f128", "f256", "f512", "f128p",
                                                       "f256p", "f512p", "i1", "i1p"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 16])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--tiny", action="store_true", help="tiny models (smoke test)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if "whole" not in args.plans:
        args.plans = ["whole", *args.plans]
    bc.set_threads(args.threads)
    machine = bc.machine_info(torch.device("cpu"))
    print(f"# piece plans on {machine['cpu']}, torch {machine['torch']}, {args.threads} threads, "
          f"load {bc.load_string()}", flush=True)
    rows: list[dict[str, Any]] = []
    for model in args.models:
        for batch in args.batch_sizes:
            rows += measure(model, batch, args.seconds, args.plans, args.repeats, args.tiny)
            print(f"{model} batch {batch} done (load {bc.load_string()})", flush=True)
            if args.json is not None:
                bc.write_json(args.json, {"benchmark": "cpu_plans", "machine": machine,
                                          "settings": vars(args) | {"json": str(args.json)},
                                          "rows": rows})
    print(bc.format_table(rows, COLUMNS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
