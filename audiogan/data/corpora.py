"""Corpus knowledge: the official archive table and fetching.

:func:`fetch_corpus` takes (``--archive``), finds (``root/downloads/``) or downloads the official
archives of a corpus, verifies them against :data:`ARCHIVES` and unpacks them safely under the
root; :mod:`audiogan.data.listing` lists the source files of an unpacked corpus and gives each
its split; :func:`audiogan.data.prepare.prepare_corpus` ties them together into manifests.
Corpora (:data:`CORPORA`):

==================  ==========================================================================
``ljspeech``        LJSpeech-1.1, one speaker, 22.05 kHz; splits by a hash of the utterance id.
``vctk``            VCTK 0.92, 110 speakers, 48 kHz FLAC (``mic1`` or ``mic2``), resampled to
                    24 kHz by default; train/valid/test speakers are disjoint (unseen-speaker
                    test set).
``libritts``        LibriTTS (``train-clean-100`` by default; ``train-clean-360``, ``dev-clean``,
                    ``test-clean``), 24 kHz; splits by speaker.
``libritts-r``      LibriTTS-R, the restored release, same subsets and layout.
``speech_commands`` Speech Commands v0.02, all words, 16 kHz, labelled; the official
                    ``validation_list.txt`` / ``testing_list.txt`` give the splits.
``sc09``            The ten digits of the same archive, as one-second labelled clips
                    (at most 16000 samples, zero-padded to 16384) for WaveGAN.
``folder``          Any directory of audio files libsndfile reads, recursively; splits by a
                    hash of the relative path.
==================  ==========================================================================

Splits are deterministic: official lists where the corpus ships them, else a SHA-256 of the
speaker id (corpora with speakers) or of the utterance id, so adding files never moves the
others. Each of valid and test gets at least one speaker (or utterance) when there are three.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from audiogan.data.archives import extract_archive
from audiogan.data.download import (
    Checksum,
    CorpusError,
    RemoteFile,
    download_file,
    verify_file,
)

__all__ = [
    "ARCHIVES",
    "CORPORA",
    "SC09_CLIP_LENGTH",
    "SC09_MAX_SAMPLES",
    "SC09_WORDS",
    "SPECS",
    "CorpusError",
    "CorpusSpec",
    "archives_for",
    "canonical_corpus",
    "fetch_corpus",
    "find_corpus_data",
    "resolve_subsets",
]

logger = logging.getLogger(__name__)

_TORCHAUDIO = "torchaudio's dataset table (pytorch/audio torchaudio/datasets/{})"

# ------------------------------------------------------------------------------ the table

ARCHIVES: dict[str, RemoteFile] = {
    remote.filename: remote
    for remote in (
        RemoteFile(
            url="https://data.keithito.com/data/speech/LJSpeech-1.1.tar.bz2",
            size=2_748_572_632,
            size_source="HTTP Content-Length of the official URL (keithito.com lists none)",
            checksums=(
                Checksum(
                    "sha256",
                    "be1a30453f28eb8dd26af4101ae40cbf2c50413b1bb21936cbcdc6fae3de8aa5",
                    _TORCHAUDIO.format("ljspeech.py") + "; keithito.com publishes no checksum",
                ),
            ),
            description="LJSpeech-1.1: 13,100 clips, 24 h, one speaker, 22.05 kHz (2.6 GB)",
        ),
        RemoteFile(
            url="https://datashare.ed.ac.uk/bitstream/handle/10283/3443/VCTK-Corpus-0.92.zip",
            size=11_747_302_977,
            size_source="Edinburgh DataShare bitstream metadata (DOI 10.7488/ds/2645)",
            checksums=(
                Checksum(
                    "md5",
                    "8a6ba2946b36fcbef0212cad601f4bfa",
                    "Edinburgh DataShare bitstream metadata (DOI 10.7488/ds/2645; MD5 only); "
                    + _TORCHAUDIO.format("vctk.py"),
                ),
            ),
            description="VCTK 0.92: 110 speakers, 44 h, 48 kHz FLAC, two microphones (11 GB)",
        ),
        *(
            RemoteFile(
                url=f"https://www.openslr.org/resources/60/{subset}.tar.gz",
                checksums=(Checksum("sha256", sha256, _TORCHAUDIO.format("libritts.py")),),
                description=f"LibriTTS {subset}, 24 kHz ({gigabytes})",
            )
            for subset, sha256, gigabytes in (
                ("train-clean-100",
                 "c5608bf1ef74bb621935382b8399c5cdd51cd3ee47cec51f00f885a64c6c7f6b", "7.7 GB"),
                ("train-clean-360",
                 "ce7cff44dcac46009d18379f37ef36551123a1dc4e5c8e4eb73ae57260de4886", "27 GB"),
                ("dev-clean",
                 "da0864e1bd26debed35da8a869dd5c04dfc27682921936de7cff9c8a254dbe1a", "1.2 GB"),
                ("test-clean",
                 "234ea5b25859102a87024a4b9b86641f5b5aaaf1197335c95090cde04fe9a4f5", "1.2 GB"),
            )
        ),
        # LibriTTS-R: OpenSLR lists MD5 sums, but we could not confirm their values from
        # here, so none is stored: the download is not verified (a warning says so).
        *(
            RemoteFile(
                url=f"https://www.openslr.org/resources/141/{subset}.tar.gz",
                description=f"LibriTTS-R {subset.replace('_', '-')}, 24 kHz",
            )
            for subset in ("train_clean_100", "train_clean_360", "dev_clean", "test_clean")
        ),
        RemoteFile(
            url="https://storage.googleapis.com/download.tensorflow.org/data/"
            "speech_commands_v0.02.tar.gz",
            checksums=(
                Checksum(
                    "sha256",
                    "af14739ee7dc311471de98f5f9d2c9191b18aedfe957f4a6ff791c709868ff58",
                    _TORCHAUDIO.format("speechcommands.py") + "; Google publishes no checksum",
                ),
            ),
            description="Speech Commands v0.02: 105,829 one-second clips, 35 words, 16 kHz "
            "(2.3 GB)",
        ),
    )
}
"""Official archives by file name: URL, size, checksums and where each value was published."""


@dataclass(frozen=True)
class CorpusSpec:
    """How one corpus is fetched, listed and split.

    Attributes:
        name: Canonical corpus name.
        sample_rate: Default target rate of the manifests.
        archives: Archive file name per subset (``""`` is the only subset when there is one).
        default_subsets: Subsets prepared when none is asked for.
        extract_to: Directory under the root the archives are unpacked into.
        split: ``"speaker"``, ``"utterance"`` or ``"official"``.
        valid_fraction: Share of speakers (or utterances) for the validation set.
        test_fraction: Share of speakers (or utterances) for the test set.
        min_duration: Shorter files are rejected (seconds).
    """

    name: str
    sample_rate: int
    archives: dict[str, str] = field(default_factory=dict)
    default_subsets: tuple[str, ...] = ("",)
    extract_to: str = ""
    split: str = "utterance"
    valid_fraction: float = 0.01
    test_fraction: float = 0.01
    min_duration: float = 0.5


_LIBRITTS_SUBSETS = ("train-clean-100", "train-clean-360", "dev-clean", "test-clean")
_SPEC_LIST = (
    CorpusSpec("ljspeech", 22050, {"": "LJSpeech-1.1.tar.bz2"}),
    CorpusSpec("vctk", 24000, {"": "VCTK-Corpus-0.92.zip"}, extract_to="VCTK-Corpus-0.92",
               split="speaker", valid_fraction=0.04, test_fraction=0.08),
    CorpusSpec("libritts", 24000, {s: f"{s}.tar.gz" for s in _LIBRITTS_SUBSETS},
               ("train-clean-100",), split="speaker", valid_fraction=0.02, test_fraction=0.04),
    CorpusSpec("libritts-r", 24000,
               {s: f"{s.replace('-', '_')}.tar.gz" for s in _LIBRITTS_SUBSETS},
               ("train-clean-100",), split="speaker", valid_fraction=0.02, test_fraction=0.04),
    CorpusSpec("speech_commands", 16000, {"": "speech_commands_v0.02.tar.gz"},
               extract_to="speech_commands_v0.02", split="official", min_duration=0.1),
    CorpusSpec("sc09", 16000, {"": "speech_commands_v0.02.tar.gz"},
               extract_to="speech_commands_v0.02", split="official", min_duration=0.1),
    CorpusSpec("folder", 22050, split="utterance", valid_fraction=0.02, test_fraction=0.02,
               min_duration=0.1),
)
SPECS: dict[str, CorpusSpec] = {spec.name: spec for spec in _SPEC_LIST}
CORPORA: tuple[str, ...] = tuple(SPECS)
_ALIASES = {
    "libritts_r": "libritts-r", "speech-commands": "speech_commands",
    "speechcommands": "speech_commands", "lj": "ljspeech", "lj-speech": "ljspeech",
}
SC09_WORDS: tuple[str, ...] = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
)
SC09_MAX_SAMPLES = 16000
SC09_CLIP_LENGTH = 16384


def canonical_corpus(name: str) -> str:
    """The canonical corpus name for ``name`` (case and ``-``/``_`` spellings accepted).

    Raises:
        CorpusError: Unknown corpus; the message lists the valid names.
    """
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in SPECS:
        raise CorpusError(f"unknown corpus {name!r}; valid corpora: {', '.join(CORPORA)}")
    return key


def archives_for(corpus: str, subsets: Sequence[str] = ()) -> list[tuple[str, RemoteFile]]:
    """``(subset, archive)`` pairs needed for ``corpus`` and ``subsets`` (default subsets if none).

    Raises:
        CorpusError: Unknown corpus or subset.
    """
    spec = SPECS[canonical_corpus(corpus)]
    wanted = resolve_subsets(spec, subsets)
    return [(subset, ARCHIVES[spec.archives[subset]]) for subset in wanted if spec.archives]


def resolve_subsets(spec: CorpusSpec, subsets: Sequence[str]) -> tuple[str, ...]:
    """The subsets to prepare: ``subsets`` (comma-separated items allowed) or the defaults.

    Raises:
        CorpusError: A subset the corpus does not have; the message lists the valid ones.
    """
    names = [s.strip() for item in subsets for s in item.split(",") if s.strip()]
    if not names:
        return spec.default_subsets
    valid = [s for s in spec.archives if s]
    for name in names:
        if name not in valid:
            choices = ", ".join(valid) if valid else "none (this corpus has no subsets)"
            raise CorpusError(f"{spec.name}: unknown subset {name!r}; valid subsets: {choices}")
    return tuple(dict.fromkeys(names))


# ------------------------------------------------------------------------------ fetching


def fetch_corpus(
    corpus: str,
    root: str | os.PathLike[str],
    *,
    download: bool = False,
    archives: Sequence[str | os.PathLike[str]] = (),
    mirror: str | None = None,
    verify: bool = True,
    subsets: Sequence[str] = (),
    progress: bool = True,
    retries: int = 5,
    backoff: float = 1.0,
) -> None:
    """Make sure the corpus is unpacked under ``root``: find it, or take, download and unpack it.

    For each archive: nothing happens when the unpacked corpus is already found under ``root``
    (unpacked by an earlier run or by hand). Otherwise the archive is taken from ``archives``
    (matched by file name; a single archive for a single-archive corpus is taken whatever its
    name), else from ``root/downloads/<name>`` (placed there by hand or an earlier download),
    else downloaded with ``download`` from ``mirror`` (same file name) or the official URL. It
    is verified against :data:`ARCHIVES` unless ``verify`` is False, then unpacked safely.

    Raises:
        CorpusError: The archive is missing and ``download`` is False, a download or
            verification failed, or the archive is unsafe; the message says what to do.
    """
    spec = SPECS[canonical_corpus(corpus)]
    base = Path(root)
    given = [Path(a) for a in archives]
    needed = archives_for(spec.name, subsets)
    for path in given:
        if not path.is_file():
            raise CorpusError(f"--archive {path}: no such file")
    for subset, remote in needed:
        if find_corpus_data(spec, base, subset) is not None:
            logger.info("%s%s: found unpacked under %s", spec.name, f" {subset}" if subset else "",
                        base)
            continue
        archive = _pick_archive(remote, given, len(needed))
        if archive is not None:
            if verify:
                _verify_local(archive, remote, progress, given=True)
            else:
                logger.warning("%s: not verified (--no-verify)", archive)
        else:
            archive = base / "downloads" / remote.filename
            if archive.is_file():
                if verify:
                    _verify_local(archive, remote, progress)
            elif download:
                url = f"{mirror.rstrip('/')}/{remote.filename}" if mirror else remote.url
                logger.info("downloading %s (%s)", url, remote.description or remote.filename)
                download_file(url, archive, remote=remote, verify=verify, retries=retries,
                              backoff=backoff, progress=progress)
            else:
                raise CorpusError(
                    f"{spec.name}: {remote.filename} not found under {base}; pass --download to "
                    f"fetch it from {remote.url}, or download it yourself and put it at "
                    f"{archive} (or pass --archive PATH)"
                )
        destination = base / spec.extract_to
        logger.info("unpacking %s into %s", archive, destination)
        extract_archive(archive, destination, progress=progress)
        if find_corpus_data(spec, base, subset) is None:
            raise CorpusError(
                f"{archive}: unpacked, but the expected {spec.name} layout was not found under "
                f"{base}; is this the right archive?"
            )


def _pick_archive(remote: RemoteFile, given: list[Path], needed: int) -> Path | None:
    for path in given:
        if path.name == remote.filename:
            return path
    if needed == 1 and len(given) == 1:
        return given[0]
    return None


def _verify_local(archive: Path, remote: RemoteFile, progress: bool, given: bool = False) -> None:
    try:
        verify_file(archive, remote, progress=progress)
    except CorpusError as exc:
        fix = (
            f"get the official archive from {remote.url}" if given
            else f"delete {archive} and run again with --download"
        )
        raise CorpusError(
            f"{exc}. This is not the official release: {fix}, or pass --no-verify if it is "
            "another release on purpose"
        ) from None


def find_corpus_data(spec: CorpusSpec, root: Path, subset: str) -> Path | None:
    """The unpacked corpus (or subset) directory under ``root``, searching 3 levels deep."""
    tests: dict[str, Callable[[Path], bool]] = {
        "ljspeech": lambda d: (d / "metadata.csv").is_file() and (d / "wavs").is_dir(),
        "vctk": lambda d: (d / "wav48_silence_trimmed").is_dir(),
        "libritts": lambda d: d.name == subset and d.parent.name == "LibriTTS",
        "libritts-r": lambda d: d.name == subset and d.parent.name == "LibriTTS_R",
        "speech_commands": lambda d: (d / "validation_list.txt").is_file()
        and (d / "testing_list.txt").is_file(),
    }
    test = tests.get("speech_commands" if spec.name == "sc09" else spec.name)
    if test is None or not root.is_dir():
        return None
    level = [root]
    for _ in range(4):
        found = next((d for d in level if test(d)), None)
        if found is not None:
            return found
        level = [
            child
            for d in level
            for child in sorted(d.iterdir())
            if child.is_dir() and not child.name.startswith(".") and child.name != "downloads"
        ]
    return None
