"""Recipe configuration: frozen dataclasses <-> YAML, ``--set`` overrides, cross-field checks.

A recipe YAML maps one-to-one onto :class:`Config`. Every pluggable part is ``{name, params}``::

    sample_rate: 22050
    features: {profile: hifigan, n_fft: 1024, hop_length: 256, win_length: 1024, n_mels: 80}
    generator: {name: hifigan, params: {preset: v1}}
    discriminator: {name: combined, params: {periods: [2, 3, 5, 7, 11], scales: 3}}
    loss: {adversarial: lsgan, weights: {adversarial: 1.0, feature_matching: 2.0, mel: 45.0}}
    training: {batch_size: 16, segment_length: 8192, max_steps: 2500000}
    data: {train: manifests/train.tsv, valid: manifests/valid.tsv, normalize: peak}

Rules:

- Unknown keys are errors that name the dotted key and list the valid ones.
- Values are converted to the declared type (``1`` for a float field becomes ``1.0``); a value that
  cannot be converted is an error naming the key.
- Omitted feature fields take the profile's canonical defaults (see :mod:`audiogan.features`);
  the loaded config is fully resolved, so what is saved with a checkpoint is explicit.
- Paths (``data.train``, ``data.valid``, ``training.init_from``) are relative to the config file;
  paths given as ``--set`` overrides are relative to the working directory.
- Cross-field checks run at load time: ``f_max <= sample_rate / 2``, ``win_length <= n_fft``,
  positive sizes, ``segment_length % hop_length == 0`` and the generator's hop equal to the
  features' hop for vocoders.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import yaml

from audiogan.errors import AudioganError


class ConfigError(AudioganError, ValueError):
    """A configuration problem; the message names the file and/or dotted key and the fix."""


def _path_field(default: str | None = None) -> Any:
    return field(default=default, metadata={"path": True})


@dataclass(frozen=True)
class FeaturesConfig:
    """Mel features the model consumes. ``None`` fields take the profile's canonical defaults."""

    profile: str = "hifigan"
    n_fft: int | None = None
    hop_length: int | None = None
    win_length: int | None = None
    n_mels: int | None = None
    f_min: float | None = None
    f_max: float | None = None
    stats: bool = False
    """Compute per-mel-channel mean/scale over the training data and z-normalise the model's
    input with them (ParallelWaveGAN's convention); the statistics travel with the model."""
    f_max_is_nyquist: bool = False
    """Set by the loader when the YAML says ``f_max: null`` explicitly (meaning sr/2)."""


@dataclass(frozen=True)
class ComponentConfig:
    """A pluggable part: a registry ``name`` and the keyword ``params`` of its constructor."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MelLossConfig:
    """Mel L1 loss settings. ``None`` sizes follow ``features``; ``f_max: None`` means sr/2."""

    n_fft: int | None = None
    hop_length: int | None = None
    win_length: int | None = None
    n_mels: int | None = None
    f_min: float = 0.0
    f_max: float | None = None


@dataclass(frozen=True)
class STFTLossConfig:
    """Multi-resolution STFT loss resolutions (Parallel WaveGAN's by default)."""

    fft_sizes: tuple[int, ...] = (1024, 2048, 512)
    hop_sizes: tuple[int, ...] = (120, 240, 50)
    win_lengths: tuple[int, ...] = (600, 1200, 240)


@dataclass(frozen=True)
class SubbandSTFTLossConfig:
    """Sub-band multi-resolution STFT loss resolutions (multi-band MelGAN's by default)."""

    fft_sizes: tuple[int, ...] = (384, 683, 171)
    hop_sizes: tuple[int, ...] = (30, 60, 10)
    win_lengths: tuple[int, ...] = (150, 300, 60)


LOSS_TERMS = ("adversarial", "feature_matching", "mel", "stft", "subband_stft")


@dataclass(frozen=True)
class LossConfig:
    """The loss recipe. ``weights`` keys are terms of :data:`LOSS_TERMS`; a missing term is off."""

    adversarial: str = "lsgan"
    weights: dict[str, float] = field(
        default_factory=lambda: {"adversarial": 1.0, "feature_matching": 2.0, "mel": 45.0}
    )
    feature_matching_reduction: Literal["sum", "mean"] = "sum"
    gradient_penalty: float = 10.0
    mel: MelLossConfig = field(default_factory=MelLossConfig)
    stft: STFTLossConfig = field(default_factory=STFTLossConfig)
    subband_stft: SubbandSTFTLossConfig = field(default_factory=SubbandSTFTLossConfig)


@dataclass(frozen=True)
class OptimizerConfig:
    """One optimiser: ``adamw`` | ``adam`` | ``radam``."""

    name: Literal["adamw", "adam", "radam"] = "adamw"
    lr: float = 2.0e-4
    betas: tuple[float, float] = (0.8, 0.99)
    weight_decay: float = 0.01
    eps: float = 1.0e-8


@dataclass(frozen=True)
class OptimConfig:
    """Optimisers of the generator and the discriminator."""

    generator: OptimizerConfig = field(default_factory=OptimizerConfig)
    discriminator: OptimizerConfig = field(default_factory=OptimizerConfig)


@dataclass(frozen=True)
class SchedulerConfig:
    """Learning-rate schedule shared by both optimisers.

    ``exponential``: lr *= gamma every interval; ``multistep``: lr *= gamma at each milestone
    (counted in intervals); ``none``: constant.
    """

    name: Literal["exponential", "multistep", "none"] = "exponential"
    gamma: float = 0.999
    milestones: tuple[int, ...] = ()
    interval: Literal["step", "epoch"] = "epoch"


@dataclass(frozen=True)
class TrainingConfig:
    """Loop settings. ``batch_size`` is the global batch (split across DDP ranks)."""

    batch_size: int = 16
    segment_length: int = 8192
    max_steps: int = 2_500_000
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    compile: bool = False
    seed: int = 1234
    num_workers: int = 2
    discriminator_start_step: int = 0
    n_critic: int = 1
    grad_clip: float | None = None
    grad_accumulation: int = 1
    ema_decay: float | None = None
    log_every: int = 100
    valid_every: int = 1000
    checkpoint_every: int = 1000
    keep_last: int = 5
    max_nonfinite: int = 10
    valid_clips: int = 8
    num_samples: int = 4
    init_from: str | None = _path_field()


@dataclass(frozen=True)
class DataConfig:
    """Manifests and how clips are read."""

    train: str | None = _path_field()
    valid: str | None = _path_field()
    normalize: Literal["none", "peak"] = "none"
    short_clips: Literal["pad", "skip"] = "pad"
    cache: bool | None = None
    labels: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Config:
    """A whole recipe. Build with :func:`load_config` or :func:`config_from_dict`."""

    generator: ComponentConfig
    discriminator: ComponentConfig
    sample_rate: int = 22050
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    data: DataConfig = field(default_factory=DataConfig)

    @property
    def input_kind(self) -> str:
        """``"mel"`` for vocoders, ``"latent"`` for unconditional generators."""
        from audiogan.models import GENERATORS

        return GENERATORS.get(self.generator.name).input_kind

    def feature_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :class:`audiogan.features.MelSpectrogram`."""
        f = self.features
        return {
            "profile": f.profile,
            "sample_rate": self.sample_rate,
            "n_fft": f.n_fft,
            "hop_length": f.hop_length,
            "win_length": f.win_length,
            "n_mels": f.n_mels,
            "f_min": f.f_min,
            "f_max": f.f_max,
        }

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python (YAML-ready) form; loading it back gives an equal config."""
        return _to_plain(self)


# --------------------------------------------------------------------------------------------
# Conversion helpers
# --------------------------------------------------------------------------------------------


def _to_plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        out = {}
        for f in dataclasses.fields(value):
            if f.name == "f_max_is_nyquist":
                continue
            out[f.name] = _to_plain(getattr(value, f.name))
        return out
    if isinstance(value, Mapping):
        return {str(k): _to_plain(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_to_plain(v) for v in value]
    return value


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Convert ``value`` to type ``tp`` or raise a ConfigError naming ``key``."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None:
            if type(None) in args:
                return None
            raise ConfigError(f"{key}: must not be null")
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{key}: invalid value {value!r}")
    if origin is Literal:
        choices = get_args(tp)
        if value not in choices:
            valid = ", ".join(repr(c) for c in choices)
            raise ConfigError(f"{key}: {value!r} is not one of {valid}")
        return value
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return _build_dataclass(tp, value, key)
    if origin is tuple:
        args = get_args(tp)
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{key}: expected {len(args)} values, got {len(value)}")
        return tuple(_coerce(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        _, val_type = get_args(tp)
        return {str(k): _coerce(v, val_type, f"{key}.{k}") for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return int(value)
    if tp is float:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        if isinstance(value, str):
            try:
                return float(value)  # YAML reads "2e-4" (no dot) as a string
            except ValueError:
                raise ConfigError(f"{key}: expected a number, got {value!r}") from None
        if not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return str(value)
    raise ConfigError(f"{key}: unsupported type {_type_name(tp)}")  # pragma: no cover


def _build_dataclass(cls: type, data: Mapping[str, Any], prefix: str) -> Any:
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "f_max_is_nyquist"}
    unknown = [k for k in data if k not in fields]
    if unknown:
        where = f"{prefix}." if prefix else ""
        valid = ", ".join(fields)
        raise ConfigError(f"unknown key {where}{unknown[0]}; valid keys here: {valid}")
    kwargs = {}
    for name, f in fields.items():
        key = f"{prefix}.{name}" if prefix else name
        if name in data:
            kwargs[name] = _coerce(data[name], hints[name], key)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"missing required key {key}")
    if cls is FeaturesConfig and "f_max" in data and data["f_max"] is None:
        kwargs["f_max_is_nyquist"] = True
    return cls(**kwargs)


def _parse_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key.sub=value")
    key, raw = text.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ConfigError(f"override {text!r} has an empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {text!r}: value is not valid YAML ({exc})") from None
    return parts, value


def _set_nested(data: dict[str, Any], parts: list[str], value: Any) -> None:
    node = data
    for part in parts[:-1]:
        child = node.get(part)
        if child is None:
            child = {}
            node[part] = child
        if not isinstance(child, dict):
            raise ConfigError(f"override {'.'.join(parts)}: {part} is not a mapping")
        node = child
    node[parts[-1]] = value


def _resolve_paths(data: dict[str, Any], base: Path, only: set[tuple[str, str]] | None) -> None:
    for section, key in (("data", "train"), ("data", "valid"), ("training", "init_from")):
        if only is not None and (section, key) not in only:
            continue
        node = data.get(section)
        if isinstance(node, dict) and isinstance(node.get(key), str) and node[key]:
            path = Path(os.path.expanduser(node[key]))
            node[key] = str(path if path.is_absolute() else (base / path).resolve())


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def config_from_dict(
    data: Mapping[str, Any],
    *,
    base_dir: str | os.PathLike | None = None,
    overrides: Sequence[str] = (),
    check_models: bool = True,
) -> Config:
    """Build a validated, fully resolved :class:`Config` from a mapping.

    Args:
        data: the parsed YAML.
        base_dir: directory that relative paths in ``data`` are relative to (default: cwd).
        overrides: ``"a.b=value"`` strings; values are parsed as YAML; paths are cwd-relative.
        check_models: also check the generator/discriminator names and the generator's hop
            against the features (builds the generator on the ``meta`` device: no memory).

    Raises:
        ConfigError: unknown key, wrong type, failed cross-field check.
    """
    raw: dict[str, Any] = _deep_copy(dict(data))
    _resolve_paths(raw, Path(base_dir) if base_dir is not None else Path.cwd(), None)
    touched: set[tuple[str, str]] = set()
    for text in overrides:
        parts, value = _parse_override(text)
        _set_nested(raw, parts, value)
        if len(parts) == 2:
            touched.add((parts[0], parts[1]))
    _resolve_paths(raw, Path.cwd(), touched)
    config = _build_dataclass(Config, raw, "")
    config = _resolve_features(config)
    _validate(config)
    if check_models:
        _validate_models(config)
    return config


def load_config(path: str | os.PathLike, overrides: Sequence[str] = ()) -> Config:
    """Load a recipe YAML, apply ``key=value`` overrides and validate.

    Args:
        path: the YAML file.
        overrides: e.g. ``["training.batch_size=8", "generator.params.preset=v2"]``.

    Returns:
        The frozen, fully resolved config.

    Raises:
        ConfigError: the message starts with the file name.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc.strerror or exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    try:
        return config_from_dict(data, base_dir=path.resolve().parent, overrides=overrides)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def save_config(config: Config, path: str | os.PathLike) -> Path:
    """Write ``config`` as YAML atomically (temp file + rename). Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(config.to_dict(), sort_keys=False, default_flow_style=None)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _deep_copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def _resolve_features(config: Config) -> Config:
    """Fill omitted feature fields with the profile's canonical defaults."""
    from audiogan.features import resolve_spec

    f = config.features
    explicit = {
        name: getattr(f, name)
        for name in ("n_fft", "hop_length", "win_length", "n_mels", "f_min", "f_max")
        if getattr(f, name) is not None
    }
    if f.f_max_is_nyquist:
        explicit["f_max"] = None
    try:
        spec = resolve_spec(f.profile, sample_rate=config.sample_rate, **explicit)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"features: {exc}") from None
    features = FeaturesConfig(
        profile=spec.profile,
        n_fft=spec.n_fft,
        hop_length=spec.hop_length,
        win_length=spec.win_length,
        n_mels=spec.n_mels,
        f_min=float(spec.f_min),
        f_max=None if spec.f_max is None else float(spec.f_max),
        stats=f.stats,
        f_max_is_nyquist=spec.f_max is None,
    )
    return dataclasses.replace(config, features=features)


def _validate(config: Config) -> None:
    t, f, loss = config.training, config.features, config.loss
    if config.sample_rate <= 0:
        raise ConfigError(f"sample_rate must be positive, got {config.sample_rate}")
    for key in ("batch_size", "segment_length", "max_steps", "n_critic", "grad_accumulation",
                "log_every", "valid_every", "checkpoint_every", "keep_last", "max_nonfinite"):
        if getattr(t, key) <= 0:
            raise ConfigError(f"training.{key} must be positive, got {getattr(t, key)}")
    if t.num_workers < 0 or t.discriminator_start_step < 0:
        raise ConfigError("training.num_workers and discriminator_start_step must be >= 0")
    if t.ema_decay is not None and not 0.0 < t.ema_decay < 1.0:
        raise ConfigError(f"training.ema_decay must be in (0, 1), got {t.ema_decay}")
    if t.grad_clip is not None and t.grad_clip <= 0:
        raise ConfigError(f"training.grad_clip must be positive or null, got {t.grad_clip}")
    unknown = [k for k in loss.weights if k not in LOSS_TERMS]
    if unknown:
        raise ConfigError(
            f"unknown key loss.weights.{unknown[0]}; valid keys here: {', '.join(LOSS_TERMS)}"
        )
    from audiogan.losses import ADVERSARIAL_LOSSES

    if loss.adversarial not in ADVERSARIAL_LOSSES:
        raise ConfigError(
            f"loss.adversarial: unknown {loss.adversarial!r}; valid names: "
            f"{', '.join(ADVERSARIAL_LOSSES.names())}"
        )
    for name in ("stft", "subband_stft"):
        res = getattr(loss, name)
        if not len(res.fft_sizes) == len(res.hop_sizes) == len(res.win_lengths):
            raise ConfigError(f"loss.{name}: fft_sizes, hop_sizes, win_lengths differ in length")
    mel = loss.mel
    if mel.f_max is not None and mel.f_max > config.sample_rate / 2:
        raise ConfigError(
            f"loss.mel.f_max={mel.f_max} exceeds sample_rate/2={config.sample_rate / 2}"
        )
    s = config.scheduler
    if s.name == "multistep" and not s.milestones:
        raise ConfigError("scheduler.milestones: give at least one milestone for multistep")
    if f.hop_length and t.segment_length % f.hop_length:
        raise ConfigError(
            f"training.segment_length={t.segment_length} must be a multiple of "
            f"features.hop_length={f.hop_length}"
        )


def _validate_models(config: Config) -> None:
    import torch

    from audiogan.models import DISCRIMINATORS, GENERATORS, build_generator
    from audiogan.registry import UnknownNameError

    try:
        cls = GENERATORS.get(config.generator.name)
        DISCRIMINATORS.get(config.discriminator.name)
    except UnknownNameError as exc:
        raise ConfigError(str(exc)) from None
    params = dict(config.generator.params)
    if cls.input_kind == "mel":
        params.setdefault("in_channels", config.features.n_mels)
    try:
        try:
            with torch.device("meta"):
                generator = build_generator(config.generator.name, **params)
        except (NotImplementedError, RuntimeError):  # a model that computes values at init
            generator = build_generator(config.generator.name, **params)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"generator.params: {exc}") from None
    if cls.input_kind == "mel" and generator.hop_length != config.features.hop_length:
        raise ConfigError(
            f"generator {config.generator.name!r} upsamples by {generator.hop_length} but "
            f"features.hop_length is {config.features.hop_length}; make the product of the "
            "upsample rates equal the hop length"
        )
    if cls.input_kind == "latent" and config.training.segment_length != generator.hop_length:
        raise ConfigError(
            f"training.segment_length={config.training.segment_length} must equal the "
            f"generator's clip length {generator.hop_length}"
        )

