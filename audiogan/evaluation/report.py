"""The HTML listening report: a self-contained, movable directory written atomically.

Layout of a report directory (every link in ``report.html`` is relative, so the directory can
be moved, zipped or served as it is)::

    report.html        summary table, per-clip rows (worst first), generated-clip grids
    summary.json       averages and settings (see :mod:`audiogan.evaluation.run` for the keys)
    per_clip.csv       one row per (clip, model)
    audio/...          16-bit PCM WAV files: originals and model outputs
    images/...         PNG mel spectrograms (matplotlib, no pyplot state touched)

:class:`ReportDirectory` (:mod:`audiogan.evaluation.report_dir`, re-exported here) builds
everything in a
hidden staging directory beside the target and swaps it into place on
:meth:`ReportDirectory.commit`, so a reader never sees half a report and a failed, interrupted
or killed run leaves an earlier report untouched. An existing target is replaced only when it is
empty or an earlier audiogan report (it holds a ``summary.json`` whose ``format`` is
:data:`REPORT_FORMAT`); anything else raises :class:`ReportError`.

Clips left out of the averages (a silent reference) are listed apart under "Skipped clips"
(:attr:`ReportContent.skipped`); clips that failed are listed under the summary.

The page uses no scripts and no external resources; text is HTML-escaped and links are
URL-quoted.
"""

from __future__ import annotations

import html
import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from audiogan.evaluation.metrics import METRICS
from audiogan.evaluation.report_dir import REPORT_FORMAT, ReportDirectory, ReportError, relative_url
from audiogan.features.mel import MelSpectrogram

__all__ = [
    "REPORT_FORMAT", "ClipRow", "GeneratedGrid", "Media", "ModelRow", "ReportContent",
    "ReportDirectory", "ReportError", "display_mel_db", "render_html"
]

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- content


@dataclass(frozen=True)
class Media:
    """One clip shown in the report: a player, its spectrogram and optional numbers.

    Attributes:
        label: Heading (e.g. "original" or the model name).
        audio: WAV path relative to the report directory (POSIX separators).
        image: Mel-spectrogram PNG, relative, or None.
        diff_image: PNG of the difference to the original, relative, or None.
        metrics: Per-clip metric values shown under the player.
        caption: Extra line (e.g. "class: seven (p = 0.93)").
    """

    label: str
    audio: str
    image: str | None = None
    diff_image: str | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    caption: str = ""


@dataclass(frozen=True)
class ClipRow:
    """One evaluated clip: the original beside every model's copy synthesis.

    Attributes:
        clip_id: Stable identifier (also the anchor id).
        title: Heading (file name, duration).
        reference: The original.
        outputs: One entry per model.
    """

    clip_id: str
    title: str
    reference: Media
    outputs: Sequence[Media]


@dataclass(frozen=True)
class ModelRow:
    """One line of the summary table.

    Attributes:
        name: Model name as used throughout the report.
        kind: ``"vocoder"`` or ``"unconditional"``.
        source: Where the weights came from.
        values: ``{key: (mean, std) or None}`` for the metric columns, plus free-form numbers.
        extra: Other columns (``{"RTF": "0.12", "clips": "20"}``), in order.
    """

    name: str
    kind: str
    source: str
    values: Mapping[str, tuple[float, float] | None] = field(default_factory=dict)
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class GeneratedGrid:
    """Clips of an unconditional model with its classifier scores.

    Attributes:
        model: Model name.
        clips: The generated clips.
        scores: ``{label: formatted value}`` shown as a table (e.g. inception score).
        notes: Lines shown under the scores.
    """

    model: str
    clips: Sequence[Media]
    scores: Mapping[str, str] = field(default_factory=dict)
    notes: Sequence[str] = ()


@dataclass(frozen=True)
class ReportContent:
    """Everything :func:`render_html` shows.

    Attributes:
        title: Page title.
        meta: ``(label, value)`` lines under the title (data, date, device, ...).
        models: Summary table rows.
        metric_keys: Metric columns of the summary and per-clip tables, in order.
        clips: Per-clip rows in display order (worst first).
        order_note: How the clips are ordered.
        generated: Grids of unconditional models.
        notes: Lines shown under the summary (skipped metrics, failures).
        skipped: ``(clip, reason)`` of clips left out of every average (e.g. a silent
            reference), listed under "Skipped clips".
    """

    title: str
    meta: Sequence[tuple[str, str]] = ()
    models: Sequence[ModelRow] = ()
    metric_keys: Sequence[str] = ()
    clips: Sequence[ClipRow] = ()
    order_note: str = ""
    generated: Sequence[GeneratedGrid] = ()
    notes: Sequence[str] = ()
    skipped: Sequence[tuple[str, str]] = ()


# --------------------------------------------------------------------------- HTML

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5em;color:#222}
h1{margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:1px solid #ccc}
.meta{color:#555;margin:.1em 0}
table.summary{border-collapse:collapse;font-size:.92em}
.scroll{overflow-x:auto}
table.summary th,table.summary td{border:1px solid #ccc;padding:.25em .5em;text-align:right}
table.summary td{white-space:nowrap}
table.summary th:first-child,table.summary td:first-child{text-align:left}
table.summary th{background:#f3f3f3}
.clip{border:1px solid #ddd;border-radius:6px;padding:.6em;margin:1em 0}
.clip h3{margin:.1em 0 .4em 0;font-size:1em}
.row{display:flex;flex-wrap:wrap;gap:.8em}
figure{margin:0;padding:.4em;background:#fafafa;border:1px solid #eee;border-radius:4px;
width:430px}
figcaption{font-weight:600;margin-bottom:.3em}
figure img{display:block;width:420px;max-width:100%;height:auto;margin-top:.3em}
figure audio{width:420px;max-width:100%}
.values{font-size:.82em;color:#333;margin-top:.3em}
.grid{display:flex;flex-wrap:wrap;gap:.8em}
.note{color:#8a4b00}
details{margin:.6em 0}
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _format(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.{digits}g}" if abs(value) < 1000 else f"{value:.0f}"


def _heading(key: str) -> str:
    info = METRICS.get(key)
    if info is None:
        return _e(key)
    arrow = "↓" if info.better == "lower" else "↑"
    unit = f" ({info.unit})" if info.unit else ""
    return f'<span title="{_e(info.description)}">{_e(info.label)}{_e(unit)} {arrow}</span>'


def _media(item: Media, keys: Sequence[str]) -> str:
    parts = [f"<figure><figcaption>{_e(item.label)}</figcaption>"]
    parts.append(
        f'<audio controls preload="metadata"><source src="{relative_url(item.audio)}" '
        f'type="audio/wav"></audio>'
    )
    if item.image:
        parts.append(
            f'<img src="{relative_url(item.image)}" alt="mel spectrogram: {_e(item.label)}" '
            f'loading="lazy">'
        )
    if item.diff_image:
        parts.append(
            f'<img src="{relative_url(item.diff_image)}" alt="difference to the original: '
            f'{_e(item.label)}" loading="lazy">'
        )
    shown = [k for k in keys if k in item.metrics] + [
        k for k in item.metrics if k not in keys
    ]
    if shown:
        values = ", ".join(
            f"{_e(METRICS[k].label if k in METRICS else k)} {_format(item.metrics[k])}"
            for k in shown
        )
        parts.append(f'<div class="values">{values}</div>')
    if item.caption:
        parts.append(f'<div class="values">{_e(item.caption)}</div>')
    parts.append("</figure>")
    return "".join(parts)


def _summary_table(content: ReportContent) -> str:
    extras: list[str] = []
    for model in content.models:
        extras += [k for k in model.extra if k not in extras]
    keys = [k for k in content.metric_keys if any(m.values.get(k) for m in content.models)]
    head = "".join(f"<th>{_e(k)}</th>" for k in ["model", "kind", *extras])
    head += "".join(f"<th>{_heading(k)}</th>" for k in keys)
    rows = []
    for model in content.models:
        cells = [
            f'<td title="{_e(model.source)}">{_e(model.name)}</td>',
            f"<td>{_e(model.kind)}</td>",
        ]
        cells += [f"<td>{_e(model.extra.get(k, '–'))}</td>" for k in extras]
        for key in keys:
            pair = model.values.get(key)
            text = "–" if pair is None else f"{_format(pair[0])} ± {_format(pair[1], 2)}"
            cells.append(f"<td>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        '<div class="scroll"><table class="summary"><thead><tr>' + head + "</tr></thead><tbody>"
        + "".join(rows) + "</tbody></table></div>"
    )


def _definitions(keys: Sequence[str]) -> str:
    items = "".join(
        f"<li><b>{_e(METRICS[k].label)}</b>"
        f"{' (' + _e(METRICS[k].unit) + ')' if METRICS[k].unit else ''}, "
        f"{'lower' if METRICS[k].better == 'lower' else 'higher'} is better: "
        f"{_e(METRICS[k].description)}</li>"
        for k in keys
        if k in METRICS
    )
    return (
        "<details><summary>Metric definitions</summary><p>Summary cells: mean ± standard "
        "deviation over the clips.</p><ul>" + items + "<li><b>RTF</b>: "
        "seconds of synthesis per second of audio (lower is faster; below 1 is faster than "
        "real time).</li></ul></details>"
    )


def render_html(content: ReportContent) -> str:
    """The report page for ``content`` (UTF-8 text, no scripts, relative links only).

    Args:
        content: What to show.

    Returns:
        The HTML document.
    """
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(content.title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(content.title)}</h1>",
    ]
    out += [f'<p class="meta">{_e(k)}: {_e(v)}</p>' for k, v in content.meta]
    if content.models:
        out.append("<h2>Summary</h2>")
        out.append(_summary_table(content))
        out.append(_definitions(content.metric_keys))
    out += [f'<p class="note">{_e(note)}</p>' for note in content.notes]
    if content.skipped:
        out.append("<h2>Skipped clips</h2><p>Not evaluated and left out of every average:</p>")
        out.append("<ul>" + "".join(
            f"<li>{_e(clip)}: {_e(reason)}</li>" for clip, reason in content.skipped
        ) + "</ul>")
    if content.clips:
        out.append(f"<h2>Clips</h2><p>{_e(content.order_note)}</p>")
        for clip in content.clips:
            out.append(f'<section class="clip" id="{_e(clip.clip_id)}">')
            out.append(f"<h3>{_e(clip.title)}</h3><div class=\"row\">")
            out.append(_media(clip.reference, ()))
            out += [_media(item, content.metric_keys) for item in clip.outputs]
            out.append("</div></section>")
    for grid in content.generated:
        out.append(f"<h2>Generated clips: {_e(grid.model)}</h2>")
        if grid.scores:
            rows = "".join(
                f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in grid.scores.items()
            )
            out.append(f'<table class="summary"><tbody>{rows}</tbody></table>')
        out += [f'<p class="note">{_e(note)}</p>' for note in grid.notes]
        out.append('<div class="grid">')
        out += [_media(item, ()) for item in grid.clips]
        out.append("</div>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- images


def display_mel_db(wave: np.ndarray | Tensor, sample_rate: int) -> np.ndarray:
    """Mel magnitude spectrogram in dB for display: ``20 log10 max(M, 1e-5)``.

    About 46 ms frames (a power of two), hop a quarter of that, 80 mel bands (64 at 8 kHz and
    below) from 0 Hz to sr/2, ``hifigan`` profile conventions. Images of two signals at one
    rate share the frame grid, so their difference is meaningful.

    Args:
        wave: ``(T,)`` samples.
        sample_rate: Rate in Hz.

    Returns:
        ``(n_mels, frames)`` float32 dB (at least one frame).
    """
    samples = torch.as_tensor(np.asarray(wave, dtype=np.float32)).reshape(-1)
    n_fft = 1 << (int(0.046 * sample_rate) - 1).bit_length()
    hop = n_fft // 4
    if samples.numel() < hop:
        samples = torch.nn.functional.pad(samples, (0, hop - samples.numel()))
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # empty mel filters at low rates
        mel = MelSpectrogram(
            "hifigan", sample_rate=int(sample_rate), n_fft=n_fft, hop_length=hop,
            win_length=n_fft, n_mels=80 if sample_rate > 8000 else 64, f_min=0.0, f_max=None,
        )
        log_mel = mel(samples)
    return (log_mel.numpy() * (20.0 / math.log(10.0))).astype(np.float32)
