"""Evaluation commands: ``audiogan evaluate`` and ``audiogan train-classifier``.

Thin layers over :mod:`audiogan.evaluation.run` and :mod:`audiogan.evaluation.classifier`;
registered on the
``audiogan`` group through ``COMMANDS`` (see :mod:`audiogan.cli.main`).
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import click

from audiogan.cli.main import Failures, device_option, one_line_errors


class _Stopped(KeyboardInterrupt):
    """SIGTERM during an evaluation, raised where the run is so that it unwinds cleanly."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """While inside, SIGTERM raises :class:`_Stopped` (the report's staging is then removed)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: FrameType | None) -> None:
        raise _Stopped(signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@click.command()
@click.argument("models", nargs=-1, required=True, metavar="MODEL [MODEL...]",
                type=click.Path(path_type=Path))
@click.option("--data", required=True, type=click.Path(path_type=Path),
              help="Manifest (TSV), audio file or directory of original clips.")
@click.option("-o", "--out-dir", required=True, type=click.Path(path_type=Path),
              help="Report directory (report.html, summary.json, per_clip.csv, audio/, "
                   "images/); an earlier report there is replaced.")
@device_option
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Evaluate only the first N clips.")
@click.option("--classifier", type=click.Path(path_type=Path), default=None,
              help="Classifier from `audiogan train-classifier`: inception score and "
                   "Fréchet distance of unconditional models.")
@click.option("--num-generated", type=click.IntRange(min=2), default=16, show_default=True,
              help="Clips generated per unconditional model.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Latent seed of the generated clips; also the noise seed of "
                   "noise-driven vocoders (Parallel WaveGAN) in copy synthesis.")
@click.option("--normalize/--no-normalize", default=True, show_default=True,
              help="Peak-normalise the originals to 0.95 before copy synthesis.")
@one_line_errors
def evaluate(
    models: tuple[Path, ...],
    data: Path,
    out_dir: Path,
    device: str | None,
    limit: int | None,
    classifier: Path | None,
    num_generated: int,
    seed: int,
    normalize: bool,
) -> None:
    """Evaluate MODEL(s) on the clips of --data and write an HTML listening report.

    Vocoders copy-synthesise every clip (per-clip metrics in per_clip.csv, averages and
    real-time factor in summary.json); unconditional models generate a grid of clips, scored
    with --classifier. Several models are compared in one report.

    A clip that fails prints one line naming it and the others go on; a silent reference
    (peak below -60 dBFS) is skipped and left out of every average. Exit 0: all clips
    evaluated; 1: some failed or were skipped (the report lists them); 2: nothing could be
    done; 130/143: interrupted (SIGINT/SIGTERM). The report appears only when complete.
    """
    from audiogan.core.devices import resolve_device
    from audiogan.evaluation.run import evaluate as run_evaluation

    run_device = resolve_device(device)  # DeviceError: one line, exit 2, before any model
    failures = Failures()
    try:
        with _sigterm_unwinds():
            result = run_evaluation(
                models, data, out_dir, device=run_device, limit=limit, classifier=classifier,
                num_generated=num_generated, seed=seed, normalize=normalize,
                console=sys.stderr.isatty(), on_problem=failures.add,
            )
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM through _sigterm_unwinds
        signum = int(getattr(exc, "signum", signal.SIGINT))
        name = signal.Signals(signum).name
        click.echo(f"error: {out_dir}: interrupted ({name}); no report written (an earlier "
                   "report there is unchanged); run the evaluation again", err=True)
        sys.exit(128 + signum)
    for name, info in result.summary["models"].items():
        click.echo(_model_line(name, info))
    for reason in result.summary["skipped_metrics"].values():
        click.echo(f"note: {reason}")
    click.echo(f"report: {result.report}")
    failures.done = result.num_done
    failures.finish("clips")


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _model_line(name: str, info: dict[str, Any]) -> str:
    """One line per model: headline numbers, RTF, and classifier scores beside accuracy."""
    parts = [f"{name} ({info['kind']}, {info['sample_rate']} Hz): RTF {_fmt(info['rtf'])}"]
    if info["kind"] == "vocoder":
        metrics = info.get("metrics", {})
        for key, label in (("log_mel_l1_db", "log-mel L1 dB"), ("mrstft", "MR-STFT"),
                           ("mcd13_db", "MCD-13 dB"), ("f0_rmse_cents", "F0 RMSE cents"),
                           ("pesq_wb", "PESQ-WB"), ("stoi", "STOI")):
            if key in metrics:
                parts.append(f"{label} {_fmt(metrics[key]['mean'])}")
        parts.append(f"{info['num_clips']} clips")
    else:
        scores = info.get("scores")
        if scores:
            parts += [
                f"IS {_fmt(scores['inception_score'])}",
                f"FD {_fmt(scores['frechet_distance'])}",
                f"classifier accuracy on {scores['num_real_labelled']} real clips "
                f"{_fmt(scores['classifier_accuracy_real'])}",
            ]
        else:
            parts.append("no scores (give --classifier)")
    return ", ".join(parts)


@click.command("train-classifier")
@click.argument("data", type=click.Path(path_type=Path))
@click.option("-o", "--out", required=True, type=click.Path(path_type=Path),
              help="A .safetensors file, or a directory (created if needed) for "
                   "classifier.safetensors.")
@click.option("--held-back", type=click.Path(path_type=Path), default=None,
              help="Clips for the accuracy check (manifest or directory). "
                   "Default: a stratified share of DATA (--held-back-fraction).")
@click.option("--held-back-fraction", type=click.FloatRange(0.0, 1.0, min_open=True,
              max_open=True), default=0.15, show_default=True)
@click.option("--sample-rate", type=click.IntRange(min=8000), default=16000, show_default=True)
@click.option("--clip-length", type=click.IntRange(min=1024), default=16000, show_default=True,
              help="Samples per clip (centre crop or zero padding).")
@click.option("--epochs", type=click.IntRange(min=1), default=30, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=2), default=32, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0.0, min_open=True), default=3e-3,
              show_default=True)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@device_option
@one_line_errors
def train_classifier(
    data: Path,
    out: Path,
    held_back: Path | None,
    held_back_fraction: float,
    sample_rate: int,
    clip_length: int,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    device: str | None,
) -> None:
    """Train the word classifier used to score unconditional models on labelled clips.

    DATA is a manifest with a label column, or a directory: files in sub-folders are labelled
    by the folder (SC09 layout), files directly inside by the name before the first "_" (FSDD
    "7_jackson_3.wav" -> 7). Prints the accuracy on held-back clips.
    """
    from audiogan.core.devices import resolve_device
    from audiogan.evaluation.classifier import train_classifier as run_training
    from audiogan.evaluation.run import collect_clips

    run_device = resolve_device(device)  # DeviceError: one line, exit 2, before any clip
    entries, rejected = collect_clips(data)
    held_entries = collect_clips(held_back)[0] if held_back is not None else None
    for path, reason in rejected:
        click.echo(f"skipped: {path}: {reason}", err=True)
    result = run_training(
        entries, out, held_back=held_entries, held_back_fraction=held_back_fraction,
        sample_rate=sample_rate, clip_length=clip_length, epochs=epochs,
        batch_size=batch_size, lr=lr, seed=seed, device=run_device,
    )
    click.echo(
        f"classifier: {len(result.classes)} classes ({', '.join(result.classes)}), "
        f"{result.num_train} training clips, {result.epochs} epochs"
    )
    click.echo(
        f"accuracy: held-back {result.held_back_accuracy:.3f} on {result.num_held_back} clips, "
        f"training {result.train_accuracy:.3f}"
    )
    click.echo(f"written: {result.path}")


COMMANDS = [evaluate, train_classifier]
