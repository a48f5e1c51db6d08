"""Writing synthetic corpora to disk: speech utterances and labelled one-word clips.

Both builders are idempotent: a stamp file records the arguments, and a second call with the
same ones reuses the files whose headers match and rewrites the manifests.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from audiogan.audio.io import AudioError, audio_info, save_audio
from audiogan.core.atomic import write_text
from audiogan.data.manifest import ManifestEntry, write_manifest
from audiogan.data.synthetic.speech import (
    SYNTH_VERSION,
    _check_common,
    synthesize_utterance,
    synthesize_word,
)

__all__ = ["DIGIT_NAMES", "build_synthetic_clips", "build_synthetic_corpus"]

logger = logging.getLogger(__name__)

DIGIT_NAMES: tuple[str, ...] = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
)  # fmt: skip
"""Class names of :func:`build_synthetic_clips` when ``num_classes <= 10``."""


# --------------------------------------------------------------------------- corpora


def build_synthetic_corpus(
    root: str | os.PathLike[str],
    *,
    sample_rate: int = 22050,
    num_utterances: int = 120,
    duration_range: tuple[float, float] = (1.0, 3.0),
    num_speakers: int = 4,
    seed: int = 0,
    valid_fraction: float = 0.1,
    labels: Sequence[str] | None = None,
) -> dict[str, Path]:
    """Write the synthetic speech corpus: WAV files plus train/valid manifests.

    Utterance ``i`` has speaker ``i % num_speakers``, a duration drawn uniformly from
    ``duration_range`` and its own seed, all derived from ``(seed, i)``. Files go to
    ``root/wavs/utt_00000.wav`` ... (16-bit PCM); manifests to ``root/train.tsv`` and
    ``root/valid.tsv`` with a ``speaker`` column (``spk0`` ...). The validation utterances are a
    seeded random ``valid_fraction`` of them (at least one when the fraction is positive).

    Idempotent: ``root/synthetic_corpus.json`` records the arguments; a second call with the
    same ones keeps every file whose header matches (rate and length) and rewrites only missing
    or different ones. With other arguments the old ``utt_*.wav`` files are removed first.

    Args:
        root: Output directory (created).
        sample_rate: Rate in Hz.
        num_utterances: Number of utterances (the default, 120, is about 4 minutes).
        duration_range: ``(shortest, longest)`` utterance in seconds.
        num_speakers: Number of speakers (ids 0 .. num_speakers - 1).
        seed: Non-negative corpus seed.
        valid_fraction: Fraction of utterances in the validation manifest, in ``[0, 1)``.
        labels: Optional class name per speaker (``len(labels) == num_speakers``) written to
            the ``label`` column, e.g. for a speaker-conditional model.

    Returns:
        ``{"train": path, "valid": path}`` (no ``"valid"`` when ``valid_fraction`` is 0).
    """
    low, high = duration_range
    if not 0.1 <= low <= high:
        raise ValueError(f"duration_range must satisfy 0.1 <= low <= high, got {duration_range}")
    if num_utterances < 1 or num_speakers < 1:
        raise ValueError("num_utterances and num_speakers must be >= 1")
    if not 0.0 <= valid_fraction < 1.0:
        raise ValueError(f"valid_fraction must be in [0, 1), got {valid_fraction}")
    if labels is not None and len(labels) != num_speakers:
        raise ValueError(f"labels needs one name per speaker ({num_speakers}), got {len(labels)}")
    _check_common(seed, sample_rate)
    root = Path(root)
    stamp = _stamp("corpus", sample_rate=sample_rate, num_utterances=num_utterances,
                   duration_range=[float(low), float(high)], num_speakers=num_speakers, seed=seed)
    jobs: list[_Job] = []
    for index in range(num_utterances):
        rng = np.random.default_rng([seed, index, 0xC0FFEE])
        duration = float(rng.uniform(low, high))
        utt_seed = int(rng.integers(0, 2**31 - 1))
        speaker = index % num_speakers
        jobs.append(
            _Job(
                path=root / "wavs" / f"utt_{index:05d}.wav",
                num_samples=int(round(duration * sample_rate)),
                speaker=f"spk{speaker}",
                label=labels[speaker] if labels is not None else None,
                render=_utterance_renderer(utt_seed, sample_rate, duration, speaker),
            )
        )
    entries = _materialize(
        root, "synthetic_corpus.json", stamp, "wavs", "utt_*.wav", jobs, sample_rate
    )
    return _write_split(root, entries, valid_fraction, seed)


def build_synthetic_clips(
    root: str | os.PathLike[str],
    *,
    num_clips: int,
    clip_length: int = 16384,
    sample_rate: int = 16000,
    num_classes: int = 10,
    seed: int = 0,
    num_speakers: int = 16,
    valid_fraction: float = 0.0,
) -> dict[str, Path]:
    """Write labelled one-word clips (SC09-like) for unconditional / class-conditional GANs.

    Clip ``i`` has class ``i % num_classes`` (balanced) and a speaker and instance seed derived
    from ``(seed, i)``. Class names are :data:`DIGIT_NAMES` when ``num_classes <= 10``, else
    ``class00`` .... Files go to ``root/clips/<name>_00000.wav``; the manifest
    ``root/train.tsv`` has ``speaker`` and ``label`` columns. Idempotent like
    :func:`build_synthetic_corpus` (stamp ``root/synthetic_clips.json``).

    Args:
        root: Output directory (created).
        num_clips: Number of clips.
        clip_length: Samples per clip.
        sample_rate: Rate in Hz.
        num_classes: Number of word classes.
        seed: Non-negative seed.
        num_speakers: Size of the speaker pool the clips draw from.
        valid_fraction: Fraction held out in ``root/valid.tsv``, in ``[0, 1)``.

    Returns:
        ``{"train": path}``, plus ``"valid"`` when ``valid_fraction > 0``.
    """
    if num_clips < 1 or num_classes < 1 or num_speakers < 1:
        raise ValueError("num_clips, num_classes and num_speakers must be >= 1")
    if not 0.0 <= valid_fraction < 1.0:
        raise ValueError(f"valid_fraction must be in [0, 1), got {valid_fraction}")
    _check_common(seed, sample_rate)
    if clip_length / sample_rate < 0.3:
        raise ValueError(f"clip_length {clip_length} is under 0.3 s at {sample_rate} Hz")
    names = (
        list(DIGIT_NAMES[:num_classes])
        if num_classes <= len(DIGIT_NAMES)
        else [f"class{k:02d}" for k in range(num_classes)]
    )
    root = Path(root)
    stamp = _stamp("clips", num_clips=num_clips, clip_length=clip_length,
                   sample_rate=sample_rate, num_classes=num_classes, num_speakers=num_speakers,
                   seed=seed)
    jobs: list[_Job] = []
    for index in range(num_clips):
        rng = np.random.default_rng([seed, index, 0xC11B])
        label = index % num_classes
        speaker = int(rng.integers(0, num_speakers))
        clip_seed = int(rng.integers(0, 2**31 - 1))
        jobs.append(
            _Job(
                path=root / "clips" / f"{names[label]}_{index:05d}.wav",
                num_samples=clip_length,
                speaker=f"spk{speaker}",
                label=names[label],
                render=_word_renderer(label, clip_seed, clip_length, sample_rate, speaker),
            )
        )
    entries = _materialize(
        root, "synthetic_clips.json", stamp, "clips", "*_[0-9]*.wav", jobs, sample_rate
    )
    return _write_split(root, entries, valid_fraction, seed)


# --------------------------------------------------------------------------- writing corpora


class _Job(NamedTuple):
    path: Path
    num_samples: int
    speaker: str | None
    label: str | None
    render: Callable[[], np.ndarray]


def _utterance_renderer(
    seed: int, sample_rate: int, duration: float, speaker: int
) -> Callable[[], np.ndarray]:
    def render() -> np.ndarray:
        return synthesize_utterance(
            seed, sample_rate=sample_rate, duration=duration, speaker=speaker
        )

    return render


def _word_renderer(
    label: int, seed: int, num_samples: int, sample_rate: int, speaker: int
) -> Callable[[], np.ndarray]:
    def render() -> np.ndarray:
        return synthesize_word(
            label, seed, num_samples=num_samples, sample_rate=sample_rate, speaker=speaker
        )

    return render


def _materialize(
    root: Path,
    stamp_name: str,
    stamp: dict[str, object],
    folder: str,
    pattern: str,
    jobs: list[_Job],
    sample_rate: int,
) -> list[ManifestEntry]:
    """Write the jobs' files (reusing matching ones) and return their manifest entries."""
    stamp_path = root / stamp_name
    previous = _read_stamp(stamp_path)
    if previous is not None and previous != stamp:
        expected = {job.path.name for job in jobs}
        stale = [p for p in sorted((root / folder).glob(pattern)) if p.name not in expected]
        for path in stale:
            path.unlink()
        logger.info(
            "%s: settings changed; regenerating (%d stale file(s) removed)", root, len(stale)
        )
    # a file is reused only when the stamp shows it was made with these settings and its header
    # matches (an interrupted earlier build leaves missing or truncated files, rewritten here)
    reuse = previous == stamp
    written = 0
    for job in jobs:
        if reuse and _matches(job.path, job.num_samples, sample_rate):
            continue
        wave = job.render()
        assert wave.shape == (job.num_samples,), (wave.shape, job.num_samples)
        save_audio(job.path, wave, sample_rate)
        written += 1
    write_text(stamp_path, json.dumps(stamp, indent=1, sort_keys=True) + "\n")
    logger.info("%s: %d file(s) written, %d reused", root, written, len(jobs) - written)
    return [
        ManifestEntry(
            path=Path(os.path.abspath(job.path)),
            num_samples=job.num_samples,
            sample_rate=sample_rate,
            speaker=job.speaker,
            label=job.label,
        )
        for job in jobs
    ]


def _stamp(kind: str, **settings: object) -> dict[str, object]:
    """What a corpus directory's stamp file records: its kind, the synthesiser version and the
    settings it was built with (a rebuild with other settings starts afresh)."""
    return {"kind": kind, "version": SYNTH_VERSION, **settings}


def _read_stamp(path: Path) -> dict[str, object] | None:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return loaded if isinstance(loaded, dict) else None


def _matches(path: Path, num_samples: int, sample_rate: int) -> bool:
    try:
        info = audio_info(path)
    except AudioError:
        return False
    return info.num_frames == num_samples and info.sample_rate == sample_rate and info.channels == 1


def _write_split(
    root: Path, entries: list[ManifestEntry], valid_fraction: float, seed: int
) -> dict[str, Path]:
    count = len(entries)
    num_valid = 0 if valid_fraction <= 0 else max(1, int(round(valid_fraction * count)))
    if num_valid >= count:
        raise ValueError(f"valid_fraction {valid_fraction} leaves no training data of {count}")
    chosen = set(np.random.default_rng([seed, 0x5B117]).permutation(count)[:num_valid].tolist())
    train = [entry for index, entry in enumerate(entries) if index not in chosen]
    paths = {"train": write_manifest(root / "train.tsv", train)}
    valid_path = root / "valid.tsv"
    if num_valid:
        paths["valid"] = write_manifest(valid_path, [entries[i] for i in sorted(chosen)])
    elif valid_path.exists():
        valid_path.unlink()
    return paths
