"""Push-style streaming synthesis (:class:`Streamer`, made by :meth:`audiogan.Vocoder.streamer`).

Re-exported by :mod:`audiogan.inference.vocoder`, its public home.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from audiogan.inference.mel_input import MelInputError

if TYPE_CHECKING:
    from audiogan.inference.vocoder import Vocoder

__all__ = ["Streamer"]


class Streamer:
    """Push-style streaming synthesis, for acoustic models that emit mel frames as they go.

    :meth:`push` returns the samples that no future frame can change any more (all but the last
    ``receptive_field_frames`` frames' worth); :meth:`flush` returns the rest. The concatenation
    of everything returned equals ``vocoder(whole_mel)`` (to float rounding, <= 1e-4). Only the
    frames still needed as context are kept.

    Example:
        >>> streamer = voc.streamer()
        >>> parts = [streamer.push(chunk) for chunk in tts.generate_mel_chunks(text)]
        >>> wave = torch.cat([*parts, streamer.flush()])

    Args:
        vocoder: the :class:`Vocoder` to run.
        seed: the noise of noise-driven generators: each sample's noise is keyed by the seed
            and its index in the utterance, as in ``vocoder(whole_mel, seed=seed)``; ignored
            by other vocoders.
    """

    def __init__(self, vocoder: Vocoder, seed: int = 0) -> None:
        self.vocoder = vocoder
        self.seed = int(seed)
        self.reset()

    def reset(self) -> None:
        """Forget everything pushed so far (start a new utterance)."""
        self._buffer: Tensor | None = None
        self._offset = 0  # absolute index of the buffer's first frame
        self._done = 0  # frames whose samples were returned
        self._received = 0
        self._batched: bool | None = None

    @property
    def frames_received(self) -> int:
        """Frames pushed since the last flush / reset."""
        return self._received

    def push(self, mel_chunk: Tensor | np.ndarray) -> Tensor:
        """Add ``(n_mels, k)`` (or ``(B, n_mels, k)``) frames; return the samples now final.

        Returns:
            ``(n * hop,)`` (or ``(B, n * hop)``) float32, ``n >= 0`` frames' worth.
        """
        first = self._buffer is None or self._received == 0
        chunk, batched = self.vocoder._prepare(mel_chunk, allow_empty=True, check_range=first)
        if self._buffer is None:
            self._batched = batched
            self._buffer = chunk
        else:
            if batched != self._batched or chunk.shape[0] != self._buffer.shape[0]:
                raise MelInputError(
                    f"pushed shape {tuple(chunk.shape)} does not continue the earlier chunks "
                    f"(batch {self._buffer.shape[0]}, batched={self._batched})"
                )
            self._buffer = torch.cat([self._buffer, chunk], dim=-1)
        self._received += chunk.shape[-1]
        return self._emit(self._received - self.vocoder.receptive_field_frames)

    def flush(self) -> Tensor:
        """Return the remaining samples and reset for the next utterance."""
        if self._buffer is None:
            self.reset()
            return torch.zeros(0, device=self.vocoder.device)
        out = self._emit(self._received)
        self.reset()
        return out

    def _emit(self, end: int) -> Tensor:
        assert self._buffer is not None
        batch = self._buffer.shape[0]
        if end <= self._done:
            empty = self._buffer.new_zeros(batch, 0)
            return empty if self._batched else empty[0]
        context = self.vocoder.receptive_field_frames
        low = max(0, self._done - context)
        window = self._buffer[..., low - self._offset :]
        wave = self.vocoder._span(window, self._done - low, end - low, origin=low,
                                  seed=self.seed)
        self._done = end
        keep = max(0, self._done - context)
        self._buffer = self._buffer[..., keep - self._offset :].clone()
        self._offset = keep
        return wave if self._batched else wave[0]
