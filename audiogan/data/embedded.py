"""The tiny embedded corpora on first use: what ``recipes/tiny/run.sh`` stage 0 makes, on demand.

The tiny recipes (``recipes/tiny/*.yaml``) read their data from ``runs/tiny/data/speech`` and
``runs/tiny/data/digits`` at the repository root, which stage 0 of ``recipes/tiny/run.sh``
synthesises. So that ``audiogan train recipes/tiny/hifigan.yaml -o runs/hifigan`` also works on a
fresh clone, a manifest that is missing *at exactly that place* - a path ending in
``runs/tiny/data/<corpus>/<split>.tsv`` for a corpus and split listed in :data:`TINY_CORPORA` - is
built here with the same function, arguments and seed as stage 0, so the bytes are identical and
a later ``run.sh`` finds it up to date. Any other missing manifest is left alone (the caller
reports it with the command that makes it).

Building is atomic and safe under concurrent first uses:

* one lock file per data directory (``runs/tiny/data/.embedded.lock``, ``flock`` where the OS
  has it) serialises builders; whoever gets it second finds the corpus complete and reuses it;
* the corpus is written into a hidden staging directory beside its target and swapped in whole
  (:class:`audiogan.core.atomic.StagedDirectory`), so a killed build never leaves a directory that
  looks complete; staging left by a killed build is removed by the next builder (under the lock);
* a directory already at the target that holds anything but a (partial) synthetic corpus is
  never replaced: the caller gets a :class:`EmbeddedCorpusError` naming it.

Fault point (see :mod:`audiogan.core.faults`): ``embedded.before_commit``, after the corpus is
written
to the staging directory and before it is swapped in.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from audiogan.core.atomic import StagedDirectory, remove_stale_temps
from audiogan.core.errors import AudioganError
from audiogan.core.faults import fault_point

__all__ = [
    "LOCK_NAME",
    "TINY_CORPORA",
    "EmbeddedCorpus",
    "EmbeddedCorpusError",
    "embedded_corpus_for",
    "ensure_embedded_corpus",
]

logger = logging.getLogger(__name__)

LOCK_NAME = ".embedded.lock"
"""The lock file, in the data directory that holds the corpora (``runs/tiny/data``)."""

_LOCATION = ("runs", "tiny", "data")
"""The last parts of the data directory ``recipes/tiny/run.sh`` writes (its default ``--out``)."""


class EmbeddedCorpusError(AudioganError, RuntimeError):
    """The embedded corpus cannot be built where a recipe expects it; the message says why."""


@dataclass(frozen=True)
class EmbeddedCorpus:
    """One embedded corpus: its directory name, the manifests it writes and how to build it.

    Attributes:
        name: The directory under ``runs/tiny/data`` (``"speech"`` or ``"digits"``).
        manifests: The manifest file names it writes (``train.tsv``, ...).
        contents: Every name the builder puts in the directory (to recognise a partial build).
        build: ``build(root)`` writes the corpus into ``root`` (the stage-0 call of run.sh).
    """

    name: str
    manifests: tuple[str, ...]
    contents: frozenset[str]
    build: Callable[[Path], object]


def _build_speech(root: Path) -> object:
    from audiogan.data.synthetic import build_synthetic_corpus

    # recipes/tiny/run.sh stage 0, byte for byte
    return build_synthetic_corpus(root, num_utterances=60, seed=0, valid_fraction=0.1)


def _build_digits(root: Path) -> object:
    from audiogan.data.synthetic import build_synthetic_clips

    # recipes/tiny/run.sh stage 0, byte for byte
    return build_synthetic_clips(root, num_clips=100, seed=0)


TINY_CORPORA: dict[str, EmbeddedCorpus] = {
    "speech": EmbeddedCorpus(
        "speech", ("train.tsv", "valid.tsv"),
        frozenset({"wavs", "train.tsv", "valid.tsv", "synthetic_corpus.json"}), _build_speech,
    ),
    "digits": EmbeddedCorpus(
        "digits", ("train.tsv",),
        frozenset({"clips", "train.tsv", "synthetic_clips.json"}), _build_digits,
    ),
}
"""The corpora of ``recipes/tiny/run.sh`` stage 0, by directory name."""


def embedded_corpus_for(manifest: str | os.PathLike[str]) -> EmbeddedCorpus | None:
    """The embedded corpus whose known location ``manifest`` is, or None.

    A manifest belongs to one when its path ends in ``runs/tiny/data/<name>/<manifest>`` for a
    ``<name>`` and ``<manifest>`` of :data:`TINY_CORPORA` (the place ``recipes/tiny/run.sh``
    stage 0 writes with its default ``--out``, which the tiny recipes point at).
    """
    path = Path(os.path.abspath(manifest))
    corpus = TINY_CORPORA.get(path.parent.name)
    if corpus is None or path.name not in corpus.manifests:
        return None
    data_dir = path.parent.parent
    parts = (data_dir.parent.parent.name, data_dir.parent.name, data_dir.name)
    return corpus if parts == _LOCATION else None


def _complete(root: Path, corpus: EmbeddedCorpus) -> bool:
    return all((root / name).is_file() for name in corpus.manifests)


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``directory/.embedded.lock`` (a no-op without ``fcntl``)."""
    directory.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: the staged swap alone keeps it whole
        yield
        return
    fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def ensure_embedded_corpus(manifest: str | os.PathLike[str]) -> bool:
    """Build the embedded corpus ``manifest`` belongs to when that manifest is missing.

    Args:
        manifest: A manifest path a config names (``data.train``, ``data.valid``).

    Returns:
        True when ``manifest`` belongs to an embedded corpus and now exists (built here or by a
        concurrent caller); False when it is not an embedded corpus's manifest.

    Raises:
        EmbeddedCorpusError: the target directory holds other files (never replaced).
        OSError: the corpus could not be written (full disk, permissions); nothing half-built
            is left at the target.
    """
    corpus = embedded_corpus_for(manifest)
    if corpus is None:
        return False
    root = Path(os.path.abspath(manifest)).parent
    if _complete(root, corpus):
        return True
    with _locked(root.parent):
        if _complete(root, corpus):  # a concurrent first use built it while we waited
            return True
        remove_stale_temps(root.parent, (root.name,))  # a killed build's (we hold the lock)
        if root.exists():
            foreign = sorted(
                p.name for p in root.iterdir()
                if p.name not in corpus.contents and not p.name.startswith(".")
            ) if root.is_dir() else [root.name]
            if foreign:
                raise EmbeddedCorpusError(
                    f"{root}: expected the embedded {corpus.name} corpus here but it holds "
                    f"{', '.join(foreign[:3])}; move them elsewhere (the corpus is made here on "
                    "first use) or point the recipe's data paths at your own manifests"
                )
        logger.info(
            "building the embedded %s corpus in %s (first use; the same files as "
            "recipes/tiny/run.sh stage 0)", corpus.name, root,
        )
        with StagedDirectory(root) as staging:
            corpus.build(staging)
            fault_point("embedded.before_commit")
    return True
