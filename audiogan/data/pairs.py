"""Ground-truth-aligned (mel, waveform) pairs for fine-tuning a vocoder on an acoustic model's mels.

:class:`MelWavePairDataset` shares :class:`~audiogan.data.datasets.WaveDataset`'s caching,
bad-file handling and keyed crops; it refuses audio at another sample rate (resampling would
break the alignment) and checks every mel's shape against its audio at construction.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from audiogan.data.datasets import (
    DataError,
    DataSettingsError,
    Item,
    MelAlignmentError,
    Normalize,
    Short,
    WaveDataset,
    _Unusable,
    crop_offset,
)
from audiogan.data.manifest import ManifestEntry

__all__ = ["MelWavePairDataset"]

logger = logging.getLogger(__name__)


class MelWavePairDataset(WaveDataset):
    """Aligned crops of ground-truth-aligned mels (``.npy``) and their waveforms, for fine-tuning.

    Each entry needs a ``mel_path`` to a float array ``(n_mels, frames)`` computed from (or
    aligned to) the entry's audio with hop ``hop_length``. Frame ``i`` is taken to cover samples
    ``[i * hop, (i + 1) * hop)``, which holds for every feature profile: ``frames`` is
    ``len // hop`` (``hifigan``) or ``len // hop + 1`` (``center=True`` profiles), so the check
    accepts ``|frames - num_samples // hop_length| <= tolerance_frames``. Usable frames are
    ``min(frames, T // hop)``; an item is a crop of ``segment_frames`` of them, starting at a
    frame drawn by :func:`crop_offset`, and the matching ``segment_frames * hop`` samples.
    Shorter pairs are padded (wave with zeros, mel with the clip's minimum value, i.e. its
    quietest level) or, with ``short="skip"``, left out at construction.

    Files are never resampled (that would break the alignment): entries at a rate other than
    ``sample_rate`` are refused at construction (all entries must share one rate when
    ``sample_rate`` is None). The mel headers are read at construction (memory-mapped, cheap)
    and every problem found there raises one :class:`MelAlignmentError` naming the first files;
    a waveform whose decoded length contradicts its mel is skipped like a bad file.

    Args:
        entries: Manifest entries with ``mel_path``.
        segment_frames: Mel frames per item.
        hop_length: Samples per mel frame.
        n_mels: Mel channels expected in every file.
        tolerance_frames: Allowed difference between ``frames`` and ``num_samples // hop``.
        sample_rate: The rate the mels were made at, or None (taken from the entries).
        short: ``"pad"`` or ``"skip"`` pairs shorter than ``segment_frames``.
        normalize: ``"none"`` (default; the mels were computed from un-normalised audio) or
            ``"peak"``.
        cache: True / False / None (auto by size) for the waveforms; mels are memory-mapped.
        seed: Non-negative crop seed.

    Items:
        ``{"mel": (n_mels, segment_frames) float32, "wave": (1, segment_frames * hop_length)
        float32, "index": int}``.

    Raises:
        MelAlignmentError: A missing ``mel_path``, an unreadable or mis-shaped mel file, or a
            frame count that does not match the audio length.
        DataError: Mixed or refused sample rates; all pairs too short with ``short="skip"``.
    """

    def __init__(
        self,
        entries: Sequence[ManifestEntry],
        *,
        segment_frames: int,
        hop_length: int,
        n_mels: int,
        tolerance_frames: int = 1,
        sample_rate: int | None = None,
        short: Short = "pad",
        normalize: Normalize = "none",
        cache: bool | None = None,
        seed: int = 0,
    ) -> None:
        if segment_frames <= 0 or hop_length <= 0 or n_mels <= 0:
            raise DataSettingsError(
                "segment_frames, hop_length and n_mels must be > 0, got "
                f"{segment_frames}, {hop_length}, {n_mels}"
            )
        if tolerance_frames < 0:
            raise DataSettingsError(f"tolerance_frames must be >= 0, got {tolerance_frames}")
        if short not in ("pad", "skip"):
            raise DataSettingsError(f"short must be 'pad' or 'skip', got {short!r}")
        entries = list(entries)
        if not entries:
            raise DataError("MelWavePairDataset: no entries (is the manifest empty?)")
        rates = sorted({entry.sample_rate for entry in entries})
        if sample_rate is None and len(rates) > 1:
            raise DataError(
                f"MelWavePairDataset: entries have several sample rates {rates}; mels need one "
                "rate (pass sample_rate to name it, and resample the audio beforehand)"
            )
        rate = sample_rate if sample_rate is not None else rates[0]
        for entry in entries:
            if entry.sample_rate != rate:
                raise DataError(
                    f"{entry.path}: sample rate {entry.sample_rate} Hz, expected {rate} Hz; "
                    "mel + wave pairs are not resampled (it would break their alignment)"
                )
        self.segment_frames = int(segment_frames)
        self.hop_length = int(hop_length)
        self.n_mels = int(n_mels)
        self.tolerance_frames = int(tolerance_frames)
        self.short: Short = short
        self.skipped: list[Path] = []

        problems: list[str] = []
        kept: list[ManifestEntry] = []
        frames_of: list[int] = []
        for entry in entries:
            try:
                frames = self._check_pair(entry)
            except MelAlignmentError as exc:
                problems.append(str(exc))
                continue
            if short == "skip" and min(frames, entry.num_samples // hop_length) < segment_frames:
                self.skipped.append(entry.path)
                continue
            kept.append(entry)
            frames_of.append(frames)
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise MelAlignmentError(f"{len(problems)} bad mel file(s): {problems[0]}{more}")
        if not kept:
            raise DataError(
                f"MelWavePairDataset: all {len(self.skipped)} pair(s) are shorter than "
                f"segment_frames={segment_frames}; use shorter segments or short='pad'"
            )
        if self.skipped:
            logger.info(
                "MelWavePairDataset: %d pair(s) shorter than %d frames left out",
                len(self.skipped),
                segment_frames,
            )
        self._frames = frames_of
        super().__init__(kept, sample_rate=rate, normalize=normalize, cache=cache, seed=seed)

    def _check_pair(self, entry: ManifestEntry) -> int:
        """Frames of ``entry``'s mel after checking its file, shape and alignment."""
        if entry.mel_path is None:
            raise MelAlignmentError(f"{entry.path}: no mel_path in the manifest for this file")
        try:
            mel = np.load(entry.mel_path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise MelAlignmentError(f"{entry.mel_path}: cannot read mel .npy ({exc})") from exc
        if mel.ndim != 2 or mel.shape[0] != self.n_mels:
            raise MelAlignmentError(
                f"{entry.mel_path}: mel shape {tuple(mel.shape)}, expected ({self.n_mels}, "
                "frames); check n_mels and that mels are stored as (n_mels, frames)"
            )
        frames = int(mel.shape[1])
        expected = entry.num_samples // self.hop_length
        if abs(frames - expected) > self.tolerance_frames:
            raise MelAlignmentError(
                f"{entry.mel_path}: {frames} frames, expected {expected} (+-"
                f"{self.tolerance_frames}) for {entry.num_samples} samples of {entry.path} at "
                f"hop {self.hop_length}; check hop_length and the feature profile"
            )
        return frames

    def _build_item(self, index: int, wave: Tensor) -> Item:
        """Aligned crops: mel ``(n_mels, segment_frames)``, wave ``(1, segment_frames * hop)``."""
        entry, hop, size = self.entries[index], self.hop_length, self.segment_frames
        frames = self._frames[index]
        length = wave.shape[-1]
        if abs(frames - length // hop) > self.tolerance_frames:
            raise _Unusable(
                f"decoded {length} samples but the mel {entry.mel_path} has {frames} frames at "
                f"hop {hop}"
            )
        usable = min(frames, length // hop)
        assert entry.mel_path is not None  # every entry's mel_path is checked in __init__
        mel = np.load(entry.mel_path, mmap_mode="r", allow_pickle=False)
        if usable >= size:
            start = crop_offset(self.seed, self.epoch, index, usable - size)
            mel_crop = torch.from_numpy(np.array(mel[:, start : start + size], dtype=np.float32))
            wave_crop = wave[:, start * hop : (start + size) * hop].clone()
        else:
            if self.short == "skip":
                raise _Unusable(f"{usable} usable frames, fewer than segment_frames={size}")
            part = np.array(mel[:, :usable], dtype=np.float32)
            floor = float(part.min()) if part.size else 0.0
            mel_crop = torch.full((self.n_mels, size), floor, dtype=torch.float32)
            mel_crop[:, :usable] = torch.from_numpy(part)
            wave_crop = torch.zeros(1, size * hop, dtype=torch.float32)
            wave_crop[:, : usable * hop] = wave[:, : usable * hop]
        if not torch.isfinite(mel_crop).all():
            raise _Unusable(f"non-finite values in {entry.mel_path}")
        return {"mel": mel_crop, "wave": wave_crop, "index": index}
