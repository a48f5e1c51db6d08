"""Inference API for unconditional (optionally class-conditional) generators: z -> clips."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from audiogan.config import Config
from audiogan.core.errors import AudioganError
from audiogan.inference.kinds import UNCONDITIONAL
from audiogan.inference.model_dir import (
    LoadedModel,
    ModelFileError,
    WaveGeneratorModule,
    inference_context,
)
from audiogan.inference.wrapper import InferenceModel
from audiogan.models import Generator
from audiogan.models.layers import remove_weight_norm
from audiogan.models.randomness import keyed_latents

__all__ = ["LabelError", "WaveGenerator"]


class LabelError(AudioganError, ValueError):
    """A class label the model does not have; the message lists the classes it has."""


class WaveGenerator(InferenceModel):
    """A trained unconditional (optionally class-conditional) generator: z -> clips.

    Build it with :meth:`load` (from :class:`~audiogan.inference.wrapper.InferenceModel`, like
    :meth:`to`, :attr:`generator` and :attr:`dtype`).

    Clip ``i`` of :meth:`sample` uses the latent vector drawn from a generator seeded with
    ``seed + i`` (standard normal, the training distribution), so any clip can be regenerated
    alone: ``sample(1, seed=seed + i, labels=[label_i])``.

    Args:
        generator: a latent generator (``input_kind == "latent"``).
        sample_rate: the clips' sample rate in Hz.
        classes: class names (label index -> name) of a class-conditional model.
        config: the recipe, when known.
        step: the training step of the weights, when known.
        ema: whether the weights are EMA weights.
        source: where the weights came from.
    """

    kind_name = UNCONDITIONAL.name
    other_kind = ("a vocoder (mel input), not an unconditional generator: use "
                  "audiogan.Vocoder.load")

    def __init__(
        self,
        generator: Generator,
        *,
        sample_rate: int,
        classes: Sequence[str] | None = None,
        config: Config | None = None,
        step: int | None = None,
        ema: bool = False,
        source: str | os.PathLike[str] | None = None,
    ) -> None:
        self._check_kind(generator)
        remove_weight_norm(generator)
        self.module = WaveGeneratorModule(generator).eval()
        self.sample_rate = int(sample_rate)
        self.classes = tuple(str(c) for c in classes) if classes else None
        if self.classes and len(self.classes) != self.num_classes:
            raise ModelFileError(
                f"{len(self.classes)} class names for a generator with {self.num_classes} classes"
            )
        self._keep_provenance(config, step, ema, source)

    @classmethod
    def from_loaded(cls, loaded: LoadedModel) -> WaveGenerator:
        """Wrap a :class:`~audiogan.inference.model_dir.LoadedModel` (see ``load_model``)."""
        cls._check_kind(loaded.generator, loaded.source)
        return cls(loaded.generator, sample_rate=loaded.config.sample_rate,
                   classes=loaded.classes, config=loaded.config, step=loaded.step,
                   ema=loaded.ema, source=loaded.source)

    @property
    def num_samples(self) -> int:
        """Samples per clip."""
        return int(self.generator.hop_length)

    @property
    def latent_dim(self) -> int:
        """Size of z."""
        return int(self.generator.latent_dim)

    @property
    def num_classes(self) -> int:
        """Number of classes (0 when unconditional)."""
        return int(self.generator.num_classes)

    @property
    def device(self) -> torch.device:
        """Where the generator runs."""
        return next(self.module.parameters()).device

    def latents(self, n: int, seed: int = 0) -> Tensor:
        """``(n, latent_dim)`` float32 CPU: row ``i`` drawn from the model's prior
        (``Generator.sample_latent``, as in training) with a ``torch.Generator`` seeded
        ``seed + i``."""
        return keyed_latents(self.generator, [seed + i for i in range(n)], "cpu")

    def label_ids(self, labels: Any, n: int) -> Tensor | None:
        """Resolve ``labels`` (None, one label, or ``n`` labels; names or indices) to (n,) ids.

        None on a conditional model cycles through the classes (clip ``i`` gets ``i % C``).

        Raises:
            LabelError: labels for an unconditional model, an unknown name, an index out of
                range, or a sequence of the wrong length.
        """
        if self.num_classes == 0:
            if labels is not None:
                raise LabelError("this generator is unconditional: it takes no labels; drop "
                                 "--label")
            return None
        if labels is None:
            return torch.arange(n) % self.num_classes
        if isinstance(labels, (str, int, np.integer)):
            labels = [labels] * n
        values = list(labels.tolist() if isinstance(labels, Tensor) else labels)
        if len(values) != n:
            raise LabelError(f"got {len(values)} labels for {n} clips")
        return torch.tensor([self._label_id(v) for v in values], dtype=torch.int64)

    def label_name(self, label_id: int) -> str:
        """The class name of ``label_id`` (its index as text when names are unknown)."""
        return self.classes[label_id] if self.classes else str(label_id)

    def _label_id(self, label: Any) -> int:
        if isinstance(label, str):
            if self.classes and label in self.classes:
                return self.classes.index(label)
            if not label.strip().lstrip("-").isdigit():
                known = ", ".join(self.classes) if self.classes else "none saved"
                raise LabelError(f"unknown class {label!r}; classes: {known}")
            label = int(label)
        index = int(label)
        if not 0 <= index < self.num_classes:
            raise LabelError(f"label {index} out of range [0, {self.num_classes})")
        return index

    def sample(
        self, n: int, seed: int = 0, labels: Any = None, batch_size: int = 64
    ) -> Tensor:
        """Generate ``n`` clips.

        Args:
            n: number of clips.
            seed: clip ``i`` uses latent seed ``seed + i``.
            labels: None, one label for all clips, or ``n`` labels (class names or indices);
                None on a class-conditional model cycles through the classes.
            batch_size: clips per generator call (does not change the result).

        Returns:
            ``(n, num_samples)`` float32 on :attr:`device`.
        """
        if n < 0 or batch_size < 1:
            raise ValueError(f"need n >= 0 and batch_size >= 1, got {n} and {batch_size}")
        ids = self.label_ids(labels, n)
        z = self.latents(n, seed)
        out = []
        with inference_context(self.device):
            for start in range(0, n, batch_size):
                chunk = z[start : start + batch_size].to(self.device)
                batch_ids = None if ids is None else ids[start : start + batch_size].to(
                    self.device)
                out.append(self.module(chunk, batch_ids)[:, 0].float())
        if not out:
            return torch.zeros(0, self.num_samples, device=self.device)
        return torch.cat(out)
