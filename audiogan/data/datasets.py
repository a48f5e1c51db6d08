"""Map-style datasets of waveforms: training segments and fixed-length clips.

The loaders only read and crop waveforms; mel features are computed on the device in the
training step (see docs/architecture.md, 'Training data path'). These datasets and
:class:`~audiogan.data.pairs.MelWavePairDataset` (mel + wave pairs for fine-tuning) share
:class:`WaveDataset`'s behaviour:

* **Sample rate.** :class:`SegmentDataset` and :class:`ClipDataset` resample files at another
  rate on load (band-limited, :func:`audiogan.audio.io.load_audio`). :class:`MelWavePairDataset`
  refuses them instead, since resampling would break the alignment with the given mels.
* **Caching.** ``cache=None`` (auto) keeps the whole corpus in RAM when its float32 samples take
  less than :data:`AUTO_CACHE_BYTES`; the files are then read once at construction into one flat
  tensor (shared copy-on-write by forked DataLoader workers, and a single shared-memory block if
  the dataset is pickled to spawned workers). Otherwise every item reads its file.
* **Bad files** never stop training. A file that cannot be read (corrupt, truncated, not audio,
  empty, non-finite, or unusable for the dataset's reason) is logged with a warning, recorded in
  ``dataset.failed`` as ``(path, reason)`` (count: ``dataset.num_failed``) and never tried again
  by that process; the item is served from the next index instead (``index + 1``, ``index + 2``,
  ... wrapping around), so the replacement is deterministic. Only when *every* file fails is a
  :class:`DataError` raised. Header problems are found at construction (all files are probed
  cheaply, or read when cached), so ``failed`` in the main process lists them; problems only
  found while decoding inside DataLoader workers are logged by the worker and recorded in the
  worker's copy.
* **Randomness.** Crop offsets are a function of ``(seed, epoch, index)`` only
  (:func:`crop_offset`), independent of worker count, process and call order. Call
  :meth:`WaveDataset.set_epoch` before each epoch, like the sampler's, or index the dataset
  with ``(epoch, index)`` pairs (what :class:`~audiogan.data.sampler.ResumableSampler` yields
  with ``with_epoch=True``), which also holds in DataLoader workers that persist across epochs
  (``persistent_workers=True``; their copy of the dataset never sees ``set_epoch``).

Items are dicts of tensors and ints; ``index`` is the dataset index actually served (the
replacement's index when a file failed).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from audiogan.audio.io import AudioError, audio_info, load_audio, peak_normalize
from audiogan.core.errors import AudioganError
from audiogan.data.manifest import ManifestEntry, failure_reason

__all__ = [
    "AUTO_CACHE_BYTES",
    "PEAK_LEVEL",
    "ClipDataset",
    "DataError",
    "DataSettingsError",
    "MelAlignmentError",
    "SegmentDataset",
    "WaveDataset",
    "crop_offset",
]

logger = logging.getLogger(__name__)

AUTO_CACHE_BYTES: int = 2 * 1024**3
"""``cache=None`` keeps a corpus in RAM when its float32 samples take less than this (2 GiB)."""

PEAK_LEVEL: float = 0.95
"""Peak of ``normalize="peak"`` (the HiFi-GAN training convention)."""

Normalize = Literal["none", "peak"]
Short = Literal["pad", "skip"]
Item = dict[str, Any]


class DataError(AudioganError, RuntimeError):
    """A dataset cannot be built or served; the one-line message names the file(s) and the fix."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


class DataSettingsError(DataError, ValueError):
    """A dataset setting is out of range (segment length, seed, labels, ...); also a ValueError."""


class MelAlignmentError(DataError):
    """A mel file does not match its waveform (frames x hop vs samples) or the expected shape."""


class _Unusable(Exception):
    """Internal: a file was read but cannot serve this dataset (e.g. shorter than a segment)."""


def _check_positive(name: str, value: int) -> None:
    """DataSettingsError "<name> must be > 0, got <value>" unless ``value > 0``."""
    if value <= 0:
        raise DataSettingsError(f"{name} must be > 0, got {value}")


def _check_choice(name: str, value: str, choices: tuple[str, str]) -> None:
    """DataSettingsError "<name> must be 'a' or 'b', got <value>" unless ``value`` is one."""
    if value not in choices:
        raise DataSettingsError(
            f"{name} must be {choices[0]!r} or {choices[1]!r}, got {value!r}")


def crop_offset(seed: int, epoch: int, index: int, max_offset: int) -> int:
    """A crop start in ``[0, max_offset]`` that depends only on ``(seed, epoch, index)``.

    Args:
        seed: Non-negative dataset seed.
        epoch: Non-negative epoch.
        index: Non-negative dataset index.
        max_offset: Largest allowed offset; ``<= 0`` gives 0.

    Returns:
        The offset.
    """
    if max_offset <= 0:
        return 0
    rng = np.random.default_rng([seed, epoch, index])
    return int(rng.integers(0, max_offset + 1))


class WaveDataset(Dataset[Item]):
    """Shared base: file access, resampling, peak normalisation, RAM cache and bad-file skipping.

    Subclasses implement :meth:`_build_item`, which turns a loaded waveform into an item.

    Args:
        entries: Manifest entries (indices refer to this sequence).
        sample_rate: Rate to resample to on load, or None to keep each file's rate.
        normalize: ``"peak"`` scales each whole clip to a peak of :data:`PEAK_LEVEL` (before any
            cropping); ``"none"`` keeps the levels.
        cache: True keeps all samples in RAM, False reads files per item, None decides by size
            (:data:`AUTO_CACHE_BYTES`).
        seed: Non-negative seed of the crop offsets.
        probe: When not caching, read every file's header at construction so bad files are
            known (and counted) up front.
    """

    def __init__(
        self,
        entries: Sequence[ManifestEntry],
        *,
        sample_rate: int | None,
        normalize: Normalize = "none",
        cache: bool | None = None,
        seed: int = 0,
        probe: bool = True,
    ) -> None:
        _check_choice("normalize", normalize, ("none", "peak"))
        if seed < 0:
            raise DataSettingsError(f"seed must be >= 0, got {seed}")
        if sample_rate is not None and sample_rate <= 0:
            raise DataSettingsError(f"sample_rate must be a positive integer, got {sample_rate}")
        self.entries: list[ManifestEntry] = list(entries)
        if not self.entries:
            raise DataError(f"{type(self).__name__}: no entries (is the manifest empty?)")
        self.sample_rate = sample_rate
        self.normalize: Normalize = normalize
        self.seed = int(seed)
        self.epoch = 0
        self.failed: list[tuple[Path, str]] = []
        self._failed_indices: set[int] = set()
        self._flat: Tensor | None = None
        self._offsets: np.ndarray | None = None  # (N + 1,) int64 bounds into _flat
        self.cached = self._decide_cache(cache)
        if self.cached:
            self._preload()
        elif probe:
            self._probe()

    # ----------------------------------------------------------------- public

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int | tuple[int, int]) -> Item:
        """The item of ``index``, or of the next readable index when that file fails.

        ``index`` may also be an ``(epoch, index)`` pair (what
        :class:`~audiogan.data.sampler.ResumableSampler` yields with ``with_epoch=True``): it
        selects the epoch that keys the crop as well, so DataLoader workers that persist
        across epochs still crop as :meth:`set_epoch` would make them.
        """
        if isinstance(index, tuple):
            epoch, index = index
            self.set_epoch(int(epoch))
        count = len(self.entries)
        if not -count <= index < count:
            raise IndexError(f"index {index} out of range for {count} items")
        index %= count
        for step in range(count):
            current = (index + step) % count
            if current in self._failed_indices:
                continue
            try:
                return self._build_item(current, self._wave(current))
            except (AudioError, _Unusable, OSError, ValueError) as exc:
                self._mark_failed(current, failure_reason(exc, self.entries[current].path))
        raise self._all_failed_error()

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch that keys the crop offsets (call before each epoch)."""
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        self.epoch = int(epoch)

    @property
    def num_failed(self) -> int:
        """Number of files found unreadable or unusable so far (in this process)."""
        return len(self.failed)

    @property
    def duration_seconds(self) -> float:
        """Total audio duration of the entries, from the manifest."""
        return float(sum(entry.duration for entry in self.entries))

    # ----------------------------------------------------------------- for subclasses

    def _build_item(self, index: int, wave: Tensor) -> Item:
        """Turn ``wave`` ``(1, T)`` of entry ``index`` into an item; raise _Unusable to skip."""
        raise NotImplementedError

    def _expected_length(self, entry: ManifestEntry) -> int:
        """Samples of ``entry`` after resampling, from the manifest."""
        if self.sample_rate is None or self.sample_rate == entry.sample_rate:
            return entry.num_samples
        return math.ceil(entry.num_samples * self.sample_rate / entry.sample_rate)

    def _wave(self, index: int) -> Tensor:
        """``(1, T)`` float32 samples of entry ``index`` (normalised, resampled); may raise."""
        if self._flat is not None and self._offsets is not None:
            start, stop = int(self._offsets[index]), int(self._offsets[index + 1])
            return self._flat[start:stop].unsqueeze(0)
        return self._read(index)

    def _mark_failed(self, index: int, reason: str) -> None:
        path = self.entries[index].path
        self._failed_indices.add(index)
        self.failed.append((path, reason))
        logger.warning(
            "%s: skipping %s (%s); %d of %d file(s) skipped so far",
            type(self).__name__,
            path,
            reason,
            len(self.failed),
            len(self.entries),
        )

    # ----------------------------------------------------------------- internals

    def _read(self, index: int) -> Tensor:
        entry = self.entries[index]
        wave, _ = load_audio(entry.path, sample_rate=self.sample_rate, mono=True)
        if self.normalize == "peak":
            wave = peak_normalize(wave, PEAK_LEVEL)
        return wave.to(torch.float32)

    def _decide_cache(self, cache: bool | None) -> bool:
        if cache is not None:
            return bool(cache)
        total = sum(self._expected_length(entry) for entry in self.entries) * 4
        return total < AUTO_CACHE_BYTES

    def _preload(self) -> None:
        total = sum(self._expected_length(entry) for entry in self.entries)
        logger.info(
            "%s: caching %d file(s) in RAM (%.1f MB)",
            type(self).__name__,
            len(self.entries),
            total * 4 / 1e6,
        )
        parts: list[Tensor] = []
        offsets = np.zeros(len(self.entries) + 1, dtype=np.int64)
        for index in range(len(self.entries)):
            try:
                wave = self._read(index)[0]
            except (AudioError, OSError, ValueError) as exc:
                self._mark_failed(index, failure_reason(exc, self.entries[index].path))
                wave = torch.zeros(0)
            parts.append(wave)
            offsets[index + 1] = offsets[index] + wave.numel()
        self._flat = torch.cat(parts) if parts else torch.zeros(0)
        self._offsets = offsets
        if len(self._failed_indices) == len(self.entries):
            raise self._all_failed_error()

    def _probe(self) -> None:
        for index, entry in enumerate(self.entries):
            try:
                audio_info(entry.path)
            except AudioError as exc:
                self._mark_failed(index, failure_reason(exc, entry.path))
        if len(self._failed_indices) == len(self.entries):
            raise self._all_failed_error()

    def _all_failed_error(self) -> DataError:
        path, reason = self.failed[0] if self.failed else ("?", "?")
        return DataError(
            f"{type(self).__name__}: all {len(self.entries)} file(s) failed to load (first: "
            f"{path}: {reason}); check the manifest and the files"
        )


class SegmentDataset(WaveDataset):
    """Random fixed-length crops for vocoder training.

    Each item is a crop of ``segment_length`` samples at a start drawn by
    :func:`crop_offset` from ``(seed, epoch, index)``. Clips shorter than a segment are
    zero-padded at the end (``short="pad"``) or left out at construction by their manifest
    length (``short="skip"``; counted in ``num_skipped``/``skipped``; a file that turns out
    shorter when read is then skipped like a bad file).

    Args:
        entries: Manifest entries.
        segment_length: Samples per item (> 0).
        sample_rate: Rate of the items; files at other rates are resampled on load.
        normalize: ``"peak"`` scales each whole clip to a peak of 0.95 before cropping.
        short: ``"pad"`` or ``"skip"`` clips shorter than ``segment_length``.
        cache: True / False / None (auto by size), see :class:`WaveDataset`.
        seed: Non-negative crop seed.
        probe: Read every header at construction when not caching.

    Items:
        ``{"wave": (1, segment_length) float32, "index": int}``.
    """

    def __init__(
        self,
        entries: Sequence[ManifestEntry],
        *,
        segment_length: int,
        sample_rate: int,
        normalize: Normalize = "none",
        short: Short = "pad",
        cache: bool | None = None,
        seed: int = 0,
        probe: bool = True,
    ) -> None:
        _check_positive("segment_length", segment_length)
        _check_choice("short", short, ("pad", "skip"))
        self.segment_length = int(segment_length)
        self.short: Short = short
        self.skipped: list[Path] = []
        kept = list(entries)
        if short == "skip":
            self.sample_rate = sample_rate  # _expected_length needs it before the base init
            kept = []
            for entry in entries:
                if self._expected_length(entry) < segment_length:
                    self.skipped.append(entry.path)
                else:
                    kept.append(entry)
            if self.skipped:
                logger.info(
                    "SegmentDataset: %d of %d clip(s) shorter than %d samples left out",
                    len(self.skipped),
                    len(self.skipped) + len(kept),
                    segment_length,
                )
            if not kept:
                raise DataError(
                    f"SegmentDataset: all {len(self.skipped)} clip(s) are shorter than "
                    f"segment_length={segment_length} samples at {sample_rate} Hz; use a "
                    "shorter segment or short='pad'"
                )
        super().__init__(
            kept,
            sample_rate=sample_rate,
            normalize=normalize,
            cache=cache,
            seed=seed,
            probe=probe,
        )

    @property
    def num_skipped(self) -> int:
        """Clips left out at construction for being shorter than a segment (``short="skip"``)."""
        return len(self.skipped)

    def _build_item(self, index: int, wave: Tensor) -> Item:
        """Crop (or pad) ``wave`` ``(1, T)`` to ``(1, segment_length)``."""
        length = wave.shape[-1]
        if length >= self.segment_length:
            start = crop_offset(self.seed, self.epoch, index, length - self.segment_length)
            segment = wave[:, start : start + self.segment_length].clone()
        elif self.short == "skip":
            raise _Unusable(f"{length} samples, shorter than segment_length={self.segment_length}")
        else:
            segment = torch.zeros(1, self.segment_length, dtype=torch.float32)
            segment[:, :length] = wave
        return {"wave": segment, "index": index}


class ClipDataset(WaveDataset):
    """Fixed-length clips, optionally labelled, for unconditional (or class-conditional) GANs.

    Each file gives one clip of ``clip_length`` samples. With ``align="start"`` (default, the
    WaveGAN convention) longer files are cut after ``clip_length`` samples and shorter ones are
    zero-padded at the end; with ``align="center"`` both the cut and the padding are centred
    (the middle of the file stays in the middle of the clip).

    Args:
        entries: Manifest entries; their ``label`` column gives the classes.
        clip_length: Samples per clip (16384 is WaveGAN's, about 1 s at 16 kHz).
        sample_rate: Rate of the clips; files at other rates are resampled on load.
        labels: The class names, whose positions are the label ids. None: the sorted unique
            labels found in the entries (empty when none has a label).
        align: ``"start"`` or ``"center"``, see above.
        normalize: ``"peak"`` scales each clip to a peak of 0.95.
        cache: True / False / None (auto by size).
        probe: Read every header at construction when not caching.

    Items:
        ``{"wave": (1, clip_length) float32, "label": int (-1 when unlabelled), "index": int}``.

    Raises:
        DataError: An entry's label is not in the given ``labels``.
    """

    def __init__(
        self,
        entries: Sequence[ManifestEntry],
        *,
        clip_length: int = 16384,
        sample_rate: int = 16000,
        labels: Sequence[str] | None = None,
        align: Literal["start", "center"] = "start",
        normalize: Normalize = "none",
        cache: bool | None = None,
        probe: bool = True,
    ) -> None:
        _check_positive("clip_length", clip_length)
        _check_choice("align", align, ("start", "center"))
        self.clip_length = int(clip_length)
        self.align = align
        entries = list(entries)
        if labels is None:
            self.classes: list[str] = sorted({e.label for e in entries if e.label is not None})
        else:
            self.classes = list(labels)
            if len(set(self.classes)) != len(self.classes):
                raise DataSettingsError(f"labels must be unique, got {self.classes}")
            known = set(self.classes)
            for entry in entries:
                if entry.label is not None and entry.label not in known:
                    raise DataError(
                        f"{entry.path}: label {entry.label!r} is not one of the given labels "
                        f"{self.classes}"
                    )
        lookup = {name: position for position, name in enumerate(self.classes)}
        self._label_ids = [lookup[e.label] if e.label is not None else -1 for e in entries]
        super().__init__(
            entries, sample_rate=sample_rate, normalize=normalize, cache=cache, probe=probe
        )

    @property
    def num_classes(self) -> int:
        """Number of classes (0 when unlabelled)."""
        return len(self.classes)

    def _build_item(self, index: int, wave: Tensor) -> Item:
        """Cut or pad ``wave`` ``(1, T)`` to ``(1, clip_length)``."""
        length, size = wave.shape[-1], self.clip_length
        clip = torch.zeros(1, size, dtype=torch.float32)
        if length >= size:
            start = (length - size) // 2 if self.align == "center" else 0
            clip.copy_(wave[:, start : start + size])
        else:
            start = (size - length) // 2 if self.align == "center" else 0
            clip[:, start : start + length] = wave
        return {"wave": clip, "label": self._label_ids[index], "index": index}
