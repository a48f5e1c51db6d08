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
- Omitted feature fields take the profile's canonical defaults (see :mod:`audiogan.features.mel`);
  the loaded config is fully resolved, so what is saved with a checkpoint is explicit.
- Paths (``data.train``, ``data.valid``, ``training.init_from``) are relative to the config file;
  paths given as ``--set`` overrides are relative to the working directory.
- ``version`` is the config format version (:data:`CONFIG_VERSION`), saved with every config.
  A recipe that leaves it out is current; a *saved* config (a run's, model directory's or
  checkpoint's: ``saved=True``) that leaves it out was written before versions existed and is
  version 1. Loading an older version fills the parameters it left out with the values that
  version meant (a model's ``LEGACY_DEFAULTS``, e.g. HiFi-GAN's ``post_negative_slope``), so old
  models sound exactly as before, and stamps the current version.
- Cross-field checks run at load time: ``f_max <= sample_rate / 2``, ``win_length <= n_fft``,
  positive sizes, ``segment_length % hop_length == 0`` and the generator's hop equal to the
  features' hop for vocoders.
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Union, get_args, get_origin, get_type_hints

import yaml

from audiogan.config.schema import (
    ConfigError,
    build_dataclass,
    deep_copy,
    read_recipe,
    to_plain,
    unknown_key_message,
    yaml_problem,
)
from audiogan.config.versions import CONFIG_VERSION, upgrade
from audiogan.core.atomic import write_text

if TYPE_CHECKING:
    from audiogan.features.spec import FeatureSpec

__all__ = [
    "CONFIG_VERSION",
    "LOSS_TERMS",
    "ComponentConfig",
    "Config",
    "ConfigError",
    "DataConfig",
    "FeaturesConfig",
    "LossConfig",
    "MelLossConfig",
    "MultiScaleMelLossConfig",
    "OptimConfig",
    "OptimizerConfig",
    "STFTLossConfig",
    "SchedulerConfig",
    "SubbandSTFTLossConfig",
    "TrainingConfig",
    "config_from_dict",
    "load_config",
    "save_config",
]


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
class MultiScaleMelLossConfig:
    """BigVGAN-v2's multi-scale mel loss (term ``multiscale_mel``): one log10-mel L1 per scale,
    summed; each scale's hop is a quarter of its window. ``f_max: None`` means sr/2."""

    n_mels: tuple[int, ...] = (5, 10, 20, 40, 80, 160, 320)
    window_lengths: tuple[int, ...] = (32, 64, 128, 256, 512, 1024, 2048)
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


LOSS_TERMS = ("adversarial", "feature_matching", "mel", "multiscale_mel", "stft", "subband_stft")


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
    multiscale_mel: MultiScaleMelLossConfig = field(default_factory=MultiScaleMelLossConfig)
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
    """``torch.compile`` G and D (inductor, static shapes) in ``compile_mode`` (its
    ``reduce-overhead``, CUDA graphs, only on CUDA)."""
    compile_mode: Literal["default", "reduce-overhead", "max-autotune-no-cudagraphs"] = "default"
    fused_optimizer: bool | None = None
    """Fused Adam/AdamW kernels; None: on CUDA only. Fused makes the non-finite guard sync-free."""
    joint_discriminator: bool = False
    """One discriminator call on ``cat([real, fake])`` per update instead of two (same sums)."""
    channels_last: bool = False
    """The discriminator's 2-D convolutions (period discriminator) in channels-last layout."""
    seed: int = 1234
    num_workers: int = 2
    discriminator_start_step: int = 0
    adversarial_start_step: int | None = None
    n_critic: int = 1
    grad_clip: float | None = None
    """Largest gradient norm of each model (None: not clipped)."""
    grad_clip_discriminator: float | None = None
    """The discriminator's own limit (Parallel WaveGAN: G 10, D 1); None: ``grad_clip``."""
    grad_clip_per_part: bool = False
    """Clip each part of the discriminator (``Discriminator.clip_groups``: MPD, MRD, CQTD, ...)
    to its limit on its own, as BigVGAN does, instead of all its parameters together."""
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
    version: int = CONFIG_VERSION
    """Config format version; always :data:`CONFIG_VERSION` once loaded (older ones upgraded)."""

    @property
    def input_kind(self) -> str:
        """``"mel"`` for vocoders, ``"latent"`` for unconditional generators."""
        from audiogan.models import GENERATORS

        return GENERATORS.get(self.generator.name).input_kind

    def feature_spec(self) -> FeatureSpec:
        """The features as a :class:`~audiogan.features.spec.FeatureSpec` (``sample_rate`` plus
        the ``features`` section): ``MelSpectrogram(config.feature_spec())``.

        Raises:
            FeatureError, TypeError: the features are not resolved (a config not made by
                :func:`load_config` / :func:`config_from_dict`) or not valid.
        """
        from audiogan.features.spec import FeatureSpec

        f = self.features
        n_fft, hop, win, n_mels, f_min = f.n_fft, f.hop_length, f.win_length, f.n_mels, f.f_min
        if n_fft is None or hop is None or win is None or n_mels is None or f_min is None:
            missing = [name for name in ("n_fft", "hop_length", "win_length", "n_mels", "f_min")
                       if getattr(f, name) is None]
            raise TypeError(f"features.{missing[0]} is None: the features are not resolved; "
                            "build the config with load_config or config_from_dict")
        return FeatureSpec(f.profile, self.sample_rate, n_fft, hop, win, n_mels, f_min, f.f_max)

    def feature_kwargs(self) -> dict[str, Any]:
        """:meth:`feature_spec` as keyword arguments of
        :class:`audiogan.features.mel.MelSpectrogram` (``profile`` and the sizes)."""
        return self.feature_spec().to_dict()

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python (YAML-ready) form; loading it back gives an equal config."""
        return to_plain(self)


# --------------------------------------------------------------------------------------------
# Conversion helpers
# --------------------------------------------------------------------------------------------


def _check_override_key(text: str, parts: list[str]) -> None:
    """Raise when ``parts`` (an override's dotted key) names no field of :class:`Config`."""
    node: Any = Config
    for depth, part in enumerate(parts):
        if not dataclasses.is_dataclass(node):
            return  # below a free-form mapping (params, weights): checked when built
        fields = {f.name: f for f in dataclasses.fields(node) if f.name != "f_max_is_nyquist"}
        if part not in fields:
            message = unknown_key_message(".".join(parts[:depth]), part, list(fields))
            raise ConfigError(f"--set {text}: {message}")
        hint = get_type_hints(node)[part]
        args = [a for a in get_args(hint) if a is not type(None)]
        node = args[0] if get_origin(hint) in (Union, types.UnionType) and len(args) == 1 else hint


def _parse_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise ConfigError(f"--set {text}: an override must look like key.sub=value")
    key, raw = text.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ConfigError(f"--set {text}: the key is empty; write key.sub=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"--set {text}: the value is not valid YAML ({yaml_problem(exc)}); quote it or fix "
            "the brackets"
        ) from None
    _check_override_key(text, parts)
    return parts, value


def _set_nested(data: dict[str, Any], parts: list[str], value: Any, text: str) -> None:
    node = data
    for part in parts[:-1]:
        child = node.get(part)
        if child is None:
            child = {}
            node[part] = child
        if not isinstance(child, dict):
            raise ConfigError(
                f"--set {text}: {part} is {child!r}, not a mapping; set {part} itself"
            )
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
    saved: bool = False,
) -> Config:
    """Build a validated, fully resolved :class:`Config` from a mapping.

    Args:
        data: the parsed YAML.
        base_dir: directory that relative paths in ``data`` are relative to (default: cwd).
        overrides: ``"a.b=value"`` strings; values are parsed as YAML; paths are cwd-relative.
        check_models: also check the generator/discriminator names and the generator's hop
            against the features (builds the generator on the ``meta`` device: no memory).
        saved: ``data`` was saved by audiogan (with a model or checkpoint): without a
            ``version`` it is version 1, not the current one.

    Raises:
        ConfigError: unknown key, wrong type, failed cross-field check.
    """
    raw: dict[str, Any] = deep_copy(dict(data))
    _resolve_paths(raw, Path(base_dir) if base_dir is not None else Path.cwd(), None)
    touched: set[tuple[str, str]] = set()
    for text in overrides:
        parts, value = _parse_override(text)
        _set_nested(raw, parts, value, text)
        if len(parts) == 2:
            touched.add((parts[0], parts[1]))
    _resolve_paths(raw, Path.cwd(), touched)
    try:
        upgrade(raw, saved=saved)
    except ConfigError as exc:
        raise ConfigError(_name_override(str(exc), overrides)) from None
    from audiogan.config.checks import validate_config, validate_models

    try:
        config = build_dataclass(Config, raw, "")
        config = _resolve_features(config)
        validate_config(config)
        if check_models:
            validate_models(config)
    except ConfigError as exc:
        raise ConfigError(_name_override(str(exc), overrides)) from None
    except RecursionError:
        raise ConfigError("values nested too deeply to be a recipe; check the brackets") from None
    return config


def _name_override(message: str, overrides: Sequence[str]) -> str:
    """``message`` plus which ``--set`` gave the value, when the message names its key."""
    named = set(re.findall(r"[A-Za-z_]\w*(?:\.\w+)+", message))
    for text in reversed(overrides):
        key = text.split("=", 1)[0].strip()
        if (key in named or any(key.startswith(f"{name}.") for name in named)
                or message.startswith((f"{key}:", f"{key} ", f"{key}="))):
            return f"{message} (from --set {text})"
    return message


def load_config(
    path: str | os.PathLike, overrides: Sequence[str] = (), *, saved: bool = False
) -> Config:
    """Load a recipe YAML, apply ``key=value`` overrides and validate.

    Args:
        path: the YAML file.
        overrides: e.g. ``["training.batch_size=8", "generator.params.preset=v2"]``.
        saved: the file was saved by audiogan (a model or run directory's ``config.yaml``):
            without ``version`` it is version 1 (see :func:`config_from_dict`).

    Returns:
        The frozen, fully resolved config.

    Raises:
        ConfigError: the message starts with the file name.
    """
    path = Path(path)
    data = read_recipe(path)
    try:
        return config_from_dict(data, base_dir=path.resolve().parent, overrides=overrides,
                                saved=saved)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def save_config(config: Config, path: str | os.PathLike) -> Path:
    """Write ``config`` as YAML atomically (:func:`audiogan.core.atomic.write_text`); returns it."""
    text = yaml.safe_dump(config.to_dict(), sort_keys=False, default_flow_style=None)
    return write_text(path, text)


def _resolve_features(config: Config) -> Config:
    """Fill omitted feature fields with the profile's canonical defaults."""
    from audiogan.features.mel import resolve_spec

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
        text = " ".join(str(exc).split())
        named = text.split(" ", 1)[0] in {f.name for f in dataclasses.fields(FeaturesConfig)}
        raise ConfigError(f"features.{text}" if named else f"features: {text}") from None
    features = FeaturesConfig(
        profile=spec.profile, n_fft=spec.n_fft, hop_length=spec.hop_length,
        win_length=spec.win_length, n_mels=spec.n_mels, f_min=float(spec.f_min),
        f_max=None if spec.f_max is None else float(spec.f_max), stats=f.stats,
        f_max_is_nyquist=spec.f_max is None,
    )
    return dataclasses.replace(config, features=features)
