"""Training the word classifier of :mod:`audiogan.evaluation.classifier` (``audiogan
train-classifier``).

Names re-exported by :mod:`audiogan.evaluation.classifier`, their public home.
"""

from __future__ import annotations

import copy
import logging
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from audiogan.core.devices import resolve_device
from audiogan.data.datasets import ClipDataset
from audiogan.data.manifest import ManifestEntry
from audiogan.evaluation.classifier import (
    ClassifierConfig,
    ClassifierError,
    DigitClassifier,
    predict,
)
from audiogan.evaluation.classifier_files import _checkpoint_path, save_classifier

__all__ = ["ClassifierTrainResult", "split_held_back", "train_classifier"]

logger = logging.getLogger("audiogan.evaluation.classifier")


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
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``, ``"auto"`` or None (CUDA when
            available); see :func:`audiogan.core.devices.resolve_device`.
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
    run_device = resolve_device(device, option="device=")
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


