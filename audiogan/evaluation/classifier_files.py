"""Classifier checkpoints: one ``.safetensors`` file (weights + JSON metadata), written through
:mod:`audiogan.core.atomic`; loading never executes code from the file.

Names re-exported by :mod:`audiogan.evaluation.classifier`, their public home.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file
from safetensors.torch import save as save_safetensors

from audiogan.core.atomic import write_bytes
from audiogan.core.errors import describe_os_error
from audiogan.evaluation.classifier import (
    _CHECKPOINT_VERSION,
    CHECKPOINT_FORMAT,
    DEFAULT_NAME,
    ClassifierConfig,
    ClassifierError,
    DigitClassifier,
)

__all__ = ["load_classifier", "save_classifier"]


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
