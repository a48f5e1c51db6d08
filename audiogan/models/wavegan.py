"""The WaveGAN generator (Donahue, McAuley & Puckette, 2019), optionally class-conditional.

z (B, latent_dim) -> Dense -> reshape (B, 16 * d, 16) -> ReLU -> transposed 1-D convs (kernel 25,
stride 4), channels halving each time down to d and then 1, ReLU between, tanh at the end.
With d = 64 and 16384 samples this is the published shape: 16 -> 64 -> 256 -> 1024 -> 4096 ->
16384 samples, channels 1024 -> 512 -> 256 -> 128 -> 64 -> 1 (19.06M parameters).

Longer clips (our choice; the paper only trains 16384-sample clips): one more transposed conv
(kernel 25) is inserted right after the dense layer, with stride 2 for 32768 samples and stride 4
for 65536, and the dense layer starts at 32 * d channels so that the channel ladder still ends
2d -> d -> 1. The extra layer sits at the lowest time resolution, where it is cheapest. Every
conv keeps stride <= 4, so no layer has to fill in more than 3 of every 4 samples (one stride-16
layer with kernel 25 would barely overlap its outputs and invite checkerboard artefacts).

Class conditioning (our step beyond the original): with ``num_classes > 0`` a learned label
embedding of size ``latent_dim`` is concatenated to z before the dense layer (a plain
conditional GAN); the rest of the network is unchanged.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from audiogan.models import GENERATORS
from audiogan.models.base import Generator, InputKind
from audiogan.models.layers import ExactConvTranspose1d

logger = logging.getLogger(__name__)

#: Clip length -> strides of the transposed convs (first to last).
WAVEGAN_STRIDES: dict[int, tuple[int, ...]] = {
    16384: (4, 4, 4, 4, 4),
    32768: (2, 4, 4, 4, 4, 4),
    65536: (4, 4, 4, 4, 4, 4),
}
_INITIAL_LENGTH = 16  # time steps after the dense layer


@GENERATORS.register("wavegan")
class WaveGANGenerator(Generator):
    """WaveGAN generator: z (B, latent_dim) [+ labels (B,)] -> wave (B, 1, num_samples).

    ``hop_length`` is ``num_samples`` (one "frame" of output per latent vector) and
    ``receptive_field_frames`` is 0: every clip is generated independently and whole. Each
    transposed conv outputs exactly ``stride`` x its input (:class:`ExactConvTranspose1d`; for
    kernel 25, stride 4: padding 11, output padding 1, TensorFlow's "same" padding that the
    original used).

    Args:
        latent_dim: size of z (100 in the paper).
        model_size: d, the channel unit (64 in the paper): the first conv has 16 d input channels
            (32 d for 32768 / 65536 samples), the last one d.
        num_samples: clip length, one of 16384 (about 1 s at 16 kHz), 32768, 65536.
        kernel_size: transposed-conv kernel (25 in the paper).
        num_classes: 0 for the unconditional model; > 0 adds a label embedding of size
            ``latent_dim`` concatenated to z, and ``forward`` then requires labels.

    Raises:
        ValueError: unsupported ``num_samples`` or non-positive sizes.
    """

    input_kind: InputKind = "latent"

    def __init__(self, *, latent_dim: int = 100, model_size: int = 64, num_samples: int = 16384,
                 kernel_size: int = 25, num_classes: int = 0) -> None:
        super().__init__()
        if num_samples not in WAVEGAN_STRIDES:
            valid = ", ".join(str(n) for n in WAVEGAN_STRIDES)
            raise ValueError(f"wavegan num_samples must be one of {valid}, got {num_samples}")
        if latent_dim <= 0 or model_size <= 0 or kernel_size <= 0:
            raise ValueError(
                f"latent_dim, model_size and kernel_size must be > 0, got {latent_dim}, "
                f"{model_size}, {kernel_size}"
            )
        if num_classes < 0:
            raise ValueError(f"num_classes must be >= 0, got {num_classes}")
        strides = WAVEGAN_STRIDES[num_samples]
        if kernel_size < max(strides):
            raise ValueError(f"kernel_size must be >= the largest stride {max(strides)}")
        self.latent_dim = latent_dim
        self.num_classes = num_classes
        self.hop_length = num_samples
        self.num_samples = num_samples
        self.receptive_field_frames = 0
        self.model_size = model_size
        self.initial_length = _INITIAL_LENGTH

        num_convs = len(strides)
        channels = [model_size * 2 ** (num_convs - 1 - i) for i in range(num_convs)] + [1]
        self.label_embedding = nn.Embedding(num_classes, latent_dim) if num_classes > 0 else None
        dense_in = latent_dim * (2 if num_classes > 0 else 1)
        self.dense = nn.Linear(dense_in, channels[0] * _INITIAL_LENGTH)
        self.convs = nn.ModuleList(
            ExactConvTranspose1d(c_in, c_out, kernel_size, stride)
            for c_in, c_out, stride in zip(channels[:-1], channels[1:], strides, strict=True)
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Glorot-uniform weights and zero biases: the TensorFlow defaults WaveGAN trained with.

        (PyTorch's default for transposed convs draws non-zero biases, which in narrow models
        can switch a ReLU channel off for every input.) The label embedding keeps N(0, 1).
        """
        for layer in [self.dense, *self.convs]:
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)

    def draw_prior(self, batch: int, generator: torch.Generator | None, source: torch.device
                   ) -> Tensor:
        """z (batch, latent_dim) float32 drawn uniformly from [-1, 1) on ``source``, as WaveGAN
        does; :meth:`sample_latent` then moves it to the model's device unless told otherwise."""
        z = torch.rand(batch, self.latent_dim, generator=generator, device=source)
        return 2.0 * z - 1.0

    def latent_device(self) -> torch.device:
        """The model's device: where :meth:`sample_latent` puts z by default."""
        return self.dense.weight.device

    def _check_labels(self, z: Tensor, labels: Tensor | None) -> None:
        if self.num_classes == 0:
            if labels is not None:
                raise ValueError(
                    "this wavegan generator is unconditional (num_classes=0): call it without "
                    "labels, or build it with num_classes > 0"
                )
            return
        if labels is None:
            raise ValueError(
                f"this wavegan generator is class-conditional (num_classes={self.num_classes}): "
                f"pass labels, a LongTensor (B,) with values in [0, {self.num_classes})"
            )
        if labels.dim() != 1 or labels.shape[0] != z.shape[0]:
            raise ValueError(f"labels must have shape (B,) = ({z.shape[0]},), got {labels.shape}")
        if labels.dtype != torch.int64 and labels.dtype != torch.int32:
            raise ValueError(f"labels must be an integer tensor, got {labels.dtype}")
        if not torch.jit.is_scripting() and not torch.jit.is_tracing():
            self._check_label_values(labels)

    @torch.jit.unused
    def _check_label_values(self, labels: Tensor) -> None:
        # A host sync; skipped while compiling / tracing (the embedding still bounds-checks).
        if torch.compiler.is_compiling() or labels.numel() == 0:
            return
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or high >= self.num_classes:
            raise ValueError(
                f"labels must lie in [0, {self.num_classes}), got values in [{low}, {high}]"
            )

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        """Generate clips.

        Args:
            z: (B, latent_dim) latent vectors (see :meth:`sample_latent`).
            labels: (B,) class indices in ``[0, num_classes)``; required when
                ``num_classes > 0``, forbidden otherwise.

        Returns:
            wave: (B, 1, num_samples) in [-1, 1].

        Raises:
            ValueError: wrong z shape, or labels missing / unexpected / out of range.
        """
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (B, {self.latent_dim}), got {z.shape}")
        self._check_labels(z, labels)
        if self.label_embedding is not None and labels is not None:
            z = torch.cat([z, self.label_embedding(labels.long())], dim=1)
        x = self.dense(z).view(z.shape[0], -1, self.initial_length)
        for conv in self.convs:
            x = conv(F.relu(x))
        return torch.tanh(x)


__all__ = ["WAVEGAN_STRIDES", "WaveGANGenerator"]
