"""A small spoken-digit (or any word) classifier for scoring unconditional waveform GANs.

Trained by the toolkit (``audiogan train-classifier``) on labelled one-word clips (SC09 / Speech
Commands digits, FSDD, or :func:`audiogan.data.synthetic.build_synthetic_clips`), it gives:

- class probabilities ``p(y|x)`` for the inception score (:func:`audiogan.metrics.inception_score`);
- embeddings (the penultimate layer) for the Fréchet distance between generated and real clips
  (:func:`audiogan.metrics.frechet_distance`);
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

import copy
import json
import logging
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file
from safetensors.torch import save as save_safetensors
from torch import Tensor, nn

from audiogan.atomic import write_bytes
from audiogan.audio import peak_normalize, resample
from audiogan.data.datasets import PEAK_LEVEL, ClipDataset
from audiogan.data.manifest import ManifestEntry
from audiogan.errors import AudioganError, describe_os_error
from audiogan.features import MelSpectrogram

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


# --------------------------------------------------------------------------- training


@dataclass
class ClassifierTrainResult:
    """What :func:`train_classifier` returns.

    Attributes:
        path: The checkpoint written.
        classes: Class names.
        train_accuracy: Accuracy on the training clips (eval mode, no augmentation), 0-1.
        held_back_accuracy: Accuracy of the saved weights on the held-back clips, 0-1.
        num_train: Training clips used.
        num_held_back: Held-back clips used.
        epochs: Epochs run.
        history: Per-epoch ``{"epoch", "loss", "held_back_accuracy"}``.
    """

    path: Path
    classes: tuple[str, ...]
    train_accuracy: float
    held_back_accuracy: float
    num_train: int
    num_held_back: int
    epochs: int
    history: list[dict[str, float]] = field(default_factory=list)


def split_held_back(
    entries: Sequence[ManifestEntry], fraction: float, seed: int = 0
) -> tuple[list[ManifestEntry], list[ManifestEntry]]:
    """Stratified split: about ``fraction`` of every class's clips are held back.

    Every class with at least two clips keeps at least one for training and holds back at
    least one. The choice depends only on ``seed`` and the entries' order.

    Args:
        entries: Labelled entries.
        fraction: Fraction held back, in ``(0, 1)``.
        seed: Seed of the choice.

    Returns:
        ``(train, held_back)`` in input order.
    """
    if not 0.0 < fraction < 1.0:
        raise ClassifierError(f"the held-back fraction must be in (0, 1), got {fraction}")
    by_class: dict[str | None, list[int]] = {}
    for index, entry in enumerate(entries):
        by_class.setdefault(entry.label, []).append(index)
    rng = np.random.default_rng([seed, 0xC1A5])
    held: set[int] = set()
    for label in sorted(by_class, key=str):
        members = by_class[label]
        if len(members) < 2:
            continue
        count = min(len(members) - 1, max(1, int(round(fraction * len(members)))))
        held.update(members[i] for i in rng.permutation(len(members))[:count])
    train = [e for i, e in enumerate(entries) if i not in held]
    return train, [e for i, e in enumerate(entries) if i in held]


def _natural(label: str) -> tuple[int, int, str]:
    """Sort key: numeric labels by value, before the others in text order."""
    return (0, int(label), "") if label.isdigit() else (1, 0, label)


def _load_clips(
    entries: Sequence[ManifestEntry], classes: Sequence[str], config: ClassifierConfig, what: str
) -> tuple[Tensor, Tensor]:
    """``(N, clip_length)`` clips and ``(N,)`` label ids; unreadable files are skipped."""
    dataset = ClipDataset(
        entries, clip_length=config.clip_length, sample_rate=config.sample_rate,
        labels=list(classes), align="center", normalize="peak", cache=None,
    )
    clips, labels = [], []
    for index in range(len(dataset)):
        item = dataset[index]
        if item["index"] != index:  # a bad file was replaced by a neighbour: skip it
            continue
        clips.append(item["wave"][0])
        labels.append(item["label"])
    if dataset.num_failed:
        logger.warning("%s: %d unreadable file(s) skipped", what, dataset.num_failed)
    if not clips:
        raise ClassifierError(f"{what}: no readable clips")
    return torch.stack(clips), torch.tensor(labels, dtype=torch.long)


def _shift_and_noise(batch: Tensor, generator: torch.Generator, max_shift: int) -> Tensor:
    """Training augmentation: random shift (zero fill) of each clip and faint white noise."""
    out = torch.zeros_like(batch)
    length = batch.shape[1]
    shifts = torch.randint(-max_shift, max_shift + 1, (len(batch),), generator=generator)
    for row, shift in enumerate(shifts.tolist()):
        if shift >= 0:
            out[row, shift:] = batch[row, : length - shift]
        else:
            out[row, :shift] = batch[row, -shift:]
    level = 10 ** (-torch.empty(len(batch), 1).uniform_(1.5, 3.0, generator=generator))
    return out + level * torch.randn(out.shape, generator=generator)


def _accuracy(classifier: DigitClassifier, clips: Tensor, labels: Tensor) -> float:
    predicted = predict(classifier, clips).labels
    return float((predicted == labels).float().mean())


def train_classifier(
    train: Sequence[ManifestEntry],
    out_path: str | os.PathLike[str],
    *,
    held_back: Sequence[ManifestEntry] | None = None,
    held_back_fraction: float = 0.15,
    sample_rate: int = 16000,
    clip_length: int = 16000,
    n_mels: int = 64,
    channels: Sequence[int] = (16, 32, 64, 128),
    embedding_dim: int = 128,
    epochs: int = 30,
    batch_size: int = 32,
    lr: float = 3e-3,
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: Callable[[dict[str, float]], None] | None = None,
) -> ClassifierTrainResult:
    """Train a :class:`DigitClassifier` on labelled clips and save the best held-back weights.

    Args:
        train: Labelled entries (the ``label`` column gives the class names: numeric labels
            by value, then the others alphabetically).
        out_path: Checkpoint file (``.safetensors``), or a directory to hold
            ``classifier.safetensors``.
        held_back: Entries for the accuracy check; None: a stratified ``held_back_fraction``
            of ``train`` (:func:`split_held_back`).
        held_back_fraction: See ``held_back``.
        sample_rate: Rate the clips are resampled to.
        clip_length: Samples per clip (centre crop / zero padding).
        n_mels: Mel bands of the front end.
        channels: Conv block widths.
        embedding_dim: Embedding size.
        epochs: Passes over the training clips.
        batch_size: Clips per step.
        lr: Peak AdamW learning rate (one-cycle cosine schedule).
        seed: Seed of the split, the initialisation, the batches and the augmentation; the
            global RNG state is left as it was.
        device: ``"cpu"``, ``"cuda"`` or None (CUDA when available).
        progress: Called after every epoch with ``{"epoch", "loss", "held_back_accuracy"}``.

    Returns:
        :class:`ClassifierTrainResult`.

    Raises:
        ClassifierError: Unlabelled entries, fewer than two classes, held-back labels unknown
            to the training set, or no readable clips.
    """
    unlabelled = [e for e in train if e.label is None]
    if unlabelled:
        raise ClassifierError(
            f"{len(unlabelled)} of {len(train)} training clips have no label (first: "
            f"{unlabelled[0].path}); give a manifest with a label column or a folder whose "
            f"file or sub-folder names carry the labels"
        )
    if held_back is None:
        train, held_back = split_held_back(train, held_back_fraction, seed)
    classes = tuple(sorted({str(e.label) for e in train}, key=_natural))
    unknown = sorted({str(e.label) for e in held_back} - set(classes))
    if unknown:
        raise ClassifierError(f"held-back labels {unknown} do not occur in the training clips")
    if not held_back:
        raise ClassifierError("no held-back clips: give --held-back or more clips per class")
    config = ClassifierConfig(
        classes=classes, sample_rate=sample_rate, clip_length=clip_length, n_mels=n_mels,
        channels=tuple(int(c) for c in channels), embedding_dim=embedding_dim,
    )
    target = _checkpoint_path(out_path)
    run_device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    train_x, train_y = _load_clips(train, classes, config, "training clips")
    held_x, held_y = _load_clips(held_back, classes, config, "held-back clips")
    logger.info(
        "classifier: %d classes, %d training and %d held-back clips, %d Hz, %d samples",
        len(classes), len(train_x), len(held_x), sample_rate, clip_length,
    )
    history: list[dict[str, float]] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        model = DigitClassifier(config).to(run_device)
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-2)
        steps_per_epoch = math.ceil(len(train_x) / batch_size)
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=lr, total_steps=max(1, epochs * steps_per_epoch), pct_start=0.2
        )
        best_accuracy, best_state = -1.0, copy.deepcopy(model.state_dict())
        max_shift = clip_length // 10
        for epoch in range(1, epochs + 1):
            model.train()
            order = torch.randperm(len(train_x), generator=generator)
            total, seen = 0.0, 0
            for start in range(0, len(order), batch_size):
                index = order[start : start + batch_size]
                if len(index) < 2:  # batch norm needs two samples
                    continue
                batch = _shift_and_noise(train_x[index], generator, max_shift).to(run_device)
                loss = F.cross_entropy(model(batch), train_y[index].to(run_device))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                total += float(loss.detach()) * len(index)
                seen += len(index)
            accuracy = _accuracy(model, held_x, held_y)
            record = {"epoch": float(epoch), "loss": total / max(seen, 1),
                      "held_back_accuracy": accuracy}
            history.append(record)
            logger.info(
                "classifier epoch %d/%d: loss %.4f, held-back accuracy %.3f",
                epoch, epochs, record["loss"], accuracy,
            )
            if progress is not None:
                progress(record)
            if accuracy >= best_accuracy:
                best_accuracy, best_state = accuracy, copy.deepcopy(model.state_dict())
        model.load_state_dict(best_state)
    train_accuracy = _accuracy(model, train_x, train_y)
    metrics = {
        "held_back_accuracy": best_accuracy,
        "train_accuracy": train_accuracy,
        "num_train": len(train_x),
        "num_held_back": len(held_x),
        "epochs": epochs,
    }
    save_classifier(model, target, metrics=metrics)
    return ClassifierTrainResult(
        path=target, classes=classes, train_accuracy=train_accuracy,
        held_back_accuracy=best_accuracy, num_train=len(train_x), num_held_back=len(held_x),
        epochs=epochs, history=history,
    )


# --------------------------------------------------------------------------- files


def _checkpoint_path(path: str | os.PathLike[str]) -> Path:
    # An existing file, or a path ending in .safetensors, names the file; anything else is a
    # directory (created on save) holding classifier.safetensors.
    target = Path(path)
    if target.is_file() or (target.suffix == ".safetensors" and not target.is_dir()):
        return target
    return target / DEFAULT_NAME


def save_classifier(
    model: DigitClassifier, path: str | os.PathLike[str], *, metrics: dict[str, Any] | None = None
) -> Path:
    """Write weights and metadata to one ``.safetensors`` file, atomically.

    Args:
        model: The classifier.
        path: Target file (or an existing directory: ``classifier.safetensors`` inside).
        metrics: Training metrics stored beside the config (e.g. held-back accuracy).

    Returns:
        The file written.

    Raises:
        ClassifierError: The file cannot be written (the message names it; a previous file at
            the target is left as it was).
    """
    target = _checkpoint_path(path)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    metadata = {
        "format": CHECKPOINT_FORMAT,
        "version": _CHECKPOINT_VERSION,
        "config": json.dumps(model.config.to_dict()),
        "metrics": json.dumps(metrics or {}),
    }
    payload = save_safetensors(tensors, metadata=metadata)
    try:
        write_bytes(target, payload)  # atomic: temp beside, fsync, rename; umask modes
    except OSError as exc:
        line = describe_os_error(OSError(exc.errno, exc.strerror or str(exc)), target)
        raise ClassifierError(f"{line}; nothing was written") from exc
    return target


def load_classifier(
    path: str | os.PathLike[str], device: str | torch.device = "cpu"
) -> DigitClassifier:
    """Load a classifier written by :func:`save_classifier` (no code is executed).

    The training metrics are attached as ``model.training_metrics`` (a dict).

    Args:
        path: The ``.safetensors`` file (or a directory holding ``classifier.safetensors``).
        device: Where to put the model.

    Returns:
        The classifier in eval mode.

    Raises:
        ClassifierError: Missing file, not a safetensors file, or not an audiogan classifier.
    """
    source = _checkpoint_path(path)
    if not source.is_file():
        raise ClassifierError(f"{source}: classifier checkpoint not found")
    try:
        with safe_open(str(source), framework="pt") as handle:
            metadata = handle.metadata() or {}
        state = load_file(str(source))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ClassifierError(f"{source}: not a readable safetensors file ({exc})") from exc
    if metadata.get("format") != CHECKPOINT_FORMAT:
        raise ClassifierError(
            f"{source}: not an audiogan classifier (train one with audiogan train-classifier)"
        )
    try:
        config = ClassifierConfig.from_dict(json.loads(metadata["config"]))
        metrics = json.loads(metadata.get("metrics", "{}"))
        model = DigitClassifier(config)
        model.load_state_dict(state)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ClassifierError(f"{source}: damaged classifier checkpoint ({exc})") from exc
    model.training_metrics = metrics
    return model.to(device).eval()
