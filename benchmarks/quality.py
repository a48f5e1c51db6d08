"""Quality side by side: train ours and a peer for the same steps on the same data, then compare.

A synthetic corpus (:func:`audiogan.data.build_synthetic_corpus`) is split into training and
held-back clips. Then:

- ours: :class:`~audiogan.training.trainer.Trainer` on ``--config`` for ``--steps`` steps;
- the peer (when ``parallel_wavegan`` is importable and the config's generator is ``hifigan``):
  ParallelWaveGAN's ``HiFiGANGenerator`` of the same shape with its HiFi-GAN multi-scale +
  multi-period discriminator and its losses, trained by the step in ``peers.PWGTrainStep`` with
  *our config's* optimiser settings, loss weights and discriminator start step, on batches from
  the same ``SegmentDataset`` (same segment length, batch size and crop seed);
- an untrained generator of our config as the reference point.

Each model copy-synthesises every held-back clip from its mel (the config's features) and is
scored with ``audiogan.evaluation.metrics`` (log-mel L1 in dB, multi-resolution STFT distance).

In general a GPU job (e.g. ``--config recipes/ljspeech/hifigan_v1.yaml --steps 20000 --device
cuda``); ``--tiny`` is the CPU smoke run for CI (< 60 s)::

    python benchmarks/quality.py --tiny --threads 1
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import bench_common as bc
import torch
from torch import Tensor, nn

COLUMNS = ("model", "steps", "train_s", "clips", "log_mel_l1_db", "mrstft", "metrics")
TINY_OVERRIDES = ("training.batch_size=2", "training.segment_length=2048",
                  "training.discriminator_start_step=5")


# --------------------------------------------------------------------------- metrics


def metric_functions() -> tuple[str, Callable[[Tensor, Tensor, int], dict[str, float]]]:
    """``(source, fn)``: ``fn(reference, estimate, sample_rate)`` -> log-mel L1 dB and MR-STFT.

    ``source`` names where the metrics come from (:mod:`audiogan.evaluation.metrics`).
    """
    from audiogan.evaluation import metrics

    def from_library(reference: Tensor, estimate: Tensor, sample_rate: int) -> dict[str, float]:
        ref, est = reference.double().cpu().numpy(), estimate.double().cpu().numpy()
        return {"log_mel_l1_db": metrics.log_mel_distance(ref, est, sample_rate),
                "mrstft": metrics.multi_resolution_stft_distance(ref, est)}

    return "audiogan.evaluation.metrics", from_library


@torch.no_grad()
def evaluate(model: nn.Module, features: nn.Module, clips: Sequence[Tensor], sample_rate: int,
             device: torch.device, hop: int) -> dict[str, float]:
    """Mean metrics of copy synthesis of ``clips`` ((T,) each) by ``model`` (mel -> wave).

    ``model`` is used as given (pass an inference copy: weight norm folded, eval mode).
    """
    source, fn = metric_functions()
    model.eval()
    totals: dict[str, float] = {}
    for clip in clips:
        wave = clip[: clip.shape[-1] // hop * hop].to(device)
        mel = features(wave.unsqueeze(0))[..., : wave.shape[-1] // hop]
        fake = model(mel).float().reshape(-1)
        for key, value in fn(wave, fake, sample_rate).items():
            totals[key] = totals.get(key, 0.0) + value / len(clips)
    return {**totals, "metrics": source}


# --------------------------------------------------------------------------- training


def train_ours(trainer: Any, steps: int) -> float:
    """Train with :meth:`Trainer.fit` for ``steps`` steps; returns the seconds it took."""
    start = time.perf_counter()
    trainer.fit(max_steps=steps)
    return time.perf_counter() - start


def peer_step_for(trainer: Any, device: torch.device) -> Any:
    """A ``peers.PWGTrainStep`` of the same shape and settings as ``trainer``'s config."""
    import peers

    from audiogan.models.hifigan import resolve_preset

    config = trainer.config
    params = dict(config.generator.params)
    preset = resolve_preset(str(params.pop("preset", "v1")),
                            **{k: v for k, v in params.items()
                               if k not in ("in_channels", "negative_slope", "weight_norm")})
    d_params = dict(config.discriminator.params)
    mpd = list(dict(d_params.get("mpd_params") or {}).get("channels", [32, 128, 512, 1024, 1024]))
    msd = list(dict(d_params.get("msd_params") or {}).get("channels",
                                                          [128, 1024]))
    discriminator = peers.pwg_discriminator_kwargs(
        periods=tuple(d_params.get("periods", (2, 3, 5, 7, 11)) or ()),
        scales=int(d_params.get("scales", 3) or 0), period_channels=int(mpd[0]),
        period_max_channels=int(max(mpd)), scale_channels=int(msd[0]),
        scale_max_channels=int(max(msd)),
    )
    opt = config.optim.generator
    weights = config.loss.weights
    return peers.PWGTrainStep(
        device, batch=trainer.local_batch, segment=config.training.segment_length,
        generator_kwargs=peers.pwg_generator_kwargs(preset=preset),
        discriminator_kwargs=discriminator,
        optimizer=("adam" if opt.name == "adam" else "adamw", opt.lr, tuple(opt.betas),
                   opt.weight_decay),
        weights=(weights.get("adversarial", 0.0), weights.get("feature_matching", 0.0),
                 weights.get("mel", 0.0)),
    )


def train_peer(step: Any, trainer: Any, steps: int, device: torch.device) -> float:
    """Train the peer on batches from a loader like ``trainer``'s (same dataset, crop seed and
    batch size; its own shuffling order); returns the seconds it took."""
    from torch.utils.data import DataLoader

    t = trainer.config.training
    dataset = trainer.train_set
    start = time.perf_counter()
    done, epoch = 0, 0
    while done < steps:
        dataset.set_epoch(epoch)
        loader = DataLoader(dataset, batch_size=trainer.local_batch, shuffle=True,
                            drop_last=True, generator=torch.Generator().manual_seed(epoch))
        for batch in loader:
            step(batch["wave"].to(device),
                 train_discriminator=done >= t.discriminator_start_step)
            done += 1
            if done >= steps:
                break
        epoch += 1
    return time.perf_counter() - start


def held_back_clips(trainer: Any, limit: int) -> list[Tensor]:
    """Up to ``limit`` validation clips at the config's rate (peak-normalised if it says so)."""
    from audiogan.audio.io import load_audio, peak_normalize
    from audiogan.data import read_manifest

    config = trainer.config
    clips = []
    for entry in read_manifest(config.data.valid)[:limit]:
        wave, _ = load_audio(entry.path, sample_rate=config.sample_rate)
        if config.data.normalize == "peak":
            wave = peak_normalize(wave)
        clips.append(wave.reshape(-1))
    return clips


# --------------------------------------------------------------------------- CLI


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=Path("recipes/tiny/hifigan.yaml"))
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="config override (repeatable)")
    parser.add_argument("--steps", type=int, default=2000, help="training steps per model")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--utterances", type=int, default=120, help="synthetic corpus size")
    parser.add_argument("--eval-clips", type=int, default=8, help="held-back clips scored")
    parser.add_argument("--no-peer", action="store_true", help="train ours only")
    parser.add_argument("--out-dir", type=Path, default=None,
                        help="keep the corpus and our run dir here (default: temporary)")
    parser.add_argument("--tiny", action="store_true",
                        help="CPU smoke run: 12 short utterances, 10 steps, batch 2 x 2048")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.tiny:
        args.overrides = [*TINY_OVERRIDES, *args.overrides]
        args.utterances, args.steps, args.eval_clips = min(args.utterances, 12), 10, 2
    args.overrides += ["training.num_workers=0", f"training.valid_every={args.steps}",
                       f"training.checkpoint_every={args.steps}",
                       f"training.log_every={max(1, args.steps // 10)}"]
    if args.steps < 1:
        parser.error("--steps must be >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Train, evaluate and print the comparison table."""
    import train_throughput

    from audiogan.config.build import generator_from_config

    args = parse_args(argv)
    bc.set_threads(args.threads)
    device = bc.resolve_device(args.device)
    status = __import__("peers").peer_status()
    with tempfile.TemporaryDirectory(prefix="audiogan_quality_") as tmp:
        root = args.out_dir or Path(tmp)
        duration = (0.5, 1.0) if args.tiny else (1.0, 3.0)
        trainer = train_throughput.build_trainer(
            args.config, device=str(device), run_dir=root / "run", corpus_dir=root / "corpus",
            overrides=args.overrides, utterances=args.utterances, duration_range=duration,
            discriminator_from_start=False,
        )
        config = trainer.config
        info = bc.machine_info(device)
        print(f"# quality: {args.config} ({config.generator.name}), {args.steps} steps, batch "
              f"{config.training.batch_size} x {config.training.segment_length}, on "
              f"{info.get('gpu', info['cpu'])}, torch {info['torch']}, load {bc.load_string()}",
              flush=True)
        clips = held_back_clips(trainer, args.eval_clips)
        hop = int(trainer.generator.hop_length)
        features = trainer.features
        torch.manual_seed(config.training.seed)
        untrained = bc.prepare_for_inference(generator_from_config(config), device)
        rows: list[dict[str, Any]] = [{
            "model": f"untrained {config.generator.name}", "steps": 0, "train_s": 0.0,
            "clips": len(clips),
            **evaluate(untrained, features, clips, config.sample_rate, device, hop)}]

        peer = None
        if args.no_peer:
            print("peer: skipped (--no-peer)")
        elif status["parallel_wavegan"] is not None:
            print(f"SKIP peer: parallel_wavegan is not importable ({status['parallel_wavegan']});"
                  " see benchmarks/README.md for its venv", flush=True)
        elif config.generator.name != "hifigan":
            print(f"SKIP peer: no ParallelWaveGAN counterpart wired for "
                  f"{config.generator.name!r} (only hifigan)", flush=True)
        else:
            peer = peer_step_for(trainer, device)

        seconds = train_ours(trainer, args.steps)
        rows.append({"model": f"ours {config.generator.name}", "steps": args.steps,
                     "train_s": seconds, "clips": len(clips),
                     **evaluate(bc.prepare_for_inference(copy.deepcopy(trainer.generator),
                                                         device),
                                features, clips, config.sample_rate, device, hop)})
        if peer is not None:
            seconds = train_peer(peer, trainer, args.steps, device)
            rows.append({"model": "ParallelWaveGAN hifigan", "steps": args.steps,
                         "train_s": seconds, "clips": len(clips),
                         **evaluate(peer.inference_generator(), features, clips,
                                    config.sample_rate, device, hop)})
    info["load_average_end"] = list(bc.load_average())
    if args.json is not None:
        bc.write_json(args.json, {"benchmark": "quality", "machine": info,
                                  "config": str(args.config), "overrides": args.overrides,
                                  "steps": args.steps, "rows": rows})
    print()
    print(bc.format_table(rows, COLUMNS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
