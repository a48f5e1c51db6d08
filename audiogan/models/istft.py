"""The fast iSTFT-head vocoder: a ConvNeXt backbone predicting an STFT, then an inverse STFT.

Shaped after Vocos (Siuzdak, 2023): a 1-D ConvNeXt backbone runs at the frame rate and a linear
head predicts, per frame, a log-magnitude and a phase for each of the ``n_fft // 2 + 1`` bins;
a fixed inverse STFT turns them into the waveform. All the learned work happens at the frame rate,
which is what makes it the speed option for CPU inference.

The inverse STFT (:class:`InverseSTFT`) is written with real-valued ops only (matmuls with a
fixed inverse-DFT basis and an overlap-add of shifted hop blocks), so the generator traces,
scripts, ``torch.export``-s and exports to ONNX without complex tensors or ``torch.istft``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from audiogan.models import GENERATORS, istft_inference
from audiogan.models.base import Generator, InputKind
from audiogan.models.layers import apply_weight_norm, same_padding

logger = logging.getLogger(__name__)

Padding = Literal["same", "center"]
_PADDINGS: tuple[str, ...] = ("same", "center")
_NOLA_EPS = 1e-11  # torch.istft's threshold for a usable window envelope


def _trim_left(n_fft: int, hop_length: int, padding: str) -> int:
    """Samples dropped at the start of the full overlap-add so that T frames give T * hop.

    The full overlap-add of T frames is ``(T - 1) * hop + n_fft`` samples long; keeping exactly
    ``T * hop`` of them means dropping ``n_fft - hop`` in total.

    - ``"same"``: drop them evenly, ``(n_fft - hop) // 2`` at the start (the rest at the end), so
      frame t is centred on output sample ``t * hop + hop / 2``: the middle of "its" hop block.
      This matches features framed with ``(n_fft - hop) / 2`` reflect padding on each side
      (the ``hifigan`` profile) and Vocos' ``padding="same"``.
    - ``"center"``: drop ``n_fft // 2`` at the start like ``torch.istft(center=True)``, so frame t
      is centred on sample ``t * hop``; the last ``hop`` samples come from the tail of the final
      frames (which needs ``hop <= n_fft // 2``). This matches ``torch.istft(..., center=True,
      length=T * hop)`` exactly.
    """
    return n_fft // 2 if padding == "center" else (n_fft - hop_length) // 2


def _is_exporting() -> bool:
    """True inside ``torch.export`` (``torch.compiler.is_exporting`` appeared in torch 2.6)."""
    check = getattr(torch.compiler, "is_exporting", None)
    if check is None:  # older torch: treat any dynamo capture as a possible export
        return bool(torch.compiler.is_compiling())
    return bool(check())


class InverseSTFT(nn.Module):
    """Inverse STFT (hann window) from real and imaginary parts, with real-valued ops only.

    Per frame, the inverse real DFT (``1/N`` scaling, DC and Nyquist counted once, the other bins
    twice) is a fixed-basis matmul: ``x[n] = C[n] + S[n]`` with ``C = cos_basis @ real`` and
    ``S = sin_basis @ imag``. As ``cos(2 pi k (N - n) / N) = cos(2 pi k n / N)`` and the sine
    flips sign, ``x[N - n] = C[n] - S[n]``: only rows ``0 .. N // 2`` of either basis are
    multiplied (half the FLOPs of a full (n_fft, 2 * n_freq) basis, which on 2 CPU cores keeps
    the ``base`` generator within ~4% of the same model with a ``torch.istft`` head) and the
    other half of the frame is a flipped difference. The frames are then windowed (an
    elementwise product, so any ``win_length`` works, centred or not), overlap-added by
    splitting each into
    ``ceil(n_fft / hop)`` hop-sized blocks and summing the blocks shifted by their block index,
    then divided by the overlap-added squared window (the least-squares inverse, as
    ``torch.istft`` does) and trimmed to exactly ``frames * hop`` samples (see ``padding``).

    An overlap-add with ``F.conv_transpose1d`` and an identity kernel would also export, but it
    costs as much again as a full-basis matmul (measured 22 ms vs 10 ms for 10 s of 22.05 kHz
    audio on 2 CPU cores); the shifted-block sum costs ~nothing and exports as pads and adds.

    Eager (and ``torch.compile``) runs in float32/float64 compute the same frames with
    ``torch.fft.irfft`` instead, which is O(n log n) per frame and faster on every device; the
    matmul is what TorchScript, tracing, ONNX and ``torch.export`` see (and what a module cast
    to a half type runs), so exported graphs hold real-valued ops only.

    Precision: float32 throughout (autocast is switched off inside); the result matches
    ``torch.istft`` to ~5e-6 on unit-RMS signals on CPU and CUDA. With TF32 matmuls enabled
    (``torch.backends.cuda.matmul.allow_tf32``) the matmul path's CUDA error grows to ~3e-3.

    Args:
        n_fft: FFT size; the head predicts ``n_fft // 2 + 1`` bins.
        hop_length: samples between frames.
        win_length: hann window length (periodic), zero-padded to ``n_fft`` in the centre like
            ``torch.istft``; defaults to ``n_fft``.
        padding: ``"same"`` (frame t centred on ``t * hop + hop / 2``) or ``"center"`` (frame t
            centred on ``t * hop``, equal to ``torch.istft(center=True, length=frames * hop)``).

    Raises:
        ValueError: on bad sizes, or when the window envelope vanishes somewhere in the kept
            output (the NOLA condition, e.g. ``win_length < hop_length``).
    """

    if TYPE_CHECKING:  # for the type checker only: TorchScript cannot read string annotations
        cos_basis: Tensor  # buffer (n_fft // 2 + 1, n_freq)
        sin_basis: Tensor  # buffer (n_fft // 2 + 1, n_freq)
        window: Tensor  # buffer (n_fft, 1)
        window_sq_blocks: Tensor  # buffer (hop_length, num_blocks)

    def __init__(
        self,
        n_fft: int,
        hop_length: int,
        win_length: int | None = None,
        padding: Padding = "same",
    ) -> None:
        super().__init__()
        win_length = n_fft if win_length is None else win_length
        if padding not in _PADDINGS:
            raise ValueError(f"padding must be one of {_PADDINGS}, got {padding!r}")
        if not 0 < hop_length <= n_fft:
            raise ValueError(f"need 0 < hop_length <= n_fft, got hop {hop_length}, n_fft {n_fft}")
        if not 0 < win_length <= n_fft:
            raise ValueError(f"need 0 < win_length <= n_fft, got win {win_length}, n_fft {n_fft}")
        if padding == "center" and hop_length > n_fft // 2:
            raise ValueError(
                f"padding='center' needs hop_length <= n_fft // 2 to produce frames * hop "
                f"samples; got hop {hop_length}, n_fft {n_fft} (use padding='same')"
            )
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.win_length = win_length
        self.padding = padding
        self.n_freq = n_fft // 2 + 1
        self.num_blocks = -(-n_fft // hop_length)  # ceil: hop blocks per (zero-padded) frame
        self.trim_left = _trim_left(n_fft, hop_length, padding)
        # Full overlap-add of T frames spans (T + num_blocks - 1) * hop samples; we keep
        # [trim_left, trim_left + T * hop), so the samples dropped at the end do not depend on T.
        self.trim_right = (self.num_blocks - 1) * hop_length - self.trim_left

        window = torch.zeros(n_fft, dtype=torch.float64)
        start = (n_fft - win_length) // 2
        window[start : start + win_length] = torch.hann_window(
            win_length, periodic=True, dtype=torch.float64
        )
        cos_basis, sin_basis = self._half_inverse_basis(n_fft)
        self.num_mirrored = n_fft - cos_basis.shape[0]  # rows N // 2 + 1 .. N - 1
        padded = self.num_blocks * hop_length
        self.pad_frames = padded - n_fft  # zeros appended to each frame to fill whole hop blocks
        window_sq = F.pad(window.square(), (0, padded - n_fft))
        self.register_buffer("cos_basis", cos_basis.float(), persistent=False)
        self.register_buffer("sin_basis", sin_basis.float(), persistent=False)
        self.register_buffer("window", window.float().view(n_fft, 1), persistent=False)
        # (hop, num_blocks): column q is the squared window's q-th hop block.
        window_sq_blocks = window_sq.float().view(self.num_blocks, hop_length).t().contiguous()
        self.register_buffer("window_sq_blocks", window_sq_blocks, persistent=False)
        self._check_nola()

    @staticmethod
    def _half_inverse_basis(n_fft: int) -> tuple[Tensor, Tensor]:
        """Rows ``n = 0 .. n_fft // 2`` of the inverse real DFT, (n_fft // 2 + 1, n_freq) each.

        Returns:
            (cos_basis, sin_basis) in float64, applied to the real and the imaginary parts.
        """
        n_freq = n_fft // 2 + 1
        n = torch.arange(n_fft // 2 + 1, dtype=torch.int64)
        k = torch.arange(n_freq, dtype=torch.int64)
        # (k * n) mod N keeps the angles exact for large n_fft.
        angle = (2.0 * math.pi / n_fft) * torch.remainder(n[:, None] * k[None, :], n_fft).double()
        weight = torch.full((n_freq,), 2.0, dtype=torch.float64)
        weight[0] = 1.0
        if n_fft % 2 == 0:
            weight[-1] = 1.0  # the Nyquist bin appears once
        scale = weight / n_fft
        cos_part = torch.cos(angle) * scale
        # The imag parts of DC and Nyquist meet sin(0) = sin(pi n) = 0: ignored, as in irfft.
        sin_part = -torch.sin(angle) * scale
        return cos_part, sin_part

    def _overlap_add(self, frames: Tensor) -> Tensor:
        """Overlap-add frames (B, num_blocks * hop, T) -> (B, (T + num_blocks - 1) * hop)."""
        batch, _, num_frames = frames.shape
        blocks = frames.reshape(batch, self.num_blocks, self.hop_length, num_frames)
        last = self.num_blocks - 1
        out = F.pad(blocks[:, 0], (0, last))
        for index in range(1, self.num_blocks):
            out = out + F.pad(blocks[:, index], (index, last - index))
        # out[b, s, u] is sample u * hop + s: put time last.
        return out.transpose(1, 2).reshape(batch, -1)

    def _envelope(self, ones: Tensor) -> Tensor:
        """Overlap-added squared window for ``ones`` (1, T) -> (1, (T + num_blocks - 1) * hop).

        Block u of the envelope sums window block q over the frames t = u - q that exist, so it
        is ``window_sq_blocks @ present`` with ``present[q, u] = 1 if 0 <= u - q < T``: memory
        O(T * hop), not the O(T * n_fft) of overlap-adding T copies of the window.
        """
        last = self.num_blocks - 1
        present = torch.cat([F.pad(ones, (q, last - q)) for q in range(self.num_blocks)], dim=0)
        envelope = torch.matmul(self.window_sq_blocks, present)  # (hop, T + num_blocks - 1)
        return envelope.t().reshape(1, -1)

    def _trim(self, signal: Tensor) -> Tensor:
        end = signal.shape[-1] - self.trim_right
        return signal[..., self.trim_left : end]

    def _check_nola(self) -> None:
        # Edges only differ for short inputs; beyond 2 * num_blocks frames the pattern repeats.
        for num_frames in range(1, 2 * self.num_blocks + 2):
            ones = torch.ones(1, num_frames, dtype=self.window_sq_blocks.dtype)
            envelope = self._trim(self._envelope(ones))
            if float(envelope.min()) < _NOLA_EPS:
                raise ValueError(
                    f"window envelope is ~0 inside the output (NOLA violated) for n_fft "
                    f"{self.n_fft}, hop {self.hop_length}, win {self.win_length}, padding "
                    f"{self.padding!r}: use win_length >= hop_length (ideally >= 2 * hop)"
                )

    def forward(self, real: Tensor, imag: Tensor) -> Tensor:
        """Invert a one-sided STFT.

        Args:
            real: (B, n_fft // 2 + 1, frames) real parts.
            imag: (B, n_fft // 2 + 1, frames) imaginary parts (ignored at DC and Nyquist, as in
                ``torch.fft.irfft``).

        Returns:
            wave: (B, frames * hop_length).
        """
        if torch.jit.is_scripting():
            return self._invert(real, imag, False)
        return self._invert_without_autocast(real, imag)

    @torch.jit.unused
    def _invert_without_autocast(self, real: Tensor, imag: Tensor) -> Tensor:
        # In the bases' dtype (float32 unless the module was cast), also under autocast: a bf16
        # transform over ~n_fft terms would leave a noise floor only ~48 dB under the signal.
        # (TorchScript cannot take a runtime device type for autocast, hence this eager path.)
        # Eager (and torch.compile) float32/float64 runs use the FFT, O(n log n) per frame;
        # tracing, ONNX and torch.export, which have no portable FFT, and other dtypes use the
        # dense real-DFT matmul (the same values to float rounding, tested).
        use_fft = (
            not torch.jit.is_tracing()
            and not torch.onnx.is_in_onnx_export()
            and not _is_exporting()
            and self.cos_basis.dtype in (torch.float32, torch.float64)
        )
        if torch.is_autocast_enabled(real.device.type):
            with torch.autocast(device_type=real.device.type, enabled=False):
                return self._invert(real, imag, use_fft)
        return self._invert(real, imag, use_fft)

    def _invert(self, real: Tensor, imag: Tensor, use_fft: bool) -> Tensor:
        real = real.to(self.cos_basis.dtype)
        imag = imag.to(real.dtype)
        if not torch.jit.is_tracing() and (real.shape[1] != self.n_freq
                                           or imag.shape[1] != self.n_freq):
            raise ValueError(
                f"InverseSTFT(n_fft={self.n_fft}) needs {self.n_freq} frequency bins, got "
                f"real {real.shape[1]} and imag {imag.shape[1]}"
            )
        if use_fft:
            frames = self._irfft_frames(real, imag)
        else:
            cos_sum = torch.matmul(self.cos_basis, real)  # (B, n_fft // 2 + 1, T)
            sin_sum = torch.matmul(self.sin_basis, imag)
            mirrored = torch.flip((cos_sum - sin_sum)[:, 1 : 1 + self.num_mirrored], dims=[1])
            frames = torch.cat([cos_sum + sin_sum, mirrored], dim=1)  # (B, n_fft, T)
        frames = frames * self.window
        if self.pad_frames > 0:
            frames = F.pad(frames, (0, 0, 0, self.pad_frames))
        signal = self._overlap_add(frames)
        envelope = self._envelope(torch.ones_like(real[0, :1]))
        return self._trim(signal) / self._trim(envelope)

    # Unannotated on purpose: TorchScript cannot resolve this unused method's (postponed,
    # string) annotations, and reads its arguments and result as Tensors anyway.
    @torch.jit.unused
    def _irfft_frames(self, real, imag):
        """(B, n_freq, T) parts -> (B, n_fft, T) frames by FFT (kept out of TorchScript graphs,
        which stay free of complex ops). irfft ignores the imaginary parts of DC and Nyquist,
        as the bases do."""
        return torch.fft.irfft(torch.complex(real, imag), n=self.n_fft, dim=1)

    def extra_repr(self) -> str:
        return (
            f"n_fft={self.n_fft}, hop_length={self.hop_length}, win_length={self.win_length}, "
            f"padding={self.padding!r}"
        )


class ConvNeXtBlock1d(nn.Module):
    """ConvNeXt block over time (Liu et al., 2022, in 1-D as in Vocos).

    depthwise conv (``kernel_size``) -> LayerNorm over channels -> Linear(dim, intermediate) ->
    GELU -> Linear(intermediate, dim) -> per-channel layer scale -> residual add.

    Args:
        dim: channels.
        intermediate_dim: hidden size of the pointwise MLP.
        kernel_size: depthwise kernel (odd).
        layer_scale_init: initial value of the per-channel residual scale.
    """

    def __init__(
        self, dim: int, intermediate_dim: int, kernel_size: int, layer_scale_init: float
    ) -> None:
        super().__init__()
        self.dwconv = nn.Conv1d(
            dim, dim, kernel_size, padding=same_padding(kernel_size), groups=dim
        )
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, intermediate_dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(intermediate_dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), float(layer_scale_init)))

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, dim, frames) -> (B, dim, frames)."""
        residual = x
        h = self.dwconv(x).transpose(1, 2)  # (B, frames, dim)
        h = self.pwconv2(self.act(self.pwconv1(self.norm(h))))
        return residual + (self.gamma * h).transpose(1, 2)


@dataclass(frozen=True)
class ISTFTPreset:
    """Architecture fields of an :class:`ISTFTGenerator` preset (each overridable)."""

    dim: int
    intermediate_dim: int
    num_layers: int
    n_fft: int
    hop_length: int


ISTFT_PRESETS: dict[str, ISTFTPreset] = {
    # Vocos' mel model (24 kHz, 100 mels in Vocos; 13.53M parameters at 100 mels).
    "base": ISTFTPreset(dim=512, intermediate_dim=1536, num_layers=8, n_fft=1024, hop_length=256),
    # About 1/20 of base: for quick experiments and very cheap CPU inference.
    "small": ISTFTPreset(dim=128, intermediate_dim=384, num_layers=4, n_fft=1024, hop_length=256),
}


@GENERATORS.register("istft")
class ISTFTGenerator(Generator):
    """ConvNeXt backbone + iSTFT head: mel (B, n_mels, frames) -> wave (B, 1, frames * hop).

    Conv1d(n_mels, dim, kernel_size) -> LayerNorm -> ``num_layers`` x :class:`ConvNeXtBlock1d`
    -> LayerNorm -> Linear(dim, n_fft + 2) split into log-magnitude and phase ->
    ``mag = exp(min(log_mag, log(max_magnitude)))``, ``real = mag cos(phase)``,
    ``imag = mag sin(phase)`` -> :class:`InverseSTFT`.

    Args:
        preset: ``"base"`` (Vocos' mel model shape) or ``"small"``; see :data:`ISTFT_PRESETS`.
        in_channels: number of mel bins.
        dim: backbone channels (overrides the preset).
        intermediate_dim: ConvNeXt MLP hidden size (overrides the preset).
        num_layers: number of ConvNeXt blocks (overrides the preset).
        n_fft: FFT size of the inverse STFT (overrides the preset).
        hop_length: samples per mel frame (overrides the preset).
        win_length: hann window length; defaults to ``n_fft``.
        padding: ``"same"`` (default; frame t centred in output block t) or ``"center"``
            (``torch.istft(center=True)`` alignment); see :class:`InverseSTFT`.
        kernel_size: kernel of the input conv and of the depthwise convs.
        layer_scale_init: initial layer scale; defaults to ``1 / num_layers`` as in Vocos.
        max_magnitude: the predicted magnitude is clamped to this (before ``exp``, so no overflow
            and no NaN gradients).
        use_weight_norm: weight-normalise the convs and linears (off by default: ConvNeXt
            relies on LayerNorm). :meth:`remove_weight_norm` folds it either way.

    Raises:
        ValueError: unknown preset or padding, or sizes for which the inverse STFT is not
            defined (see :class:`InverseSTFT`).
    """

    input_kind: InputKind = "mel"

    def __init__(
        self,
        preset: str = "base",
        *,
        in_channels: int = 80,
        dim: int | None = None,
        intermediate_dim: int | None = None,
        num_layers: int | None = None,
        n_fft: int | None = None,
        hop_length: int | None = None,
        win_length: int | None = None,
        padding: Padding = "same",
        kernel_size: int = 7,
        layer_scale_init: float | None = None,
        max_magnitude: float = 1e2,
        use_weight_norm: bool = False,
    ) -> None:
        super().__init__()
        if preset not in ISTFT_PRESETS:
            valid = ", ".join(sorted(ISTFT_PRESETS))
            raise ValueError(f"unknown istft preset {preset!r}; valid presets: {valid}")
        overrides = {
            "dim": dim,
            "intermediate_dim": intermediate_dim,
            "num_layers": num_layers,
            "n_fft": n_fft,
            "hop_length": hop_length,
        }
        chosen = {name: value for name, value in overrides.items() if value is not None}
        cfg = replace(ISTFT_PRESETS[preset], **chosen)
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        if max_magnitude <= 0:
            raise ValueError(f"max_magnitude must be > 0, got {max_magnitude}")
        self.preset = preset
        self.config = cfg
        self.in_channels = in_channels
        self.hop_length = cfg.hop_length
        self.latent_dim = 0
        self.num_classes = 0
        self.log_max_magnitude = math.log(max_magnitude)
        if layer_scale_init is None:
            layer_scale_init = 1.0 / cfg.num_layers

        self.embed = nn.Conv1d(in_channels, cfg.dim, kernel_size, padding=same_padding(kernel_size))
        self.norm = nn.LayerNorm(cfg.dim, eps=1e-6)
        self.blocks = nn.ModuleList(
            ConvNeXtBlock1d(cfg.dim, cfg.intermediate_dim, kernel_size, layer_scale_init)
            for _ in range(cfg.num_layers)
        )
        self.final_norm = nn.LayerNorm(cfg.dim, eps=1e-6)
        self.istft = InverseSTFT(cfg.n_fft, cfg.hop_length, win_length, padding)
        self.head = nn.Linear(cfg.dim, 2 * self.istft.n_freq)
        self.receptive_field_frames = (kernel_size // 2) * (1 + cfg.num_layers) + (
            self._istft_context_frames(self.istft)
        )
        self.apply(self._init_weights)
        if use_weight_norm:
            apply_weight_norm(self)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        # ConvNeXt's initialisation: truncated normal (std 0.02), zero bias.
        if isinstance(module, (nn.Conv1d, nn.Linear)):
            nn.init.trunc_normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)

    @staticmethod
    def _istft_context_frames(istft: InverseSTFT) -> int:
        """Frames on either side of frame t whose windows reach output block t (upper bound).

        Frame t's window support ``[a, b)`` lands on output samples
        ``[t * hop - L + a, t * hop - L + b)`` (``L`` = samples trimmed at the start); it
        overlaps block i = ``[i * hop, (i + 1) * hop)`` iff ``(L - b) / hop < t - i < 1 +
        (L - a) / hop``, so frames up to ``ceil((L - a) / hop)`` after and
        ``ceil((b - L) / hop) - 1`` before block i contribute. (1024 / 256, "same": 2 and 2.)
        """
        hop = istft.hop_length
        support_start = (istft.n_fft - istft.win_length) // 2
        support_end = support_start + istft.win_length
        after = -(-(istft.trim_left - support_start) // hop)
        before = -(-(support_end - istft.trim_left) // hop) - 1
        return max(after, before, 0)

    def forward(self, mel: Tensor) -> Tensor:
        """Synthesise a waveform.

        Args:
            mel: (B, n_mels, frames) log-mel spectrogram.

        Returns:
            wave: (B, 1, frames * hop_length).

        Without autograd on float32 CPU tensors (eager), :mod:`audiogan.models.istft_inference`
        computes the same output time-major with fused oneDNN products (~1.2x faster).
        """
        if not torch.jit.is_scripting() and istft_inference.applies(self, mel):
            return self._fast_forward(mel)
        x = self.embed(mel)
        x = self.norm(x.transpose(1, 2)).transpose(1, 2)
        for block in self.blocks:
            x = block(x)
        x = self.head(self.final_norm(x.transpose(1, 2))).transpose(1, 2)  # (B, 2 * n_freq, T)
        log_magnitude, phase = x.chunk(2, dim=1)
        magnitude = torch.exp(log_magnitude.clamp(max=self.log_max_magnitude))
        wave = self.istft(magnitude * torch.cos(phase), magnitude * torch.sin(phase))
        return wave.unsqueeze(1)

    @torch.jit.unused
    def _fast_forward(self, mel):  # unannotated: see InverseSTFT._irfft_frames
        return istft_inference.forward(self, mel)


__all__ = ["ISTFT_PRESETS", "ConvNeXtBlock1d", "ISTFTGenerator", "ISTFTPreset", "InverseSTFT"]
