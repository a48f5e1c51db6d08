"""Reading models: checkpoints, run directories and exported model directories.

:func:`load_model` turns any of them into a :class:`LoadedModel` (generator with weight norm
folded, config, feature statistics, step, class names); :class:`audiogan.Vocoder`,
:class:`audiogan.WaveGenerator` and :func:`audiogan.inference.export.export_model` build on it.

A model directory (written by :func:`audiogan.inference.export.export_model` or
:func:`audiogan.inference.imports.import_model`) holds
``config.yaml`` (the resolved recipe), ``generator.safetensors`` (weights, weight norm folded;
metadata: format, step, whether EMA, class names) and, when the features carry z-normalisation
statistics, ``feature_stats.safetensors`` (``mean``, ``scale``); optionally ``generator.onnx`` and
``generator.ts``, and ``discriminator.safetensors`` (the discriminator of an imported model, for
``training.init_from``; kept by ``audiogan export``), which are never read here.

Loading never executes code from a file: checkpoints go through ``torch.load(weights_only=True)``
(:func:`audiogan.core.checkpoints.load_checkpoint`), model directories through safetensors and
YAML.

This module also re-exports the deployable modules (:class:`VocoderModule`,
:class:`NoiseVocoderModule`, :class:`WaveGeneratorModule`: what ``voc.module`` is and what ONNX /
TorchScript exports hold; they live in :mod:`audiogan.inference.modules`) and holds the small
runtime helpers shared by the inference classes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from audiogan.config import Config, ConfigError, config_from_dict, load_config
from audiogan.core import checkpoints as ckpt
from audiogan.core.errors import AudioganError
from audiogan.inference.modules import NoiseVocoderModule, VocoderModule, WaveGeneratorModule
from audiogan.models import Generator
from audiogan.models.layers import remove_weight_norm

__all__ = [
    "CONFIG_NAME",
    "DISCRIMINATOR_NAME",
    "DTYPES",
    "ONNX_NAME",
    "STATS_NAME",
    "TORCHSCRIPT_NAME",
    "WEIGHTS_NAME",
    "LoadedModel",
    "ModelFileError",
    "NoiseVocoderModule",
    "VocoderModule",
    "WaveGeneratorModule",
    "inference_context",
    "is_model_dir",
    "load_model",
    "resolve_dtype",
]

log = logging.getLogger(__name__)

CONFIG_NAME = "config.yaml"
WEIGHTS_NAME = "generator.safetensors"
STATS_NAME = "feature_stats.safetensors"
ONNX_NAME = "generator.onnx"
TORCHSCRIPT_NAME = "generator.ts"
DISCRIMINATOR_NAME = "discriminator.safetensors"
MODEL_FORMAT = "audiogan-model"
MODEL_VERSION = 1
MODEL_DIR_FILES = frozenset(
    {CONFIG_NAME, WEIGHTS_NAME, STATS_NAME, ONNX_NAME, ONNX_NAME + ".data", TORCHSCRIPT_NAME,
     DISCRIMINATOR_NAME}
)
"""Every file a model directory may hold."""


class ModelFileError(AudioganError, ValueError):
    """A model file or directory cannot be used; the message names the file and the fix."""


DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32, "fp32": torch.float32,
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
    "float16": torch.float16, "fp16": torch.float16,
}
"""Names accepted wherever a dtype is: the generator runs in it, features stay float32."""


def resolve_dtype(dtype: torch.dtype | str | None) -> torch.dtype:
    """``float32`` | ``bfloat16`` | ``float16`` (or torch dtypes, or fp32/bf16/fp16) -> dtype.

    Raises:
        ValueError: any other dtype.
    """
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        if dtype in DTYPES.values():
            return dtype
    elif str(dtype).lower() in DTYPES:
        return DTYPES[str(dtype).lower()]
    raise ValueError(f"unsupported dtype {dtype!r}; use float32, bfloat16 or float16")


_BENCHMARK_LOCK = threading.Lock()
_BENCHMARK_STATE: list[Any] = [0, False]
"""[calls inside :func:`inference_context` now, ``cudnn.benchmark`` before the first of them]."""


@contextlib.contextmanager
def inference_context(device: torch.device, benchmark: bool = False) -> Iterator[None]:
    """``torch.inference_mode`` with ``cudnn.benchmark`` off on CUDA, or on with ``benchmark``
    (fixed-shape synthesis); restored afterwards (off CUDA the flag is left alone). The flag is
    process-wide: calls overlapping in several threads restore it when the last one leaves (to
    its value before the first)."""
    if device.type != "cuda":  # the flag is not touched
        with torch.inference_mode():
            yield
        return
    with _BENCHMARK_LOCK:
        if _BENCHMARK_STATE[0] == 0:
            _BENCHMARK_STATE[1] = torch.backends.cudnn.benchmark
        _BENCHMARK_STATE[0] += 1
        torch.backends.cudnn.benchmark = bool(benchmark)
    try:
        with torch.inference_mode():
            yield
    finally:
        with _BENCHMARK_LOCK:
            _BENCHMARK_STATE[0] -= 1
            if _BENCHMARK_STATE[0] == 0:
                torch.backends.cudnn.benchmark = _BENCHMARK_STATE[1]


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


@dataclass
class LoadedModel:
    """A generator read from a model directory, run directory or checkpoint file.

    Attributes:
        generator: the generator on the CPU in float32, weight norm folded, eval mode.
        config: the resolved recipe it was trained with.
        mean: ``(n_mels,)`` feature statistics (``pwg`` z-normalisation) or None.
        scale: ``(n_mels,)`` or None.
        step: training step of the weights (None when unknown).
        ema: True when the weights are the EMA (averaged) weights.
        classes: class names of a class-conditional model (label index -> name), or None.
        source: the file the weights came from.
    """

    generator: Generator
    config: Config
    mean: Tensor | None = None
    scale: Tensor | None = None
    step: int | None = None
    ema: bool = False
    classes: tuple[str, ...] | None = None
    source: Path = field(default_factory=Path)

    @property
    def input_kind(self) -> str:
        """``"mel"`` (vocoder) or ``"latent"`` (unconditional generator)."""
        return self.generator.input_kind

    @property
    def num_parameters(self) -> int:
        """Parameters of the (folded) generator."""
        return sum(p.numel() for p in self.generator.parameters())

    def module(self) -> VocoderModule | WaveGeneratorModule:
        """The deployable module of the model kind (:meth:`ModelKind.module
        <audiogan.inference.kinds.ModelKind.module>`): :class:`VocoderModule` or
        :class:`WaveGeneratorModule`."""
        from audiogan.inference.kinds import model_kind

        return model_kind(self).module(self)


def is_model_dir(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is a directory holding ``generator.safetensors``."""
    return (Path(path) / WEIGHTS_NAME).is_file()


def load_model(path: str | os.PathLike[str]) -> LoadedModel:
    """Read a generator from a model directory, a run directory or a checkpoint file.

    - Model directory (holds ``generator.safetensors``; the file itself is accepted too).
    - Run directory: ``checkpoints/best.pt``, else the newest loadable ``step_*.pt`` (a broken
      ``best.pt`` falls back to the newest with a warning).
    - Checkpoint file: any ``.pt`` written by the trainer.
    - Another toolkit's checkpoint that ``audiogan import`` reads (e.g. a jik876 ``g_*`` file
      with its ``config.json``, a Vocos directory or its ``pytorch_model.bin``): converted in
      memory, with a note.

    EMA weights are preferred when the checkpoint holds them. Nothing from the files is
    executed (``weights_only`` torch.load, safetensors, YAML).

    Args:
        path: the model directory, run directory or checkpoint file.

    Returns:
        The :class:`LoadedModel` (CPU, float32, weight norm folded, eval mode).

    Raises:
        ModelFileError: a model directory that is incomplete or corrupt.
        CheckpointError: no usable checkpoint (the message says what was looked for).
    """
    loaded = _load_any(Path(path))
    log.info(
        "loaded %s from %s (step %s%s)", loaded.config.generator.name, loaded.source,
        "unknown" if loaded.step is None else loaded.step, ", EMA weights" if loaded.ema else "",
    )
    return loaded


def _load_any(path: Path) -> LoadedModel:
    if path.is_file() and path.name in (WEIGHTS_NAME, CONFIG_NAME, STATS_NAME):
        path = path.parent
    if path.is_dir() and is_model_dir(path):
        return _load_model_dir(path)
    has_runs = (path / ckpt.CHECKPOINT_DIR).is_dir()
    if not has_runs:  # another toolkit's checkpoint (audiogan import), converted in memory
        from audiogan.inference.imports import convert_in_memory, find_reader

        # (before the config.yaml check: a Vocos directory has a config.yaml of its own)
        found = find_reader(path)
        if found is not None:
            return convert_in_memory(path, fmt=found[0].name)
    if path.is_dir() and (path / CONFIG_NAME).is_file() and not has_runs:
        raise ModelFileError(
            f"{path}: has {CONFIG_NAME} but no {WEIGHTS_NAME} and no checkpoints/; give a model "
            "directory written by `audiogan export`, a run directory or a checkpoint file"
        )
    if path.is_dir():
        return _load_run_dir(path)
    return _load_checkpoint_file(ckpt.find_checkpoint(path))


def _load_run_dir(run_dir: Path) -> LoadedModel:
    best = run_dir / ckpt.CHECKPOINT_DIR / ckpt.BEST_NAME
    if best.is_file():
        try:
            return _load_checkpoint_file(best)
        except ckpt.CheckpointError as exc:
            log.warning("%s; using the newest step checkpoint instead", exc)
    found = ckpt.latest_valid_checkpoint(run_dir)
    if found is None:
        raise ckpt.CheckpointError(
            f"{run_dir}: no model here: expected {WEIGHTS_NAME} (a model directory), "
            "checkpoints/best.pt or a loadable checkpoints/step_*.pt (a run directory)"
        )
    return _from_checkpoint_state(*found)


def _load_checkpoint_file(path: Path) -> LoadedModel:
    return _from_checkpoint_state(path, ckpt.load_checkpoint(path))


def _from_checkpoint_state(path: Path, state: dict[str, Any]) -> LoadedModel:
    if state.get("format") != ckpt.CHECKPOINT_FORMAT or not isinstance(state.get("config"), dict):
        raise ckpt.CheckpointError(
            f"{path}: not an audiogan checkpoint (no format/config entries); give a file "
            "written by `audiogan train` or a model directory from `audiogan export`"
        )
    try:
        config = config_from_dict(state["config"], saved=True)
    except ConfigError as exc:
        raise ckpt.CheckpointError(f"{path}: its saved config is invalid ({exc})") from None
    ema = isinstance(state.get("generator_ema"), dict)
    weights = state["generator_ema"] if ema else state.get("generator")
    if not isinstance(weights, dict):
        raise ckpt.CheckpointError(f"{path}: holds no generator weights")
    generator = _build(config)
    try:
        generator.load_state_dict(weights)
    except RuntimeError as exc:
        raise ckpt.CheckpointError(
            f"{path}: generator weights do not fit the saved config "
            f"({_mismatch(exc)})"
        ) from None
    remove_weight_norm(generator)
    mean, scale = _stats_from(state.get("features"))
    classes = state.get("classes")
    step = state.get("step")
    return LoadedModel(
        generator=generator.eval(),
        config=config,
        mean=mean,
        scale=scale,
        step=int(step) if step is not None else None,
        ema=ema,
        classes=tuple(str(c) for c in classes) if classes else None,
        source=path,
    )


def _mismatch(exc: BaseException) -> str:
    """The first concrete line of a ``load_state_dict`` error (a size mismatch or missing
    keys), not its "Error(s) in loading state_dict for ..." heading."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    detail = next((line for line in lines if not line.startswith("Error(s) in loading")),
                  lines[0] if lines else type(exc).__name__)
    return detail if len(detail) <= 240 else detail[:237] + "..."


def _stats_from(features_state: Any) -> tuple[Tensor | None, Tensor | None]:
    if not isinstance(features_state, dict):
        return None, None
    mean, scale = features_state.get("mean"), features_state.get("scale")
    if isinstance(mean, Tensor) and isinstance(scale, Tensor):
        return mean.float(), scale.float()
    return None, None


def _build(config: Config) -> Generator:
    from audiogan.config.build import generator_from_config

    return generator_from_config(config)


def _load_model_dir(directory: Path) -> LoadedModel:
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

    config_path = directory / CONFIG_NAME
    if not config_path.is_file():
        raise ModelFileError(f"{directory}: {CONFIG_NAME} is missing; re-run `audiogan export`")
    config = load_config(config_path, saved=True)
    weights_path = directory / WEIGHTS_NAME
    try:
        with safe_open(str(weights_path), framework="pt") as handle:
            metadata = dict(handle.metadata() or {})
        weights = load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFileError(
            f"{weights_path}: unreadable ({exc}); re-run `audiogan export`"
        ) from None
    if metadata.get("format", MODEL_FORMAT) != MODEL_FORMAT:
        raise ModelFileError(
            f"{weights_path}: not an audiogan model (metadata key 'format' is "
            f"{metadata['format']!r:.80}, expected {MODEL_FORMAT!r})"
        )
    generator = _build(config)
    remove_weight_norm(generator)
    try:
        generator.load_state_dict(weights)
    except RuntimeError as exc:
        raise ModelFileError(
            f"{weights_path}: weights do not fit {CONFIG_NAME} ({_mismatch(exc)})"
        ) from None
    mean = scale = None
    stats_path = directory / STATS_NAME
    if stats_path.is_file():
        try:
            stats = load_file(str(stats_path))
            mean, scale = stats["mean"].float(), stats["scale"].float()
        except (SafetensorError, OSError, ValueError, KeyError) as exc:
            raise ModelFileError(
                f"{stats_path}: unreadable or without mean/scale ({exc}); re-run `audiogan export`"
            ) from None
        _check_stats(stats_path, mean, scale, config.feature_spec().n_mels)
    step, classes = _check_metadata(weights_path, metadata, generator)
    return LoadedModel(
        generator=generator.eval(),
        config=config,
        mean=mean,
        scale=scale,
        step=step,
        ema=metadata.get("ema") == "true",
        classes=classes,
        source=weights_path,
    )


def _check_metadata(path: Path, metadata: dict[str, str],
                    generator: Generator) -> tuple[int | None, tuple[str, ...] | None]:
    """``(step, classes)`` from the weights' metadata; ModelFileError naming the file and key."""

    def bad(key: str, what: str) -> ModelFileError:
        return ModelFileError(f"{path}: metadata key {key!r} {what} (got {metadata[key]!r:.80}); "
                              "re-run `audiogan export` (the file was altered or is damaged)")

    version = metadata.get("version", str(MODEL_VERSION))
    if not version.isdigit() or not 1 <= int(version) <= MODEL_VERSION:
        raise bad("version", f"must be a model format version up to {MODEL_VERSION}")
    step_text = metadata.get("step", "")
    if step_text and not step_text.isdigit():
        raise bad("step", "must be a non-negative integer")
    classes: Any = None
    if metadata.get("classes"):
        try:
            classes = json.loads(metadata["classes"])
        except ValueError:
            raise bad("classes", "must be a JSON list of class names") from None
        if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
            raise bad("classes", "must be a JSON list of class names")
        expected = int(getattr(generator, "num_classes", 0) or 0)
        if len(classes) != expected:
            raise bad("classes", f"must name the generator's {expected} classes")
    return (int(step_text) if step_text else None), (tuple(classes) if classes else None)


def _check_stats(path: Path, mean: Tensor, scale: Tensor, n_mels: int) -> None:
    """ModelFileError naming the file and key unless mean/scale are (n_mels,), finite, scale > 0."""
    for key, value in (("mean", mean), ("scale", scale)):
        if tuple(value.shape) != (n_mels,):
            raise ModelFileError(f"{path}: {key!r} has shape {tuple(value.shape)}, expected "
                                 f"({n_mels},) for {n_mels} mels; re-run `audiogan export`")
        if not bool(torch.isfinite(value).all()):
            raise ModelFileError(f"{path}: {key!r} holds NaN/Inf values; re-run `audiogan export`")
    if not bool((scale > 0).all()):
        raise ModelFileError(f"{path}: 'scale' must be positive in every mel channel; re-run "
                             "`audiogan export`")
