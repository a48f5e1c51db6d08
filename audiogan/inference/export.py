"""Writing models: the model directory (safetensors + YAML), ONNX and TorchScript.

:func:`export_model` reads a checkpoint, run directory or model directory
(:func:`audiogan.inference.model_dir.load_model`; EMA weights preferred, weight norm folded) and
writes

- ``config.yaml``: the resolved recipe;
- ``generator.safetensors``: the weights, with metadata (format, step, EMA, class names);
- ``feature_stats.safetensors``: ``mean`` / ``scale`` ``(n_mels,)``, when the features carry
  z-normalisation statistics (the ``pwg`` profile);
- ``discriminator.safetensors``: carried over unchanged when the source is a model directory
  that has one (an ``audiogan import`` of a checkpoint with discriminators), so the exported
  directory still starts both parts for ``training.init_from``; checked to be a readable
  safetensors file first. (From a checkpoint or run directory only the generator is written:
  ``training.init_from`` takes those directly, discriminator included.)
- ``generator.onnx`` (``formats`` has ``"onnx"``): input ``mel`` ``(B, n_mels, frames)`` of raw
  profile features (statistics applied inside), dynamic batch and frames axes, output ``wave``
  ``(B, 1, frames * hop)``; noise-driven vocoders (Parallel WaveGAN) also take ``noise``
  ``(B, noise_channels, frames * hop)`` (dynamic samples axis; draw it with
  :func:`audiogan.models.randomness.keyed_noise` to match :class:`audiogan.Vocoder`);
  unconditional models take ``z`` ``(B, latent_dim)`` [and ``labels`` ``(B,)`` int64]. Checked
  with onnxruntime (the ``onnx`` extra);
- ``generator.ts`` (``"torchscript"``): the same module as TorchScript, scripted where the model
  allows, else traced. TorchScript is deprecated upstream; prefer ONNX or the safetensors
  directory. ``generator.ts`` is code: :func:`~audiogan.inference.model_dir.load_model` never reads
  it.

Every ONNX / TorchScript export is run back (onnxruntime / ``torch.jit.load``) on inputs of
three lengths and batch sizes and compared with the PyTorch module; a difference above ``atol``
(1e-4), or a failure on any of them, aborts the export with :class:`ExportError`. The ONNX and
TorchScript files are serialised in memory and checked before anything touches the disk; the
directory is then built with :class:`audiogan.core.atomic.StagedDirectory` (beside the target, modes
from the umask) and swapped in whole, so a full disk or a kill leaves the previous export intact
and no staging directory behind (a killed process's leftovers: ``atomic.remove_stale_temps``).
"""

from __future__ import annotations

import copy
import dataclasses
import io
import json
import logging
import os
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from audiogan.config import Config, save_config
from audiogan.core.atomic import StagedDirectory, write_bytes
from audiogan.core.errors import AudioganError, describe_os_error
from audiogan.inference.kinds import model_kind
from audiogan.inference.model_dir import (
    CONFIG_NAME,
    DISCRIMINATOR_NAME,
    MODEL_DIR_FILES,
    MODEL_FORMAT,
    MODEL_VERSION,
    ONNX_NAME,
    STATS_NAME,
    TORCHSCRIPT_NAME,
    WEIGHTS_NAME,
    LoadedModel,
    ModelFileError,
    VocoderModule,
    WaveGeneratorModule,
    load_model,
)
from audiogan.models.layers import has_weight_norm, remove_weight_norm

# load_model, LoadedModel and ModelFileError are re-exported: reading and writing model files
# are used together (audiogan.inference.model_dir is where they live).
__all__ = [
    "FORMATS",
    "ExportError",
    "ExportResult",
    "LoadedModel",
    "ModelFileError",
    "export_model",
    "load_model",
]

log = logging.getLogger(__name__)

FORMATS: tuple[str, ...] = ("safetensors", "onnx", "torchscript")
"""Valid ``formats`` of :func:`export_model` (``safetensors`` is always written)."""


class ExportError(AudioganError, RuntimeError):
    """An export failed, could not be written or would not reproduce the PyTorch output; the
    target directory is as it was."""


@dataclass
class ExportResult:
    """What :func:`export_model` wrote.

    Attributes:
        out_dir: the model directory.
        files: format name -> file written (``config``, ``safetensors``, ``stats``, ``onnx``,
            ``torchscript``).
        max_abs_error: format -> largest difference from the PyTorch output over the checks.
        source: the checkpoint or weights file that was exported.
    """

    out_dir: Path
    files: dict[str, Path]
    max_abs_error: dict[str, float]
    source: Path


def export_model(
    source: str | os.PathLike[str] | LoadedModel,
    out_dir: str | os.PathLike[str],
    formats: Iterable[str] = ("safetensors",),
    *,
    atol: float = 1e-4,
) -> ExportResult:
    """Write a model directory from a checkpoint, run directory or model directory.

    Every requested format is serialised in memory and must reproduce the PyTorch output before
    anything is written; the files then go to a staging directory beside ``out_dir`` that is
    renamed into place whole, so a failed export (a full disk included) leaves ``out_dir`` as it
    was. An existing model directory at ``out_dir`` is replaced as a whole
    (list every format you want); any other non-empty directory is refused.

    Args:
        source: a checkpoint file, a run directory (best, else latest; EMA preferred), a model
            directory, or an already loaded :class:`LoadedModel`.
        out_dir: the model directory to write.
        formats: any of :data:`FORMATS`; ``safetensors`` (weights + config) is always written.
        atol: largest allowed absolute difference between an export and PyTorch.

    Returns:
        :class:`ExportResult` with the files written and the measured differences.

    Raises:
        ExportError: an unknown format, a missing onnxruntime, a model that cannot be traced,
            scripted or exported faithfully, an ``out_dir`` that is not a model directory, or a
            write that failed (full disk, permissions: the message names the file).
        ModelFileError, CheckpointError: ``source`` cannot be read.
    """
    wanted = _check_formats(formats)
    out_dir = Path(out_dir)
    _check_target(out_dir)
    loaded = _exportable(source if isinstance(source, LoadedModel) else load_model(source))
    module = loaded.module().eval()
    blobs = _weight_blobs(loaded)  # kind -> (file name, bytes)
    discriminator = _discriminator_blob(loaded)
    if discriminator is not None:
        blobs["discriminator"] = (DISCRIMINATOR_NAME, discriminator)
    errors: dict[str, float] = {}
    if "onnx" in wanted:
        data, errors["onnx"] = _export_onnx(module, atol)
        blobs["onnx"] = (ONNX_NAME, data)
    if "torchscript" in wanted:
        data, errors["torchscript"] = _export_torchscript(module, atol)
        blobs["torchscript"] = (TORCHSCRIPT_NAME, data)
    write_model_dir(loaded.config, blobs.values(), out_dir, ExportError, "exported")
    files = {"config": out_dir / CONFIG_NAME,
             **{kind: out_dir / name for kind, (name, _) in blobs.items()}}
    for name, error in errors.items():
        log.debug("%s export reproduces PyTorch to %.2e (limit %.0e)", name, error, atol)
    return ExportResult(out_dir=out_dir, files=files, max_abs_error=errors, source=loaded.source)


def _exportable(loaded: LoadedModel) -> LoadedModel:
    """``loaded`` with its generator on the CPU in float32 with weight norm folded (a copy of
    the generator when it is not so already; the caller's model is left alone)."""
    generator = loaded.generator
    tensors = [*generator.parameters(), *generator.buffers()]
    plain = all(t.device.type == "cpu" and t.dtype in (torch.float32, torch.int64)
                for t in tensors)
    if not plain or has_weight_norm(generator):
        generator = copy.deepcopy(generator)
        remove_weight_norm(generator)
        generator.to(device="cpu", dtype=torch.float32).eval()
    mean, scale = (None if value is None else value.detach().to("cpu", torch.float32)
                   for value in (loaded.mean, loaded.scale))
    return dataclasses.replace(loaded, generator=generator, mean=mean, scale=scale)


def _check_formats(formats: Iterable[str]) -> set[str]:
    if isinstance(formats, str):
        formats = (formats,)
    wanted = {str(f).lower() for f in formats}
    unknown = sorted(wanted - set(FORMATS))
    if unknown:
        raise ExportError(
            f"unknown export format {unknown[0]!r}; valid formats: {', '.join(FORMATS)}"
        )
    return wanted | {"safetensors"}


def _check_target(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError(f"{out_dir}: exists and is not a directory; choose another output")
    if out_dir.is_dir():
        extra = sorted(p.name for p in out_dir.iterdir() if p.name not in MODEL_DIR_FILES)
        if extra:
            raise ExportError(
                f"{out_dir}: not empty and not an audiogan model directory (holds {extra[0]}); "
                "choose a new output directory"
            )


def _weight_blobs(loaded: LoadedModel) -> dict[str, tuple[str, bytes]]:
    """The safetensors files (weights with metadata, statistics): kind -> (name, bytes)."""
    from safetensors.torch import save

    state = {k: v.detach().to("cpu", torch.float32).contiguous().clone()
             for k, v in loaded.generator.state_dict().items()}
    metadata = {
        "format": MODEL_FORMAT,
        "version": str(MODEL_VERSION),
        "input_kind": loaded.input_kind,
        "step": "" if loaded.step is None else str(loaded.step),
        "ema": "true" if loaded.ema else "false",
        "classes": json.dumps(list(loaded.classes)) if loaded.classes else "",
    }
    blobs = {"safetensors": (WEIGHTS_NAME, save(state, metadata=metadata))}
    if loaded.mean is not None and loaded.scale is not None:
        stats = {"mean": loaded.mean.float().contiguous().clone(),
                 "scale": loaded.scale.float().contiguous().clone()}
        blobs["stats"] = (STATS_NAME, save(stats))
    return blobs


def _discriminator_blob(loaded: LoadedModel) -> bytes | None:
    """The bytes of ``discriminator.safetensors`` beside the source's ``generator.safetensors``
    (a model directory), or None; read before anything is written (the target may be the
    source itself)."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    source = loaded.source
    path = source.parent / DISCRIMINATOR_NAME
    if source.name != WEIGHTS_NAME or not path.is_file():
        return None
    try:
        data = path.read_bytes()
        load(data)  # a readable safetensors file, or refuse before writing anything
    except (OSError, SafetensorError, ValueError) as exc:
        reason = " ".join(str(exc).split())[:160] or type(exc).__name__
        raise ExportError(f"{path}: unreadable ({reason}); import the model again, or remove "
                          "the file to export the generator alone") from None
    return data


def write_model_dir(config: Config, files: Iterable[tuple[str, bytes]], out_dir: Path,
                    error: type[AudioganError], verb: str) -> None:
    """Build a model directory (``config.yaml`` + each ``(name, data)`` file) beside ``out_dir``
    and swap it in whole: what ``audiogan export`` and ``audiogan import`` write.

    Raises:
        error: a write failed, naming the file, "nothing was <verb>" and whether ``out_dir``
            was left as it was (the staging directory is removed).
    """
    current = out_dir
    try:
        with StagedDirectory(out_dir) as staging:
            current = out_dir / CONFIG_NAME
            save_config(config, staging / CONFIG_NAME)
            for name, data in files:
                current = out_dir / name
                write_bytes(staging / name, data)
            current = out_dir
    except OSError as exc:
        line = describe_os_error(OSError(exc.errno, exc.strerror or str(exc)), current)
        state = "left as it was" if out_dir.exists() else "not created"
        raise error(f"{line}; nothing was {verb} ({out_dir} {state})") from exc


# --- example inputs and parity -----------------------------------------------------------------


def _examples(
    module: VocoderModule | WaveGeneratorModule, seed: int = 0
) -> list[tuple[Tensor, ...]]:
    """Inputs of two lengths / batch sizes to trace with and to compare on (the kind's)."""
    return model_kind(module).example_inputs(module, seed)


def _max_error(reference: Tensor, other: Tensor) -> float:
    if tuple(reference.shape) != tuple(other.shape):
        return float("inf")
    return float((reference.float() - other.float()).abs().max()) if reference.numel() else 0.0


def _parity(
    name: str,
    module: nn.Module,
    run: Callable[[tuple[Tensor, ...]], Tensor],
    examples: Sequence[tuple[Tensor, ...]],
    atol: float,
) -> float:
    worst = 0.0
    for example in examples:
        with torch.inference_mode():
            reference = module(*example)
        try:
            with torch.no_grad():
                error = _max_error(reference, run(example))
        except Exception as exc:  # the exported graph fails on another shape
            raise ExportError(
                f"the {name} export fails on input of shape {tuple(example[0].shape)} "
                f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                "nothing was written"
            ) from None
        worst = max(worst, error)
        if not error <= atol:
            raise ExportError(
                f"the {name} export differs from PyTorch by {error:.3g} (> {atol:g}) on input "
                f"of shape {tuple(example[0].shape)}; nothing was written"
            )
    return worst


def _export_onnx(module: VocoderModule | WaveGeneratorModule, atol: float) -> tuple[bytes, float]:
    """The checked ONNX file in memory and its largest difference from PyTorch."""
    try:
        import onnxruntime
    except ImportError:
        raise ExportError(
            "ONNX export needs onnxruntime to check the result: pip install 'audiogan[onnx]'"
        ) from None
    examples = _examples(module)
    kind = model_kind(module)
    names = kind.input_names(examples[0])
    axes: dict[str, dict[int, str]] = {name: {0: "batch"} for name in names}
    for name, more in kind.dynamic_axes(examples[0]).items():
        axes[name].update(more)
    axes["wave"] = {0: "batch", 2: "samples"}
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module, examples[0],
                # the stub allows only a path; the TorchScript-based exporter (dynamo=False)
                # also writes to a file object, as torch.onnx.export's documentation says
                buffer,  # type: ignore[arg-type]
                dynamo=False, input_names=names,
                output_names=["wave"], dynamic_axes=axes, opset_version=17,
            )
    except Exception as exc:
        raise ExportError(
            f"ONNX export of {type(module.generator).__name__} failed "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
        ) from None
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    data = buffer.getvalue()
    session = onnxruntime.InferenceSession(data, options, providers=["CPUExecutionProvider"])

    def run(example: tuple[Tensor, ...]) -> Tensor:
        feeds = {name: value.numpy() for name, value in zip(names, example)}
        return torch.from_numpy(session.run(["wave"], feeds)[0])

    return data, _parity("ONNX", module, run, examples, atol)


def _export_torchscript(
    module: VocoderModule | WaveGeneratorModule, atol: float
) -> tuple[bytes, float]:
    """The checked TorchScript file in memory (never a C++ abort on a full disk) and its
    largest difference from PyTorch."""
    examples = _examples(module)
    reason = ""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            compiled: Any = torch.jit.script(module)
            how = "scripted"
        except Exception as exc:
            reason = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc) else ''}"
            log.info("TorchScript cannot script %s (%s); tracing it instead",
                     type(module.generator).__name__, reason)
            try:
                with torch.no_grad():
                    compiled = torch.jit.trace(module, examples[0], check_trace=False)
                how = "traced"
            except Exception as trace_exc:
                raise ExportError(
                    f"TorchScript can neither script ({reason}) nor trace "
                    f"{type(module.generator).__name__} ({type(trace_exc).__name__}: "
                    f"{str(trace_exc).splitlines()[0] if str(trace_exc) else ''}) on torch "
                    f"{torch.__version__}; export safetensors or onnx instead"
                ) from None
        buffer = io.BytesIO()
        torch.jit.save(compiled, buffer)
        data = buffer.getvalue()
        reloaded = torch.jit.load(io.BytesIO(data))
    try:
        error = _parity(f"TorchScript ({how})", module, lambda ex: reloaded(*ex), examples, atol)
        return data, error
    except ExportError as exc:
        detail = f" (scripting failed: {reason})" if reason else ""
        raise ExportError(f"{exc}{detail}; export safetensors or onnx instead") from None
