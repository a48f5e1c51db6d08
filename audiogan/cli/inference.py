"""CLI commands of the inference area: ``synthesize``, ``generate``, ``export``, ``info``.

Each is a thin layer over :mod:`audiogan.inference.vocoder`,
:mod:`audiogan.inference.wave_generator`,
:mod:`audiogan.inference.model_dir` and :mod:`audiogan.inference.export`; exit codes follow
:mod:`audiogan.cli.main` (0 all good, 1 some inputs failed, 2 usage error or nothing processed).
"""

from __future__ import annotations

import glob
import re
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from audiogan.cli.main import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    Failures,
    device_option,
    log,
    one_line_errors,
)
from audiogan.core.errors import AudioganError

if TYPE_CHECKING:
    import torch

    from audiogan.inference.vocoder import Vocoder
    from audiogan.inference.wave_generator import WaveGenerator

MEL_EXTENSIONS = frozenset({".npy", ".pt"})
_DTYPE_CHOICES = ("float32", "bfloat16", "float16")
_BACKEND_CHOICES = ("auto", "torch", "onnxruntime")


@dataclass(frozen=True)
class _Input:
    """One input file and the output file (relative to OUT_DIR) it becomes."""

    path: Path
    output: Path


def _expand_inputs(
    inputs: tuple[str, ...], out_dir: Path, failures: Failures
) -> list[_Input]:
    """Files, directories (recursively) and globs -> inputs with unique output names.

    Directories are searched with :func:`~audiogan.audio.files.find_audio_files` (audio and
    mel suffixes; hidden files and OUT_DIR left out), in path order.
    """
    from audiogan.audio.files import AUDIO_SUFFIXES, find_audio_files, has_audio_suffix

    wanted = frozenset(AUDIO_SUFFIXES) | MEL_EXTENSIONS
    out_root = out_dir.resolve()
    found: list[_Input] = []
    for text in inputs:
        path = Path(text)
        if path.is_dir():
            inside = path.resolve()
            if inside == out_root or out_root in inside.parents:
                continue  # OUT_DIR itself: its files are outputs, not inputs
            for file in sorted(find_audio_files(path, suffixes=wanted, skip=out_dir)):
                found.append(_Input(file, file.relative_to(path).with_suffix(".wav")))
        elif path.is_file():
            found.append(_Input(path, Path(path.stem + ".wav")))
        elif glob.has_magic(text):
            matches = [Path(m) for m in sorted(glob.glob(text, recursive=True))]
            files = [m for m in matches if m.is_file() and has_audio_suffix(m, wanted)]
            if not files:
                failures.add(text, "the pattern matches no audio or mel files")
            found.extend(_Input(m, Path(m.stem + ".wav")) for m in files)
        else:
            failures.add(text, "no such file or directory")
    unique: list[_Input] = []
    owners: dict[Path, Path] = {}
    for item in found:
        if item.output in owners:
            if owners[item.output] != item.path:
                failures.add(str(item.path), f"its output {item.output} would overwrite the one "
                             f"of {owners[item.output]}; synthesise it separately")
            continue
        owners[item.output] = item.path
        unique.append(item)
    return unique


def _read_input(item: _Input, voc: Vocoder) -> tuple[torch.Tensor, int | None]:
    """-> (mel (n_mels, frames) on the vocoder's device, samples to keep or None).

    Raises AudioError / MelInputError (one line naming the file); never runs code from a file.
    """
    from audiogan.audio.io import AudioError, load_audio
    from audiogan.inference.mel_files import read_mel_file

    if item.path.suffix.lower() in MEL_EXTENSIONS:
        return _single(voc, read_mel_file(item.path), item.path), None
    try:
        wave, _ = load_audio(item.path, sample_rate=voc.sample_rate)
        return voc.features(wave[0]), wave.shape[-1]
    except MemoryError:
        raise AudioError(f"{item.path}: too large to process in memory; split the file",
                         item.path) from None


def _reason(exc: BaseException) -> str:
    """The error's one line (Failures drops a leading ``<input>: ``)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def _single(voc: Vocoder, mel: Any, path: Path) -> torch.Tensor:
    from audiogan.inference.vocoder import FeatureRangeWarning, MelInputError

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FeatureRangeWarning)
        try:
            checked = voc.validate(mel)
        except MelInputError as exc:
            raise MelInputError(f"{path}: {exc}") from None
    for warning in caught:
        click.echo(f"warning: {path}: {warning.message}", err=True)
    if checked.shape[0] != 1:
        raise MelInputError(f"{path}: holds a batch of {checked.shape[0]} mels; give one "
                            "(n_mels, frames)")
    return checked[0]


def _synthesize_batch(voc: Vocoder, mels: list[torch.Tensor], seed: int) -> list[torch.Tensor]:
    import torch

    if len(mels) == 1:
        return [voc(mels[0], check_range=False, seed=seed)]  # checked per file in _read_input
    frames = max(mel.shape[-1] for mel in mels)
    padded = torch.full((len(mels), voc.n_mels, frames), voc.spec.log_min, device=voc.device)
    for index, mel in enumerate(mels):
        padded[index, :, : mel.shape[-1]] = mel
    return voc(padded, lengths=[mel.shape[-1] for mel in mels], check_range=False, seed=seed)


@click.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--out-dir", required=True, type=click.Path(path_type=Path),
              help="Directory for <stem>.wav (directory inputs keep their sub-folders).")
@device_option
@click.option("--batch-size", default=1, show_default=True, type=click.IntRange(min=1),
              help="Inputs per generator call (padded; each output is exact).")
@click.option("--dtype", type=click.Choice(("auto", *_DTYPE_CHOICES)), default="auto",
              show_default=True,
              help="Generator precision (features stay float32); auto: the CPU policy's "
                   "measured path for this generator and CPU, else float32.")
@click.option("--backend", type=click.Choice(_BACKEND_CHOICES), default="auto",
              show_default=True,
              help="torch, or onnxruntime (CPU, float32: the model directory's generator.onnx "
                   "from audiogan export --format onnx); auto: the CPU policy.")
@click.option("--seed", default=0, show_default=True, type=int,
              help="Noise seed of noise-driven vocoders (Parallel WaveGAN): one seed gives the "
                   "same audio, whatever the batch; other vocoders ignore it.")
@click.option("--fixed-shapes/--no-fixed-shapes", default=None,
              help="Run the generator over equal-size windows (a bounded set of shapes, "
                   "cudnn.benchmark on; same audio). Default: on for CUDA, off elsewhere.")
@click.option("--cuda-graphs", is_flag=True,
              help="Replay one captured CUDA graph per window shape (CUDA, fixed shapes).")
@one_line_errors
def synthesize(model: Path, inputs: tuple[str, ...], out_dir: Path, device: str | None,
               batch_size: int, dtype: str, backend: str, seed: int, fixed_shapes: bool | None,
               cuda_graphs: bool) -> None:
    """Synthesise WAVs with the vocoder MODEL (model dir, run dir or checkpoint).

    INPUTS are audio files (copy synthesis: their features are computed and resynthesised),
    mel files (.npy / .pt holding one (n_mels, frames) array of the model's raw profile
    features), directories (searched recursively) or quoted globs. Each input becomes
    OUT_DIR/<stem>.wav. Bad inputs are reported and skipped; the exit code is 1 when some
    failed and 2 when all did.
    """
    from audiogan.core.devices import resolve_device
    from audiogan.inference.backends import check_backend
    from audiogan.inference.fixed_shapes import check_shape_options
    from audiogan.inference.vocoder import Vocoder

    # DeviceError: one line, exit 2, before any reading; onnxruntime without --device: the CPU
    run_device = resolve_device("cpu" if device is None and backend == "onnxruntime" else device)
    wanted_dtype = None if dtype == "auto" else dtype
    check_backend(backend, run_device, wanted_dtype)  # BackendError: likewise
    check_shape_options(run_device, fixed_shapes, cuda_graphs, backend)  # ShapeOptionError
    failures = Failures()
    items = _expand_inputs(inputs, out_dir, failures)
    if not items:
        if not failures.items:
            click.echo("error: no audio (.wav .flac .ogg ...) or mel (.npy .pt) files found",
                       err=True)
            sys.exit(EXIT_FAILED)
        failures.finish("inputs")
    voc = Vocoder.load(model, device=run_device, dtype=wanted_dtype, backend=backend,
                       fixed_shapes=fixed_shapes, cuda_graphs=cuda_graphs)
    log.info("synthesising %d input(s) with %s (%s profile, %d Hz)", len(items),
             voc.path_info, voc.profile, voc.sample_rate)
    started = time.perf_counter()
    try:
        compute, audio_seconds = _synthesize_all(voc, items, out_dir, batch_size, failures,
                                                 seed)
    except KeyboardInterrupt:
        click.echo(f"error: interrupted; {failures.done} file(s) written to {out_dir}, the rest "
                   "not processed", err=True)
        sys.exit(EXIT_INTERRUPTED)
    if failures.done:
        rtf = compute / max(audio_seconds, 1e-9)
        click.echo(
            f"synthesised {failures.done} file(s), {audio_seconds:.2f} s of audio, into "
            f"{out_dir} in {time.perf_counter() - started:.2f} s; synthesis {compute:.2f} s: "
            f"real-time factor {rtf:.4f} ({1 / max(rtf, 1e-12):.1f}x real time) on "
            f"{voc.device} {_dtype_name(voc.dtype)}"
        )
        click.echo(f"path: {voc.path_info}")
    failures.finish("inputs")


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _synthesize_all(voc: Vocoder, items: list[_Input], out_dir: Path, batch_size: int,
                    failures: Failures, seed: int = 0) -> tuple[float, float]:
    """Synthesise every input, one error line per failed one -> (compute s, audio s)."""
    import torch
    from tqdm import tqdm

    from audiogan.audio.io import save_audio

    compute = audio_seconds = 0.0
    with tqdm(total=len(items), unit="file", disable=None, file=sys.stderr) as bar:
        for first in range(0, len(items), batch_size):
            batch: list[tuple[_Input, torch.Tensor, int | None]] = []
            for item in items[first : first + batch_size]:
                try:
                    mel, keep = _read_input(item, voc)
                    batch.append((item, mel, keep))
                except AudioganError as exc:
                    failures.add(str(item.path), _reason(exc))
                    bar.update(1)
            if not batch:
                continue
            tick = time.perf_counter()
            try:
                waves = _synthesize_batch(voc, [mel for _, mel, _ in batch], seed)
                if voc.device.type == "cuda":
                    torch.cuda.synchronize(voc.device)
            except (AudioganError, torch.OutOfMemoryError, MemoryError) as exc:
                reason = (_reason(exc) if isinstance(exc, AudioganError) else
                          "out of memory; use a smaller --batch-size or shorter inputs")
                for item, _, _ in batch:
                    failures.add(str(item.path), reason)
                bar.update(len(batch))
                continue
            compute += time.perf_counter() - tick
            for (item, _, keep), wave in zip(batch, waves):
                wave = wave[:keep] if keep is not None else wave
                try:
                    save_audio(out_dir / item.output, wave.float().cpu(), voc.sample_rate)
                except AudioganError as exc:
                    failures.add(str(item.path), _reason(exc))
                else:
                    failures.done += 1
                    audio_seconds += wave.shape[-1] / voc.sample_rate
                bar.update(1)
    return compute, audio_seconds


def _safe_name(text: str) -> str:
    return re.sub(r"[^\w.-]+", "_", text).strip("._") or "label"


@click.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.option("-n", "--num", "num", required=True, type=click.IntRange(min=1),
              help="Number of clips.")
@click.option("-o", "--out-dir", required=True, type=click.Path(path_type=Path),
              help="Directory for {label}_{i:05d}.wav.")
@click.option("--seed", default=0, show_default=True, type=int,
              help="Clip i uses seed + i, so any clip can be regenerated alone.")
@click.option("--label", default=None,
              help="Class name or index (class-conditional models); default: cycle classes.")
@device_option
@click.option("--batch-size", default=16, show_default=True, type=click.IntRange(min=1))
@click.option("--dtype", type=click.Choice(_DTYPE_CHOICES), default="float32", show_default=True)
@one_line_errors
def generate(model: Path, num: int, out_dir: Path, seed: int, label: str | None,
             device: str | None, batch_size: int, dtype: str) -> None:
    """Generate NUM clips with the unconditional / class-conditional MODEL.

    Files are OUT_DIR/{label}_{i:05d}.wav (label "any" for unconditional models); clip i uses
    seed SEED + i, so `generate MODEL -n 1 --seed SEED+i --label L` regenerates it alone.
    """
    from audiogan.core.devices import resolve_device
    from audiogan.inference.wave_generator import WaveGenerator

    gen = WaveGenerator.load(model, device=resolve_device(device), dtype=dtype)
    conditional = gen.label_ids(label, 1) is not None  # LabelError: one line, exit 2
    started = time.perf_counter()
    try:
        _generate_all(gen, label, conditional, num, out_dir, seed, batch_size)
    except KeyboardInterrupt:
        click.echo(f"error: interrupted; the clips written so far are in {out_dir}", err=True)
        sys.exit(EXIT_INTERRUPTED)
    seconds = time.perf_counter() - started
    click.echo(f"generated {num} clip(s) of {gen.num_samples / gen.sample_rate:.2f} s into "
               f"{out_dir} in {seconds:.2f} s (seeds {seed}..{seed + num - 1})")


def _generate_all(gen: WaveGenerator, label: str | None, conditional: bool, num: int,
                  out_dir: Path, seed: int, batch_size: int) -> None:
    """Write clip i as {label}_{i:05d}.wav with seed + i, batch by batch."""
    from tqdm import tqdm

    from audiogan.audio.io import save_audio

    with tqdm(total=num, unit="clip", disable=None, file=sys.stderr) as bar:
        for first in range(0, num, batch_size):  # memory bounded by the batch, not by NUM
            count = min(batch_size, num - first)
            chunk = (None if not conditional else
                     [label] * count if label is not None else
                     [(first + i) % gen.num_classes for i in range(count)])
            ids = gen.label_ids(chunk, count)
            clips = gen.sample(count, seed=seed + first, labels=chunk,
                               batch_size=batch_size).cpu()
            for offset, clip in enumerate(clips):
                index = first + offset
                name = "any" if ids is None else _safe_name(gen.label_name(int(ids[offset])))
                save_audio(out_dir / f"{name}_{index:05d}.wav", clip, gen.sample_rate)
                bar.update(1)


@click.command()
@click.argument("source", metavar="CHECKPOINT_OR_RUN", type=click.Path(path_type=Path))
@click.option("-o", "--out-dir", required=True, type=click.Path(path_type=Path),
              help="The model directory to write (replaced if it is one already).")
@click.option("--format", "formats", multiple=True, default=("safetensors",),
              show_default=True, type=click.Choice(["safetensors", "onnx", "torchscript"]),
              help="Repeatable; safetensors (config + weights) is always written.")
@one_line_errors
def export(source: Path, out_dir: Path, formats: tuple[str, ...]) -> None:
    """Export a checkpoint, run directory (best, else latest; EMA preferred) or model directory
    to a model directory: config.yaml + generator.safetensors [+ feature_stats.safetensors]
    [+ generator.onnx] [+ generator.ts] [+ discriminator.safetensors, kept from a model
    directory that has one, e.g. an imported one]. ONNX and TorchScript exports are checked
    against PyTorch (max abs difference <= 1e-4) before anything is written; the directory is
    swapped in whole, so a failure or Ctrl-C (exit 130) leaves OUT_DIR as it was.
    """
    from audiogan.inference.export import export_model

    try:
        result = export_model(source, out_dir, formats)  # ExportError: one line, exit 2
    except KeyboardInterrupt:
        click.echo(f"error: interrupted; {out_dir} left as it was", err=True)
        sys.exit(EXIT_INTERRUPTED)
    names = ", ".join(path.name for path in result.files.values())
    click.echo(f"exported {result.source} to {out_dir}: {names}")
    for name, error in result.max_abs_error.items():
        click.echo(f"  {name}: max |difference| from PyTorch {error:.2e}")


@click.command()
@click.argument("model", type=click.Path(path_type=Path))
@one_line_errors
def info(model: Path) -> None:
    """Print what MODEL (model dir, run dir or checkpoint) is: generator, parameter count,
    training step, feature profile, classes and the full config."""
    import yaml

    from audiogan.inference.kinds import model_kind
    from audiogan.inference.model_dir import load_model

    loaded = load_model(model)
    config, kind = loaded.config, model_kind(loaded)
    lines = [
        f"source: {loaded.source}",
        f"kind: {kind.title}",
        f"generator: {config.generator.name}, {loaded.num_parameters:,} parameters "
        "(weight norm folded)",
        f"training step: {loaded.step if loaded.step is not None else 'unknown'}"
        f"{' (EMA weights)' if loaded.ema else ''}",
        f"sample rate: {config.sample_rate} Hz",
        *kind.info_lines(loaded),
        *_cpu_path_lines(loaded),
    ]
    click.echo("\n".join(lines))
    click.echo("config:")
    text = yaml.safe_dump(config.to_dict(), sort_keys=False, default_flow_style=None)
    click.echo("".join(f"  {line}\n" for line in text.splitlines()), nl=False)


def _cpu_path_lines(loaded: Any) -> list[str]:
    """What ``Vocoder.load`` picks on this machine's CPU by default (vocoders only)."""
    from audiogan.inference.backends import onnx_file, onnxruntime_available
    from audiogan.inference.cpu_policy import choose_path

    if loaded.input_kind != "mel":
        return []
    runnable = onnx_file(loaded.source) is not None and onnxruntime_available()
    path = choose_path(loaded.generator, has_onnx=runnable)
    return [f"CPU path (default on this machine): {path}"]


COMMANDS = [synthesize, generate, export, info]
