"""A small spoken-digit (or any word) classifier for scoring unconditional waveform GANs.

Trained by the toolkit (``audiogan train-classifier``) on labelled one-word clips (SC09 / Speech
Commands digits, FSDD, or :func:`audiogan.data.synthetic.build_synthetic_clips`), it gives:

- class probabilities ``p(y|x)`` for the inception score
(:func:`audiogan.evaluation.metrics.inception_score`);
- embeddings (the penultimate layer) for the Fréchet distance between generated and real clips
  (:func:`audiogan.evaluation.metrics.frechet_distance`);
- its accuracy on held-back real clips, reported beside those scores so a reader can judge how
  far to trust them.

Model: log-mel spectrogram (``hifigan`` profile conventions, sizes in
:class:`ClassifierConfig`), standardised per clip (so the level does not matter), then
``len(channels)`` blocks of 3x3 conv, batch norm, ReLU and 2x2 max-pooling, the global average
and maximum over frequency and time (concatenated), a linear layer with ReLU (the embedding) and
a linear classifier.
Every clip is resampled to ``sample_rate``, peak-normalised and centre-cropped or zero-padded to
``clip_length`` samples first (:func:`prepare_clips`).

Checkpoints are single ``.safetensors`` files: the weights plus JSON metadata (format tag,
config, class names, training metrics). Loading never executes code from the file.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from audiogan.audio.io import peak_normalize, resample
from audiogan.core.errors import AudioganError
from audiogan.data.datasets import PEAK_LEVEL
from audiogan.features.mel import MelSpectrogram

if TYPE_CHECKING:  # at run time they come from __getattr__ below (they import this module)
    from audiogan.evaluation.classifier_files import load_classifier, save_classifier
    from audiogan.evaluation.classifier_fit import (
        ClassifierTrainResult,
        split_held_back,
        train_classifier,
    )

__all__ = [
    "CHECKPOINT_FORMAT",
    "ClassifierConfig",
    "ClassifierError",
    "ClassifierTrainResult",
    "DigitClassifier",
    "Predictions",
    "load_classifier",
    "predict",
    "prepare_clips",
    "save_classifier",
    "split_held_back",
    "train_classifier",
]

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "audiogan-classifier"
_CHECKPOINT_VERSION = "1"
DEFAULT_NAME = "classifier.safetensors"


class ClassifierError(AudioganError, ValueError):
    """A classifier cannot be trained or loaded; the one-line message names the file or data."""


@dataclass(frozen=True)
class ClassifierConfig:
    """Architecture and input convention of a :class:`DigitClassifier`.

    Attributes:
        classes: Class names; positions are the label ids.
        sample_rate: Rate of the input clips in Hz.
        clip_length: Samples per clip (16000 = 1 s at 16 kHz, the SC09 length).
        n_fft: FFT and window size of the log-mel front end (512 = 32 ms at 16 kHz).
        hop_length: Frame shift (160 = 10 ms at 16 kHz).
        n_mels: Mel bands (20 Hz to sr/2).
        channels: Output channels of the conv blocks (each halves the mel and frame axes).
        embedding_dim: Size of the embedding used for the Fréchet distance.
        dropout: Dropout before the final layer (training only).
    """

    classes: tuple[str, ...]
    sample_rate: int = 16000
    clip_length: int = 16000
    n_fft: int = 512
    hop_length: int = 160
    n_mels: int = 64
    channels: tuple[int, ...] = (16, 32, 64, 128)
    embedding_dim: int = 128
    dropout: float = 0.2

    def __post_init__(self) -> None:
        if len(self.classes) < 2:
            raise ClassifierError(f"a classifier needs at least 2 classes, got {self.classes}")
        if len(set(self.classes)) != len(self.classes):
            raise ClassifierError(f"class names must be unique, got {self.classes}")
        if not self.channels or min(self.channels) < 1 or self.embedding_dim < 1:
            raise ClassifierError("channels and embedding_dim must be positive")
        if self.clip_length < self.n_fft:
            raise ClassifierError(f"clip_length {self.clip_length} is shorter than n_fft")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples as lists)."""
        data = asdict(self)
        data["classes"] = list(self.classes)
        data["channels"] = list(self.channels)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClassifierConfig:
        """Inverse of :meth:`to_dict`; unknown keys are errors."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ClassifierError(
                f"unknown classifier config keys {unknown}; valid: {sorted(known)}"
            )
        values = dict(data)
        values["classes"] = tuple(str(c) for c in values["classes"])
        if "channels" in values:
            values["channels"] = tuple(int(c) for c in values["channels"])
        return cls(**values)


class DigitClassifier(nn.Module):
    """Log-mel CNN: waveform clips -> class logits, with an embedding layer for the FD.

    Args:
        config: Architecture and input convention.
    """

    def __init__(self, config: ClassifierConfig) -> None:
        super().__init__()
        self.config = config
        self.features = MelSpectrogram(
            "hifigan",
            sample_rate=config.sample_rate,
            n_fft=config.n_fft,
            hop_length=config.hop_length,
            win_length=config.n_fft,
            n_mels=config.n_mels,
            f_min=20.0,
            f_max=None,
        )
        blocks: list[nn.Module] = []
        in_channels = 1
        for out_channels in config.channels:
            blocks += [
                nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2, ceil_mode=True),
            ]
            in_channels = out_channels
        self.body = nn.Sequential(*blocks)
        self.embedding = nn.Sequential(
            nn.Linear(2 * in_channels, config.embedding_dim), nn.ReLU()
        )
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.embedding_dim, len(config.classes))
        self.training_metrics: dict[str, Any] = {}

    @property
    def classes(self) -> tuple[str, ...]:
        """Class names by label id."""
        return self.config.classes

    def embed(self, wave: Tensor) -> Tensor:
        """Embeddings of prepared clips.

        Args:
            wave: ``(B, T)`` or ``(B, 1, T)`` clips at ``config.sample_rate``.

        Returns:
            ``(B, embedding_dim)``.
        """
        if wave.dim() == 3:
            wave = wave.squeeze(1)
        mel = self.features(wave.float())  # (B, n_mels, frames), ln magnitude
        mean = mel.mean(dim=(1, 2), keepdim=True)
        std = mel.std(dim=(1, 2), keepdim=True).clamp_min(1e-5)
        hidden = self.body(((mel - mean) / std).unsqueeze(1))  # (B, C, m, f)
        pooled = torch.cat([hidden.mean(dim=(2, 3)), hidden.amax(dim=(2, 3))], dim=1)
        return self.embedding(pooled)

    def forward(self, wave: Tensor) -> Tensor:
        """Class logits.

        Args:
            wave: ``(B, T)`` or ``(B, 1, T)`` clips at ``config.sample_rate``.

        Returns:
            ``(B, num_classes)`` logits.
        """
        return self.head(self.dropout(self.embed(wave)))


# --------------------------------------------------------------------------- inputs


def prepare_clips(
    waves: Sequence[Tensor | np.ndarray] | Tensor, sample_rate: int, config: ClassifierConfig
) -> Tensor:
    """Resample, peak-normalise and centre-crop/pad clips to the classifier's convention.

    Args:
        waves: ``(N, T)`` tensor or a sequence of ``(T,)`` / ``(1, T)`` waveforms.
        sample_rate: Their rate in Hz.
        config: The classifier's config.

    Returns:
        ``(N, clip_length)`` float32 at ``config.sample_rate``.
    """
    items = list(waves) if not isinstance(waves, Tensor) else list(waves.reshape(len(waves), -1))
    out = torch.zeros(len(items), config.clip_length, dtype=torch.float32)
    for row, item in enumerate(items):
        wave = torch.as_tensor(np.asarray(item) if not isinstance(item, Tensor) else item)
        wave = wave.detach().to("cpu", torch.float32).reshape(-1)
        wave = resample(wave, sample_rate, config.sample_rate)
        wave = peak_normalize(wave, PEAK_LEVEL)
        length, size = wave.numel(), config.clip_length
        if length >= size:
            start = (length - size) // 2
            out[row] = wave[start : start + size]
        else:
            start = (size - length) // 2
            out[row, start : start + length] = wave
    return out


class Predictions(NamedTuple):
    """What :func:`predict` returns.

    Attributes:
        probabilities: ``(N, num_classes)`` softmax outputs.
        embeddings: ``(N, embedding_dim)``.
    """

    probabilities: Tensor
    embeddings: Tensor

    @property
    def labels(self) -> Tensor:
        """``(N,)`` most likely label ids."""
        return self.probabilities.argmax(dim=1)


@torch.inference_mode()
def predict(classifier: DigitClassifier, clips: Tensor, *, batch_size: int = 64) -> Predictions:
    """Probabilities and embeddings of prepared clips (eval mode, batched).

    Args:
        classifier: The model (left in eval mode).
        clips: ``(N, clip_length)`` from :func:`prepare_clips`.
        batch_size: Clips per forward pass.

    Returns:
        :class:`Predictions` on the CPU.
    """
    classifier.eval()
    device = next(classifier.parameters()).device
    probabilities, embeddings = [], []
    for start in range(0, len(clips), batch_size):
        batch = clips[start : start + batch_size].to(device)
        embedding = classifier.embed(batch)
        probabilities.append(torch.softmax(classifier.head(embedding), dim=1).cpu())
        embeddings.append(embedding.cpu())
    if not probabilities:
        empty = torch.zeros(0, len(classifier.classes))
        return Predictions(empty, torch.zeros(0, classifier.config.embedding_dim))
    return Predictions(torch.cat(probabilities), torch.cat(embeddings))


_MOVED = {
    "ClassifierTrainResult": "audiogan.evaluation.classifier_fit",
    "split_held_back": "audiogan.evaluation.classifier_fit",
    "train_classifier": "audiogan.evaluation.classifier_fit",
    "load_classifier": "audiogan.evaluation.classifier_files",
    "save_classifier": "audiogan.evaluation.classifier_files",
}


def __getattr__(name: str) -> Any:
    """Training and checkpoint files live in their own modules; their names are public here."""
    if name in _MOVED:
        import importlib

        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
