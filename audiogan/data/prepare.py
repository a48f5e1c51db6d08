"""Prepare a corpus into train/valid/test manifests: ``audiogan prepare``.

``prepare_corpus("ljspeech", root, download=True)`` fetches and unpacks the corpus
(:func:`audiogan.data.corpora.fetch_corpus`), lists its files, checks every one, and writes
``root/manifests/{train,valid,test}.tsv`` plus ``rejected.tsv``:

* Files at the target rate in WAV/FLAC are referenced where they are; others are resampled once
  into ``<manifests>/audio_<rate>/`` (cached: an interrupted run reuses what was written).
  SC09 clips are always written there, cut to 16000 samples and zero-padded to 16384.
* Unreadable, truncated, silent (peak below -60 dBFS) and too-short files, and anything that is
  not a regular file, are left out and listed in ``<manifests>/rejected.tsv`` with the reason,
  as are folders of a ``folder`` corpus that cannot be listed; each is also passed to the
  ``report`` callback as it is found (the CLI prints one ``error:`` line for each and exits 1).
* Idempotent: ``<manifests>/prepare.json`` records a fingerprint of the options and of every
  source file (path, size, mtime); a second run with the same inputs, whose manifests and listed
  files are all still there, writes nothing.
* ``folder`` with ``mel_dir``: each audio file is paired with a TTS model's mel ``.npy`` (same
  relative path), never resampled, and every pair's length is checked by
  :class:`~audiogan.data.pairs.MelWavePairDataset`'s rule (recipes/README.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path
from typing import Any, NamedTuple

import torch
from tqdm import tqdm

from audiogan.audio.io import AudioError, audio_info, is_silent, load_audio, save_audio
from audiogan.core.atomic import write_text
from audiogan.data.corpora import (
    SC09_CLIP_LENGTH,
    SC09_MAX_SAMPLES,
    SPECS,
    CorpusError,
    canonical_corpus,
    fetch_corpus,
    resolve_subsets,
)
from audiogan.data.listing import Utterance, assign_splits, list_utterances
from audiogan.data.manifest import (
    ManifestEntry,
    ManifestError,
    failure_reason,
    read_manifest,
    write_manifest,
)

__all__ = ["REJECTED_FILE", "SPLITS", "STATE_FILE", "PrepareResult", "prepare_corpus"]

logger = logging.getLogger(__name__)

SPLITS: tuple[str, ...] = ("train", "valid", "test")
STATE_FILE = "prepare.json"
REJECTED_FILE = "rejected.tsv"
_STATE_VERSION = 1
_SILENCE_DB = -60.0
_COPY_FORMATS = (".wav", ".flac")


# ------------------------------------------------------------------------------ processing


@dataclass(frozen=True)
class _Job:
    source: str
    cache: str
    rate: int
    min_duration: float
    clip_length: int | None
    max_samples: int | None
    resample: bool


class _Outcome(NamedTuple):
    path: str | None
    num_samples: int
    reason: str | None


def _process(job: _Job) -> _Outcome:
    """Check one file; resample / pad it into the cache when needed (runs in worker processes)."""
    source = Path(job.source)
    if not source.is_file():  # a FIFO or a device would block or never end; a dangling link
        kind = "missing (or a dangling link)" if not source.exists() else "not a regular file"
        return _Outcome(None, 0, f"{kind}; only audio files can be prepared")
    try:
        info = audio_info(source)
    except AudioError as exc:
        return _Outcome(None, 0, failure_reason(exc, source))
    if info.duration < job.min_duration:
        return _Outcome(None, 0, f"too short: {info.duration:.3f} s < {job.min_duration:g} s")
    in_place = (
        info.sample_rate == job.rate and info.channels == 1 and job.clip_length is None
        and source.suffix.lower() in _COPY_FORMATS
    )
    if info.sample_rate != job.rate and not job.resample:
        return _Outcome(None, 0, f"sample rate {info.sample_rate} Hz, expected {job.rate} Hz "
                        "(mel + wave pairs are not resampled: it would break their alignment)")
    cache = Path(job.cache)
    if not in_place and cache.is_file():
        with contextlib.suppress(AudioError):
            cached = audio_info(cache)
            if cached.sample_rate == job.rate:
                return _Outcome(str(cache), cached.num_frames, None)
    try:
        wave, _ = load_audio(source, sample_rate=job.rate)
    except AudioError as exc:
        return _Outcome(None, 0, failure_reason(exc, source))
    if is_silent(wave, _SILENCE_DB):
        return _Outcome(None, 0, f"silent: peak below {_SILENCE_DB:g} dBFS")
    if in_place:
        return _Outcome(str(source), info.num_frames, None)
    if job.max_samples is not None:
        wave = wave[:, : job.max_samples]
    if job.clip_length is not None and wave.shape[-1] < job.clip_length:
        wave = torch.nn.functional.pad(wave, (0, job.clip_length - wave.shape[-1]))
    save_audio(cache, wave, job.rate)
    return _Outcome(str(cache), int(wave.shape[-1]), None)


def _init_worker() -> None:
    torch.set_num_threads(1)


def _run_jobs(jobs: list[_Job], workers: int, progress: bool) -> Iterator[_Outcome]:
    """The outcome of each job, in order, as soon as it is known."""
    bar: dict[str, Any] = {"total": len(jobs), "desc": "prepare", "unit": " files",
                           "disable": not progress, "leave": False}
    if workers <= 1 or len(jobs) < 64:
        yield from (_process(job) for job in tqdm(jobs, **bar))
        return
    # fork (Linux) starts workers without re-importing torch; PyTorch resets its thread pools
    # in forked children, as DataLoader workers rely on. Elsewhere: spawn.
    method = "fork" if "fork" in get_all_start_methods() and sys.platform == "linux" else "spawn"
    with ProcessPoolExecutor(workers, mp_context=get_context(method),
                             initializer=_init_worker) as pool:
        yield from tqdm(pool.map(_process, jobs, chunksize=32), **bar)


# ------------------------------------------------------------------------------ preparation


class PrepareResult(NamedTuple):
    """What :func:`prepare_corpus` did."""

    manifests: dict[str, Path]
    """Split name -> manifest path (splits with no files are left out)."""
    counts: dict[str, int]
    """Split name -> number of files."""
    rejected: list[tuple[Path, str]]
    """``(file, reason)`` of every file left out, and ``(folder, reason)`` of every folder that
    could not be listed."""
    out_dir: Path
    """The directory holding the manifests, ``rejected.tsv`` and ``prepare.json``."""
    sample_rate: int
    """The rate of every file in the manifests."""
    up_to_date: bool
    """True when nothing had to be done (a second run with the same inputs)."""


def prepare_corpus(
    corpus: str,
    root: str | os.PathLike[str],
    *,
    download: bool = False,
    download_only: bool = False,
    archives: Sequence[str | os.PathLike[str]] = (),
    mirror: str | None = None,
    verify: bool = True,
    out: str | os.PathLike[str] | None = None,
    sample_rate: int | None = None,
    mic: str = "mic1",
    subsets: Sequence[str] = (),
    min_duration: float | None = None,
    mel_dir: str | os.PathLike[str] | None = None,
    hop_length: int = 256,
    jobs: int = 1,
    progress: bool = True,
    retries: int = 5,
    backoff: float = 1.0,
    report: Callable[[Path, str], None] | None = None,
) -> PrepareResult | None:
    """Fetch (optionally) and prepare a corpus into train/valid/test manifests.

    Args:
        corpus: One of :data:`CORPORA` (``libritts_r`` etc. accepted).
        root: Where the corpus lives or is unpacked (for ``folder``: the audio directory).
        download: Download archives that are not found locally.
        download_only: Stop after fetching and unpacking (returns None).
        archives: Archives the user already has (verified like downloads).
        mirror: Base URL of another host with the same file names.
        verify: Check archives against the published size and checksums.
        out: Directory of the manifests (default ``root/manifests``).
        sample_rate: Target rate (default: the corpus's, see :class:`CorpusSpec`).
        mic: VCTK microphone, ``"mic1"`` or ``"mic2"``.
        subsets: LibriTTS subsets (comma-separated strings accepted).
        min_duration: Reject shorter files (seconds; default: the corpus's).
        mel_dir: ``folder`` only: directory of TTS mel ``.npy`` files mirroring the audio tree;
            files are then never resampled and each pair's alignment is checked.
        hop_length: Hop of the mels in ``mel_dir``.
        jobs: Worker processes for checking and resampling.
        progress: Show progress bars.
        retries: Download retries.
        backoff: First download retry delay (seconds).
        report: Called with ``(file, reason)`` for each rejected file and each unreadable
            folder as soon as it is found (the CLI prints one line for each); on an up-to-date
            run, for each file the earlier run rejected.

    Returns:
        A :class:`PrepareResult`, or None with ``download_only``.

    Raises:
        CorpusError: Bad options, missing archive, failed download/verification, unsafe archive,
            or no usable file at all.
        OSError: Writing the manifests failed (the error names the file).
        MelAlignmentError: A mel file does not match its audio (beyond one frame).
    """
    spec = SPECS[canonical_corpus(corpus)]
    base = Path(root)
    if sample_rate is not None and not 0 < sample_rate <= 384_000:
        raise CorpusError(f"--sample-rate must be between 1 and 384000 Hz, got {sample_rate}")
    if min_duration is not None and not 0 <= min_duration < float("inf"):
        raise CorpusError(f"--min-duration must be a finite number >= 0, got {min_duration}")
    if hop_length < 1:
        raise CorpusError(f"--hop-length must be >= 1, got {hop_length}")
    if mic not in ("mic1", "mic2"):
        raise CorpusError(f"--mic must be mic1 or mic2, got {mic!r}")
    if spec.name != "vctk" and mic != "mic1":
        raise CorpusError(f"--mic applies to vctk only, not {spec.name}")
    if mel_dir is not None and spec.name != "folder":
        raise CorpusError("--mel-dir applies to the folder corpus only")
    if spec.name == "folder":
        if subsets or archives or download:
            raise CorpusError("folder: --subset, --archive and --download do not apply; "
                              "--root is the directory of audio files")
        if not base.is_dir():
            raise CorpusError(f"folder: {base} is not a directory")
    else:
        fetch_corpus(spec.name, base, download=download, archives=archives, mirror=mirror,
                     verify=verify, subsets=subsets, progress=progress, retries=retries,
                     backoff=backoff)
    if download_only:
        return None

    rate = int(sample_rate or spec.sample_rate)
    out_dir = Path(out) if out is not None else base / "manifests"
    cache_dir = out_dir / f"audio_{rate}"
    unreadable: list[tuple[Path, str]] = []
    utterances = list_utterances(spec, base, subsets, mic, out_dir, unreadable)
    tell = report if report is not None else (lambda path, reason: None)
    if not utterances:
        for folder, reason in unreadable:
            tell(folder, reason)
        skipped = f" ({len(unreadable)} folder(s) could not be read)" if unreadable else ""
        raise CorpusError(f"{spec.name}: no audio files found under {base}{skipped}; check "
                          "--root")
    mels = Path(mel_dir) if mel_dir is not None else None
    min_seconds = min_duration if min_duration is not None else spec.min_duration
    options = {
        "corpus": spec.name, "sample_rate": rate, "mic": mic,
        "subsets": list(resolve_subsets(spec, subsets)) if spec.archives else [],
        "min_duration": min_seconds,
        "mel_dir": os.path.abspath(mels) if mels else None, "hop_length": hop_length,
        "out_dir": os.path.abspath(out_dir),
    }
    fingerprint = _fingerprint(options, utterances, mels)
    state_path = out_dir / STATE_FILE
    previous = _read_state(state_path)
    if previous.get("fingerprint") == fingerprint and _outputs_intact(
        [out_dir / name for name in previous.get("outputs", [])]
    ):
        logger.debug("%s: manifests in %s are up to date; nothing to do", spec.name, out_dir)
        counts = previous.get("counts", {})
        for path, reason in previous.get("rejected", []):
            tell(Path(path), reason)
        return PrepareResult(
            {s: out_dir / f"{s}.tsv" for s in counts}, dict(counts),
            [(Path(p), r) for p, r in previous.get("rejected", [])], out_dir, rate, True,
        )

    sc09 = spec.name == "sc09"
    work = [
        _Job(str(u.path), str(cache_dir / f"{u.cache_name}.wav"), rate,
             float(min_seconds), SC09_CLIP_LENGTH if sc09 else None,
             round(SC09_MAX_SAMPLES * rate / 16000) if sc09 else None, mels is None)
        for u in utterances
    ]
    for folder, reason in unreadable:
        tell(folder, reason)
    splits = assign_splits(spec, utterances)
    entries: dict[str, list[ManifestEntry]] = {split: [] for split in SPLITS}
    rejected: list[tuple[Path, str]] = list(unreadable)
    outcomes = _run_jobs(work, jobs, progress)
    for utt, outcome, split in zip(utterances, outcomes, splits, strict=True):
        mel_path = mels / Path(utt.uid).with_suffix(".npy") if mels else None
        if outcome.reason is None and mel_path is not None and not mel_path.is_file():
            outcome = _Outcome(None, 0, f"no mel file {mel_path}")
        if outcome.reason is not None or outcome.path is None:
            rejected.append((utt.path, outcome.reason or "unusable"))
            tell(utt.path, outcome.reason or "unusable")
            continue
        entries[split].append(ManifestEntry(
            Path(os.path.abspath(outcome.path)), outcome.num_samples, rate, utt.speaker,
            utt.label, Path(os.path.abspath(mel_path)) if mel_path else None,
        ))
    if not any(entries.values()):
        _write_rejected(out_dir / REJECTED_FILE, rejected)
        raise CorpusError(f"{spec.name}: no usable audio: all {len(rejected)} file(s) rejected "
                          f"(see {out_dir / REJECTED_FILE})")
    if mels is not None:
        _check_pairs(entries, hop_length)
    manifests: dict[str, Path] = {}
    for split, items in entries.items():
        target = out_dir / f"{split}.tsv"
        if items:
            with _naming(target):
                manifests[split] = write_manifest(target, items)
        else:
            target.unlink(missing_ok=True)
            logger.warning("%s: the %s split is empty (too few files)", spec.name, split)
    with _naming(out_dir / REJECTED_FILE):
        _write_rejected(out_dir / REJECTED_FILE, rejected)
    if rejected:
        logger.info("%s: %d file(s) or folder(s) left out; reasons in %s", spec.name,
                    len(rejected), out_dir / REJECTED_FILE)
    counts = {split: len(items) for split, items in entries.items() if items}
    with _naming(state_path):
        _write_state(state_path, {
            "version": _STATE_VERSION, "fingerprint": fingerprint, "options": options,
            "counts": counts, "outputs": [p.name for p in manifests.values()],
            "rejected": [[str(p), r] for p, r in rejected],
        })
    return PrepareResult(manifests, counts, rejected, out_dir, rate, False)


@contextlib.contextmanager
def _naming(path: Path) -> Iterator[None]:
    """An OSError that names no file (a full disk during a write) is given ``path``."""
    try:
        yield
    except OSError as exc:
        if exc.filename is None:
            exc.filename = str(path)
        raise


def _check_pairs(entries: dict[str, list[ManifestEntry]], hop_length: int) -> None:
    """Mel/wave alignment of every pair, by :class:`MelWavePairDataset`'s rule (±1 frame)."""
    import numpy as np

    from audiogan.data.pairs import MelWavePairDataset

    first = next(e for items in entries.values() for e in items)
    assert first.mel_path is not None
    n_mels = int(np.load(first.mel_path, mmap_mode="r", allow_pickle=False).shape[0])
    for items in entries.values():
        if items:
            MelWavePairDataset(items, segment_frames=1, hop_length=hop_length, n_mels=n_mels,
                               cache=False)


def _outputs_intact(manifests: list[Path]) -> bool:
    """Every manifest exists and every file it lists is still there."""
    if not manifests:
        return False
    try:
        return all(e.path.is_file() for m in manifests for e in read_manifest(m))
    except ManifestError:
        return False


def _fingerprint(options: dict[str, object], utterances: list[Utterance],
                 mels: Path | None) -> str:
    digest = hashlib.sha256(json.dumps(options, sort_keys=True).encode())
    for utt in utterances:
        stat = utt.path.stat() if utt.path.exists() else None
        digest.update(f"{utt.uid}\t{utt.path}\t{utt.split}\t".encode())
        digest.update(f"{stat.st_size}\t{stat.st_mtime_ns}\n".encode() if stat else b"-\n")
        if mels is not None:
            mel = mels / Path(utt.uid).with_suffix(".npy")
            mstat = mel.stat() if mel.exists() else None
            digest.update(f"{mstat.st_size}\t{mstat.st_mtime_ns}\n".encode() if mstat else b"-\n")
    return digest.hexdigest()


def _read_state(path: Path) -> dict:
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) and state.get("version") == _STATE_VERSION else {}


def _write_state(path: Path, state: dict) -> None:
    write_text(path, json.dumps(state, indent=1, sort_keys=True) + "\n")


def _write_rejected(path: Path, rejected: list[tuple[Path, str]]) -> None:
    if not rejected:
        path.unlink(missing_ok=True)
        return
    base = os.path.abspath(path.parent)
    lines = ["path\treason"] + [
        f"{Path(os.path.relpath(os.path.abspath(p), base)).as_posix()}\t{' '.join(r.split())}"
        for p, r in rejected
    ]
    write_text(path, "\n".join(lines) + "\n")
