"""``audiogan evaluate``: copy synthesis and generation, metrics, summary and listening report.

:func:`evaluate` runs every vocoder over every clip (features of the original, then the
vocoder: copy synthesis), computes the metrics of :mod:`audiogan.metrics` per clip, measures
the real-time factor, and writes a report directory (:mod:`audiogan.report`). Unconditional
models generate a grid of clips instead, scored with a classifier from
``audiogan train-classifier`` (:mod:`audiogan.classifier`) against the real clips.

Originals are peak-normalised to 0.95 (the training convention, ``normalize=None`` keeps their
level), then resampled to each model's rate; metrics are computed at the model's rate.

``per_clip.csv`` — one row per (clip, vocoder): ``clip`` (report id), ``model``, ``source``
(the original file), ``duration_s``, ``sample_rate`` (the model's), ``synthesis_s`` (seconds
in the vocoder), ``rtf``, then every key of :data:`audiogan.metrics.METRICS` that was computed
(empty when undefined, e.g. F0 RMSE of a clip without voiced frames).

``summary.json`` keys:

- ``format`` (``"audiogan-evaluation"``), ``version`` (1), ``created`` (UTC, ISO 8601),
  ``audiogan_version``, ``data`` (the ``--data`` argument), ``device``,
  ``normalize_peak`` (peak level of the originals, or null), ``num_clips`` (clips listed, after
  ``--limit``), ``seed``.
- ``metrics``: ``{key: {"label", "unit", "better", "description"}}`` for every metric key.
- ``skipped_metrics``: ``{key: reason}`` for optional metrics that could not run (PESQ/STOI
  without the ``eval`` extra).
- ``order``: how the clips are ordered in the report (worst first by mean log-mel distance).
- ``models``: ``{name: {...}}`` in command-line order, each with ``source``, ``kind``
  (``"vocoder"`` or ``"unconditional"``), ``sample_rate``, ``rtf`` (seconds of computation per
  second of audio; below 1 is faster than real time), ``audio_seconds`` and
  ``compute_seconds``; vocoders add ``num_clips`` (evaluated), ``num_failed`` and
  ``metrics`` (``{key: {"mean", "std", "median", "min", "max", "count"}}``, NaN values left
  out, ``count`` clips took part); unconditional models add ``num_generated``, ``seed``,
  ``classifier`` (path or null) and ``scores``: ``inception_score``, ``frechet_distance``
  (generated vs. real embeddings), ``classifier_accuracy_real`` (0-1, on the labelled real
  clips of ``--data``), ``num_real``, ``num_real_labelled``,
  ``classifier_held_back_accuracy`` (from training) — each null when not computable, and
  ``scores`` itself null without a classifier.
- ``failures``: ``[{"item", "reason"}]`` for clips that could not be evaluated.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from audiogan import __version__
from audiogan.audio import AudioError, audio_info, load_audio, peak_normalize, resample
from audiogan.data.manifest import ManifestEntry, read_manifest
from audiogan.metrics import (
    METRICS,
    Analysis,
    analyze,
    compare,
    frechet_distance,
    inception_score,
    optional_metrics_status,
    summarize,
)
from audiogan.report import (
    REPORT_FORMAT,
    ClipRow,
    GeneratedGrid,
    Media,
    ModelRow,
    ReportContent,
    ReportDirectory,
    display_mel_db,
    render_html,
)

__all__ = [
    "AUDIO_SUFFIXES",
    "EvaluationResult",
    "collect_clips",
    "evaluate",
    "label_from_path",
]

logger = logging.getLogger(__name__)

AUDIO_SUFFIXES: tuple[str, ...] = (".wav", ".flac", ".ogg")
"""Audio files picked up when ``--data`` is a directory."""

_PEAK = 0.95
_ORDER_KEY = "log_mel_l1_db"
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class EvaluationResult:
    """What :func:`evaluate` returns.

    Attributes:
        report: ``report.html`` in the report directory.
        summary: The content of ``summary.json``.
        failures: ``(item, reason)`` for clips that could not be evaluated.
        num_done: Clips evaluated by at least one model (or generated clips, for
            unconditional-only runs).
    """

    report: Path
    summary: dict[str, Any]
    failures: list[tuple[str, str]] = field(default_factory=list)
    num_done: int = 0


# --------------------------------------------------------------------------- inputs


def label_from_path(path: Path, root: Path) -> str | None:
    """Class label of a file found under ``root`` (directory input).

    Files in sub-folders take the name of their folder (SC09 / Speech Commands layout
    ``root/seven/abc_nohash_0.wav`` -> ``seven``); files directly in ``root`` take the part of
    the name before the first ``_`` (FSDD ``7_jackson_3.wav`` -> ``7``, Speech Commands flat
    ``nine_fafe8101_nohash_1.wav`` -> ``nine``), or no label when the name has no ``_``.

    Args:
        path: The file.
        root: The directory given.

    Returns:
        The label or None.
    """
    relative = path.relative_to(root)
    if len(relative.parts) > 1:
        return relative.parts[-2]
    stem = path.stem
    return stem.split("_", 1)[0] if "_" in stem else None


def collect_clips(
    data: str | os.PathLike[str], limit: int | None = None
) -> tuple[list[ManifestEntry], list[tuple[str, str]]]:
    """The clips of a manifest, an audio file or a directory of audio files.

    A directory is searched recursively for :data:`AUDIO_SUFFIXES` (hidden files and folders
    skipped, sorted by path); labels follow :func:`label_from_path`. Unreadable files are left
    out and reported.

    Args:
        data: A TSV manifest, one audio file, or a directory.
        limit: Keep the first ``limit`` clips (in manifest or path order).

    Returns:
        ``(entries, rejected)`` with ``rejected`` as ``(path, reason)``.

    Raises:
        FileNotFoundError: ``data`` does not exist.
        ValueError: No clip could be used (the message names the first problem).
    """
    source = Path(data)
    if not source.exists():
        raise FileNotFoundError(f"{source}: no such manifest, audio file or directory")
    if limit is not None and limit < 1:
        raise ValueError(f"--limit must be >= 1, got {limit}")
    rejected: list[tuple[str, str]] = []
    if source.is_file() and source.suffix.lower() not in AUDIO_SUFFIXES:
        entries = read_manifest(source)[:limit]
    else:
        files = [source] if source.is_file() else _audio_files(source)
        entries = []
        for file in files:
            if limit is not None and len(entries) >= limit:
                break
            try:
                info = audio_info(file)
            except AudioError as exc:
                rejected.append((str(file), str(exc)))
                continue
            label = label_from_path(file, source) if source.is_dir() else None
            entries.append(
                ManifestEntry(file.absolute(), info.num_frames, info.sample_rate, label=label)
            )
    if not entries:
        first = f" (first problem: {rejected[0][0]}: {rejected[0][1]})" if rejected else ""
        raise ValueError(f"{source}: no usable audio clips{first}")
    return entries, rejected


def _audio_files(root: Path) -> list[Path]:
    found = []
    for directory, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [
            Path(directory) / name
            for name in files
            if not name.startswith(".") and Path(name).suffix.lower() in AUDIO_SUFFIXES
        ]
    return sorted(found)


# --------------------------------------------------------------------------- models


@dataclass
class _Model:
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


def _load_models(paths: Sequence[Path], device: torch.device) -> list[_Model]:
    from audiogan import Vocoder, WaveGenerator
    from audiogan.loading import load_model

    models: list[_Model] = []
    used: set[str] = set()
    for path in paths:
        loaded = load_model(path)
        name = _model_name(path)
        base, counter = name, 2
        while name in used:
            name, counter = f"{base}-{counter}", counter + 1
        used.add(name)
        slug = _SAFE.sub("_", name).strip("._") or "model"
        if loaded.input_kind == "mel":
            runner: Any = Vocoder.from_loaded(loaded).to(device)
            kind = "vocoder"
        else:
            runner = WaveGenerator.from_loaded(loaded).to(device)
            kind = "unconditional"
        logger.info("%s: %s at %d Hz from %s", name, kind, runner.sample_rate, loaded.source)
        models.append(_Model(name, slug, Path(path), kind, runner, int(runner.sample_rate)))
    slugs: set[str] = set()
    for model in models:  # distinct file names even when sanitising merged two names
        while model.slug in slugs:
            model.slug += "_"
        slugs.add(model.slug)
    return models


def _model_name(path: Path) -> str:
    """A readable name: the directory (or file stem), with the run dir for checkpoints."""
    resolved = path.absolute()
    if resolved.is_file():
        if resolved.parent.name == "checkpoints":
            return f"{resolved.parent.parent.name}/{resolved.stem}"
        return resolved.stem
    return resolved.name or str(path)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# --------------------------------------------------------------------------- evaluation


def evaluate(
    models: Sequence[str | os.PathLike[str]],
    data: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    device: str | torch.device | None = None,
    limit: int | None = None,
    classifier: str | os.PathLike[str] | None = None,
    num_generated: int = 16,
    seed: int = 0,
    normalize: bool = True,
    console: bool = False,
) -> EvaluationResult:
    """Evaluate models on clips and write the report directory.

    Args:
        models: Model directories, run directories or checkpoint files (vocoders and/or
            unconditional generators).
        data: Manifest, audio file or directory of the original clips (for unconditional
            models: the real clips the generated ones are compared with).
        out_dir: Report directory (created; an earlier report there is replaced).
        device: ``"cpu"``, ``"cuda"`` or None (CUDA when available).
        limit: Use only the first ``limit`` clips.
        classifier: Checkpoint of ``audiogan train-classifier`` for the unconditional scores.
        num_generated: Clips generated per unconditional model.
        seed: Latent seed of the generated clips (clip ``i`` uses ``seed + i``).
        normalize: Peak-normalise the originals to 0.95 before synthesis.
        console: Show a progress bar on stderr.

    Returns:
        :class:`EvaluationResult`.

    Raises:
        ValueError, FileNotFoundError: No clips, bad arguments, or unusable models
            (:class:`~audiogan.loading.ModelFileError`,
            :class:`~audiogan.training.checkpoint.CheckpointError`).
        ReportError: ``out_dir`` is an unrelated non-empty directory.
    """
    if not models:
        raise ValueError("give at least one model")
    if num_generated < 2:
        raise ValueError(f"--num-generated must be >= 2, got {num_generated}")
    run_device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    entries, rejected = collect_clips(data, limit)
    loaded = _load_models([Path(m) for m in models], run_device)
    vocoders = [m for m in loaded if m.kind == "vocoder"]
    generators = [m for m in loaded if m.kind == "unconditional"]
    status = optional_metrics_status()
    skipped = {key: reason for key, reason in status.items() if reason is not None}
    for reason in skipped.values():
        logger.warning("%s", reason)
    failures: list[tuple[str, str]] = list(rejected)
    peak = _PEAK if normalize else None

    with ReportDirectory(out_dir) as report:
        clip_rows: list[tuple[float, ClipRow]] = []
        done: set[int] = set()
        if vocoders:
            iterator = tqdm(
                list(enumerate(entries)), desc="evaluate", unit="clip", disable=not console,
                dynamic_ncols=True,
            )
            for index, entry in iterator:
                row = _evaluate_clip(index, entry, vocoders, report, run_device, peak, failures)
                if row is not None:
                    clip_rows.append(row)
                    done.add(index)
        grids: list[GeneratedGrid] = []
        generated_info: dict[str, dict[str, Any]] = {}
        if generators:
            scorer = _Scorer(classifier, entries, run_device, peak) if classifier else None
            for model in generators:
                grid, info = _generate(model, report, num_generated, seed, run_device, scorer)
                grids.append(grid)
                generated_info[model.name] = info
        elif classifier:
            logger.info("--classifier is only used for unconditional models; ignored")

        clip_rows.sort(key=lambda pair: (-pair[0] if math.isfinite(pair[0]) else math.inf))
        summary = _summary(
            data, entries, loaded, generated_info, skipped, failures, run_device, peak, seed
        )
        report.write_text("summary.json", json.dumps(summary, indent=2, allow_nan=False) + "\n")
        report.write_text("per_clip.csv", _per_clip_csv(vocoders))
        content = ReportContent(
            title="audiogan evaluation",
            meta=_meta(data, entries, loaded, run_device, peak),
            models=[_model_row(m, summary["models"][m.name]) for m in loaded],
            metric_keys=[k for k in METRICS if k not in skipped],
            clips=[row for _, row in clip_rows],
            order_note="Worst first: clips sorted by the log-mel distance (mean over models). "
            "Spectrograms of the outputs share the original's colour scale; the difference "
            "images show output minus original in dB (red: louder, blue: quieter).",
            generated=grids,
            notes=[*skipped.values(), *[f"failed: {i}: {r}" for i, r in failures]],
        )
        page = report.commit(render_html(content))
    num_done = len(done) if vocoders else sum(len(g.clips) for g in grids)
    return EvaluationResult(report=page, summary=summary, failures=failures, num_done=num_done)


def _clip_id(index: int, entry: ManifestEntry) -> str:
    stem = _SAFE.sub("_", entry.path.stem).strip("._")[:60] or "clip"
    return f"{index:04d}-{stem}"


def _evaluate_clip(
    index: int,
    entry: ManifestEntry,
    vocoders: list[_Model],
    report: ReportDirectory,
    device: torch.device,
    peak: float | None,
    failures: list[tuple[str, str]],
) -> tuple[float, ClipRow] | None:
    """Copy-synthesise one clip with every vocoder; None when nothing could be done."""
    clip_id = _clip_id(index, entry)
    try:
        wave, rate = load_audio(entry.path)
    except AudioError as exc:
        failures.append((str(entry.path), str(exc)))
        return None
    original = wave[0]
    if peak is not None:
        original = peak_normalize(original, peak)
    seconds = original.numel() / rate
    reference_db = display_mel_db(original, rate)
    reference = Media(
        label="original",
        audio=report.write_audio(f"audio/{clip_id}/original.wav", original, rate),
        image=report.write_spectrogram(
            f"images/{clip_id}/original.png", reference_db, seconds, title="original"
        ),
        caption=f"{rate} Hz, {seconds:.2f} s",
    )
    analyses: dict[int, tuple[Tensor, Analysis, np.ndarray]] = {}
    outputs: list[Media] = []
    distances: list[float] = []
    for model in vocoders:
        try:
            if model.sample_rate not in analyses:
                at_rate = resample(original, rate, model.sample_rate)
                analyses[model.sample_rate] = (
                    at_rate, analyze(at_rate, model.sample_rate),
                    display_mel_db(at_rate, model.sample_rate),
                )
            at_rate, ref_analysis, ref_db = analyses[model.sample_rate]
            estimate, compute = _copy_synthesis(model, at_rate, device)
            values = compare(ref_analysis, analyze(estimate, model.sample_rate))
        except (ValueError, RuntimeError) as exc:
            model.failed += 1
            failures.append((f"{entry.path} [{model.name}]", str(exc).splitlines()[0]))
            continue
        duration = estimate.numel() / model.sample_rate
        model.compute_seconds += compute
        model.audio_seconds += duration
        model.rows.append({
            "clip": clip_id, "model": model.name, "source": str(entry.path),
            "duration_s": duration, "sample_rate": model.sample_rate, "synthesis_s": compute,
            "rtf": compute / duration if duration > 0 else math.nan, **values,
        })
        estimate_db = display_mel_db(estimate, model.sample_rate)
        top = float(ref_db.max())
        outputs.append(Media(
            label=model.name,
            audio=report.write_audio(
                f"audio/{clip_id}/{model.slug}.wav", estimate, model.sample_rate
            ),
            image=report.write_spectrogram(
                f"images/{clip_id}/{model.slug}.png", estimate_db, duration, title=model.name,
                top_db=top,
            ),
            diff_image=report.write_difference(
                f"images/{clip_id}/{model.slug}-diff.png", ref_db, estimate_db, duration
            ),
            metrics=values,
        ))
        distances.append(values.get(_ORDER_KEY, math.nan))
    if not outputs:
        return None
    finite = [d for d in distances if math.isfinite(d)]
    order = float(np.mean(finite)) if finite else math.nan
    title = f"{entry.path.name} ({seconds:.2f} s)"
    return order, ClipRow(clip_id=clip_id, title=title, reference=reference, outputs=outputs)


def _copy_synthesis(model: _Model, wave: Tensor, device: torch.device) -> tuple[Tensor, float]:
    """``(estimate (T',) CPU float32, seconds spent in the vocoder)``; features not timed."""
    vocoder = model.runner
    mel = vocoder.features(wave)
    if not model.warmed_up:  # first call pays for lazy initialisation: keep it out of the RTF
        vocoder(mel[..., : min(mel.shape[-1], 32)])
        model.warmed_up = True
    _synchronize(device)
    start = time.perf_counter()
    estimate = vocoder(mel)
    _synchronize(device)
    elapsed = time.perf_counter() - start
    return estimate.detach().float().cpu()[: wave.numel()], elapsed


# --------------------------------------------------------------------------- unconditional


class _Scorer:
    """Classifier, real clips' embeddings and accuracy, computed once for all generators."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        entries: Sequence[ManifestEntry],
        device: torch.device,
        peak: float | None,
    ) -> None:
        from audiogan.classifier import load_classifier, predict, prepare_clips

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
        from audiogan.classifier import predict, prepare_clips

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


def _generate(
    model: _Model,
    report: ReportDirectory,
    count: int,
    seed: int,
    device: torch.device,
    scorer: _Scorer | None,
) -> tuple[GeneratedGrid, dict[str, Any]]:
    generator = model.runner
    generator.sample(1, seed=seed)  # warm-up, not timed
    _synchronize(device)
    start = time.perf_counter()
    clips = generator.sample(count, seed=seed)
    _synchronize(device)
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
            "inception score ↑": _text(scores["inception_score"]),
            "Fréchet distance to real clips ↓": _text(scores["frechet_distance"]),
            f"classifier accuracy on {scores['num_real_labelled']} real clips": _text(
                scores["classifier_accuracy_real"]
            ),
            "classifier accuracy on its held-back clips": _text(
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


def _text(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


# --------------------------------------------------------------------------- outputs


def _clean(value: Any) -> Any:
    """NaN/Inf -> None, recursively (summary.json stays strict JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def _summary(
    data: str | os.PathLike[str],
    entries: Sequence[ManifestEntry],
    models: Sequence[_Model],
    generated: dict[str, dict[str, Any]],
    skipped: dict[str, str],
    failures: Sequence[tuple[str, str]],
    device: torch.device,
    peak: float | None,
    seed: int,
) -> dict[str, Any]:
    per_model: dict[str, Any] = {}
    for model in models:
        info: dict[str, Any] = {
            "source": str(model.source),
            "kind": model.kind,
            "sample_rate": model.sample_rate,
            "rtf": model.compute_seconds / model.audio_seconds if model.audio_seconds else None,
            "audio_seconds": model.audio_seconds,
            "compute_seconds": model.compute_seconds,
        }
        if model.kind == "vocoder":
            keys = [k for k in METRICS if any(k in row for row in model.rows)]
            info.update(
                num_clips=len(model.rows), num_failed=model.failed,
                metrics=summarize(model.rows, keys),
            )
        else:
            info.update(generated.get(model.name, {}))
        per_model[model.name] = info
    return _clean({
        "format": REPORT_FORMAT,
        "version": 1,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "audiogan_version": __version__,
        "data": str(data),
        "device": str(device),
        "normalize_peak": peak,
        "num_clips": len(entries),
        "seed": seed,
        "metrics": {
            key: {"label": i.label, "unit": i.unit, "better": i.better,
                  "description": i.description}
            for key, i in METRICS.items()
        },
        "skipped_metrics": skipped,
        "order": f"worst first by mean {_ORDER_KEY} over models",
        "models": per_model,
        "failures": [{"item": item, "reason": reason} for item, reason in failures],
    })


def _per_clip_csv(vocoders: Sequence[_Model]) -> str:
    base = ["clip", "model", "source", "duration_s", "sample_rate", "synthesis_s", "rtf"]
    metric_keys = [k for k in METRICS if any(k in r for m in vocoders for r in m.rows)]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=base + metric_keys, lineterminator="\n")
    writer.writeheader()
    for model in vocoders:
        for row in model.rows:
            writer.writerow({
                key: ("" if isinstance(v, float) and not math.isfinite(v)
                      else f"{v:.6g}" if isinstance(v, float) else v)
                for key, v in row.items()
            })
    return buffer.getvalue()


def _meta(
    data: str | os.PathLike[str],
    entries: Sequence[ManifestEntry],
    models: Sequence[_Model],
    device: torch.device,
    peak: float | None,
) -> list[tuple[str, str]]:
    return [
        ("data", f"{data} ({len(entries)} clips)"),
        ("models", ", ".join(f"{m.name} ({m.kind}, {m.sample_rate} Hz)" for m in models)),
        ("device", str(device)),
        ("originals", f"peak-normalised to {peak}" if peak else "levels kept"),
        ("created", datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
         + f" by audiogan {__version__}"),
    ]


def _model_row(model: _Model, info: dict[str, Any]) -> ModelRow:
    values: dict[str, tuple[float, float] | None] = {}
    for key, stats in (info.get("metrics") or {}).items():
        values[key] = None if stats["mean"] is None else (stats["mean"], stats["std"])
    extra = {"RTF": _text(info.get("rtf")), "sample rate": str(model.sample_rate)}
    if model.kind == "vocoder":
        extra["clips"] = f"{info['num_clips']}" + (
            f" ({info['num_failed']} failed)" if info["num_failed"] else ""
        )
    else:
        extra["clips"] = f"{info.get('num_generated', 0)} generated"
        scores = info.get("scores") or {}
        if scores.get("inception_score") is not None:
            extra["IS ↑"] = _text(scores["inception_score"])
        if scores.get("frechet_distance") is not None:
            extra["FD ↓"] = _text(scores["frechet_distance"])
    return ModelRow(
        name=model.name, kind=model.kind, source=str(model.source), values=values, extra=extra
    )
