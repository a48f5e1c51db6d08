"""Validation during training: copy-synthesis distances for vocoders, sample clips otherwise."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from audiogan.audio.io import load_audio, peak_normalize, save_audio
from audiogan.config import Config
from audiogan.data.manifest import read_manifest
from audiogan.features.mel import MelSpectrogram
from audiogan.models.randomness import keyed_latents, sample_key
from audiogan.training.monitor import NullMonitor


@torch.no_grad()
def validate_vocoder(
    model: nn.Module,
    *,
    config: Config,
    features: MelSpectrogram,
    mel_metric: nn.Module | None,
    stft_metric: nn.Module,
    device: torch.device,
    sample_dir: Path,
    monitor: NullMonitor,
    step: int,
) -> dict[str, float]:
    """Copy-synthesise up to ``training.valid_clips`` clips of ``data.valid``.

    Returns:
        ``{"mr_stft": mean multi-resolution STFT distance, "mel_l1": mean loss-mel L1}``
        (``mel_l1`` only when the recipe has a mel loss); empty without a valid manifest.
        The first ``training.num_samples`` clips are written to ``sample_dir`` and logged.
    """
    t = config.training
    if not config.data.valid:
        return {}
    hop = config.features.hop_length
    mel_l1, stft = [], []
    for i, entry in enumerate(read_manifest(config.data.valid)[: t.valid_clips]):
        wave, _ = load_audio(entry.path, sample_rate=config.sample_rate)
        if config.data.normalize == "peak":
            wave = peak_normalize(wave)
        wave = wave[:, : wave.shape[-1] // hop * hop].to(device)
        if wave.shape[-1] == 0:
            continue
        mel = features(wave)[..., : wave.shape[-1] // hop]
        fake = model(mel).float()
        real = wave.unsqueeze(0)
        if mel_metric is not None:
            mel_l1.append(float(mel_metric(fake, real)))
        stft.append(float(stft_metric(fake, real)))
        if i < t.num_samples:
            save_audio(sample_dir / f"{Path(entry.path).stem}.wav", fake[0, 0].cpu(),
                       config.sample_rate)
            monitor.audio(step, f"valid/{i}", fake[0, 0], config.sample_rate)
            monitor.image(step, f"valid_mel/{i}", features(fake[0])[0])
    out = {"mr_stft": sum(stft) / max(len(stft), 1)}
    if mel_l1:
        out["mel_l1"] = sum(mel_l1) / len(mel_l1)
    return out


@torch.no_grad()
def sample_clips(
    model: nn.Module,
    *,
    config: Config,
    classes: list[str] | None,
    device: torch.device,
    sample_dir: Path,
    monitor: NullMonitor,
    step: int,
) -> dict[str, float]:
    """Generate ``training.num_samples`` clips from fixed latents (cycling through classes).

    Files are ``{class}_{i:05d}.wav`` (``any`` when unconditional). Returns the clips' RMS and
    whether all samples are finite.
    """
    t = config.training
    n = t.num_samples
    z = keyed_latents(model, [sample_key(t.seed, 0, 7, i) for i in range(n)], device)
    labels = None
    if model.num_classes:
        labels = torch.arange(n, device=device) % model.num_classes
    clips = model(z, labels).float().cpu()
    for i, clip in enumerate(clips):
        name = classes[int(labels[i])] if labels is not None and classes else "any"
        save_audio(sample_dir / f"{name}_{i:05d}.wav", clip[0], config.sample_rate)
        monitor.audio(step, f"sample/{i}", clip[0], config.sample_rate)
    return {"sample_rms": float(clips.pow(2).mean().sqrt()),
            "sample_finite": float(torch.isfinite(clips).all())}
