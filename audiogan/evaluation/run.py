"""``audiogan evaluate``: copy synthesis and generation, metrics, summary and listening report.

:func:`evaluate` runs every vocoder over every clip (features of the original, then the
vocoder: copy synthesis), computes the metrics of :mod:`audiogan.evaluation.metrics` per clip,
measures
the real-time factor, and writes a report directory (:mod:`audiogan.evaluation.report`).
Unconditional
models generate a grid of clips instead, scored with a classifier from
``audiogan train-classifier`` (:mod:`audiogan.evaluation.classifier`) against the real clips.

Originals are peak-normalised to 0.95 (the training convention, ``normalize=None`` keeps their
level), then resampled to each model's rate; metrics are computed at the model's rate.

Clip by clip, nothing is lost to one bad input: a clip that cannot be read, is shorter than
0.1 s, makes a model fail (an error, NaN output) or runs out of memory is reported at once
(``on_problem``: the CLI prints one line naming the file) and listed in ``failures``; the rest
are evaluated. A *silent reference* (peak below -60 dBFS, :mod:`audiogan.evaluation.inputs`) is not
evaluated and is listed apart (``skipped_clips``; "Skipped clips" in the report), never inside a
mean; NaN/Inf metric values are never averaged either. The report directory appears whole at
the end or not at all (:mod:`audiogan.evaluation.report_dir`): an earlier report survives a
failure, a full
disk, Ctrl-C or a kill.

The parts: :mod:`audiogan.evaluation.inputs` (finding and screening clips),
:mod:`audiogan.evaluation.models`
(loading models, generating and scoring unconditional clips), :mod:`audiogan.evaluation.outputs`
(summary.json, per_clip.csv). Fault point (:mod:`audiogan.core.faults`): ``evaluate.clip`` at the
start of every clip.

``per_clip.csv`` — one row per (clip, vocoder): ``clip`` (report id), ``model``, ``source``
(the original file), ``duration_s``, ``sample_rate`` (the model's), ``synthesis_s`` (seconds
in the vocoder), ``rtf``, then every key of :data:`audiogan.evaluation.metrics.METRICS` that was
computed
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
- ``failures``: ``[{"item", "reason"}]`` for clips (``item`` the file, with `` [model]``
  when one model failed on it) that could not be evaluated.
- ``skipped_clips``: ``[{"item", "reason"}]`` for silent references, left out of every average.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from audiogan.audio.io import AudioError, load_audio, peak_normalize, resample
from audiogan.core.devices import resolve_device
from audiogan.core.errors import AudioganError, one_line
from audiogan.core.faults import fault_point
from audiogan.data.manifest import ManifestEntry
from audiogan.evaluation.inputs import (
    AUDIO_SUFFIXES,
    EvaluationError,
    collect_clips,
    label_from_path,
    reason_without_path,
    screen_clip,
)
from audiogan.evaluation.metrics import METRICS, Analysis, analyze, compare, optional_metrics_status
from audiogan.evaluation.models import EvalModel, Scorer, generate, load_models, synchronize
from audiogan.evaluation.outputs import (
    ORDER_KEY,
    model_row,
    per_clip_csv,
    report_meta,
    summary_json,
)
from audiogan.evaluation.report import (
    ClipRow,
    GeneratedGrid,
    Media,
    ReportContent,
    ReportDirectory,
    ReportError,
    display_mel_db,
    render_html,
)
from audiogan.inference.kinds import copy_synthesis

__all__ = [
    "AUDIO_SUFFIXES",
    "EvaluationError",
    "EvaluationResult",
    "collect_clips",
    "evaluate",
    "label_from_path",
]

logger = logging.getLogger(__name__)

_PEAK = 0.95
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")

Notify = Callable[[str, str], None]
"""Called with ``(item, reason)`` the moment an input fails or is skipped."""


@dataclass
class EvaluationResult:
    """What :func:`evaluate` returns.

    Attributes:
        report: ``report.html`` in the report directory.
        summary: The content of ``summary.json``.
        failures: ``(item, reason)`` for clips (or clip and model) that could not be
            evaluated; the reason does not repeat the item.
        skipped: ``(item, reason)`` for clips left out on purpose (a silent reference).
        num_done: Clips evaluated by at least one model (or generated clips, for
            unconditional-only runs).
    """

    report: Path
    summary: dict[str, Any]
    failures: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    num_done: int = 0


class _Problems:
    """Failed and skipped inputs, each passed on to ``notify`` as it happens."""

    def __init__(self, notify: Notify | None) -> None:
        self.failures: list[tuple[str, str]] = []
        self.skipped: list[tuple[str, str]] = []
        self._notify = notify

    def fail(self, item: str, reason: str) -> None:
        self.failures.append((item, reason))
        self._tell(item, reason)

    def skip(self, item: str, reason: str) -> None:
        self.skipped.append((item, reason))
        self._tell(item, reason)

    def _tell(self, item: str, reason: str) -> None:
        if self._notify is not None:
            self._notify(item, reason)
        else:
            logger.warning("%s: %s", item, reason)


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
    on_problem: Notify | None = None,
) -> EvaluationResult:
    """Evaluate models on clips and write the report directory.

    Clip by clip: a clip that cannot be read, is too short, makes a model fail or runs out of
    memory is listed (``failures``) and the others go on; a silent reference is listed apart
    (``skipped``, see :func:`audiogan.evaluation.inputs.screen_clip`) and never averaged. The report
    appears only when complete; an earlier one at ``out_dir`` is replaced then, and is left
    untouched by any failure or interruption before.

    Args:
        models: Model directories, run directories or checkpoint files (vocoders and/or
            unconditional generators).
        data: Manifest, audio file or directory of the original clips (for unconditional
            models: the real clips the generated ones are compared with).
        out_dir: Report directory (created; an earlier report there is replaced).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``, ``"auto"`` or None (CUDA when
            available); see :func:`audiogan.core.devices.resolve_device`.
        limit: Use only the first ``limit`` clips.
        classifier: Checkpoint of ``audiogan train-classifier`` for the unconditional scores.
        num_generated: Clips generated per unconditional model.
        seed: Latent seed of the generated clips (clip ``i`` uses ``seed + i``); for
            noise-driven vocoders (Parallel WaveGAN) the noise seed of every copy synthesis,
            as ``Vocoder.resynthesize(wave, seed=seed)`` (other vocoders ignore it).
        normalize: Peak-normalise the originals to 0.95 before synthesis.
        console: Show a progress bar on stderr.
        on_problem: Called with ``(item, reason)`` as each input fails or is skipped (the CLI
            prints one line); None logs a warning.

    Returns:
        :class:`EvaluationResult`.

    Raises:
        EvaluationError: No usable clips or bad arguments.
        ModelFileError, CheckpointError: A model cannot be loaded.
        ManifestError: ``data`` is an unreadable manifest.
        ReportError: ``out_dir`` is an unrelated non-empty directory, or the report cannot be
            written (a full disk): nothing is replaced.
    """
    if not models:
        raise EvaluationError("give at least one model")
    if num_generated < 2:
        raise EvaluationError(f"--num-generated must be >= 2, got {num_generated}")
    run_device = resolve_device(device, option="device=")
    entries, rejected = collect_clips(data, limit)
    loaded = load_models([Path(m) for m in models], run_device)
    vocoders = [m for m in loaded if m.kind == "vocoder"]
    generators = [m for m in loaded if m.kind == "unconditional"]
    status = optional_metrics_status()
    skipped = {key: reason for key, reason in status.items() if reason is not None}
    for reason in skipped.values():
        logger.warning("%s", reason)
    problems = _Problems(on_problem)
    for item, reason in rejected:
        problems.fail(item, reason)
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
                try:
                    row = _evaluate_clip(
                        index, entry, vocoders, report, run_device, peak, problems, seed
                    )
                except MemoryError:
                    problems.fail(str(entry.path), "out of memory on this clip; split it into "
                                  "shorter clips or free memory")
                    continue
                if row is not None:
                    clip_rows.append(row)
                    done.add(index)
            if not done and not generators:
                raise EvaluationError(
                    f"{out_dir}: none of the {len(entries) + len(rejected)} clips could be "
                    "evaluated (see above); no report written (an earlier report there is "
                    "unchanged)"
                )
        grids: list[GeneratedGrid] = []
        generated_info: dict[str, dict[str, Any]] = {}
        if generators:
            scorer = Scorer(classifier, entries, run_device, peak) if classifier else None
            for model in generators:
                grid, info = generate(model, report, num_generated, seed, run_device, scorer)
                grids.append(grid)
                generated_info[model.name] = info
        elif classifier:
            logger.info("--classifier is only used for unconditional models; ignored")

        clip_rows.sort(key=lambda pair: (-pair[0] if math.isfinite(pair[0]) else math.inf))
        summary = summary_json(
            data, entries, loaded, generated_info, skipped, problems.failures, problems.skipped,
            run_device, peak, seed,
        )
        report.write_text("summary.json", json.dumps(summary, indent=2, allow_nan=False) + "\n")
        report.write_text("per_clip.csv", per_clip_csv(vocoders))
        content = ReportContent(
            title="audiogan evaluation",
            meta=report_meta(data, entries, loaded, run_device, peak),
            models=[model_row(m, summary["models"][m.name]) for m in loaded],
            metric_keys=[k for k in METRICS if k not in skipped],
            clips=[row for _, row in clip_rows],
            order_note="Worst first: clips sorted by the log-mel distance (mean over models). "
            "Spectrograms of the outputs share the original's colour scale; the difference "
            "images show output minus original in dB (red: louder, blue: quieter).",
            generated=grids,
            notes=[*skipped.values(), *[f"failed: {i}: {r}" for i, r in problems.failures]],
            skipped=problems.skipped,
        )
        page = report.commit(render_html(content))
    num_done = len(done) if vocoders else sum(len(g.clips) for g in grids)
    return EvaluationResult(
        report=page, summary=summary, failures=problems.failures, skipped=problems.skipped,
        num_done=num_done,
    )


def _clip_id(index: int, entry: ManifestEntry) -> str:
    stem = _SAFE.sub("_", entry.path.stem).strip("._")[:60] or "clip"
    return f"{index:04d}-{stem}"


def _evaluate_clip(
    index: int,
    entry: ManifestEntry,
    vocoders: list[EvalModel],
    report: ReportDirectory,
    device: torch.device,
    peak: float | None,
    problems: _Problems,
    seed: int = 0,
) -> tuple[float, ClipRow] | None:
    """Copy-synthesise one clip with every vocoder (``seed``: the noise of noise-driven
    ones); None when nothing could be done."""
    fault_point("evaluate.clip")
    item = str(entry.path)
    try:
        wave, rate = load_audio(entry.path)
    except AudioError as exc:
        problems.fail(item, reason_without_path(item, exc))
        return None
    original = wave[0]
    screened = screen_clip(original, rate)
    if screened is not None:
        (problems.skip if screened.silent else problems.fail)(item, screened.reason)
        return None
    if peak is not None:
        original = peak_normalize(original, peak)
    clip_id = _clip_id(index, entry)
    seconds = original.numel() / rate
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
            estimate, compute = _copy_synthesis(model, at_rate, device, seed)
            values = compare(ref_analysis, analyze(estimate, model.sample_rate))
        except ReportError:
            raise
        except (AudioganError, RuntimeError) as exc:
            model.failed += 1
            problems.fail(f"{item} [{model.name}]", reason_without_path(item, one_line(exc)))
            continue
        except MemoryError:
            model.failed += 1
            problems.fail(
                f"{item} [{model.name}]",
                f"out of memory on this {seconds:.0f} s clip; split it into shorter clips or "
                "free memory",
            )
            continue
        outputs.append(_output_media(model, clip_id, item, estimate, compute, values, ref_db,
                                     report))
        distances.append(values.get(ORDER_KEY, math.nan))
    if not outputs:
        return None
    reference = Media(
        label="original",
        audio=report.write_audio(f"audio/{clip_id}/original.wav", original, rate),
        image=report.write_spectrogram(
            f"images/{clip_id}/original.png", display_mel_db(original, rate), seconds,
            title="original",
        ),
        caption=f"{rate} Hz, {seconds:.2f} s",
    )
    finite = [d for d in distances if math.isfinite(d)]
    order = float(np.mean(finite)) if finite else math.nan
    title = f"{entry.path.name} ({seconds:.2f} s)"
    return order, ClipRow(clip_id=clip_id, title=title, reference=reference, outputs=outputs)


def _output_media(
    model: EvalModel,
    clip_id: str,
    item: str,
    estimate: Tensor,
    compute: float,
    values: dict[str, float],
    ref_db: np.ndarray,
    report: ReportDirectory,
) -> Media:
    """Record one model's row for a clip and write its audio and images."""
    duration = estimate.numel() / model.sample_rate
    model.compute_seconds += compute
    model.audio_seconds += duration
    model.rows.append({
        "clip": clip_id, "model": model.name, "source": item,
        "duration_s": duration, "sample_rate": model.sample_rate, "synthesis_s": compute,
        "rtf": compute / duration if duration > 0 else math.nan, **values,
    })
    estimate_db = display_mel_db(estimate, model.sample_rate)
    return Media(
        label=model.name,
        audio=report.write_audio(f"audio/{clip_id}/{model.slug}.wav", estimate, model.sample_rate),
        image=report.write_spectrogram(
            f"images/{clip_id}/{model.slug}.png", estimate_db, duration, title=model.name,
            top_db=float(ref_db.max()),
        ),
        diff_image=report.write_difference(
            f"images/{clip_id}/{model.slug}-diff.png", ref_db, estimate_db, duration
        ),
        metrics=values,
    )


def _copy_synthesis(
    model: EvalModel, wave: Tensor, device: torch.device, seed: int = 0
) -> tuple[Tensor, float]:
    """``(estimate (T',) CPU float32, seconds spent in the vocoder)``; features not timed;
    ``seed`` keys the noise of noise-driven vocoders.

    Raises:
        EvaluationError: The model's output holds NaN or Inf samples.
    """
    vocoder = model.runner
    elapsed = 0.0

    def timed(mel: Tensor) -> Tensor:
        nonlocal elapsed
        if not model.warmed_up:  # first call pays for lazy initialisation: not in the RTF
            vocoder(mel[..., : min(mel.shape[-1], 32)], seed=seed)
            model.warmed_up = True
        synchronize(device)
        start = time.perf_counter()
        out = vocoder(mel, seed=seed)
        synchronize(device)
        elapsed = time.perf_counter() - start
        return out

    # all frames of the clip, the output cut to its length (T,)
    _, _, estimate = copy_synthesis(timed, vocoder.features, wave,
                                    hop_length=vocoder.hop_length, whole_hops=False)
    estimate = estimate.detach().float().cpu().reshape(-1)
    if not bool(torch.isfinite(estimate).all()):
        raise EvaluationError(
            f"the output of {model.name} holds NaN/Inf samples; the model is broken (pick "
            "another checkpoint or retrain)"
        )
    return estimate, elapsed
