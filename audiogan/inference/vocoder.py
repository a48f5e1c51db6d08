"""Inference API for vocoders: :class:`Vocoder` (mel -> waveform) and push-style :class:`Streamer`.

(:class:`~audiogan.inference.wave_generator.WaveGenerator`, z -> clips, is re-exported from here.)

Example (a HiFi-GAN-convention mel from a TTS model to a WAV file)::

    from audiogan import Vocoder
    from audiogan.audio.io import save_audio

    voc = Vocoder.load("models/ljspeech_v1")      # model dir, run dir or checkpoint file
    wave = voc(mel)                               # (80, frames) -> (frames * 256,)
    save_audio("out.wav", wave.cpu(), voc.sample_rate)

Mels passed in are the raw features of the model's profile (``voc.profile``); z-normalisation
statistics (``pwg``) are applied inside. Inputs are checked (shape, a transposed array, NaN/Inf,
emptiness) with one-line :class:`MelInputError` messages, and values outside what the profile
produces (e.g. log10 mels given to a natural-log model) raise a :class:`FeatureRangeWarning`.

Long inputs are synthesised in chunks of :attr:`Vocoder.chunk_frames` frames, each with
``receptive_field_frames`` frames of context on either side that are computed and dropped, so
memory stays bounded and the result equals one-shot synthesis (to float rounding, <= 1e-4).
The same machinery drives :meth:`Vocoder.stream` (pull) and :class:`Streamer` (push).

Noise-driven generators (Parallel WaveGAN: ``generator.noise_channels > 0``) also take Gaussian
noise; every synthesis method takes a ``seed`` (default 0) and draws it with
:func:`~audiogan.inference.synthesis.synthesis_noise`: keyed by the seed and the absolute index of
each output sample, the same for every item of a batch. So two calls with one seed give the same
audio, a clip sounds the same whatever batch it is in, and chunked and streamed synthesis equal
one call (<= 1e-4). Other vocoders take no noise and ignore the seed.

What runs the generator: PyTorch, or ONNX Runtime on the model directory's ``generator.onnx``
(``Vocoder.load(..., backend="onnxruntime")``, :mod:`audiogan.inference.backends`), which replaces
only the module call; on the CPU the default path comes from the per-generator policy
(:mod:`audiogan.inference.cpu_policy`), and :attr:`Vocoder.path_info` says which path and why.

All synthesis runs under ``torch.inference_mode()``; ``cudnn.benchmark`` stays off (it would
re-tune for every new length) unless ``fixed_shapes`` (default on CUDA) runs the generator over
equal-size windows (:mod:`audiogan.inference.fixed_shapes`; same output), where
``cuda_graphs=True`` replays a CUDA graph per window size (:mod:`audiogan.inference.cuda_graphs`).
For gradients (joint fine-tuning) call :attr:`Vocoder.module` directly, loaded with
``dtype="float32"`` (on a CPU the policy may have put the generator in bfloat16).
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, overload

import numpy as np
import torch
from torch import Tensor

from audiogan.audio.io import resample
from audiogan.config import Config
from audiogan.core.devices import resolve_device
from audiogan.features.mel import FeatureSpec, MelSpectrogram
from audiogan.features.spec import SpecSettings
from audiogan.inference.backends import LOAD_CHECK_FRAMES
from audiogan.inference.fixed_shapes import FixedShapes, check_shape_options
from audiogan.inference.kinds import VOCODER, copy_synthesis
from audiogan.inference.mel_input import FeatureRangeWarning, MelInputError, as_float_tensor
from audiogan.inference.model_dir import (
    DTYPES,
    LoadedModel,
    ModelFileError,
    inference_context,
    resolve_dtype,
)
from audiogan.inference.modules import vocoder_module
from audiogan.inference.pieces import Piece, cut, run_pieces
from audiogan.inference.streaming import Streamer
from audiogan.inference.synthesis import synthesis_noise
from audiogan.inference.wave_generator import WaveGenerator
from audiogan.inference.wrapper import InferenceModel
from audiogan.models import Generator
from audiogan.models.layers import remove_weight_norm

__all__ = [
    "DTYPES",
    "FeatureRangeWarning",
    "MelInputError",
    "Streamer",
    "Vocoder",
    "WaveGenerator",  # lives in audiogan.inference.wave_generator
    "resolve_dtype",
]

log = logging.getLogger(__name__)

# The log10-vs-ln check: log10 mels (floored at 1e-5) lie in about [-5, 1]; ln mels of speech
# reach down to the ln floor (-11.5) in pauses and up to ~2 in loud frames. Only inputs of at
# least this many frames are judged (a short piece may hold only loud frames).
_MIN_FRAMES_FOR_BASE_CHECK = 50


class Vocoder(SpecSettings, FixedShapes, InferenceModel):
    """A trained vocoder: raw profile log-mel features -> waveform.

    Build it with :meth:`load` (from :class:`~audiogan.inference.wrapper.InferenceModel`, like
    :meth:`to`, :attr:`generator` and :attr:`dtype`); the constructor wraps a generator you
    already hold (it folds the generator's weight norm in place and puts it in eval mode).

    Args:
        generator: a mel generator (``input_kind == "mel"``).
        features: the model's features; statistics attached to it (``pwg``) are applied to
            every input inside :attr:`module`, and :meth:`features` returns raw features.
        config: the recipe, when known (exposed as :attr:`config`).
        step: the training step of the weights, when known.
        ema: whether the weights are EMA weights.
        source: where the weights came from.
        fixed_shapes, cuda_graphs: see :meth:`load`.

    Attributes:
        module: the :class:`~audiogan.inference.modules.VocoderModule` (z-normalisation +
            generator), a plain differentiable ``nn.Module``:
            ``module(mel (B, n_mels, frames)) -> (B, 1, T)``; for noise-driven generators a
            :class:`~audiogan.inference.modules.NoiseVocoderModule`,
            ``module(mel, noise (B, noise_channels, T))``.
        chunk_frames: inputs longer than :attr:`max_frames` are synthesised in chunks of this
            many frames (plus context); bounded memory, same output.
        max_frames: the longest input synthesised in one piece.

    Raises:
        ModelFileError: a latent generator, or generator and features that disagree on n_mels
            or hop length (a ``ValueError``).
    """

    kind_name = VOCODER.name
    other_kind = ("an unconditional (latent) generator, not a vocoder: use "
                  "audiogan.WaveGenerator.load")
    chunk_frames: int = 1024
    max_frames: int = 2048

    def __init__(
        self,
        generator: Generator,
        features: MelSpectrogram,
        *,
        config: Config | None = None,
        step: int | None = None,
        ema: bool = False,
        source: str | os.PathLike[str] | None = None,
        fixed_shapes: bool | None = None,
        cuda_graphs: bool = False,
    ) -> None:
        self._check_kind(generator)
        if int(generator.in_channels) != features.n_mels:
            raise ModelFileError(
                f"generator takes {generator.in_channels} mel channels but the features have "
                f"{features.n_mels}"
            )
        if int(generator.hop_length) != features.hop_length:
            raise ModelFileError(
                f"generator upsamples by {generator.hop_length} but the features' hop is "
                f"{features.hop_length}"
            )
        remove_weight_norm(generator)
        first = next(generator.parameters(), None)
        device = first.device if first is not None else features.mel_basis.device
        self.module = vocoder_module(generator, features.mean, features.scale).to(device).eval()
        self._features = MelSpectrogram.from_spec(features.spec).to(device)
        self._keep_provenance(config, step, ema, source)
        self.set_shape_options(fixed_shapes, cuda_graphs)

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(
        cls, path: str | os.PathLike[str], device: str | torch.device | None = None,
        dtype: torch.dtype | str | None = None, backend: str = "auto", *,
        fixed_shapes: bool | None = None, cuda_graphs: bool = False,
    ) -> Vocoder:
        """:meth:`InferenceModel.load <audiogan.inference.wrapper.InferenceModel.load>`, and
        ``fixed_shapes`` (equal-size windows, same output; None: on for CUDA devices) and
        ``cuda_graphs`` (a CUDA graph per window shape; CUDA only, else ShapeOptionError)."""
        run_on = resolve_device("cpu" if device is None else device, option="device=")
        check_shape_options(run_on, fixed_shapes, cuda_graphs, str(backend).lower())
        model = super().load(path, device, dtype, backend)
        model.set_shape_options(fixed_shapes, cuda_graphs)
        return model

    @classmethod
    def from_loaded(cls, loaded: LoadedModel) -> Vocoder:
        """Wrap a :class:`~audiogan.inference.model_dir.LoadedModel` (see ``load_model``)."""
        cls._check_kind(loaded.generator, loaded.source)
        features = MelSpectrogram(loaded.config.feature_spec(), mean=loaded.mean,
                                  scale=loaded.scale)
        return cls(loaded.generator, features, config=loaded.config, step=loaded.step,
                   ema=loaded.ema, source=loaded.source)

    # ------------------------------------------------------------------ properties
    @property
    def spec(self) -> FeatureSpec:  # type: ignore[override]
        """The feature settings; ``profile``, ``sample_rate`` (of the output), ``hop_length``
        (samples per mel frame), ``n_mels`` (of the input), ... are read from it."""
        return self._features.spec

    @property
    def receptive_field_frames(self) -> int:
        """Context frames either side that chunked synthesis computes and drops."""
        return int(self.generator.receptive_field_frames)

    @property
    def device(self) -> torch.device:
        """Where the generator runs."""
        return self._features.mel_basis.device

    def _move(self, device: torch.device) -> None:
        self.module.to(device)
        self._features.to(device)

    def __repr__(self) -> str:
        return (
            f"Vocoder({type(self.generator).__name__}, profile={self.profile!r}, "
            f"sample_rate={self.sample_rate}, hop_length={self.hop_length}, "
            f"n_mels={self.n_mels}, device={self.device}, dtype={self.dtype})"
        )

    # ------------------------------------------------------------------ synthesis
    @property
    def noise_channels(self) -> int:
        """Channels of the noise the generator takes (0: it takes none, seeds do nothing)."""
        return int(self.generator.noise_channels)

    @overload
    def __call__(
        self, mel: Tensor | np.ndarray, lengths: None = None, *, check_range: bool = True,
        seed: int = 0,
    ) -> Tensor: ...

    @overload
    def __call__(
        self, mel: Tensor | np.ndarray, lengths: Sequence[int] | Tensor, *,
        check_range: bool = True, seed: int = 0,
    ) -> list[Tensor]: ...

    def __call__(
        self,
        mel: Tensor | np.ndarray,
        lengths: Sequence[int] | Tensor | None = None,
        *,
        check_range: bool = True,
        seed: int = 0,
    ) -> Tensor | list[Tensor]:
        """Synthesise waveforms.

        Args:
            mel: ``(n_mels, frames)`` or ``(B, n_mels, frames)`` raw profile features (numpy or
                torch, any device).
            lengths: for a padded batch, the valid frames of each item; each output is then
                trimmed to ``lengths[i] * hop`` samples, and its last frames are re-synthesised
                without the padding (so it equals synthesising the item alone).
            check_range: warn (:class:`FeatureRangeWarning`) when the values do not look like
                this profile's features; off for features from :meth:`features`.
            seed: the noise of noise-driven generators (see the module docstring; every item
                of a batch gets the same noise); ignored by other vocoders.

        Returns:
            ``(frames * hop,)`` or ``(B, frames * hop)`` float32 on :attr:`device`; with
            ``lengths``, a list of ``(lengths[i] * hop,)`` tensors.

        Raises:
            MelInputError: wrong n_mels (or a transposed array), empty, non-finite, bad lengths.
        """
        x, batched = self._prepare(mel, check_range=check_range)
        frames = x.shape[-1]
        seed = int(seed)
        if lengths is None:
            wave = self._whole(x, 0, frames, seed)
            return wave if batched else wave[0]
        valid = self._check_lengths(lengths, x)
        wave = self._whole(x, 0, frames, seed)
        context = self.receptive_field_frames
        outputs = []
        for index, length in enumerate(valid):
            item = wave[index, : length * self.hop_length]
            if length < frames:
                start = max(0, length - context)
                tail = self._whole(x[index : index + 1, :, :length], start, length, seed)
                item = torch.cat([item[: start * self.hop_length], tail[0]])
            outputs.append(item)
        return outputs

    def stream(
        self, mel: Tensor | np.ndarray, chunk_frames: int = 64, seed: int = 0
    ) -> Iterator[Tensor]:
        """Pull-style chunked synthesis: yields consecutive pieces of the output.

        Each chunk is computed with ``receptive_field_frames`` of context either side, so the
        concatenation equals one-shot synthesis (to float rounding) with memory bounded by
        ``chunk_frames``.

        Args:
            mel: ``(n_mels, frames)`` or ``(B, n_mels, frames)`` raw profile features.
            chunk_frames: frames per yielded piece (>= 1).
            seed: the noise of noise-driven generators (as in :meth:`__call__`).

        Yields:
            ``(chunk_frames * hop,)`` (or ``(B, ...)``) float32 pieces; the last may be shorter.
        """
        if int(chunk_frames) < 1:
            raise ValueError(f"chunk_frames must be >= 1, got {chunk_frames}")
        x, batched = self._prepare(mel)
        frames = x.shape[-1]
        for start in range(0, frames, int(chunk_frames)):
            piece = self._span(x, start, min(start + int(chunk_frames), frames), seed=int(seed))
            yield piece if batched else piece[0]

    def streamer(self, seed: int = 0) -> Streamer:
        """A push-style :class:`Streamer` for mel frames that arrive piece by piece (``seed``:
        the noise of noise-driven generators, as in :meth:`__call__`)."""
        return Streamer(self, seed=seed)

    def features(
        self, wave: Tensor | np.ndarray, sample_rate: int | None = None
    ) -> Tensor:
        """The model's raw input features of a waveform (the exact training-time features).

        Args:
            wave: ``(T,)``, ``(B, T)`` or ``(B, 1, T)`` samples in [-1, 1].
            sample_rate: the rate of ``wave``; resampled to :attr:`sample_rate` when different
                (default: already at the model's rate).

        Returns:
            ``(n_mels, frames)`` (or ``(B, n_mels, frames)``) float32 on :attr:`device`.
        """
        x = as_float_tensor(wave, "wave").float()
        if x.numel() and not bool(torch.isfinite(x).all()):
            raise MelInputError("wave holds non-finite (NaN/Inf) samples")
        if sample_rate is not None and int(sample_rate) != self.sample_rate:
            x = resample(x, int(sample_rate), self.sample_rate)
        with inference_context(self.device):
            return self._features(x.to(self.device))

    def resynthesize(
        self, wave: Tensor | np.ndarray, sample_rate: int | None = None, seed: int = 0
    ) -> Tensor:
        """Copy synthesis: features of ``wave``, then the vocoder.

        Args:
            wave: ``(T,)`` or ``(B, T)`` samples.
            sample_rate: rate of ``wave`` (resampled when it differs from the model's).
            seed: the noise of noise-driven generators (as in :meth:`__call__`).

        Returns:
            The synthesised waveform at :attr:`sample_rate`, at most as long as the
            (resampled) input: ``(T',)`` or ``(B, T')`` float32.
        """
        x = as_float_tensor(wave, "wave").float()
        if sample_rate is not None and int(sample_rate) != self.sample_rate:
            x = resample(x, int(sample_rate), self.sample_rate)
        # every frame of the clip, the output cut to its length
        return copy_synthesis(lambda mel: self(mel, check_range=False, seed=seed),
                              self.features, x, hop_length=self.hop_length,
                              whole_hops=False).fake

    def validate(self, mel: Tensor | np.ndarray, check_range: bool = True) -> Tensor:
        """Check ``mel`` as :meth:`__call__` does and return it ready for synthesis.

        Args:
            mel: see :meth:`__call__`.
            check_range: also run the value-range heuristic (may warn).

        Returns:
            ``(B, n_mels, frames)`` float32 on :attr:`device` (B = 1 for 2-D input).

        Raises:
            MelInputError: see :meth:`__call__`.
        """
        return self._prepare(mel, check_range=check_range)[0]

    # ------------------------------------------------------------------ internals
    def _prepare(
        self, mel: Any, allow_empty: bool = False, check_range: bool = True
    ) -> tuple[Tensor, bool]:
        """Validate and move: -> ((B, n_mels, frames) float32 on device, batched)."""
        x = as_float_tensor(mel, "mel")
        batched = x.dim() == 3
        if x.dim() == 2:
            x = x.unsqueeze(0)
        elif x.dim() != 3:
            raise MelInputError(
                f"mel must be (n_mels, frames) or (B, n_mels, frames), got shape "
                f"{tuple(x.shape)}"
            )
        channels, frames = x.shape[-2], x.shape[-1]
        if channels != self.n_mels:
            if frames == self.n_mels:
                raise MelInputError(
                    f"mel has shape {tuple(x.shape)}: frames and mel channels are swapped; "
                    f"transpose it to (n_mels={self.n_mels}, frames), e.g. mel.T"
                )
            raise MelInputError(
                f"mel has {channels} channels but this model expects n_mels={self.n_mels} "
                f"(shape {tuple(x.shape)}; profile {self.profile!r})"
            )
        if x.shape[0] == 0 or (frames == 0 and not allow_empty):
            raise MelInputError(f"mel is empty (shape {tuple(x.shape)}): nothing to synthesise")
        x = x.to(device=self.device, dtype=torch.float32)
        if x.numel():
            finite = torch.isfinite(x)
            if not bool(finite.all()):
                bad = int((~finite).sum())
                raise MelInputError(f"mel holds {bad} non-finite (NaN/Inf) values")
            if check_range:
                self._check_range(x)
        return x, batched

    def _check_range(self, x: Tensor) -> None:
        """Warn when values cannot come from this profile (e.g. the wrong log base)."""
        spec = self.spec
        low, high = float(x.amin()), float(x.amax())
        floor = spec.log_min
        base = "ln" if spec.log_base == "e" else "log10"
        expected = (f"profile {spec.profile!r} gives {base}(max(magnitude, {spec.log_floor:g})) "
                    f">= {floor:.2f}")
        if low >= 0.0:
            message = (f"mel values are all >= 0 (min {low:.3g}): linear magnitudes rather than "
                       f"log-mels? ({expected})")
        elif low < floor - 0.5:
            message = (f"mel values go down to {low:.2f}, below what {expected}: natural-log "
                       "mels given to a log10 model, or features of another profile or scale?")
        elif (spec.log_base == "e" and x.shape[-1] >= _MIN_FRAMES_FOR_BASE_CHECK
              and low > floor / math.log(10) - 0.5 and high < 1.2):
            message = (f"mel values span only [{low:.2f}, {high:.2f}] ({expected}): log10 mels "
                       "given to a natural-log model? Convert with mel * ln(10)")
        else:
            return
        warnings.warn(message, FeatureRangeWarning, stacklevel=4)

    def _check_lengths(self, lengths: Sequence[int] | Tensor, x: Tensor) -> list[int]:
        values = [int(v) for v in (lengths.tolist() if isinstance(lengths, Tensor) else lengths)]
        if len(values) != x.shape[0]:
            raise MelInputError(f"lengths has {len(values)} entries for a batch of {x.shape[0]}")
        for value in values:
            if not 1 <= value <= x.shape[-1]:
                raise MelInputError(
                    f"lengths must lie in [1, {x.shape[-1]}] (the padded frames), got {value}"
                )
        return values

    def _run(self, mel: Tensor, first: int, seed: int, fixed: bool = False) -> Tensor:
        """(B, n_mels, frames) -> (B, frames * hop) float32, one generator call; ``first``: the
        absolute index of ``mel``'s first frame (its noise's start); ``fixed``: a window."""
        hop = self.hop_length
        noise = synthesis_noise(self.generator, mel.shape[0], first * hop, mel.shape[-1] * hop,
                                seed, self.device)
        run = self.module if self._session is None else self._session  # the backend
        with inference_context(self.device, benchmark=fixed):
            inputs = (mel,) if noise is None else (mel, noise)
            return self._call_module(run, inputs, fixed)[:, 0].float()

    def _use_onnxruntime(self, source: Path) -> None:
        """Run ``generator.onnx`` beside ``source`` (checked against the weights on a short
        mel) instead of the PyTorch module."""
        from audiogan.inference.backends import OnnxRuntimeModule, require_onnx_file

        session = OnnxRuntimeModule(require_onnx_file(source), self.n_mels, self.noise_channels)
        frames = LOAD_CHECK_FRAMES
        mel = torch.linspace(-1.0, 1.0, self.n_mels * frames).reshape(1, self.n_mels, frames)
        mel = self.spec.log_min / 2 + mel.sin() * 2  # values inside the profile's range
        noise = synthesis_noise(self.generator, 1, 0, frames * self.hop_length, 0, self.device)
        session.check_against(self.module, mel, noise)
        self._session = session

    def _span(self, mel: Tensor, start: int, end: int, origin: int = 0, seed: int = 0
              ) -> Tensor:
        """Samples of frames ``[start, end)`` of ``mel`` (B, n_mels, F) -> (B, (end-start)*hop).

        The edges of ``mel`` are the signal's edges; frames outside ``[start - context, end +
        context)`` are not used. Spans over :attr:`max_frames` run in :attr:`chunk_frames`
        pieces (on the CPU, also as the policy's plan cuts). ``origin``: the absolute index of
        ``mel``'s first frame (a stream's buffer starts later), keying noise with ``seed``.
        """
        hop, context, frames = self.hop_length, self.receptive_field_frames, mel.shape[-1]
        if end <= start:
            return mel.new_zeros(mel.shape[0], 0)
        step = end - start if end - start <= self.max_frames else max(1, self.chunk_frames)
        plan = self._plan  # the CPU policy's (whole calls elsewhere: .to() drops it)
        pieces = cut(mel.shape[0], start, end, frames, context, step, plan)

        def run(piece: Piece) -> Tensor:
            part = mel[piece.item : piece.item_end, :, piece.low : piece.high]
            wave = self._run(part, origin + piece.low, seed)
            return wave[:, (piece.first - piece.low) * hop : (piece.last - piece.low) * hop]

        if len(pieces) == 1:
            return run(pieces[0])
        out = mel.new_empty(mel.shape[0], (end - start) * hop)

        def place(piece: Piece) -> None:  # straight into the output: no piece outlives its call
            out[piece.item : piece.item_end,
                (piece.first - start) * hop : (piece.last - start) * hop] = run(piece)

        run_pieces(pieces, place, plan.parallel)
        return out
