"""Listing the source files of an unpacked corpus and giving each its split.

:func:`list_utterances` lists the files of a corpus found by
:func:`~audiogan.data.corpora.find_corpus_data` (or of a ``folder``) in a stable order;
:func:`assign_splits` gives each its split (see :mod:`audiogan.data.corpora`).
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from audiogan.audio.files import AUDIO_SUFFIXES, find_audio_files
from audiogan.data.corpora import (
    SC09_WORDS,
    CorpusError,
    CorpusSpec,
    find_corpus_data,
    resolve_subsets,
)

__all__ = ["AUDIO_SUFFIXES", "Utterance", "assign_splits", "list_utterances", "split_by_hash"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Utterance:
    """One source file of a corpus.

    Attributes:
        uid: Unique utterance id within the corpus.
        path: The source audio file.
        cache_name: Relative path (no suffix) of the resampled copy in the cache.
        speaker: Speaker id, or None.
        label: Class label, or None.
        split: The official split, or None (then it is derived from a hash).
    """

    uid: str
    path: Path
    cache_name: str
    speaker: str | None = None
    label: str | None = None
    split: str | None = None


def _list_ljspeech(data: Path) -> list[Utterance]:
    lines = _read_lines(data / "metadata.csv")
    ids = [line.split("|", 1)[0].strip() for line in lines if line.strip()]
    return [Utterance(uid, data / "wavs" / f"{uid}.wav", uid) for uid in ids]


def _read_lines(path: Path) -> list[str]:
    """The lines of a corpus's UTF-8 text file (a BOM is accepted); bad bytes name the file."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig").splitlines()
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise CorpusError(f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x}); the "
                          f"corpus is damaged: delete {path.parent} and run again to unpack the "
                          "official archive") from None


def _list_vctk(data: Path, mic: str) -> list[Utterance]:
    audio = data / "wav48_silence_trimmed"
    utterances = []
    for speaker_dir in sorted(d for d in audio.iterdir() if d.is_dir()):
        files = sorted(speaker_dir.glob(f"*_{mic}.flac"))
        if not files:
            logger.warning("vctk: speaker %s has no %s recordings", speaker_dir.name, mic)
        for file in files:
            uid = file.name.removesuffix(f"_{mic}.flac")
            utterances.append(
                Utterance(uid, file, f"{speaker_dir.name}/{uid}", speaker=speaker_dir.name)
            )
    return utterances


def _list_libritts(data: Path, subset: str) -> list[Utterance]:
    return [
        Utterance(file.stem, file, f"{subset}/{file.parent.parent.name}/{file.parent.name}/"
                  f"{file.stem}", speaker=file.parent.parent.name)
        for file in sorted(data.glob("*/*/*.wav"))
    ]


def _list_speech_commands(data: Path, words: Sequence[str] | None) -> list[Utterance]:
    official: dict[str, str] = {}
    for split, list_name in (("valid", "validation_list.txt"), ("test", "testing_list.txt")):
        for line in _read_lines(data / list_name):
            if line.strip():
                official[line.strip().replace("\\", "/")] = split
    utterances = []
    for word_dir in sorted(d for d in data.iterdir() if d.is_dir()):
        word = word_dir.name
        if word.startswith("_") or (words is not None and word not in words):
            continue  # _background_noise_ holds long noise recordings, not words
        for file in sorted(word_dir.glob("*.wav")):
            uid = f"{word}/{file.name}"
            speaker = file.stem.split("_nohash_", 1)[0]
            utterances.append(Utterance(uid, file, f"{word}/{file.stem}", speaker, word,
                                        official.get(uid, "train")))
    return utterances


def _list_folder(data: Path, skip: Path, unreadable: list[tuple[Path, str]]) -> list[Utterance]:
    def onerror(exc: OSError) -> None:
        folder = Path(exc.filename) if exc.filename is not None else data
        reason = exc.strerror or type(exc).__name__
        unreadable.append((folder, f"folder not readable ({reason}): its files were not "
                           "listed; check its permissions"))

    utterances = []
    # special files (FIFOs, broken links) are listed: the reader refuses each in one line
    for file in find_audio_files(data, skip=skip, onerror=onerror, special_files=True):
        rel = file.relative_to(data).as_posix()
        utterances.append(Utterance(rel, file, rel.rsplit(".", 1)[0]))
    stems = Counter(u.cache_name for u in utterances)
    # a.wav and a.flac side by side: their converted copies keep the extension in the name
    return [replace(u, cache_name=u.uid) if stems[u.cache_name] > 1 else u for u in utterances]


# ------------------------------------------------------------------------------ splits


def split_by_hash(
    keys: Sequence[str], valid_fraction: float, test_fraction: float, salt: str
) -> dict[str, str]:
    """Assign each key to train/valid/test by a SHA-256 of ``salt:key``.

    A key's split depends only on the key (and salt), except that when valid or test would be
    empty and there are at least three keys, the train keys with the lowest hash fill them.

    Args:
        keys: Unique keys (speaker or utterance ids).
        valid_fraction: Expected share of valid keys.
        test_fraction: Expected share of test keys.
        salt: Makes the assignment corpus-specific.

    Returns:
        ``{key: "train" | "valid" | "test"}``.
    """
    def unit(key: str) -> float:
        digest = hashlib.sha256(f"{salt}:{key}".encode()).hexdigest()
        return int(digest[:16], 16) / 16**16

    units = {key: unit(key) for key in keys}
    result = {
        key: "test" if u < test_fraction
        else "valid" if u < test_fraction + valid_fraction
        else "train"
        for key, u in units.items()
    }
    if len(result) >= 3:
        for split in ("valid", "test"):
            if split not in result.values():
                pool = sorted((u, k) for k, u in units.items() if result[k] == "train")
                if len(pool) > 1:
                    result[pool[0][1]] = split
    return result


def assign_splits(spec: CorpusSpec, utterances: Sequence[Utterance]) -> list[str]:
    """The split of each utterance: official, by speaker (three or more) or by utterance id.

    Args:
        spec: The corpus (its ``split`` rule and fractions).
        utterances: What :func:`list_utterances` returned.

    Returns:
        ``"train"``, ``"valid"`` or ``"test"`` per utterance, in order.
    """
    salt = f"audiogan-{spec.name}"
    if spec.split == "official":
        return [u.split or "train" for u in utterances]
    if spec.split == "speaker":
        speakers = sorted({u.speaker or "" for u in utterances})
        if len(speakers) >= 3:
            by_speaker = split_by_hash(speakers, spec.valid_fraction, spec.test_fraction, salt)
            return [by_speaker[u.speaker or ""] for u in utterances]
        logger.warning(
            "%s: only %d speaker(s); splitting by utterance instead of by speaker",
            spec.name, len(speakers),
        )
    by_uid = split_by_hash([u.uid for u in utterances], spec.valid_fraction,
                           spec.test_fraction, salt)
    return [by_uid[u.uid] for u in utterances]


def list_utterances(
    spec: CorpusSpec, root: Path, subsets: Sequence[str], mic: str, out_dir: Path,
    unreadable: list[tuple[Path, str]] | None = None,
) -> list[Utterance]:
    """The source files of an unpacked corpus (or of a ``folder``), in a stable order.

    Args:
        spec: The corpus.
        root: Where it was unpacked (``folder``: the audio directory).
        subsets: LibriTTS subsets (see :func:`resolve_subsets`).
        mic: VCTK microphone, ``"mic1"`` or ``"mic2"``.
        out_dir: The manifest directory, skipped when scanning a ``folder``.
        unreadable: Receives ``(folder, reason)`` for every folder of a ``folder`` corpus that
            could not be listed (its files are missing from the result).

    Raises:
        CorpusError: The corpus is not found under ``root``.
    """
    if spec.name == "folder":
        return _list_folder(root, out_dir, unreadable if unreadable is not None else [])
    utterances: list[Utterance] = []
    for subset in resolve_subsets(spec, subsets):
        data = find_corpus_data(spec, root, subset)
        if data is None:
            raise CorpusError(f"{spec.name}: corpus not found under {root}; run with --download "
                              "or --archive first")
        if spec.name == "ljspeech":
            utterances += _list_ljspeech(data)
        elif spec.name == "vctk":
            utterances += _list_vctk(data, mic)
        elif spec.name in ("libritts", "libritts-r"):
            utterances += _list_libritts(data, subset)
        else:
            utterances += _list_speech_commands(data, SC09_WORDS if spec.name == "sc09" else None)
    return utterances
