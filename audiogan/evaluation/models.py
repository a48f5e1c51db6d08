"""The models of an evaluation: loading them, and generating and scoring unconditional clips.

Part of ``audiogan evaluate`` (:mod:`audiogan.evaluation.run`): :func:`load_models` names and loads
every model; :func:`generate` samples a grid of clips from an unconditional model and scores it
with a :class:`Scorer` (a classifier from ``audiogan train-classifier``).
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from audiogan.audio.io import AudioError, load_audio
from audiogan.data.manifest import ManifestEntry
from audiogan.evaluation.metrics import frechet_distance, inception_score
from audiogan.evaluation.report import GeneratedGrid, Media, ReportDirectory, display_mel_db

__all__ = ["EvalModel", "Scorer", "generate", "load_models", "synchronize", "text"]

logger = logging.getLogger(__name__)

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class EvalModel:
    """One model of an evaluation and what it has done so far.

    Attributes:
        name: Unique display name; ``slug``: its file-name form.
        source: The path given.
        kind: ``"vocoder"`` or ``"unconditional"``.
        runner: The :class:`~audiogan.Vocoder` or :class:`~audiogan.WaveGenerator`.
        sample_rate: Its rate in Hz.
        compute_seconds, audio_seconds: Totals for the real-time factor.
        warmed_up: The first (untimed) call has been made.
        rows: Per-clip metric rows (vocoders).
        failed: Clips that failed with this model.
    """

    name: str
    slug: str
    source: Path
    kind: str  # "vocoder" | "unconditional"
    runner: Any  # Vocoder | WaveGenerator
    sample_rate: int
    compute_seconds: float = 0.0
    audio_seconds: float = 0.0
    warmed_up: bool = False
    rows: list[dict[str, Any]] = field(default_factory=list)
    failed: int = 0


def load_models(paths: Sequence[Path], device: torch.device) -> list[EvalModel]:
    """Load every model onto ``device`` with distinct names and file-name slugs.

    Raises:
        ModelFileError, CheckpointError: A path holds no usable model (one line naming it).
    """
    from audiogan.inference.kinds import model_kind
    from audiogan.inference.model_dir import load_model

    models: list[EvalModel] = []
    used: set[str] = set()
    for path in paths:
        loaded = load_model(path)
        name = model_name(path)
        base, counter = name, 2
        while name in used:
            name, counter = f"{base}-{counter}", counter + 1
        used.add(name)
        slug = _SAFE.sub("_", name).strip("._") or "model"
        model_type = model_kind(loaded)
        kind = model_type.label  # "vocoder" or "unconditional"
        runner: Any = model_type.wrap(loaded).to(device)
        logger.info("%s: %s at %d Hz from %s", name, kind, runner.sample_rate, loaded.source)
        models.append(EvalModel(name, slug, Path(path), kind, runner, int(runner.sample_rate)))
    slugs: set[str] = set()
    for model in models:  # distinct file names even when sanitising merged two names
        while model.slug in slugs:
            model.slug += "_"
        slugs.add(model.slug)
    return models


def model_name(path: Path) -> str:
    """A readable name: the directory (or file stem), with the run dir for checkpoints."""
    resolved = path.absolute()
    if resolved.is_file():
        if resolved.parent.name == "checkpoints":
            return f"{resolved.parent.parent.name}/{resolved.stem}"
        return resolved.stem
    return resolved.name or str(path)


def synchronize(device: torch.device) -> None:
    """Wait for queued CUDA work (for timing); a no-op on CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Scorer:
    """Classifier, real clips' embeddings and accuracy, computed once for all generators."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        entries: Sequence[ManifestEntry],
        device: torch.device,
        peak: float | None,
    ) -> None:
        from audiogan.evaluation.classifier import load_classifier, predict, prepare_clips

        self.path = Path(path)
        self.model = load_classifier(path, device)
        config = self.model.config
        waves, labels = [], []
        for entry in entries:
            try:
                wave, rate = load_audio(entry.path, sample_rate=config.sample_rate)
            except AudioError as exc:
                logger.warning("real clip skipped: %s", exc)
                continue
            waves.append(wave[0])
            labels.append(entry.label)
        clips = prepare_clips(waves, config.sample_rate, config) if waves else None
        self.real = predict(self.model, clips) if clips is not None else None
        known = {name: i for i, name in enumerate(config.classes)}
        pairs = [
            (row, known[label]) for row, label in enumerate(labels) if label in known
        ]
        self.num_real = len(waves)
        self.num_labelled = len(pairs)
        self.accuracy: float | None = None
        if pairs and self.real is not None:
            rows = torch.tensor([r for r, _ in pairs])
            truth = torch.tensor([t for _, t in pairs])
            self.accuracy = float((self.real.labels[rows] == truth).float().mean())
        held_back = self.model.training_metrics.get("held_back_accuracy")
        self.held_back_accuracy = float(held_back) if held_back is not None else None

    def score(self, clips: Tensor, sample_rate: int) -> tuple[dict[str, Any], Any]:
        """Scores of generated ``(N, T)`` clips and the classifier's predictions for them."""
        from audiogan.evaluation.classifier import predict, prepare_clips

        prepared = prepare_clips(clips, sample_rate, self.model.config)
        generated = predict(self.model, prepared)
        fd: float | None = None
        if self.real is not None and len(self.real.embeddings) >= 2:
            fd = frechet_distance(generated.embeddings, self.real.embeddings)
        scores = {
            "inception_score": inception_score(generated.probabilities),
            "frechet_distance": fd,
            "classifier_accuracy_real": self.accuracy,
            "num_real": self.num_real,
            "num_real_labelled": self.num_labelled,
            "classifier_held_back_accuracy": self.held_back_accuracy,
        }
        return scores, generated


def generate(
    model: EvalModel,
    report: ReportDirectory,
    count: int,
    seed: int,
    device: torch.device,
    scorer: Scorer | None,
) -> tuple[GeneratedGrid, dict[str, Any]]:
    """Sample ``count`` clips ``(count, T)`` of an unconditional model into the report, scored.

    Returns:
        The grid shown in the report and the model's ``summary.json`` entries.
    """
    generator = model.runner
    generator.sample(1, seed=seed)  # warm-up, not timed
    synchronize(device)
    start = time.perf_counter()
    clips = generator.sample(count, seed=seed)
    synchronize(device)
    model.compute_seconds = time.perf_counter() - start
    clips = clips.detach().float().cpu()
    model.audio_seconds = clips.numel() / model.sample_rate
    label_ids = generator.label_ids(None, count)
    scores: dict[str, Any] | None = None
    predictions = None
    notes: list[str] = []
    if scorer is not None:
        scores, predictions = scorer.score(clips, model.sample_rate)
    else:
        notes.append(
            "Inception score and Fréchet distance need --classifier "
            "(train one with: audiogan train-classifier)."
        )
    items: list[Media] = []
    seconds = clips.shape[1] / model.sample_rate
    for i, clip in enumerate(clips):
        stem = f"generated/{model.slug}/{i:03d}"
        caption_parts = [f"seed {seed + i}"]
        if label_ids is not None:
            caption_parts.append(f"asked: {generator.label_name(int(label_ids[i]))}")
        if predictions is not None and scorer is not None:
            probs = predictions.probabilities[i]
            best = int(probs.argmax())
            caption_parts.append(
                f"classified: {scorer.model.classes[best]} (p = {float(probs[best]):.2f})"
            )
        mel_db = display_mel_db(clip, model.sample_rate)
        items.append(Media(
            label=f"#{i}",
            audio=report.write_audio(f"audio/{stem}.wav", clip, model.sample_rate),
            image=report.write_spectrogram(
                f"images/{stem}.png", mel_db, seconds, title=f"{model.name} #{i}"
            ),
            caption=", ".join(caption_parts),
        ))
    shown: dict[str, str] = {}
    if scores is not None:
        shown = {
            "inception score ↑": text(scores["inception_score"]),
            "Fréchet distance to real clips ↓": text(scores["frechet_distance"]),
            f"classifier accuracy on {scores['num_real_labelled']} real clips": text(
                scores["classifier_accuracy_real"]
            ),
            "classifier accuracy on its held-back clips": text(
                scores["classifier_held_back_accuracy"]
            ),
        }
        notes.append(
            "Inception score: exp(E KL(p(y|x) || p(y))) of the classifier's outputs, from 1 to "
            "the number of classes (higher: confident and varied). Fréchet distance: between "
            "Gaussians fitted to the classifier's embeddings of the generated and the real "
            "clips (lower: closer to real; compare runs with equal clip counts). The "
            "classifier's accuracy on real clips says how far to trust both."
        )
        if scores["frechet_distance"] is None:
            notes.append("Fréchet distance needs at least 2 readable real clips in --data.")
    info = {
        "num_generated": count,
        "seed": seed,
        "clip_seconds": seconds,
        "classifier": str(scorer.path) if scorer is not None else None,
        "scores": scores,
    }
    return GeneratedGrid(model=model.name, clips=items, scores=shown, notes=notes), info


def text(value: float | None) -> str:
    """A score for display: three decimals, or a dash for None."""
    return "–" if value is None else f"{value:.3f}"
