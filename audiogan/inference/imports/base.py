"""The import framework: reader registry, format detection, safe reading, the model directory.

A format reader (one module per toolkit, see :mod:`audiogan.inference.imports`) subclasses
:class:`FormatReader`; :func:`import_model` picks the reader (``auto``: the first whose
:meth:`~FormatReader.detect` recognises the source), lets it convert the source into a
:class:`Converted` (an audiogan config plus weights in audiogan's layout), checks that the weights
fit the models that config builds (strictly: every key, every shape) and writes a standard model
directory - ``config.yaml``, ``generator.safetensors``, ``feature_stats.safetensors`` when the
source has z-normalisation statistics, ``discriminator.safetensors`` when it has discriminator
weights - built beside the target and swapped in whole
(:class:`audiogan.core.atomic.StagedDirectory`).
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
import yaml
from torch import Tensor

from audiogan.config import Config, ConfigError, config_from_dict
from audiogan.core.errors import describe_os_error, one_line
from audiogan.inference.export import write_model_dir
from audiogan.inference.model_dir import (
    CONFIG_NAME,
    DISCRIMINATOR_NAME,
    MODEL_DIR_FILES,
    MODEL_FORMAT,
    MODEL_VERSION,
    STATS_NAME,
    WEIGHTS_NAME,
    LoadedModel,
    ModelFileError,
)

__all__ = [
    "DISCRIMINATOR_NAME",
    "READERS",
    "Converted",
    "Detection",
    "FormatReader",
    "ImportResult",
    "ImportSourceError",
    "KnownSource",
    "build_config",
    "convert_in_memory",
    "detect_format",
    "find_reader",
    "fold_weight_norm",
    "import_model",
    "name_number",
    "read_json",
    "read_yaml",
    "register",
    "safe_torch_load",
]

log = logging.getLogger(__name__)

# DISCRIMINATOR_NAME (from audiogan.inference.model_dir, "discriminator.safetensors"):
# discriminator weights
# of an imported model (training layout: the state dict of discriminator_from_config(config),
# weight/spectral norm parametrised), for training.init_from; audiogan export keeps it.


class ImportSourceError(ModelFileError):
    """A source cannot be imported; one line naming the file or key and the fix. Nothing was
    written. A :class:`~audiogan.inference.model_dir.ModelFileError`, so whatever handles an
    unusable model
    handles it."""


@dataclass(frozen=True)
class KnownSource:
    """A public source of pretrained weights (printed by ``audiogan import --list``).

    Attributes:
        format: the reader name that reads it (``hifigan``, ``pwg``, ...).
        name: what the weights are.
        where: how to get them (a URL or a package to download; nothing is fetched here).
        licence: the licence they are published under.
    """

    format: str
    name: str
    where: str
    licence: str


@dataclass
class Detection:
    """What :meth:`FormatReader.detect` recognised.

    Attributes:
        checkpoint: the main weights file.
        config_file: the toolkit's config file found beside it by its own naming, or None.
        description: one line, e.g. ``jik876/hifi-gan generator g_02500000 + config.json``.
        extra: reader-specific files (e.g. the discriminator checkpoint).
        generator_only: set by :func:`convert_in_memory`: the reader may skip the
            discriminator (an optimisation; a reader that ignores it is still correct).
    """

    checkpoint: Path
    config_file: Path | None
    description: str
    extra: dict[str, Path] = field(default_factory=dict)
    generator_only: bool = False


@dataclass
class Converted:
    """A source in audiogan's terms, before anything is written.

    Attributes:
        config: the audiogan config that builds the same models (features included).
        generator: folded generator weights: the state dict of ``generator_from_config(config)``
            after :func:`~audiogan.models.layers.remove_weight_norm`.
        discriminator: the state dict of ``discriminator_from_config(config)`` as built (weight
            and spectral norm parametrised), or None when the source has none.
        mean: ``(n_mels,)`` feature mean for z-normalisation, or None.
        scale: ``(n_mels,)`` feature scale, or None.
        step: training step of the weights, when known.
        notes: what the reader noticed (printed by the CLI, logged by the API).
    """

    config: Config
    generator: dict[str, Tensor]
    discriminator: dict[str, Tensor] | None = None
    mean: Tensor | None = None
    scale: Tensor | None = None
    step: int | None = None
    notes: list[str] = field(default_factory=list)


class FormatReader:
    """One toolkit's checkpoint format. Subclass, set the class attributes, implement
    :meth:`detect` and :meth:`read`, and decorate with :func:`register`.

    Attributes:
        name: the ``--format`` name (lowercase).
        title: the toolkit, for messages and ``--list``.
        files: the files it reads, for ``--list``.
        sources: known public pretrained weights in this format.
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    files: ClassVar[str] = ""
    sources: ClassVar[tuple[KnownSource, ...]] = ()

    def detect(self, path: Path) -> Detection | None:
        """``path`` (a file or directory) in this format, or None. Reads file names and at
        most safe headers; must not raise for a foreign source."""
        raise NotImplementedError

    def detection(self, checkpoint: Path, config_name: str,
                  extra: dict[str, Path] | None = None, what: str = "checkpoint") -> Detection:
        """The :class:`Detection` of ``checkpoint`` with the toolkit's ``config_name`` beside it
        (when there) and the ``extra`` files, described as "<title> <what> (<file> + ...)"."""
        config = checkpoint.with_name(config_name)
        found = config if config.is_file() else None
        extra = {} if extra is None else extra
        parts = [checkpoint.name] + ([config.name] if found else []) + [
            p.name for p in extra.values()]
        return Detection(checkpoint, found, f"{self.title} {what} ({' + '.join(parts)})", extra)

    @staticmethod
    def config_path(detection: Detection, config_file: Path | None, config_name: str,
                    wanted: str) -> Path:
        """``--config`` when given, else the config found beside the checkpoint.

        Raises:
            ImportSourceError: neither, naming the checkpoint and asking for ``wanted``.
        """
        path = config_file or detection.config_file
        if path is None:
            raise ImportSourceError(f"{detection.checkpoint}: no {config_name} beside it; "
                                    f"pass {wanted} with --config")
        return path

    def read(self, detection: Detection, config_file: Path | None) -> Converted:
        """Convert the detected source. ``config_file`` (``--config``) overrides
        ``detection.config_file``. When ``detection.generator_only`` is set the discriminator
        may be skipped (loading for inference).

        Raises:
            ImportSourceError: anything that does not fit, naming the file and key.
        """
        raise NotImplementedError


READERS: dict[str, FormatReader] = {}
"""Registered readers by name, in registration order (auto-detection tries them in order)."""


def register(cls: type[FormatReader]) -> type[FormatReader]:
    """Class decorator adding a reader to :data:`READERS`."""
    if not cls.name or cls.name != cls.name.lower() or cls.name in READERS or cls.name == "auto":
        raise ValueError(f"import format name {cls.name!r} is empty, not lowercase or taken")
    READERS[cls.name] = cls()
    return cls


# --- safe reading ------------------------------------------------------------------------------


def safe_torch_load(path: Path) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU (zip or legacy format).

    Raises:
        ImportSourceError: the file needs arbitrary unpickling (refused: it could run code;
            nothing from it ran), or it is not a readable torch file.
    """
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        detail = one_line(exc).split(" Check the documentation")[0]
        marker = "WeightsUnpickler error: "
        reason = detail.split(marker, 1)[1] if marker in detail else detail
        raise ImportSourceError(
            f"{path}: refused: reading it needs arbitrary unpickling ({reason[:160]}), which "
            "can run code; audiogan reads only tensors and plain containers - re-save the "
            "weights as a plain state dict"
        ) from None
    except OSError as exc:
        raise ImportSourceError(describe_os_error(exc, path)) from None
    except (RuntimeError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError, UnicodeDecodeError) as exc:
        reason = one_line(exc)[:160] or type(exc).__name__
        raise ImportSourceError(f"{path}: not a readable PyTorch checkpoint ({reason}); check "
                                "that the download is complete") from None


def name_number(pattern: re.Pattern[str], path: Path) -> int:
    """The number ``pattern``'s group 1 reads from ``path``'s name (a name it matches), e.g.
    the step of ``checkpoint-400000steps.pkl``: the sort key of numbered checkpoint files."""
    match = pattern.match(path.name)
    assert match is not None  # only names that match are sorted by it
    return int(match.group(1))


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``; ImportSourceError naming the file otherwise."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ImportSourceError(describe_os_error(exc, path)) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ImportSourceError(f"{path}: not valid JSON ({one_line(exc)[:120]})") from None
    if not isinstance(data, dict):
        raise ImportSourceError(f"{path}: expected a JSON object at the top level")
    return data


def read_yaml(path: Path) -> dict[str, Any]:
    """A YAML mapping from ``path`` (safe loader); ImportSourceError naming the file otherwise."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ImportSourceError(describe_os_error(exc, path)) from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ImportSourceError(f"{path}: not valid YAML ({one_line(exc)[:120]})") from None
    if not isinstance(data, dict):
        raise ImportSourceError(f"{path}: expected a YAML mapping at the top level")
    return data


# --- the import ----------------------------------------------------------------------------------


@dataclass
class ImportResult:
    """What :func:`import_model` did.

    Attributes:
        out_dir: the model directory written.
        format: the reader's name.
        detection: what was recognised.
        files: the files written.
        notes: what the reader noticed.
    """

    out_dir: Path
    format: str
    detection: Detection
    files: list[Path]
    notes: list[str]


def find_reader(source: Path) -> tuple[FormatReader, Detection] | None:
    """The first reader that recognises ``source`` and its detection, or None (also for a
    missing path). Raises ImportSourceError only for a recognised but unusable source."""
    if not source.exists():
        return None
    for reader in READERS.values():
        detection = reader.detect(source)
        if detection is not None:
            return reader, detection
    return None


def detect_format(source: Path, fmt: str = "auto") -> tuple[FormatReader, Detection]:
    """The reader and detection for ``source``; ``fmt`` names one reader or ``auto``.

    Raises:
        ImportSourceError: missing source, unknown format, or no reader recognises it.
    """
    if not source.exists():
        raise ImportSourceError(f"{source}: not found; give a checkpoint file or its directory")
    if fmt != "auto":
        if fmt not in READERS:
            raise ImportSourceError(f"unknown import format {fmt!r}; valid: auto, "
                                    f"{', '.join(READERS)} (audiogan import --list)")
        candidates = [READERS[fmt]]
    else:
        candidates = list(READERS.values())
    for reader in candidates:
        detection = reader.detect(source)
        if detection is not None:
            return reader, detection
    which = READERS[fmt].title if fmt != "auto" else "any format audiogan reads"
    raise ImportSourceError(
        f"{source}: not recognised as {which}; see `audiogan import --list` for the files "
        "each format needs, or pass --format"
    )


def import_model(
    source: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    fmt: str = "auto",
    config_file: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
) -> ImportResult:
    """Convert another toolkit's checkpoint into an audiogan model directory.

    Args:
        source: the checkpoint file (or its directory).
        out_dir: the model directory to write (must not exist or be empty, unless
            ``overwrite`` and it is a model directory).
        fmt: a reader name of :data:`READERS` or ``"auto"``.
        config_file: the toolkit's config file, when not found beside the checkpoint.
        overwrite: replace an existing model directory at ``out_dir``.

    Returns:
        :class:`ImportResult`.

    Raises:
        ImportSourceError: the source cannot be read or does not fit (one line naming the file
            or key); ``out_dir`` is as it was.
    """
    source, out_dir = Path(source), Path(out_dir)
    _check_target(out_dir, overwrite)
    reader, detection = detect_format(source, fmt)
    log.info("detected %s", detection.description)
    converted = reader.read(detection, Path(config_file) if config_file is not None else None)
    blobs = _blobs(converted, reader, detection)
    files = _write(converted.config, blobs, out_dir)
    for note in converted.notes:
        log.info("%s", note)
    return ImportResult(out_dir, reader.name, detection, files, converted.notes)


def convert_in_memory(source: str | os.PathLike[str], *, fmt: str = "auto",
                      config_file: str | os.PathLike[str] | None = None) -> LoadedModel:
    """Another toolkit's checkpoint as a :class:`~audiogan.inference.model_dir.LoadedModel`,
    nothing written
    (what :func:`audiogan.inference.model_dir.load_model` uses for a foreign source).

    Raises:
        ImportSourceError: as :func:`import_model`.
    """
    from audiogan.config.build import generator_from_config
    from audiogan.models.layers import remove_weight_norm

    reader, detection = detect_format(Path(source), fmt)
    detection.generator_only = True
    converted = reader.read(detection, Path(config_file) if config_file is not None else None)
    generator = generator_from_config(converted.config)
    remove_weight_norm(generator)
    _fit("generator", generator, converted.generator, detection.checkpoint)
    log.info("converted %s in memory (audiogan import writes it as a model directory)",
             detection.description)
    for note in converted.notes:
        log.info("%s", note)
    return LoadedModel(generator=generator.eval(), config=converted.config, mean=converted.mean,
                       scale=converted.scale, step=converted.step, source=detection.checkpoint)


def build_config(data: Mapping[str, Any], where: Path) -> Config:
    """``config_from_dict(data)``; a ConfigError becomes an ImportSourceError naming ``where``."""
    try:
        return config_from_dict(dict(data))
    except ConfigError as exc:
        raise ImportSourceError(f"{where}: does not describe a model audiogan can build "
                                f"({exc})") from None


def _check_target(out_dir: Path, overwrite: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise ImportSourceError(f"{out_dir}: exists and is not a directory; choose another -o")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        names = sorted(p.name for p in out_dir.iterdir())
        foreign = [n for n in names if n not in MODEL_DIR_FILES]
        if foreign:
            raise ImportSourceError(f"{out_dir}: not empty and not a model directory (holds "
                                    f"{foreign[0]}); choose a new -o directory")
        if not overwrite:
            raise ImportSourceError(f"{out_dir}: already holds a model; pass --overwrite to "
                                    "replace it, or choose a new -o directory")


def _fit(what: str, model: torch.nn.Module, state: Mapping[str, Tensor], where: Path) -> None:
    """Strict load of ``state`` into ``model``; ImportSourceError naming the first bad key."""
    own = model.state_dict()
    for key in own:
        if key not in state:
            raise ImportSourceError(f"{where}: the converted {what} lacks {key!r}; the "
                                    "checkpoint does not match its config")
    for key, value in state.items():
        if key not in own:
            raise ImportSourceError(f"{where}: unexpected {what} tensor {key!r}")
        if tuple(value.shape) != tuple(own[key].shape):
            raise ImportSourceError(
                f"{where}: {what} tensor {key!r} has shape {tuple(value.shape)}, the config "
                f"builds {tuple(own[key].shape)}; check the config file")
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise ImportSourceError(f"{where}: {what} tensor {key!r} holds NaN/Inf values")
    model.load_state_dict(dict(state))


def _blobs(converted: Converted, reader: FormatReader,
           detection: Detection) -> dict[str, bytes]:
    """The checked safetensors files of the model directory, in memory: name -> bytes."""
    from safetensors.torch import save

    from audiogan.config.build import discriminator_from_config, generator_from_config
    from audiogan.models.layers import remove_weight_norm

    config, where = converted.config, detection.checkpoint
    generator = generator_from_config(config)
    remove_weight_norm(generator)
    _fit("generator", generator, converted.generator, where)
    metadata = {
        "format": MODEL_FORMAT,
        "version": str(MODEL_VERSION),
        "input_kind": generator.input_kind,
        "step": "" if converted.step is None else str(converted.step),
        "ema": "false",
        "classes": "",
        "imported_from": f"{reader.name}: {detection.checkpoint.name}",
    }
    plain = {k: v.detach().float().contiguous() for k, v in generator.state_dict().items()}
    blobs = {WEIGHTS_NAME: save(plain, metadata=metadata)}
    if converted.mean is not None and converted.scale is not None:
        stats = {"mean": converted.mean.float().contiguous(),
                 "scale": converted.scale.float().contiguous()}
        blobs[STATS_NAME] = save(stats)
    if converted.discriminator is not None:
        try:
            discriminator = discriminator_from_config(config)
        except (TypeError, ValueError) as exc:  # a value the cheap config checks let through
            raise ImportSourceError(f"{where}: its config's discriminator cannot be built "
                                    f"({one_line(exc)}); check the config file") from None
        _fit("discriminator", discriminator, converted.discriminator, where)
        state = {k: v.detach().float().contiguous()
                 for k, v in discriminator.state_dict().items()}
        blobs[DISCRIMINATOR_NAME] = save(state, metadata={"format": MODEL_FORMAT})
    return blobs


def _write(config: Config, blobs: dict[str, bytes], out_dir: Path) -> list[Path]:
    write_model_dir(config, blobs.items(), out_dir, ImportSourceError, "imported")
    return [out_dir / CONFIG_NAME, *(out_dir / name for name in blobs)]


def fold_weight_norm(g: Tensor, v: Tensor, dim: int = 0) -> Tensor:
    """The weight an old-style ``torch.nn.utils.weight_norm`` layer computes from its
    ``weight_g`` / ``weight_v`` (the same kernel the reference runs, so bit-identical)."""
    return torch._weight_norm(v, g, dim)
