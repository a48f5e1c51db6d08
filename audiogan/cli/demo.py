"""``audiogan demo``: the whole pipeline on the embedded synthetic corpus, on CPU, in minutes.

1. Synthesise a speech-like corpus (22.05 kHz) and a digit-like clip set (16 kHz).
2. Train a small HiFi-GAN vocoder (mel loss warm-up, then the discriminators join).
3. Train a small class-conditional WaveGAN (WGAN-GP) for a few steps.
4. Copy-synthesise the held-back clips with the untrained and the trained vocoder and report the
   log-mel L1 of each; write clips to listen to.

Both models are the package's tiny recipes (:mod:`audiogan.recipes`: ``hifigan``, ``wavegan``)
with the demo's schedule and data as explicit overrides.

Running the demo again into the same directory retrains both models from scratch (the runs are
the demo's own: ``--overwrite`` semantics); a second demo running into the same directory at the
same time stops at once with one line naming the first one's pid (the run directory's lock).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from audiogan.audio.io import load_audio, save_audio
from audiogan.config import Config, save_config
from audiogan.config.build import features_from_config, generator_from_config
from audiogan.data.manifest import read_manifest
from audiogan.data.synthetic import build_synthetic_clips, build_synthetic_corpus
from audiogan.inference.kinds import copy_synthesis
from audiogan.inference.synthesis import synthesize
from audiogan.models.base import Generator
from audiogan.recipes import load_tiny_recipe, path_override
from audiogan.training.trainer import Trainer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoResult:
    """What the demo produced and measured."""

    out_dir: Path
    untrained_mel_l1: float
    trained_mel_l1: float
    vocoder_run: Path
    wavegan_run: Path
    vocoder_clips: list[Path]
    wavegan_clips: list[Path]
    seconds: float


def vocoder_config(train: Path, valid: Path, *, quick: bool) -> Config:
    """The tiny HiFi-GAN recipe (V1 layout, 32 initial channels, slim discriminators) with the
    demo's schedule: the mel-loss warm-up for 80% of the steps, then the discriminators join."""
    steps = 300 if quick else 1200
    return load_tiny_recipe("hifigan", [
        f"training.max_steps={steps}", f"training.discriminator_start_step={int(steps * 0.8)}",
        "training.log_every=25", f"training.valid_every={steps}",
        f"training.checkpoint_every={steps}", "training.keep_last=1", "training.valid_clips=4",
        "training.num_samples=4",
        path_override("data.train", train), path_override("data.valid", valid),
    ])


def wavegan_config(train: Path, *, quick: bool) -> Config:
    """The tiny class-conditional WaveGAN recipe (d=8, WGAN-GP) with the demo's schedule; the
    class names come from the clips' labels (``data.labels`` unset)."""
    steps = 4 if quick else 60
    return load_tiny_recipe("wavegan", [
        f"training.max_steps={steps}", "training.log_every=2", f"training.valid_every={steps}",
        f"training.checkpoint_every={steps}", "training.keep_last=1", "data.labels=null",
        path_override("data.train", train),
    ])


@torch.no_grad()
def copy_synthesis_mel_l1(generator: Generator, config: Config, manifest: Path,
                          out_dir: Path | None = None) -> tuple[float, list[Path]]:
    """Mean log-mel L1 (natural-log units) between clips and their copy synthesis.

    Args:
        generator: a mel -> wave generator (eval mode).
        config: its config (features, sample rate).
        manifest: clips to resynthesise.
        out_dir: where to write the resynthesised clips (optional).
    """
    features = features_from_config(config)
    hop = features.hop_length
    distances, written = [], []
    for entry in read_manifest(manifest):
        wave, _ = load_audio(entry.path, sample_rate=config.sample_rate)
        _, mel, fake = copy_synthesis(lambda m: synthesize(generator, m), features, wave,
                                      hop_length=hop)
        fake = fake.reshape(1, -1)
        distances.append(float((features(fake) - mel).abs().mean()))
        if out_dir is not None:
            written.append(save_audio(out_dir / f"{Path(entry.path).stem}.wav", fake[0],
                                      config.sample_rate))
    return sum(distances) / len(distances), written


def train_fresh(config: Config, run_dir: Path, *, console: bool) -> Trainer:
    """Train ``config`` from scratch into ``run_dir`` on CPU (replacing an earlier demo run)."""
    trainer = Trainer(config, run_dir, device="cpu", console=console, overwrite=True)
    trainer.fit()
    return trainer


def run_demo(out_dir: str | Path = "runs/demo", *, quick: bool = False,
             console: bool = True) -> DemoResult:
    """Run the demo end to end; returns the paths and the measured log-mel L1 values."""
    start = time.perf_counter()
    out = Path(out_dir)
    speech = build_synthetic_corpus(
        out / "data" / "speech", num_utterances=40 if quick else 160, seed=0,
        valid_fraction=0.1,
    )
    digits = build_synthetic_clips(out / "data" / "digits", num_clips=80 if quick else 400,
                                   seed=0)

    voc_config = vocoder_config(speech["train"], speech["valid"], quick=quick)
    torch.manual_seed(voc_config.training.seed)
    untrained = generator_from_config(voc_config).eval()
    before, _ = copy_synthesis_mel_l1(untrained, voc_config, speech["valid"])

    vocoder_run = out / "hifigan"
    log.info("training a small HiFi-GAN for %d steps", voc_config.training.max_steps)
    trainer = train_fresh(voc_config, vocoder_run, console=console)
    after, clips = copy_synthesis_mel_l1(trainer.eval_generator(), voc_config,
                                         speech["valid"], out / "clips" / "hifigan")

    wave_config = wavegan_config(digits["train"], quick=quick)
    wavegan_run = out / "wavegan"
    log.info("training a small WaveGAN for %d steps", wave_config.training.max_steps)
    train_fresh(wave_config, wavegan_run, console=console)
    samples = sorted((wavegan_run / "samples").glob("step_*/*.wav"))
    last_step = samples[-1].parent if samples else None
    wavegan_clips = sorted(last_step.glob("*.wav")) if last_step else []
    save_config(voc_config, out / "hifigan.yaml")
    save_config(wave_config, out / "wavegan.yaml")
    return DemoResult(out, before, after, vocoder_run, wavegan_run, clips, wavegan_clips,
                      time.perf_counter() - start)


def summary_lines(result: DemoResult) -> list[str]:
    """Human-readable summary for the CLI."""
    ratio = result.trained_mel_l1 / max(result.untrained_mel_l1, 1e-12)
    lines: list[Any] = [
        f"demo finished in {result.seconds:.0f} s; everything is under {result.out_dir}",
        f"copy-synthesis log-mel L1 on held-back clips: untrained {result.untrained_mel_l1:.3f}"
        f" -> trained {result.trained_mel_l1:.3f} ({ratio:.0%} of untrained)",
        f"vocoder run: {result.vocoder_run} (resynthesised clips in "
        f"{result.out_dir / 'clips' / 'hifigan'})",
        f"WaveGAN run: {result.wavegan_run} ({len(result.wavegan_clips)} generated clips in "
        f"{result.wavegan_clips[0].parent if result.wavegan_clips else '-'})",
    ]
    return lines
