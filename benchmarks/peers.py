"""Side by side with the peers: our generators vs the same architectures in other packages.

Pairs (random weights, identical shapes, weight norm folded on both sides, ``eval()``,
``torch.inference_mode()``):

- ``hifigan``: our ``hifigan`` preset V1 vs ``parallel_wavegan.models.HiFiGANGenerator``
  (kan-bayashi/ParallelWaveGAN, package ``parallel-wavegan``) with V1's shape;
- ``istft``: our ``istft`` preset ``base`` vs the ``vocos`` package's mel model architecture
  (``VocosBackbone(dim 512, intermediate 1536, 8 layers)`` + ``ISTFTHead(n_fft 1024, hop 256,
  padding "same")`` inside ``vocos.Vocos``, timed through ``Vocos.decode``), both on 80 mels.
  Built directly: no hub download;
- ``bigvgan`` / ``bigvgan_v2`` (opt-in: ``--pairs bigvgan bigvgan_v2``): our ``bigvgan``
  generator, presets ``base_22khz_80band`` (v1 base, 14 M parameters) and ``22khz_80band_256x``
  (v2, 112 M), vs the ``bigvgan`` package's ``BigVGAN`` (NVIDIA, torch activations:
  ``use_cuda_kernel=False``) with the same weights (the package model's state dict loaded into
  ours once both have weight norm folded). The v2 model is slow on a CPU: give it short audio,
  e.g. ``--seconds 2``. The package imports from ``.refs`` (``benchmarks/install_refs.sh``):
  ``PYTHONPATH="$PWD:$PWD/.refs"``;
- ``pwg`` (opt-in: ``--pairs pwg``): our ``parallel_wavegan`` vs ``parallel_wavegan.models.
  ParallelWaveGANGenerator`` at the v1 shape (30 layers, 1.33 M parameters), ours carrying the
  package model's weights (converted as ``audiogan import`` does), both fed the same keyed noise
  (the package model through its ``inference`` padding, batched). It runs 30 layers at the
  sample rate: give it short audio, e.g. ``--seconds 2 --batch-sizes 1``;
- ``melgan`` / ``mb_melgan`` (opt-in): our ``melgan`` (512 channels, rates 8, 8, 2, 2) and
  ``multiband_melgan`` (384 channels, rates 8, 4, 2, 4 bands) vs ``parallel_wavegan.models.
  MelGANGenerator`` at the same shapes (the multi-band one followed by the package's ``PQMF``
  synthesis), ours carrying the package model's weights (the same audio, <= 2e-7).

Keys ending in ``_cpu`` (``ours_hifigan_v1_cpu``, ``ours_melgan_cpu``, ``ours_mb_melgan_cpu``,
``ours_istft_base_cpu``) run the model as a ``Vocoder`` on the path ``Vocoder.load`` gives it on
this device: the CPU policy's dtype, float32 tail and piece plan
(``audiogan/inference/cpu_policy.py``), input checks included.

Measured, in one run and on one device:

1. inference time on ``--seconds`` of audio (default 10 s at 22.05 kHz) at each batch size, all
   four models interleaved round-robin after a warm-up, median of ``--repeats``;
2. peak memory of one inference call: on CPU each measurement runs in its own subprocess (peak
   RSS never falls) and reports the peak-RSS increase over the RSS just before the call; on CUDA
   ``torch.cuda.max_memory_allocated`` above the memory allocated before the call;
3. training step time of HiFi-GAN V1 (batch 16, 8192-sample segments by default) with the full
   HiFi-GAN discriminator (MPD periods 2, 3, 5, 7, 11 + 3-scale MSD) and LSGAN + feature
   matching (2) + mel L1 (45): ours is :meth:`Trainer.train_step` on a fixed device batch; the
   peer is the same step written here around ParallelWaveGAN's modules
   (``HiFiGANMultiScaleMultiPeriodDiscriminator``, ``MelSpectrogramLoss``, ``FeatureMatchLoss``,
   ``GeneratorAdversarialLoss``, ``DiscriminatorAdversarialLoss``, Adam), interleaved.

Ratios are printed as ours/peer *speed* (peer time / our time; > 1 means ours is faster) with
the targets of issue 5: HiFi-GAN V1 >= 0.95x ParallelWaveGAN, istft base >= 0.95x vocos and
>= 10x our HiFi-GAN V1; of issue 14: our BigVGAN >= 1.0x the package's, both shapes; and of
issue 15: our Parallel WaveGAN >= 1.0x ParallelWaveGAN's; of issue 16, on the paths
``Vocoder.load`` takes on this CPU (the ``_cpu`` keys): HiFi-GAN V1 >= 1.5x ParallelWaveGAN at
batch 1 and >= 1.3x at larger batches, MelGAN and multi-band MelGAN >= 1.3x ParallelWaveGAN's,
``istft`` base >= 1.2x vocos.

The peers are not dependencies: install them in a separate virtual environment (see
benchmarks/README.md, "Peers") and run this script from it with audiogan on ``PYTHONPATH``;
from the repository root, with ``PEER_VENV`` the directory of that environment::

    PYTHONPATH="$PWD" "$PEER_VENV/bin/python" benchmarks/peers.py --threads 2

Where a peer cannot be imported, its rows are skipped with a message saying why.

The pairs themselves (random-weight models, inputs, which peers import) are in
``peer_models.py``; the training-step comparison (``PWGTrainStep``, ``train_rows``) is in
``peer_training.py``. Both are re-exported here under their old names.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import bench_common as bc
import torch
from peer_models import (
    HOP,
    MODELS,
    N_MELS,
    SAMPLE_RATE,
    _infer,
    build_pair_model,
    inference_module,
    mel_input,
    peer_status,
)
from peer_training import (
    TINY_PWG_DISCRIMINATOR,
    PWGTrainStep,
    ours_train_config,
    pwg_discriminator_kwargs,
    pwg_generator_kwargs,
    train_rows,
)

__all__ = ["HOP", "INFERENCE_COLUMNS", "MEMORY_COLUMNS", "MODELS", "N_MELS", "RATIO_COLUMNS",
           "SAMPLE_RATE", "TINY_PWG_DISCRIMINATOR", "TRAIN_COLUMNS", "PWGTrainStep",
           "build_pair_model", "inference_module", "inference_rows", "measure_memory_here",
           "mel_input", "memory_rows", "ours_train_config", "parse_args", "peer_status",
           "pwg_discriminator_kwargs", "pwg_generator_kwargs", "ratio_rows", "train_rows",
           "main"]

MEMORY_TAG = "PEERS_MEMORY_JSON "
INFERENCE_COLUMNS = ("model", "batch", "audio_s", "median_s", "rtf", "x_realtime", "min_s",
                     "max_s", "repeats", "load")
MEMORY_COLUMNS = ("model", "batch", "audio_s", "peak_delta_MiB", "method")
TRAIN_COLUMNS = ("model", "batch", "segment", "median_step_s", "min_step_s", "max_step_s",
                 "steps", "load")
RATIO_COLUMNS = ("comparison", "batch", "ours_s", "other_s", "speed_ratio", "paired_ratio",
                 "min_ratio", "target", "status")


# --------------------------------------------------------------------------- inference


def inference_rows(keys: Sequence[str], device: torch.device, *, batch_sizes: Sequence[int],
                   seconds: float, repeats: Sequence[int], warmup_seconds: float | None,
                   tiny: bool, progress: Callable[[str], None] | None) -> list[dict[str, Any]]:
    """Interleaved inference timing of ``keys`` per batch size (``repeats[i]`` for batch i)."""
    models = {key: inference_module(key, device, tiny=tiny) for key in keys}
    rows: list[dict[str, Any]] = []
    for batch, count in zip(batch_sizes, repeats):
        mel = mel_input(batch, seconds, device)
        warm = mel_input(batch, warmup_seconds, device) if warmup_seconds else mel
        audio = batch * mel.shape[-1] * HOP / SAMPLE_RATE
        out_lengths = {key: _infer(model, mel)().shape[-1] for key, model in models.items()}
        if len(set(out_lengths.values())) != 1:
            raise RuntimeError(f"output lengths differ between models: {out_lengths}")
        if progress is not None:
            progress(f"inference, batch {batch}: {', '.join(keys)} (load {bc.load_string()})")
        times = bc.interleaved({k: _infer(m, mel) for k, m in models.items()}, device,
                               repeats=count, warmup=1,
                               warmup_fns={k: _infer(m, warm) for k, m in models.items()},
                               progress=progress)
        load = bc.load_string()
        for key in keys:
            med = bc.median(times[key])
            rows.append({"model": key, "batch": batch, "audio_s": audio, "median_s": med,
                         "rtf": med / audio, "x_realtime": audio / med,
                         "min_s": min(times[key]), "max_s": max(times[key]),
                         "repeats": count, "load": load, "times_s": times[key]})
    return rows


# --------------------------------------------------------------------------- memory


def _vm_hwm_bytes() -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (Linux >= 4.0: ``echo 5 > /proc/self/clear_refs``)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def measure_memory_here(key: str, batch: int, seconds: float, device: torch.device,
                        tiny: bool) -> dict[str, Any]:
    """Peak memory of one inference call of ``key`` in this process.

    CPU: peak RSS after the call minus the RSS just before it (the peak mark is reset first
    where Linux allows, so construction transients do not hide the call's peak). CUDA: peak
    allocated bytes during the call minus the bytes allocated before it.
    """
    model = inference_module(key, device, tiny=tiny)
    mel = mel_input(batch, seconds, device)
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        _infer(model, mel)()
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device)
        method = "cuda max_memory_allocated"
    else:
        before = bc.current_rss_bytes()
        reset = _reset_peak_rss()
        _infer(model, mel)()
        hwm = _vm_hwm_bytes() if reset else None
        peak = hwm if hwm is not None else bc.peak_rss_bytes()
        method = "peak RSS (VmHWM reset)" if hwm is not None else "peak RSS (ru_maxrss)"
    return {"model": key, "batch": batch, "audio_s": batch * mel.shape[-1] * HOP / SAMPLE_RATE,
            "peak_delta_MiB": max(0, peak - before) / 2**20, "method": method}


def memory_rows(keys: Sequence[str], device: torch.device, *, batch_sizes: Sequence[int],
                seconds: float, tiny: bool, threads: int | None,
                progress: Callable[[str], None] | None) -> list[dict[str, Any]]:
    """One measurement per (model, batch): a fresh subprocess each on CPU, in-process on CUDA."""
    rows = []
    for batch in batch_sizes:
        for key in keys:
            if device.type == "cuda":
                gc.collect()
                torch.cuda.empty_cache()
                row = measure_memory_here(key, batch, seconds, device, tiny)
            else:
                command = [sys.executable, str(Path(__file__).resolve()), "--child-memory", key,
                           "--batch-sizes", str(batch), "--seconds", str(seconds),
                           "--device", str(device)]
                command += ["--tiny"] if tiny else []
                command += ["--threads", str(threads)] if threads else []
                # the child imports what this process imports (sys.path may have been extended
                # at run time, e.g. with .refs/ by the tests)
                env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
                done = subprocess.run(command, capture_output=True, text=True, check=False,
                                      env=env)
                found = [line for line in done.stdout.splitlines()
                         if line.startswith(MEMORY_TAG)]
                if done.returncode != 0 or not found:
                    raise RuntimeError(f"memory subprocess for {key} failed:\n{done.stderr}")
                row = json.loads(found[-1][len(MEMORY_TAG):])
            if progress is not None:
                progress(f"  memory {key} batch {batch}: +{row['peak_delta_MiB']:.0f} MiB")
            rows.append(row)
    return rows


# --------------------------------------------------------------------------- ratios


def ratio_rows(inference: Sequence[dict[str, Any]],
               training: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """ours/other speed ratios with the issue-5, -14, -15 and -16 targets.

    ``speed_ratio`` is other median / our median (the headline, judged against the target);
    ``paired_ratio`` the median of the per-round ratios (steadier under changing load);
    ``min_ratio`` the ratio of the fastest calls (the least disturbed ones).
    """
    by_key = {(row["model"], row["batch"]): row for row in inference}
    comparisons: list[tuple[str, str, str, float | tuple[float, float]]] = [
        ("hifigan_v1: ours vs ParallelWaveGAN", "ours_hifigan_v1", "pwg_hifigan_v1", 0.95),
        # issue 16: the path Vocoder.load takes on this CPU; >= 1.5x at batch 1, 1.3x above
        ("hifigan_v1 CPU-policy path: ours vs ParallelWaveGAN", "ours_hifigan_v1_cpu",
         "pwg_hifigan_v1", (1.5, 1.3)),
        ("istft_base: ours vs vocos", "ours_istft_base", "vocos_mel", 0.95),
        # issue 16: istft base on its CPU-policy path >= 1.2x vocos; MelGANs >= 1.3x PWG's
        ("istft_base CPU-policy path: ours vs vocos", "ours_istft_base_cpu", "vocos_mel", 1.2),
        ("melgan: ours vs ParallelWaveGAN", "ours_melgan", "pwg_melgan", 1.0),
        ("melgan CPU-policy path: ours vs ParallelWaveGAN", "ours_melgan_cpu", "pwg_melgan",
         1.3),
        ("multiband_melgan: ours vs ParallelWaveGAN", "ours_mb_melgan", "pwg_mb_melgan", 1.0),
        ("multiband_melgan CPU-policy path: ours vs ParallelWaveGAN", "ours_mb_melgan_cpu",
         "pwg_mb_melgan", 1.3),
        ("istft_base vs our hifigan_v1", "ours_istft_base", "ours_hifigan_v1", 10.0),
        ("bigvgan base_22khz_80band: ours vs bigvgan", "ours_bigvgan_base", "bigvgan_base",
         1.0),
        ("bigvgan 22khz_80band_256x: ours vs bigvgan", "ours_bigvgan_v2", "bigvgan_v2", 1.0),
        ("parallel_wavegan v1: ours vs ParallelWaveGAN", "ours_pwg_v1", "pwg_pwg_v1", 1.0),
    ]
    batches = sorted({row["batch"] for row in inference})
    rows = []
    for label, ours_key, other_key, targets in comparisons:
        for batch in batches:
            ours, other = by_key.get((ours_key, batch)), by_key.get((other_key, batch))
            if ours is None or other is None:
                continue
            target = (targets if isinstance(targets, float)
                      else targets[0] if batch == 1 else targets[1])
            ratio = other["median_s"] / ours["median_s"]
            rows.append({
                "comparison": f"inference {label}", "batch": batch, "ours_s": ours["median_s"],
                "other_s": other["median_s"], "speed_ratio": ratio,
                "paired_ratio": bc.paired_ratio(other.get("times_s", []),
                                                ours.get("times_s", [])),
                "min_ratio": (min(other["times_s"]) / min(ours["times_s"])
                              if ours.get("times_s") and other.get("times_s") else math.nan),
                "target": f">= {target:g}x", "status": "met" if ratio >= target else "MISSED"})
    train = {row["model"]: row for row in training}
    if "ours_hifigan_v1" in train and "pwg_hifigan_v1" in train:
        ours, other = train["ours_hifigan_v1"], train["pwg_hifigan_v1"]
        rows.append({"comparison": "training step hifigan_v1: ours vs ParallelWaveGAN",
                     "batch": ours["batch"], "ours_s": ours["median_step_s"],
                     "other_s": other["median_step_s"],
                     "speed_ratio": other["median_step_s"] / ours["median_step_s"],
                     "paired_ratio": bc.paired_ratio(other["times_s"], ours["times_s"]),
                     "min_ratio": other["min_step_s"] / ours["min_step_s"], "target": "-",
                     "status": "-"})
    return rows


# --------------------------------------------------------------------------- CLI


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--pairs", nargs="+", choices=["hifigan", "istft", "bigvgan",
                                                       "bigvgan_v2", "pwg", "melgan",
                                                       "mb_melgan"],
                        default=["hifigan", "istft"],
                        help="which pairs (default hifigan and istft)")
    parser.add_argument("--parts", nargs="+", choices=["inference", "memory", "training"],
                        default=["inference", "memory", "training"])
    parser.add_argument("--seconds", type=float, default=10.0, help="audio per item (10)")
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 16])
    parser.add_argument("--repeats", nargs="+", type=int, default=[5],
                        help="timed rounds per batch size (one value, or one per batch size)")
    parser.add_argument("--warmup-seconds", type=float, default=None,
                        help="audio per item of the warm-up call (default --seconds)")
    parser.add_argument("--train-batch", type=int, default=16)
    parser.add_argument("--train-segment", type=int, default=8192)
    parser.add_argument("--train-repeats", type=int, default=None,
                        help="timed steps per side (default 10 on CUDA, 3 on CPU)")
    parser.add_argument("--train-warmup", type=int, default=1)
    parser.add_argument("--tiny", action="store_true",
                        help="tiny shapes (smoke tests; ratios meaningless)")
    parser.add_argument("--json", type=Path, default=None, help="write all rows + machine info")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.add_argument("--child-memory", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if len(args.repeats) == 1:
        args.repeats = args.repeats * len(args.batch_sizes)
    if len(args.repeats) != len(args.batch_sizes) or min(args.repeats) < 1:
        parser.error("--repeats: one value >= 1, or one per batch size")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the comparisons that the installed peers allow; print tables and ratios."""
    args = parse_args(argv)
    bc.set_threads(args.threads)
    device = bc.resolve_device(args.device)
    if args.child_memory:  # one isolated memory measurement (see memory_rows)
        row = measure_memory_here(args.child_memory, args.batch_sizes[0], args.seconds, device,
                                  args.tiny)
        print(MEMORY_TAG + json.dumps(row), flush=True)
        return 0

    def progress(line: str) -> None:
        if not args.quiet:
            print(line, flush=True)

    status = peer_status()
    info = bc.machine_info(device)
    print(f"# peers on {info.get('gpu', info['cpu'])}, torch {info['torch']}, "
          f"{info['torch_threads']} threads, load {bc.load_string()}", flush=True)
    keys: list[str] = []
    for key, (pair, _side, package) in MODELS.items():
        if pair not in args.pairs:
            continue
        if package is not None and status[package] is not None:
            print(f"SKIP {key}: {package} is not importable ({status[package]}). Install it in "
                  "a separate venv (benchmarks/README.md) and run this script from there with "
                  "audiogan on PYTHONPATH.", flush=True)
            continue
        keys.append(key)
    results: dict[str, Any] = {"benchmark": "peers", "machine": info, "peers": {
        package: (None if why else _version(package)) for package, why in status.items()},
        "skipped": {p: why for p, why in status.items() if why}, "settings": {
            k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}}

    inference: list[dict[str, Any]] = []
    memory: list[dict[str, Any]] = []
    training: list[dict[str, Any]] = []

    def save() -> list[dict[str, Any]]:
        # After every part, so a later failure never loses the minutes already measured.
        ratios = ratio_rows(inference, training)
        info["load_average_end"] = list(bc.load_average())
        results.update({"inference": inference, "memory": memory, "training": training,
                        "ratios": ratios})
        if args.json is not None:
            bc.write_json(args.json, results)
        return ratios

    if "inference" in args.parts and keys:
        inference = inference_rows(keys, device, batch_sizes=args.batch_sizes,
                                   seconds=args.seconds, repeats=args.repeats,
                                   warmup_seconds=args.warmup_seconds, tiny=args.tiny,
                                   progress=progress)
        save()
    if "memory" in args.parts and keys:
        memory = memory_rows(keys, device, batch_sizes=args.batch_sizes, seconds=args.seconds,
                             tiny=args.tiny, threads=args.threads, progress=progress)
        save()
    if "training" in args.parts and "hifigan" in args.pairs:
        repeats = args.train_repeats or (10 if device.type == "cuda" else 3)
        training = train_rows(device, peer=status["parallel_wavegan"] is None, tiny=args.tiny,
                              batch=args.train_batch, segment=args.train_segment,
                              repeats=repeats, warmup=args.train_warmup, progress=progress)
    ratios = save()
    for title, rows, columns in (("inference", inference, INFERENCE_COLUMNS),
                                 ("peak memory of one inference call", memory, MEMORY_COLUMNS),
                                 ("training step", training, TRAIN_COLUMNS),
                                 ("ratios (ours/other speed; > 1: ours faster)", ratios,
                                  RATIO_COLUMNS)):
        if rows:
            print(f"\n## {title}\n{bc.format_table(rows, columns)}")
    if not ratios:
        print("\nno ratios: no peer is importable (see SKIP lines above)")
    return 0


def _version(package: str) -> str:
    from importlib import metadata

    name = {"parallel_wavegan": "parallel-wavegan"}.get(package, package)
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:  # e.g. imported from .refs/: the module's own
        return str(getattr(__import__(package), "__version__", "unknown"))


if __name__ == "__main__":
    sys.exit(main())
