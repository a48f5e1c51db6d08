"""Peak memory of synthesising a long mel on the CPU: float32 whole calls vs the CPU policy's path.

Each measurement runs in its own subprocess (peak RSS never falls): it builds the model as a
:class:`~audiogan.Vocoder`, resets the kernel's peak-RSS mark, synthesises ``--minutes`` of
audio at batch 1, and reports the peak RSS above the RSS just before the call (the input mel,
the output waveform and everything the call allocates). Paths:

- ``float32``: float32, one generator call per chunk of ``Vocoder.chunk_frames`` (the path
  before the CPU policy existed; inputs over ``Vocoder.max_frames`` are already chunked);
- ``policy``: the path ``Vocoder.load`` takes on this CPU (:mod:`audiogan.inference.cpu_policy`:
  dtype, float32 tail and piece plan).

- ``fixed_shapes``: ``float32`` over equal-size windows (``Vocoder(..., fixed_shapes=True)``).
- ``reference``: ``float32`` with the models' reference forwards (a no-op forward hook on a conv
  inside turns the inference forwards of ``audiogan/models/*_inference.py`` off).

With ``--lengths N``, each measurement instead synthesises N clips of N distinct lengths (from
``--minutes`` down, 7 frames apart) and reports the RSS left after the last one: oneDNN keeps
state per conv shape it has run, so a server's memory depends on how many lengths it has seen.

Random weights; the numbers depend only on the shapes.

    python benchmarks/cpu_memory.py --threads 2 --minutes 10 \\
        --json benchmarks/results/cpu_memory_10min.json
    python benchmarks/cpu_memory.py --threads 2 --minutes 0.2 --lengths 30 \\
        --paths reference float32 --json benchmarks/results/cpu_memory_lengths.json
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import bench_common as bc
import torch
from cpu_plans import MODELS, TINY
from peers import _reset_peak_rss, _vm_hwm_bytes

from audiogan.features.mel import MelSpectrogram
from audiogan.inference.vocoder import Vocoder
from audiogan.models import build_generator

TAG = "CPU_MEMORY_JSON "
COLUMNS = ("model", "path", "audio_s", "lengths", "peak_delta_MiB", "kept_MiB", "seconds",
           "dtype", "plan")


def measure_here(model: str, path_name: str, minutes: float, tiny: bool, lengths: int = 0
                 ) -> dict[str, Any]:
    """One measurement in this process (see the module docstring)."""
    name, params = MODELS[model]
    torch.manual_seed(0)
    generator = build_generator(name, **params, **(TINY[model] if tiny else {}))
    if path_name == "reference":  # inference forwards are off when a layer inside has a hook
        leaf = next(m for m in generator.modules() if isinstance(m, torch.nn.Conv1d))
        leaf.register_forward_pre_hook(lambda _module, _inputs: None)
    voc = Vocoder(generator, MelSpectrogram("hifigan"))  # type: ignore[arg-type]
    if path_name == "policy":
        voc._take_path(torch.device("cpu"), None, "auto")  # what Vocoder.load does on this CPU
    if path_name == "fixed_shapes":
        voc.set_shape_options(True, False)  # equal-size windows: a few conv shapes only
    frames = max(1, round(minutes * 60 * 22050 / 256))
    sizes = [max(1, frames - 7 * index) for index in range(lengths)] if lengths else [frames]
    mels = [torch.randn(1, 80, size, generator=torch.Generator().manual_seed(0)) - 5.0
            for size in sizes]
    gc.collect()
    before = bc.current_rss_bytes()
    reset = _reset_peak_rss()
    start = time.perf_counter()
    for mel in mels:
        voc(mel, check_range=False)
    seconds = time.perf_counter() - start
    gc.collect()
    kept = bc.current_rss_bytes() - before
    hwm = _vm_hwm_bytes() if reset else None
    peak = hwm if hwm is not None else bc.peak_rss_bytes()
    return {"model": model, "path": path_name, "audio_s": sum(sizes) * 256 / 22050,
            "lengths": len(sizes), "peak_delta_MiB": max(0, peak - before) / 2**20,
            "kept_MiB": max(0, kept) / 2**20, "seconds": seconds,
            "dtype": str(voc.dtype).removeprefix("torch."), "plan": str(voc._plan),
            "method": "VmHWM reset" if hwm is not None else "ru_maxrss"}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--paths", nargs="+", default=["float32", "policy"],
                        choices=["reference", "float32", "fixed_shapes", "policy"])
    parser.add_argument("--lengths", type=int, default=0,
                        help="synthesise this many distinct lengths instead of one mel")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tiny", action="store_true", help="tiny models (smoke test)")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--child", nargs=2, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    bc.set_threads(args.threads)
    if args.child:
        row = measure_here(args.child[0], args.child[1], args.minutes, args.tiny, args.lengths)
        print(TAG + json.dumps(row), flush=True)
        return 0
    machine = bc.machine_info(torch.device("cpu"))
    rows = []
    for model in args.models:
        for path_name in args.paths:
            command = [sys.executable, str(Path(__file__).resolve()), "--child", model,
                       path_name, "--minutes", str(args.minutes), "--threads", str(args.threads),
                       "--lengths", str(args.lengths)]
            command += ["--tiny"] if args.tiny else []
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            found = [line for line in done.stdout.splitlines() if line.startswith(TAG)]
            if done.returncode != 0 or not found:
                raise SystemExit(f"{model} {path_name} failed:\n{done.stderr}")
            rows.append(json.loads(found[-1][len(TAG):]))
            print(f"{model} {path_name}: +{rows[-1]['peak_delta_MiB']:.0f} MiB peak, "
                  f"{rows[-1]['kept_MiB']:.0f} MiB kept", flush=True)
            if args.json is not None:
                bc.write_json(args.json, {"benchmark": "cpu_memory", "machine": machine,
                                          "settings": {**vars(args), "json": str(args.json)},
                                          "rows": rows})
    print(bc.format_table(rows, COLUMNS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
