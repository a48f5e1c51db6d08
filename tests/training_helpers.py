"""Tiny corpora and configs shared by the trainer tests (test_trainer, test_training_state,
test_distributed, test_rundir, test_stopping, test_cli_eval, test_demo)."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from audiogan.config import Config, config_from_dict

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


def vocoder_config(data: Path, **training) -> Config:
    return config_from_dict({
        "sample_rate": SR,
        "generator": {"name": "hifigan", "params": {
            "preset": "v1", "upsample_initial_channel": 16, "resblock_kernel_sizes": [3],
            "resblock_dilation_sizes": [[1, 3]]}},
        "discriminator": {"name": "combined", "params": {
            "periods": [2, 3], "scales": 1,
            "mpd_params": {"channels": [4, 8, 16, 16, 16]},
            "msd_params": {"channels": [16, 16, 32, 32, 32, 32, 32]}}},
        "training": {"batch_size": 4, "segment_length": 2048, "max_steps": 4, "num_workers": 0,
                     "log_every": 1, "valid_every": 1000, "checkpoint_every": 2,
                     "valid_clips": 1, "num_samples": 1, "seed": 7, **training},
        "data": {"train": str(data / "train.tsv"), "valid": str(data / "valid.tsv")},
    })


def wavegan_config(data: Path, **training) -> Config:
    return config_from_dict({
        "sample_rate": 16000,
        "features": {"profile": "hifigan", "f_max": None},
        "generator": {"name": "wavegan", "params": {"model_size": 4, "num_classes": 2}},
        "discriminator": {"name": "wavegan", "params": {"model_size": 4, "num_classes": 2}},
        "loss": {"adversarial": "wgan_gp", "weights": {"adversarial": 1.0}},
        "optim": {"generator": {"name": "adam", "lr": 1e-4, "betas": [0.5, 0.9],
                                "weight_decay": 0},
                  "discriminator": {"name": "adam", "lr": 1e-4, "betas": [0.5, 0.9],
                                    "weight_decay": 0}},
        "scheduler": {"name": "none"},
        "training": {"batch_size": 4, "segment_length": 16384, "max_steps": 3, "n_critic": 2,
                     "num_workers": 0, "log_every": 1, "valid_every": 1000,
                     "checkpoint_every": 1000, "num_samples": 2, "seed": 3, **training},
        "data": {"train": str(data / "train.tsv")},
    })


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
