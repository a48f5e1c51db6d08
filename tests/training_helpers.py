"""Tiny corpora and configs shared by the trainer tests (test_trainer, test_training_state,
test_distributed, test_rundir, test_stopping, test_cli_eval, test_demo, _inference_runs).

The configs are the packaged tiny recipes (:mod:`audiogan.recipes`) plus overrides."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import yaml

from audiogan.config import Config
from audiogan.recipes import load_tiny_recipe, path_override

SR = 22050


def _write_corpus(root: Path, n: int = 8, seconds: float = 0.6, sr: int = SR,
                  labels: bool = False) -> Path:
    """Chirps with harmonics at varied pitch; returns the manifest path."""
    root.mkdir(parents=True, exist_ok=True)
    header = "path\tnum_samples\tsample_rate" + ("\tlabel" if labels else "")
    rows = [header]
    rng = np.random.default_rng(0)
    for i in range(n):
        t = np.arange(int(sr * seconds)) / sr
        f0 = 110 + 15 * i + 40 * t
        phase = 2 * np.pi * np.cumsum(f0) / sr
        x = sum(0.25 / k * np.sin(k * phase) for k in range(1, 6))
        x = (x + 0.01 * rng.standard_normal(t.size)).astype(np.float32)
        sf.write(root / f"clip{i}.wav", x, sr)
        rows.append(f"clip{i}.wav\t{t.size}\t{sr}" + (f"\t{'ab'[i % 2]}" if labels else ""))
    (root / "train.tsv").write_text("\n".join(rows) + "\n")
    (root / "valid.tsv").write_text("\n".join(rows[:3]) + "\n")
    return root / "train.tsv"


SMALL_HIFIGAN = (
    "generator.params.upsample_initial_channel=16",
    "generator.params.resblock_kernel_sizes=[3]",
    "generator.params.resblock_dilation_sizes=[[1, 3]]",
    "discriminator.params.periods=[2, 3]",
    "discriminator.params.scales=1",
    "discriminator.params.mpd_params={channels: [4, 8, 16, 16, 16]}",
    "discriminator.params.msd_params={channels: [16, 16, 32, 32, 32, 32, 32]}",
)
"""Overrides that shrink a HiFi-GAN V1 recipe (tiny or full-size) to a few seconds per step."""


def _value(value: object) -> str:
    """``value`` as the YAML text of a ``key=value`` override (reads back as the same value)."""
    return yaml.safe_dump(value, default_flow_style=True, width=10**9).removesuffix("...\n").strip()


def _training(values: dict[str, object]) -> list[str]:
    return [f"training.{key}={_value(value)}" for key, value in values.items()]


def vocoder_config(data: Path, *overrides: str, **training) -> Config:
    """The tiny HiFi-GAN recipe shrunk further (16 channels, one resblock, slim discriminators),
    default optimiser and no loudness normalisation, a few steps; then ``overrides``
    (``key=value``) and ``training`` (``training.<key>`` values)."""
    return load_tiny_recipe("hifigan", [
        *SMALL_HIFIGAN, "optim.generator.lr=2.0e-4", "optim.discriminator.lr=2.0e-4",
        "data.normalize=none",
        *overrides,
        *_training({"segment_length": 2048, "max_steps": 4, "discriminator_start_step": 0,
                    "log_every": 1, "valid_every": 1000, "checkpoint_every": 2, "keep_last": 5,
                    "valid_clips": 1, "num_samples": 1, "seed": 7, **training}),
        path_override("data.train", data / "train.tsv"),
        path_override("data.valid", data / "valid.tsv"),
    ])


def wavegan_config(data: Path, *overrides: str, **training) -> Config:
    """The tiny WaveGAN recipe at d=4 with two classes (named by the clips' labels), a few
    steps; then ``overrides`` (``key=value``) and ``training`` (``training.<key>`` values)."""
    return load_tiny_recipe("wavegan", [
        "generator.params.model_size=4", "generator.params.num_classes=2",
        "discriminator.params.model_size=4", "discriminator.params.num_classes=2", *overrides,
        *_training({"batch_size": 4, "max_steps": 3, "n_critic": 2, "log_every": 1,
                    "valid_every": 1000, "checkpoint_every": 1000, "keep_last": 5,
                    "num_samples": 2, "seed": 3, **training}),
        "data.labels=null", path_override("data.train", data / "train.tsv"),
    ])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _capture(store: dict):
    def hook(part: str, step: int, model: torch.nn.Module) -> None:
        if step == 0:
            store[part] = {n: p.grad.detach().clone() for n, p in model.named_parameters()
                           if p.grad is not None}
    return hook


def assert_resume_is_exact(config: Config, root: Path) -> None:
    """Train ``config`` 4 steps straight and 2 + 2 with a resume in between (checkpoints every
    2 steps); the step-4 weights of generator and discriminator must be bit-identical."""
    from audiogan.training import checkpoint as ckpt
    from audiogan.training.trainer import Trainer

    Trainer(config, root / "straight", device="cpu", console=False).fit()
    Trainer(config, root / "split", device="cpu", console=False).fit(max_steps=2)
    Trainer(config, root / "split", device="cpu", resume=True, console=False).fit()
    a = ckpt.load_checkpoint(ckpt.step_path(root / "straight", 4))
    b = ckpt.load_checkpoint(ckpt.step_path(root / "split", 4))
    for part in ("generator", "discriminator"):
        for key, value in a[part].items():
            assert torch.equal(value, b[part][key]), f"{part}.{key} differs after resume"
