"""Feature settings: the named profiles' conventions and defaults, :class:`FeatureSpec` and
:func:`resolve_spec` (see :mod:`audiogan.features.mel`, their public home, for the profiles).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, Literal, TypedDict

import numpy as np

from audiogan.core.errors import AudioganError

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing.Unpack from Python 3.11 on

__all__ = [
    "BIGVGAN_FEATURES", "DEFAULT", "PROFILES", "SIZE_FIELDS", "FeatureError", "FeatureSpec",
    "SizeOverrides", "SpecSettings", "resolve_spec",
]


class FeatureError(AudioganError, ValueError):
    """Invalid feature settings or input; the one-line message names the setting."""


class _Default(enum.Enum):
    """Type of the :data:`DEFAULT` sentinel."""

    DEFAULT = "DEFAULT"

    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT: Final = _Default.DEFAULT
"""Sentinel meaning "the profile's canonical value" (``f_max=None`` instead means sr/2)."""


class SizeOverrides(TypedDict, total=False):
    """The size fields of a :class:`FeatureSpec`, as keyword overrides of a profile's canonical
    values (:data:`DEFAULT` keeps one; ``f_max=None`` means ``sample_rate / 2``)."""

    sample_rate: int | _Default
    n_fft: int | _Default
    hop_length: int | _Default
    win_length: int | _Default
    n_mels: int | _Default
    f_min: float | _Default
    f_max: float | None | _Default


SIZE_FIELDS: Final[tuple[str, ...]] = tuple(SizeOverrides.__annotations__)
"""``sample_rate, n_fft, hop_length, win_length, n_mels, f_min, f_max``: what a profile's
conventions leave open, in :class:`FeatureSpec` order."""


@dataclass(frozen=True)
class _Profile:
    """Conventions and canonical sizes of one named profile (internal table)."""

    center: bool  # True: pad n_fft // 2 each side; False: pad (n_fft - hop) in total
    magnitude_eps: float | None  # sqrt(re^2 + im^2 + eps); None: plain |X|
    mel_htk: bool
    mel_norm: Literal["slaney"] | None
    log_base: Literal["e", "10"]
    log_floor: float
    sizes: tuple[int, int, int, int, int, float, float | None]  # the SIZE_FIELDS, in order

    @property
    def defaults(self) -> dict[str, Any]:
        """``{size field: canonical value}``."""
        return dict(zip(SIZE_FIELDS, self.sizes))


_PROFILES: Final[dict[str, _Profile]] = {
    "hifigan": _Profile(False, 1e-9, False, "slaney", "e", 1e-5,
                        (22050, 1024, 256, 1024, 80, 0.0, 8000.0)),
    "tacotron2": _Profile(True, None, False, "slaney", "e", 1e-5,
                          (22050, 1024, 256, 1024, 80, 0.0, 8000.0)),
    "pwg": _Profile(True, None, False, "slaney", "10", 1e-10,
                    (22050, 1024, 256, 1024, 80, 80.0, 7600.0)),
    "melgan": _Profile(False, None, False, "slaney", "10", 1e-5,
                       (22050, 1024, 256, 1024, 80, 0.0, None)),
    "vocos": _Profile(True, None, True, None, "e", 1e-7,
                      (24000, 1024, 256, 1024, 100, 0.0, None)),
}

PROFILES: Final[tuple[str, ...]] = tuple(_PROFILES)
"""The valid profile names; ``"hifigan"`` is the default."""


def _profile(name: str) -> _Profile:
    try:
        return _PROFILES[name]
    except (KeyError, TypeError):
        raise FeatureError(
            f"unknown feature profile {name!r}; valid profiles: {', '.join(PROFILES)}"
        ) from None


def _as_int(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    try:
        return int(value.__index__())
    except (AttributeError, TypeError):
        raise TypeError(f"{name} must be an integer, got {value!r}") from None


def _as_float(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    result = float(value)
    if not math.isfinite(result):
        raise FeatureError(f"{name} must be finite, got {value!r}")
    return result


@dataclass(frozen=True)
class FeatureSpec:
    """Fully resolved feature settings: a profile's conventions plus concrete sizes.

    Construct it with :func:`resolve_spec` (profile defaults + overrides); direct construction
    is validated the same way. Integers are coerced to ``int``, frequencies to ``float``.

    Attributes:
        profile: one of :data:`PROFILES`.
        sample_rate: audio rate in Hz.
        n_fft: FFT size (number of frequency bins is ``n_fft // 2 + 1``).
        hop_length: samples between frames.
        win_length: Hann window length, ``<= n_fft`` (centred in the FFT frame).
        n_mels: number of mel channels.
        f_min: lowest mel-filter edge in Hz.
        f_max: highest mel-filter edge in Hz; ``None`` means ``sample_rate / 2``.
    """

    profile: str
    sample_rate: int
    n_fft: int
    hop_length: int
    win_length: int
    n_mels: int
    f_min: float
    f_max: float | None

    def __post_init__(self) -> None:
        _profile(self.profile)
        for name in ("sample_rate", "n_fft", "hop_length", "win_length", "n_mels"):
            value = _as_int(name, getattr(self, name))
            if value <= 0:
                raise FeatureError(f"{name} must be positive, got {value}")
            object.__setattr__(self, name, value)
        f_min = _as_float("f_min", self.f_min)
        object.__setattr__(self, "f_min", f_min)
        if self.f_max is not None:
            object.__setattr__(self, "f_max", _as_float("f_max", self.f_max))
        if self.win_length > self.n_fft:
            raise FeatureError(
                f"win_length ({self.win_length}) must be <= n_fft ({self.n_fft}); "
                "when lowering n_fft, pass win_length too"
            )
        if self.hop_length > self.n_fft:
            raise FeatureError(
                f"hop_length ({self.hop_length}) must be <= n_fft ({self.n_fft})"
            )
        nyquist = self.sample_rate / 2
        if f_min < 0:
            raise FeatureError(f"f_min must be >= 0, got {f_min}")
        if self.f_max is not None and self.f_max > nyquist:
            raise FeatureError(
                f"f_max ({self.f_max:g} Hz) must be <= sample_rate / 2 ({nyquist:g} Hz); "
                "pass f_max=None for sample_rate / 2"
            )
        if f_min >= self.f_max_hz:
            raise FeatureError(f"f_min ({f_min:g} Hz) must be < f_max ({self.f_max_hz:g} Hz)")

    # ------------------------------------------------------------------ derived values
    @property
    def f_max_hz(self) -> float:
        """``f_max`` with ``None`` resolved to ``sample_rate / 2``."""
        return self.sample_rate / 2 if self.f_max is None else float(self.f_max)

    @property
    def n_freqs(self) -> int:
        """Number of one-sided STFT bins, ``n_fft // 2 + 1``."""
        return self.n_fft // 2 + 1

    @property
    def center(self) -> bool:
        """True for centred profiles (``n_fft // 2`` reflect padding each side)."""
        return _PROFILES[self.profile].center

    @property
    def padding(self) -> tuple[int, int]:
        """Reflect padding ``(left, right)`` applied before the (uncentred) STFT."""
        if self.center:
            half = self.n_fft // 2
            return half, half
        total = self.n_fft - self.hop_length
        return total // 2, total - total // 2

    @property
    def magnitude_eps(self) -> float | None:
        """``eps`` in ``sqrt(re^2 + im^2 + eps)``; ``None`` for the plain ``|X|``."""
        return _PROFILES[self.profile].magnitude_eps

    @property
    def mel_htk(self) -> bool:
        """True for the HTK mel scale, False for librosa's slaney scale."""
        return _PROFILES[self.profile].mel_htk

    @property
    def mel_norm(self) -> Literal["slaney"] | None:
        """Mel filter normalisation passed to ``librosa.filters.mel`` (``'slaney'`` or None)."""
        return _PROFILES[self.profile].mel_norm

    @property
    def log_base(self) -> Literal["e", "10"]:
        """Base of the log compression: ``"e"`` (natural log) or ``"10"``."""
        return _PROFILES[self.profile].log_base

    @property
    def log_floor(self) -> float:
        """Values are clamped to at least this before the log."""
        return _PROFILES[self.profile].log_floor

    @property
    def log_min(self) -> float:
        """The smallest possible (un-normalised) log-mel value, ``log(log_floor)``."""
        log = math.log if self.log_base == "e" else math.log10
        return log(self.log_floor)

    def frames_for(self, num_samples: int) -> int:
        """Number of frames :class:`MelSpectrogram` returns for ``num_samples`` samples.

        Args:
            num_samples: waveform length ``T >= 1``.

        Returns:
            ``T // hop`` for ``hifigan``/``melgan``; ``T // hop + 1`` for the centred profiles
            (``(T - 1) // hop + 1`` when ``n_fft`` is odd).

        Raises:
            ValueError: ``num_samples < 1``.
        """
        num_samples = _as_int("num_samples", num_samples)
        if num_samples < 1:
            raise FeatureError(f"num_samples must be >= 1, got {num_samples}")
        left, right = self.padding
        padded = num_samples + left + right
        return max(0, (padded - self.n_fft) // self.hop_length + 1)

    def to_dict(self) -> dict[str, Any]:
        """The eight fields as a plain dict (e.g. for a config file); inverse of ``**``."""
        return asdict(self)

    def summary(self) -> str:
        """The sizes in one phrase, e.g. ``"n_fft 1024, hop 256, win 1024, 80 mels, 0-8000 Hz"``
        (``f_max=None`` reads ``sr/2``); what ``audiogan info`` and ``features`` print."""
        f_max = "sr/2" if self.f_max is None else f"{self.f_max:g}"
        return (f"n_fft {self.n_fft}, hop {self.hop_length}, win {self.win_length}, "
                f"{self.n_mels} mels, {self.f_min:g}-{f_max} Hz")

    def differences(self, other: FeatureSpec) -> list[str]:
        """``"field: ours -> theirs"`` for each field where ``other`` differs (``[]`` when
        ``self == other``), in field order; e.g. ``["n_mels: 80 -> 100"]``."""
        return [
            f"{f.name}: {getattr(self, f.name)!r} -> {getattr(other, f.name)!r}"
            for f in fields(self)
            if getattr(self, f.name) != getattr(other, f.name)
        ]


class SpecSettings:
    """Read-only settings of an object that carries a :class:`FeatureSpec` as ``spec``
    (:class:`~audiogan.features.mel.MelSpectrogram`, :class:`~audiogan.inference.vocoder.Vocoder`):
    ``profile``, ``sample_rate``, ``n_fft``, ``hop_length``, ``win_length``, ``n_mels`` and
    :meth:`frames_for`, each read from ``self.spec``."""

    spec: FeatureSpec

    @property
    def profile(self) -> str:
        """Feature profile name (``hifigan``, ``tacotron2``, ``pwg``, ``melgan``, ``vocos``)."""
        return self.spec.profile

    @property
    def sample_rate(self) -> int:
        """Audio rate in Hz."""
        return self.spec.sample_rate

    @property
    def n_fft(self) -> int:
        """FFT size."""
        return self.spec.n_fft

    @property
    def hop_length(self) -> int:
        """Samples between (per) mel frames."""
        return self.spec.hop_length

    @property
    def win_length(self) -> int:
        """Window length."""
        return self.spec.win_length

    @property
    def n_mels(self) -> int:
        """Number of mel channels."""
        return self.spec.n_mels

    def frames_for(self, num_samples: int) -> int:
        """Frames the features have for ``num_samples`` samples; see
        :meth:`FeatureSpec.frames_for`."""
        return self.spec.frames_for(num_samples)


def resolve_spec(
    profile: str | FeatureSpec = "hifigan", **overrides: Unpack[SizeOverrides]
) -> FeatureSpec:
    """Resolve a profile's canonical defaults, overridden by every non-:data:`DEFAULT` argument.

    Overrides change sizes only; the profile's conventions (padding, magnitude, mel basis, log)
    stay. ``f_max=None`` means ``sample_rate / 2``. A canonical ``f_max`` above the Nyquist
    frequency of an overridden ``sample_rate`` is an error (pass ``f_max`` explicitly).

    Args:
        profile: one of :data:`PROFILES`, or a :class:`FeatureSpec` whose values stand in for
            the canonical ones.
        **overrides: ``sample_rate``, ``n_fft``, ``hop_length``, ``win_length``, ``n_mels``,
            ``f_min``, ``f_max`` (:class:`SizeOverrides`; keyword only).

    Returns:
        The validated :class:`FeatureSpec`.

    Raises:
        ValueError: unknown profile (the message lists the valid ones), non-positive sizes,
            ``win_length > n_fft``, ``hop_length > n_fft``, ``f_max > sample_rate / 2``,
            ``f_min >= f_max``.
        TypeError: a size that is not an integer, a frequency that is not a number, or a
            keyword that is not a size field.
    """
    unknown = [name for name in overrides if name not in SIZE_FIELDS]
    if unknown:
        raise TypeError(f"unexpected keyword argument {unknown[0]!r}; the sizes are "
                        f"{', '.join(SIZE_FIELDS)}")
    # checked by FeatureSpec.__post_init__ (sizes may be any integer type, frequencies numbers)
    given: dict[str, Any] = {name: value for name, value in overrides.items()
                             if value is not DEFAULT}
    if isinstance(profile, FeatureSpec):
        return replace(profile, **given)
    values = {**_profile(profile).defaults, **given}
    return FeatureSpec(profile=profile, **values)


def _bigvgan(sample_rate: int, n_fft: int, hop: int, n_mels: int,
             f_max: float | None) -> FeatureSpec:
    return FeatureSpec("hifigan", sample_rate, n_fft, hop, n_fft, n_mels, 0.0, f_max)


BIGVGAN_FEATURES: Final[Mapping[str, FeatureSpec]] = MappingProxyType({
    # v1 (and its base size): f_max 8000 at 22.05 kHz, 12000 at 24 kHz
    "22khz_80band": _bigvgan(22050, 1024, 256, 80, 8000.0),
    "24khz_100band": _bigvgan(24000, 1024, 256, 100, 12000.0),
    "base_22khz_80band": _bigvgan(22050, 1024, 256, 80, 8000.0),
    "base_24khz_100band": _bigvgan(24000, 1024, 256, 100, 12000.0),
    # v2: f_max null (sr/2) but for _fmax8k; only _512x has n_fft = win 2048, hop 512
    "22khz_80band_256x": _bigvgan(22050, 1024, 256, 80, None),
    "22khz_80band_fmax8k_256x": _bigvgan(22050, 1024, 256, 80, 8000.0),
    "24khz_100band_256x": _bigvgan(24000, 1024, 256, 100, None),
    "44khz_128band_256x": _bigvgan(44100, 1024, 256, 128, None),
    "44khz_128band_512x": _bigvgan(44100, 2048, 512, 128, None),
})
"""The features of each published BigVGAN / BigVGAN-v2 shape, by its ``bigvgan`` generator
preset name: NVIDIA's config file name without ``bigvgan_`` (and ``v2_``), e.g.
``configs/bigvgan_v2_44khz_128band_256x.json`` -> ``"44khz_128band_256x"``. Profile ``hifigan``
(BigVGAN computes jik876/hifi-gan's log-mel: ``(n_fft - hop) // 2`` reflect padding,
``sqrt(|X|^2 + 1e-9)``, slaney mel, ``ln(clamp(x, 1e-5))``) with the config's
``sampling_rate``, ``n_fft``, ``hop_size``, ``win_size`` (= n_fft), ``num_mels``, ``fmin`` (0)
and ``fmax`` (``None`` = sr/2, as the config's ``null``). Read by the BigVGAN import (to name
the shape of a checkpoint) and matched by the BigVGAN recipes."""
