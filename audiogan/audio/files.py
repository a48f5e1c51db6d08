"""Finding audio files: the one suffix set and the one directory walk every command uses.

``prepare`` (a ``folder`` corpus), ``evaluate --data DIR``, ``train-classifier DIR`` and
``synthesize DIR`` all list audio with :func:`find_audio_files`, so a file one command takes is
taken by all of them.

The suffixes are those of the container formats libsndfile reads (what :func:`load_audio`
opens): WAV and its 64-bit / RF64 variants, FLAC, Ogg (Vorbis and Opus), MP3, AIFF / AIFC,
Sun/NeXT ``.au`` / ``.snd``, CAF and Sound Designer II. Matching ignores case (``A.WAV``).
Hidden files and folders (a leading ``.``) are left out, and so is anything that is not a
regular file (FIFOs, devices, sockets, broken links: reading them could block or fail) unless
the caller asks for them: ``prepare`` does, to report each one as a file it could not use.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection
from pathlib import Path

__all__ = ["AUDIO_SUFFIXES", "find_audio_files", "has_audio_suffix"]

AUDIO_SUFFIXES: tuple[str, ...] = (
    ".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".aifc", ".au", ".snd",
    ".w64", ".caf", ".rf64", ".sd2",
)
"""File name suffixes taken as audio (lower case; matched case-insensitively)."""


def has_audio_suffix(path: str | os.PathLike[str],
                     suffixes: Collection[str] = AUDIO_SUFFIXES) -> bool:
    """Whether ``path``'s suffix, lower-cased, is one of ``suffixes`` (the name only)."""
    return Path(path).suffix.lower() in suffixes


def find_audio_files(
    root: str | os.PathLike[str],
    recursive: bool = True,
    *,
    suffixes: Collection[str] = AUDIO_SUFFIXES,
    skip: str | os.PathLike[str] | None = None,
    onerror: Callable[[OSError], None] | None = None,
    special_files: bool = False,
) -> list[Path]:
    """The audio files under the directory ``root``, folder by folder.

    Args:
        root: The directory to search.
        recursive: Also search sub-folders (not hidden ones; symbolic links to folders are
            not followed).
        suffixes: Lower-case suffixes to take (default :data:`AUDIO_SUFFIXES`; ``synthesize``
            adds its mel-file suffixes).
        skip: A folder left out with everything under it (e.g. the command's output folder).
        onerror: Called with the ``OSError`` of each folder that cannot be listed (its files
            are then missing); default: such folders are passed over silently.
        special_files: Also list names with an audio suffix that are not regular files
            (FIFOs, devices, broken links), for a caller that reports them one by one.

    Returns:
        ``root/<...>/<name>`` paths in a stable order: each folder's files sorted by name, then
        its sub-folders in name order (``sorted(...)`` of the result gives plain path order).
    """
    skip_real = os.path.realpath(skip) if skip is not None else None
    found: list[Path] = []
    for directory, dirs, files in os.walk(root, onerror=onerror):
        dirs[:] = sorted(
            d for d in dirs
            if recursive and not d.startswith(".")
            and (skip_real is None or os.path.realpath(os.path.join(directory, d)) != skip_real)
        )
        for name in sorted(files):
            path = Path(directory) / name
            if (not name.startswith(".") and has_audio_suffix(name, suffixes)
                    and (special_files or path.is_file())):
                found.append(path)
    return found
