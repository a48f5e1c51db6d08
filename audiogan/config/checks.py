"""Value and cross-field checks of a built :class:`~audiogan.config.Config`.

:func:`validate_config` checks every number against its meaning (sizes positive, rates and
learning rates positive, betas in ``[0, 1)``, weights non-negative, ...) and the cross-field rules
(``f_max <= sample_rate / 2``, ``segment_length % hop_length == 0``, ...).
:func:`validate_models` builds the generator on the ``meta`` device (no memory) and checks the
discriminator's ``params`` keys against its constructor (``combined``'s ``mpd_params`` ...
``cqtd_params`` against each part's, and the CQT's list lengths), so a bad key or a hop that does
not match the features is reported at load time, naming the dotted key, instead of after minutes
of set-up.

Every failure is a :class:`~audiogan.config.ConfigError` whose one-line message names the dotted
key, the value and what would be accepted.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from audiogan.config import LOSS_TERMS, ConfigError

if TYPE_CHECKING:
    from audiogan.config import Config

__all__ = [
    "MAX_SAMPLE_RATE",
    "SPECTRAL_TERMS",
    "check_discriminator",
    "validate_config",
    "validate_models",
]

MAX_SAMPLE_RATE = 768_000
"""The highest ``sample_rate`` accepted (the fastest audio interfaces run at 768 kHz)."""

SPECTRAL_TERMS = ("mel", "multiscale_mel", "stft", "subband_stft")
"""Loss terms that compare with a target waveform, i.e. that only a vocoder can have."""


def _positive(key: str, value: float | None) -> None:
    if value is not None and not value > 0:
        raise ConfigError(f"{key} must be positive, got {value}")


def _non_negative(key: str, value: float | None) -> None:
    if value is not None and not value >= 0:
        raise ConfigError(f"{key} must be >= 0, got {value}")


def _finite(key: str, value: Any) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{key} must be a finite number, got {value}")


def validate_config(config: Config) -> None:
    """Check the values and cross-field rules of ``config``.

    Raises:
        ConfigError: naming the first bad dotted key, its value and the accepted range.
    """
    t, f = config.training, config.features
    if not 0 < config.sample_rate <= MAX_SAMPLE_RATE:
        raise ConfigError(
            f"sample_rate must be between 1 and {MAX_SAMPLE_RATE} Hz, got {config.sample_rate}"
        )
    _check_training(t)
    _check_optim(config)
    _check_loss(config)
    s = config.scheduler
    _finite("scheduler.gamma", s.gamma)
    if not 0 < s.gamma <= 1:
        raise ConfigError(f"scheduler.gamma must be in (0, 1] (lr *= gamma), got {s.gamma}")
    if s.name == "multistep" and not s.milestones:
        raise ConfigError("scheduler.milestones: give at least one milestone for multistep")
    for i, milestone in enumerate(s.milestones):
        _positive(f"scheduler.milestones[{i}]", milestone)
        if i and milestone <= s.milestones[i - 1]:
            raise ConfigError(
                f"scheduler.milestones must be increasing, got {list(s.milestones)}"
            )
    if f.hop_length and t.segment_length % f.hop_length:
        raise ConfigError(
            f"training.segment_length={t.segment_length} must be a multiple of "
            f"features.hop_length={f.hop_length}"
        )
    labels = config.data.labels
    if labels is not None and len(set(labels)) != len(labels):
        raise ConfigError(f"data.labels must be unique, got {list(labels)}")


def _check_training(t: Any) -> None:
    for key in ("batch_size", "segment_length", "max_steps", "n_critic", "grad_accumulation",
                "log_every", "valid_every", "checkpoint_every", "keep_last", "max_nonfinite"):
        _positive(f"training.{key}", getattr(t, key))
    for key in ("num_workers", "discriminator_start_step", "seed", "valid_clips", "num_samples"):
        _non_negative(f"training.{key}", getattr(t, key))
    start = t.adversarial_start_step
    if start is not None and start < t.discriminator_start_step:
        raise ConfigError(
            f"training.adversarial_start_step={start} is before training."
            f"discriminator_start_step={t.discriminator_start_step} (the adversarial terms need "
            "a running discriminator); set it to at least that, or null to start both together"
        )
    if t.batch_size % t.grad_accumulation:
        raise ConfigError(
            f"training.batch_size={t.batch_size} must be a multiple of "
            f"training.grad_accumulation={t.grad_accumulation}"
        )
    if t.ema_decay is not None and not 0.0 < t.ema_decay < 1.0:
        raise ConfigError(f"training.ema_decay must be in (0, 1), got {t.ema_decay}")
    for key in ("grad_clip", "grad_clip_discriminator"):
        value = getattr(t, key)
        if value is not None and not value > 0:
            raise ConfigError(f"training.{key} must be positive or null, got {value}")
    if t.grad_clip_per_part and t.grad_clip is None and t.grad_clip_discriminator is None:
        raise ConfigError("training.grad_clip_per_part is true but training.grad_clip is null; "
                          "set training.grad_clip (BigVGAN-v2: 500) or grad_clip_per_part false")


def _check_optim(config: Config) -> None:
    for part in ("generator", "discriminator"):
        o = getattr(config.optim, part)
        key = f"optim.{part}"
        _positive(f"{key}.lr", o.lr)
        _positive(f"{key}.eps", o.eps)
        _non_negative(f"{key}.weight_decay", o.weight_decay)
        for i, beta in enumerate(o.betas):
            if not 0.0 <= beta < 1.0:
                raise ConfigError(f"{key}.betas[{i}] must be in [0, 1), got {beta}")


def _check_loss(config: Config) -> None:
    loss = config.loss
    unknown = [k for k in loss.weights if k not in LOSS_TERMS]
    if unknown:
        raise ConfigError(
            f"unknown key loss.weights.{unknown[0]}; valid keys here: {', '.join(LOSS_TERMS)}"
        )
    for name, weight in loss.weights.items():
        _finite(f"loss.weights.{name}", weight)
        _non_negative(f"loss.weights.{name}", weight)
    _finite("loss.gradient_penalty", loss.gradient_penalty)
    _non_negative("loss.gradient_penalty", loss.gradient_penalty)
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
        for i, (fft, hop, win) in enumerate(zip(res.fft_sizes, res.hop_sizes, res.win_lengths)):
            _positive(f"loss.{name}.fft_sizes[{i}]", fft)
            _positive(f"loss.{name}.hop_sizes[{i}]", hop)
            _positive(f"loss.{name}.win_lengths[{i}]", win)
            if win > fft:
                raise ConfigError(
                    f"loss.{name}.win_lengths[{i}]={win} exceeds fft_sizes[{i}]={fft}"
                )
    mel = loss.mel
    for key in ("n_fft", "hop_length", "win_length", "n_mels"):
        _positive(f"loss.mel.{key}", getattr(mel, key))
    _non_negative("loss.mel.f_min", mel.f_min)
    if mel.f_max is not None and mel.f_max > config.sample_rate / 2:
        raise ConfigError(
            f"loss.mel.f_max={mel.f_max} exceeds sample_rate/2={config.sample_rate / 2}"
        )
    if mel.f_max is not None and mel.f_min >= mel.f_max:
        raise ConfigError(f"loss.mel.f_min={mel.f_min} must be below loss.mel.f_max={mel.f_max}")
    _check_multiscale_mel(config)


def _check_multiscale_mel(config: Config) -> None:
    ms = config.loss.multiscale_mel
    if len(ms.n_mels) != len(ms.window_lengths) or not ms.n_mels:
        raise ConfigError(
            f"loss.multiscale_mel: n_mels ({len(ms.n_mels)} values) and window_lengths "
            f"({len(ms.window_lengths)}) must be equal-length lists, one entry per scale"
        )
    for i, (bands, window) in enumerate(zip(ms.n_mels, ms.window_lengths)):
        _positive(f"loss.multiscale_mel.n_mels[{i}]", bands)
        if window < 4:
            raise ConfigError(f"loss.multiscale_mel.window_lengths[{i}] must be at least 4 (the "
                              f"hop is a quarter of it), got {window}")
    _non_negative("loss.multiscale_mel.f_min", ms.f_min)
    nyquist = config.sample_rate / 2
    if ms.f_max is not None and ms.f_max > nyquist:
        raise ConfigError(
            f"loss.multiscale_mel.f_max={ms.f_max} exceeds sample_rate/2={nyquist}")
    if ms.f_min >= (nyquist if ms.f_max is None else ms.f_max):
        raise ConfigError(f"loss.multiscale_mel.f_min={ms.f_min} must be below f_max "
                          f"({'sample_rate/2' if ms.f_max is None else ms.f_max})")


def validate_models(config: Config) -> None:
    """Check the model names and ``params`` (the generator is built on the ``meta`` device).

    Also checks what depends on the generator's kind: a vocoder's upsampling must equal
    ``features.hop_length``; an unconditional generator's clip length must equal
    ``training.segment_length`` and it cannot have spectral loss terms (no target waveform).

    Raises:
        ConfigError: naming ``generator.*``, ``discriminator.*``, ``features.hop_length``,
            ``training.segment_length`` or ``loss.weights.*``.
    """
    from audiogan.config.build import generator_params
    from audiogan.core.registry import UnknownNameError
    from audiogan.models import DISCRIMINATORS, GENERATORS, build_generator

    try:
        cls = GENERATORS.get(config.generator.name)
    except UnknownNameError as exc:
        raise ConfigError(f"generator.name: {exc}") from None
    try:
        DISCRIMINATORS.get(config.discriminator.name)
    except UnknownNameError as exc:
        raise ConfigError(f"discriminator.name: {exc}") from None
    generator = _build_on_meta("generator", build_generator, config.generator.name,
                               generator_params(config))
    params = dict(config.discriminator.params)
    _check_signature("discriminator.params", DISCRIMINATORS.get(config.discriminator.name),
                     params)
    _check_parts(config.discriminator.name, params)
    if cls.input_kind == "mel" and generator.hop_length != config.features.hop_length:
        raise ConfigError(
            f"generator {config.generator.name!r} upsamples by {generator.hop_length} but "
            f"features.hop_length is {config.features.hop_length}; make the product of the "
            "upsample rates equal the hop length"
        )
    if cls.input_kind == "latent":
        if config.training.segment_length != generator.hop_length:
            raise ConfigError(
                f"training.segment_length={config.training.segment_length} must equal the "
                f"generator's clip length {generator.hop_length}"
            )
        spectral = [k for k in SPECTRAL_TERMS if k in config.loss.weights]
        if spectral:
            raise ConfigError(
                f"loss.weights.{spectral[0]}: spectral terms ({', '.join(SPECTRAL_TERMS)}) need "
                f"a vocoder; the unconditional generator {config.generator.name!r} has no "
                "target waveform: remove them from loss.weights"
            )


def check_discriminator(config: Config) -> None:
    """Build the discriminator on the ``meta`` device to check its ``params`` values.

    Costs most of a second (weight norm runs through reference kernels on ``meta``), so it is
    not part of :func:`validate_models` (every config load) but of the training start-up checks.

    Raises:
        ConfigError: naming ``discriminator.params`` and the constructor's complaint, or a
            ``discriminator.params.sample_rate`` other than the config's ``sample_rate``.
    """
    from audiogan.config.build import discriminator_params
    from audiogan.models import build_discriminator

    given = config.discriminator.params.get("sample_rate", config.sample_rate)
    if given != config.sample_rate:
        raise ConfigError(
            f"discriminator.params.sample_rate: {given} differs from sample_rate "
            f"{config.sample_rate}; remove it (the config's sample_rate is used)")
    _build_on_meta("discriminator", build_discriminator, config.discriminator.name,
                   discriminator_params(config))


def _check_signature(key: str, factory: Any, params: dict[str, Any],
                     positional: int = 0) -> Any:
    """Refuse ``params`` keys the constructor does not take (cheap: nothing is built).

    Building a discriminator even on the ``meta`` device costs most of a second (weight norm
    runs through reference kernels there), so only its keywords are checked at load time.
    ``positional``: leading arguments the caller passes itself (not keys of ``params``).

    Returns:
        The bound arguments with the defaults applied, or None without a signature.
    """
    import inspect

    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # pragma: no cover - a builtin without a signature
        return None
    try:
        bound = signature.bind_partial(*[None] * positional, **params)
    except TypeError as exc:
        valid = [n for n, p in list(signature.parameters.items())[positional:]
                 if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        reason = " ".join(str(exc).split())
        raise ConfigError(f"{key}: {reason}; valid keys here: {', '.join(valid)}") from None
    bound.apply_defaults()
    return bound.arguments


def _check_parts(name: str, params: dict[str, Any]) -> None:
    """The keys of ``combined``'s ``*_params`` (each goes to one part's constructor, after the
    argument ``combined`` passes itself) and the CQT discriminator's list lengths, cheaply."""
    from audiogan.models.cqt_discriminator import MultiScaleSubbandCQTDiscriminator
    from audiogan.models.discriminators import (
        MultiPeriodDiscriminator,
        MultiResolutionDiscriminator,
        MultiScaleDiscriminator,
    )

    if name == "cqtd":
        _check_cqt_lengths("discriminator.params", _check_signature(
            "discriminator.params", MultiScaleSubbandCQTDiscriminator, params))
    if name != "combined":
        return
    for key, part in (("mpd_params", MultiPeriodDiscriminator),
                      ("msd_params", MultiScaleDiscriminator),
                      ("mrd_params", MultiResolutionDiscriminator),
                      ("cqtd_params", MultiScaleSubbandCQTDiscriminator)):
        given = params.get(key)
        if given is None:
            continue
        where = f"discriminator.params.{key}"
        if not isinstance(given, dict):
            raise ConfigError(f"{where} must be a mapping of {part.__name__} keywords, got "
                              f"{given!r}")
        bound = _check_signature(where, part, dict(given), positional=1)
        if part is MultiScaleSubbandCQTDiscriminator:
            _check_cqt_lengths(where, bound)


def _check_cqt_lengths(where: str, bound: dict[str, Any] | None) -> None:
    """One CQT setting per sub-discriminator: ``hop_lengths``, ``n_octaves`` and
    ``bins_per_octaves`` are lists of one length."""
    if bound is None:  # pragma: no cover - no signature
        return
    lists = {key: bound[key] for key in ("hop_lengths", "n_octaves", "bins_per_octaves")}
    for key, value in lists.items():
        if not isinstance(value, list | tuple) or not value:
            raise ConfigError(f"{where}.{key} must be a non-empty list (one entry per "
                              f"sub-discriminator), got {value!r}")
    if len({len(value) for value in lists.values()}) > 1:
        raise ConfigError(
            f"{where}: hop_lengths, n_octaves and bins_per_octaves need one entry per "
            f"sub-discriminator each, got {', '.join(str(list(v)) for v in lists.values())}; "
            "give the three lists the same length")


def _build_on_meta(part: str, build: Any, name: str, params: dict[str, Any]) -> Any:
    """``build(name, **params)`` on the meta device (or for real when a model needs values)."""
    import torch

    try:
        try:
            with torch.device("meta"):
                return build(name, **params)
        except (NotImplementedError, RuntimeError):  # a model that computes values at init
            return build(name, **params)
    except (TypeError, ValueError, KeyError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ConfigError(f"{part}.params: {reason}") from None
