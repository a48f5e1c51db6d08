"""What ``audiogan evaluate`` writes besides audio and images: summary.json, per_clip.csv, rows.

The keys of both files are documented in :mod:`audiogan.evaluation.run`. Non-finite values never
reach a mean (:func:`audiogan.evaluation.metrics.summarize`) and are written as null (JSON) or an
empty
cell (CSV).
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import torch

from audiogan import __version__
from audiogan.data.manifest import ManifestEntry
from audiogan.evaluation.metrics import METRICS, summarize
from audiogan.evaluation.models import EvalModel, text
from audiogan.evaluation.report import REPORT_FORMAT, ModelRow

__all__ = ["ORDER_KEY", "model_row", "per_clip_csv", "report_meta", "summary_json"]

ORDER_KEY = "log_mel_l1_db"
"""The metric that orders the report's clips (worst first, mean over models)."""


def _clean(value: Any) -> Any:
    """NaN/Inf -> None, recursively (summary.json stays strict JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def summary_json(
    data: str | os.PathLike[str],
    entries: Sequence[ManifestEntry],
    models: Sequence[EvalModel],
    generated: dict[str, dict[str, Any]],
    skipped: dict[str, str],
    failures: Sequence[tuple[str, str]],
    skipped_clips: Sequence[tuple[str, str]],
    device: torch.device,
    peak: float | None,
    seed: int,
) -> dict[str, Any]:
    """The content of ``summary.json`` (keys documented in :mod:`audiogan.evaluation.run`).

    NaN and Inf become null; metric statistics come from
    :func:`audiogan.evaluation.metrics.summarize`, which leaves non-finite values out of every mean.
    """
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
        "order": f"worst first by mean {ORDER_KEY} over models",
        "models": per_model,
        "failures": [{"item": item, "reason": reason} for item, reason in failures],
        "skipped_clips": [{"item": item, "reason": reason} for item, reason in skipped_clips],
    })


def per_clip_csv(vocoders: Sequence[EvalModel]) -> str:
    """``per_clip.csv``: one row per (clip, vocoder); NaN/Inf written as empty cells."""
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


def report_meta(
    data: str | os.PathLike[str],
    entries: Sequence[ManifestEntry],
    models: Sequence[EvalModel],
    device: torch.device,
    peak: float | None,
) -> list[tuple[str, str]]:
    """The ``(label, value)`` lines under the report's title."""
    return [
        ("data", f"{data} ({len(entries)} clips)"),
        ("models", ", ".join(f"{m.name} ({m.kind}, {m.sample_rate} Hz)" for m in models)),
        ("device", str(device)),
        ("originals", f"peak-normalised to {peak}" if peak else "levels kept"),
        ("created", datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
         + f" by audiogan {__version__}"),
    ]


def model_row(model: EvalModel, info: dict[str, Any]) -> ModelRow:
    """A model's line of the report's summary table, from its ``summary.json`` entry."""
    values: dict[str, tuple[float, float] | None] = {}
    for key, stats in (info.get("metrics") or {}).items():
        values[key] = None if stats["mean"] is None else (stats["mean"], stats["std"])
    extra = {"RTF": text(info.get("rtf")), "sample rate": str(model.sample_rate)}
    if model.kind == "vocoder":
        extra["clips"] = f"{info['num_clips']}" + (
            f" ({info['num_failed']} failed)" if info["num_failed"] else ""
        )
    else:
        extra["clips"] = f"{info.get('num_generated', 0)} generated"
        scores = info.get("scores") or {}
        if scores.get("inception_score") is not None:
            extra["IS ↑"] = text(scores["inception_score"])
        if scores.get("frechet_distance") is not None:
            extra["FD ↓"] = text(scores["frechet_distance"])
    return ModelRow(
        name=model.name, kind=model.kind, source=str(model.source), values=values, extra=extra
    )
