"""Tiny trained runs shared by the inference tests (test_vocoder, test_export, test_cli_inference).

Each run is trained once per test session (a few seconds on 2 cores) and cached here; the
fixtures of the three test files call :func:`vocoder_run` / :func:`wavegan_run`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import torch
from training_helpers import vocoder_config as tiny_vocoder_config
from training_helpers import wavegan_config as tiny_wavegan_config

from audiogan.config import Config, config_from_dict
from audiogan.models import build_generator
from audiogan.training.trainer import Trainer

SR = 22050
TINY_HIFIGAN: dict[str, Any] = {
    "preset": "v1", "upsample_initial_channel": 16, "resblock_kernel_sizes": [3],
    "resblock_dilation_sizes": [[1, 3]],
}


def write_corpus(root: Path, n: int = 4, seconds: float = 0.5, sr: int = SR,
                 labels: bool = False) -> Path:
    """Harmonic chirps as WAVs plus train.tsv / valid.tsv; returns ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    rows = ["path\tnum_samples\tsample_rate" + ("\tlabel" if labels else "")]
    rng = np.random.default_rng(0)
    for i in range(n):
        t = np.arange(int(sr * seconds)) / sr
        phase = 2 * np.pi * np.cumsum(110 + 15 * i + 40 * t) / sr
        x = sum(0.25 / k * np.sin(k * phase) for k in range(1, 6))
        x = (x + 0.01 * rng.standard_normal(t.size)).astype(np.float32)
        sf.write(root / f"clip{i}.wav", x, sr)
        rows.append(f"clip{i}.wav\t{t.size}\t{sr}" + (f"\t{'ab'[i % 2]}" if labels else ""))
    (root / "train.tsv").write_text("\n".join(rows) + "\n")
    (root / "valid.tsv").write_text("\n".join(rows[:2]) + "\n")
    return root


def vocoder_config(data: Path, profile: str = "hifigan", **training: Any) -> Config:
    """A tiny HiFi-GAN recipe: generator-only (mel loss) steps, EMA on."""
    return tiny_vocoder_config(data, "discriminator.params.periods=[2]",
                               f"features.profile={profile}", **{
        "batch_size": 2, "max_steps": 2, "valid_every": 2, "checkpoint_every": 1,
        "discriminator_start_step": 100, "ema_decay": 0.5, **training})


def wavegan_config(data: Path, num_classes: int = 2) -> Config:
    """A tiny (class-conditional) WaveGAN recipe at 16 kHz."""
    return tiny_wavegan_config(data, f"generator.params.num_classes={num_classes}",
                               f"discriminator.params.num_classes={num_classes}",
                               "optim={}",  # the default optimisers
                               batch_size=2, max_steps=1, n_critic=1)


@dataclass
class Run:
    """A trained run: its directory, the trainer (training-time generator) and a clip."""

    run_dir: Path
    trainer: Trainer
    wave: torch.Tensor  # (T,) a training clip at the run's sample rate


_CACHE: dict[str, Run] = {}


def vocoder_run(factory: pytest.TempPathFactory) -> Run:
    """The tiny HiFi-GAN trained 2 steps (EMA decay 0.5): checkpoints step 1, 2 and best."""
    if "vocoder" not in _CACHE:
        data = write_corpus(factory.mktemp("voc_corpus"))
        run_dir = factory.mktemp("voc_run")
        trainer = Trainer(vocoder_config(data), run_dir, device="cpu", console=False)
        trainer.fit()
        wave, _ = sf.read(data / "clip0.wav", dtype="float32")
        _CACHE["vocoder"] = Run(run_dir, trainer, torch.from_numpy(wave))
    return _CACHE["vocoder"]


def wavegan_run(factory: pytest.TempPathFactory) -> Run:
    """The tiny class-conditional WaveGAN (classes "a", "b") trained 1 step."""
    if "wavegan" not in _CACHE:
        data = write_corpus(factory.mktemp("wg_corpus"), seconds=1.0, sr=16000, labels=True)
        run_dir = factory.mktemp("wg_run")
        trainer = Trainer(wavegan_config(data), run_dir, device="cpu", console=False)
        trainer.fit()
        _CACHE["wavegan"] = Run(run_dir, trainer, torch.zeros(0))
    return _CACHE["wavegan"]


_TINY_PARAMS: dict[str, dict[str, Any]] = {
    "hifigan": TINY_HIFIGAN,
    "melgan": {"channels": 16},
    "multiband_melgan": {"channels": 16},
    "istft": {"preset": "small", "dim": 16, "intermediate_dim": 32, "num_layers": 2},
    "bigvgan": {"preset": "base_22khz_80band", "upsample_initial_channel": 16},
    "parallel_wavegan": {"layers": 4, "stacks": 2, "residual_channels": 8, "gate_channels": 16,
                         "skip_channels": 8},
}


def tiny_config(name: str) -> Config:
    """A 22.05 kHz, hop-256 recipe whose generator is a small ``name`` (for building only)."""
    return config_from_dict({
        "generator": {"name": name, "params": dict(_TINY_PARAMS[name])},
        "discriminator": {"name": "combined", "params": {}},
    })


def tiny_generator(name: str, n_mels: int = 80) -> torch.nn.Module:
    """Small untrained mel generators of every architecture, hop 256 (seeded)."""
    torch.manual_seed(0)
    return build_generator(name, in_channels=n_mels, **_TINY_PARAMS[name])
