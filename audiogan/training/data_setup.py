"""The training data of a run: the dataset its model kind chooses, its sampler, and
the feature statistics some recipes normalise with (moved out of the trainer, unchanged)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor

from audiogan.audio.io import load_audio, peak_normalize
from audiogan.config import Config, ConfigError
from audiogan.data.manifest import read_manifest
from audiogan.data.sampler import ResumableSampler
from audiogan.features.mel import MelSpectrogram, compute_stats
from audiogan.inference.kinds import ModelKind
from audiogan.training.distributed import DistContext

log = logging.getLogger(__name__)


def build_training_data(
    config: Config, *, kind: ModelKind, hop_length: int, dist: DistContext
) -> tuple[torch.utils.data.Dataset, ResumableSampler]:
    """The training dataset and its resumable ``(epoch, index)`` sampler for this rank.

    The dataset is the model kind's choice (:meth:`ModelKind.training_dataset`): vocoders get
    waveform segments of ``training.segment_length`` samples, or (mel, wave) pairs when the
    manifest has a ``mel_path`` column; unconditional generators get whole clips of
    ``hop_length`` samples.

    Raises:
        ConfigError: no ``data.train``, or fewer clips than ``training.batch_size``.
    """
    c, t = config, config.training
    if not c.data.train:
        raise ConfigError("data.train: give the training manifest (TSV)")
    dataset: Any = kind.training_dataset(config, read_manifest(c.data.train), hop_length)
    if len(dataset) < t.batch_size:
        raise ConfigError(
            f"{c.data.train}: {len(dataset)} clips are fewer than training.batch_size="
            f"{t.batch_size}"
        )
    sampler = ResumableSampler(
        len(dataset), seed=t.seed, rank=dist.rank, world_size=dist.world_size, with_epoch=True,
    )
    return dataset, sampler


def compute_feature_stats(features: MelSpectrogram, config: Config, device: torch.device,
                          max_clips: int = 1000) -> None:
    """Set ``features``' z-normalisation statistics from (up to) ``max_clips`` training clips.

    ``features`` maps a wave ``(1, samples)`` to features ``(1, n_mels, frames)`` and has
    ``set_stats(mean, scale)`` (per-channel ``(n_mels,)`` tensors, or None to switch off).

    Raises:
        ConfigError: no ``data.train``.
    """
    if not config.data.train:
        raise ConfigError("data.train: give the training manifest (TSV)")
    entries = read_manifest(config.data.train)[:max_clips]

    def mels() -> Iterator[Tensor]:
        for entry in entries:
            wave, _ = load_audio(entry.path, sample_rate=config.sample_rate)
            if config.data.normalize == "peak":
                wave = peak_normalize(wave)
            yield features(wave.to(device))

    features.set_stats(None, None)
    mean, scale = compute_stats(mels())
    features.set_stats(mean.to(device), scale.to(device))
    log.info("feature statistics computed over %d clips", len(entries))
