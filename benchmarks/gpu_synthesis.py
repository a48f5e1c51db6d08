"""Synthesis section of the GPU suite (issue 17): HiFi-GAN V1 and istft base against the
anchors, ours with the synthesis levers, and variable-length input.

Per batch size (1 and 16; 10 s of audio per item, 862 frames of hop 256), timed interleaved,
median of ``--repeats`` after warm-up calls (CUDA graphs are captured there):

- ``anchor_hifigan_v1``: ParallelWaveGAN's ``HiFiGANGenerator`` (V1 shape, weight norm folded,
  eval, inference mode), fp32, ``cudnn.benchmark`` on;
- ``ours_hifigan_v1``: our plain V1 generator the same way, fp32 and bf16 autocast;
- ``ours_vocoder_*``: ``Vocoder.load(model_dir, device, dtype, fixed_shapes=, cuda_graphs=)``
  (the synthesis levers; rows skipped with the reason where ``load`` does not take them);
- ``ours_istft_base`` vs ``vocos_mel`` (the ``vocos`` package's mel model, ``Vocos.decode``).

Targets: V1 batch 1 >= 2x the anchor, batch 16 >= 1.5x; istft base >= 1.3x Vocos. Then the
variable-length rows (``variable_length_rows`` of the benchmarks, where present): lengths not
seen before must not re-autotune (bucketed or padded).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bench_common as bc
import torch
from gpu_report import Suite

SAMPLE_RATE = 22050
HOP = 256
TARGETS = {("hifigan", 1): 2.0, ("hifigan", 16): 1.5, ("istft", 1): 1.3, ("istft", 16): 1.3}

#: Vocoder.load rows: name -> (dtype, load keyword arguments).
VOCODER_ROWS: dict[str, tuple[str, dict[str, Any]]] = {
    "ours_vocoder_fp32": ("float32", {}),
    "ours_vocoder_fixed_shapes": ("float32", {"fixed_shapes": True}),
    "ours_vocoder_cuda_graphs": ("float32", {"fixed_shapes": True, "cuda_graphs": True}),
    "ours_vocoder_cuda_graphs_bf16": ("bfloat16", {"fixed_shapes": True, "cuda_graphs": True}),
}


def _infer(model: Callable[[torch.Tensor], torch.Tensor], mel: torch.Tensor,
           dtype: torch.dtype | None = None) -> Callable[[], torch.Tensor]:
    def run() -> torch.Tensor:
        with torch.inference_mode(), torch.autocast(mel.device.type, dtype=dtype or
                                                    torch.bfloat16, enabled=dtype is not None):
            return model(mel)

    return run


def vocoder_calls(suite: Suite, model_dir: Path | None, mels: dict[int, torch.Tensor]
                  ) -> dict[str, dict[int, Callable[[], Any]]]:
    """``{row: {batch: call}}`` for :data:`VOCODER_ROWS` that ``Vocoder.load`` accepts."""
    from audiogan import Vocoder

    if model_dir is None:
        suite.note("SKIP Vocoder.load rows: no model directory")
        return {}
    accepted = inspect.signature(Vocoder.load).parameters
    calls: dict[str, dict[int, Callable[[], Any]]] = {}
    for name, (dtype, levers) in VOCODER_ROWS.items():
        missing = [key for key in levers if key not in accepted]
        if missing:
            suite.note(f"SKIP {name}: Vocoder.load takes no {', '.join(missing)} yet")
            continue
        if levers.get("cuda_graphs") and suite.device.type != "cuda":
            suite.note(f"SKIP {name}: CUDA graphs need a CUDA device")
            continue
        try:
            voc = Vocoder.load(model_dir, device=suite.device, dtype=dtype, **levers)
        except Exception as exc:
            suite.check(f"synthesis {name} loads", False, f"{type(exc).__name__}: {exc}")
            continue

        def call(mel: torch.Tensor, voc: Any = voc) -> Callable[[], Any]:
            def run() -> Any:
                with torch.inference_mode():
                    return voc(mel)

            return run

        calls[name] = {batch: call(mel) for batch, mel in mels.items()}
    return calls


def plain_calls(suite: Suite, mels: dict[int, torch.Tensor]
                ) -> dict[str, dict[int, Callable[[], Any]]]:
    """The anchors and our plain modules (``peer_models.inference_module``)."""
    import peer_models
    import peer_training

    peer_training.install_reference_shims()
    status = peer_models.peer_status()
    keys = {"anchor_hifigan_v1": "pwg_hifigan_v1", "ours_hifigan_v1": "ours_hifigan_v1",
            "ours_istft_base": "ours_istft_base", "vocos_mel": "vocos_mel"}
    calls: dict[str, dict[int, Callable[[], Any]]] = {}
    for name, key in keys.items():
        package = peer_models.MODELS[key][2]
        if package is not None and status[package] is not None:
            suite.note(f"SKIP {name}: {package} does not import ({status[package]})")
            continue
        model = peer_models.inference_module(key, suite.device, tiny=suite.dry_run)
        calls[name] = {batch: _infer(model, mel) for batch, mel in mels.items()}
        if name == "ours_hifigan_v1":
            calls["ours_hifigan_v1_bf16"] = {batch: _infer(model, mel, torch.bfloat16)
                                             for batch, mel in mels.items()}
    return calls


def _pair(name: str) -> tuple[str, str | None]:
    """(architecture, its anchor row) of a row name."""
    if "istft" in name or "vocos" in name:
        return "istft", None if name == "vocos_mel" else "vocos_mel"
    return "hifigan", None if name == "anchor_hifigan_v1" else "anchor_hifigan_v1"


def run_synthesis(suite: Suite, args: Any, model_dir: Path | None) -> None:
    """Time every row at each batch size (interleaved), ratios vs the anchors, then the
    variable-length rows."""
    import peer_models

    torch.backends.cudnn.benchmark = True  # the anchor's setting (process-wide: every row)
    seconds = args.seconds
    mels = {batch: peer_models.mel_input(batch, seconds, suite.device)
            for batch in args.batch_sizes}
    calls = plain_calls(suite, mels)
    calls.update(vocoder_calls(suite, model_dir, mels))
    rows: list[dict[str, Any]] = []
    for batch in args.batch_sizes:
        fns = {name: per_batch[batch] for name, per_batch in calls.items()}
        for name in list(fns):  # a row that fails its first call leaves the others timed
            try:
                bc.time_call(fns[name], suite.device)
            except Exception as exc:
                suite.check(f"synthesis {name} batch {batch} runs", False,
                            f"{type(exc).__name__}: {exc}")
                del fns[name]
        times = bc.interleaved(fns, suite.device, repeats=args.repeats, warmup=2)
        frames = mels[batch].shape[-1]
        audio = batch * frames * HOP / SAMPLE_RATE
        for name, values in times.items():
            med = bc.median(values)
            row: dict[str, Any] = {"variant": name, "batch": batch, "audio_s": audio,
                                   "median_s": med, "min_s": min(values),
                                   "x_realtime": audio / med, "times_s": values}
            arch, anchor = _pair(name)
            if anchor in times:
                row["ratio"] = bc.median(times[anchor]) / med
                row["paired_ratio"] = bc.paired_ratio(times[anchor], values)
                goal = TARGETS[(arch, 1 if batch == 1 else 16)]
                row["target"] = f">= {goal}x: " + ("met" if row["ratio"] >= goal else "MISSED")
            rows.append(row)
    suite.results["synthesis"] = rows
    print(bc.format_table(rows, ("variant", "batch", "median_s", "x_realtime", "ratio",
                                 "paired_ratio", "target")), flush=True)
    suite.save()
    variable_length(suite, args, model_dir)


def variable_length(suite: Suite, args: Any, model_dir: Path | None) -> None:
    """``variable_length_rows(device, lengths_s, ...)`` from the benchmarks, where present."""
    import importlib

    fn = None
    for module in ("inference_rtf", "variable_length"):
        try:
            fn = getattr(importlib.import_module(module), "variable_length_rows", None)
        except ImportError:
            continue
        if fn is not None:
            break
    if fn is None:
        suite.note("SKIP variable-length rows: no variable_length_rows in the benchmarks yet")
        return
    accepted = inspect.signature(fn).parameters
    options = {"tiny": suite.dry_run, "model_dir": model_dir, "repeats": args.repeats,
               "progress": None}
    kwargs = {key: value for key, value in options.items() if key in accepted}
    suite.results["variable_length"] = fn(suite.device, args.lengths_s, **kwargs)
