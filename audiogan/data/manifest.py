"""TSV manifests: one audio file per line, paths relative to the manifest file.

A manifest is a tab-separated text file (UTF-8; a byte-order mark is accepted) whose first
non-comment line is a header::

    path    num_samples    sample_rate    [speaker]    [label]    [mel_path]

``path``, ``num_samples`` and ``sample_rate`` are required; ``speaker``, ``label`` and
``mel_path`` are optional, in any order. Blank lines and lines starting with ``#`` are ignored.
``path`` and ``mel_path`` are relative to the directory holding the manifest (absolute paths are
accepted too), so a corpus directory can be moved or mounted elsewhere as a whole. An empty
optional cell means "not given".

:func:`read_manifest` resolves the paths to absolute :class:`ManifestEntry` objects;
:func:`write_manifest` writes them back relative to the new manifest's location (atomically);
:func:`build_manifest_from_audio` probes audio files and writes a manifest of the good ones plus
the rejected ones with their reasons next to it (:func:`rejected_path_for`), so one bad file
never stops a corpus.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from audiogan.audio.io import AudioError, audio_info, is_silent, load_audio
from audiogan.core.atomic import write_text
from audiogan.core.errors import AudioganError, describe_os_error

__all__ = [
    "OPTIONAL_COLUMNS", "REQUIRED_COLUMNS", "ManifestBuildResult", "ManifestEntry",
    "ManifestError", "build_manifest_from_audio", "read_manifest", "rejected_path_for",
    "write_manifest"
]

logger = logging.getLogger(__name__)

REQUIRED_COLUMNS: tuple[str, ...] = ("path", "num_samples", "sample_rate")
OPTIONAL_COLUMNS: tuple[str, ...] = ("speaker", "label", "mel_path")
_ALL_COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
_MAX_MANIFEST_BYTES = 1 << 30  # millions of lines; anything larger is not a manifest


class ManifestError(AudioganError, ValueError):
    """A manifest cannot be read or written; the one-line message names the file (and line)."""

    def __init__(self, path: str | os.PathLike[str], problem: str, line: int | None = None) -> None:
        self.path = os.fspath(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(" ".join(f"{where}: {problem}".split()))

    def __reduce__(self) -> tuple[type[ManifestError], tuple[str, str, int | None]]:
        return (type(self), (self.path, self.problem, self.line))


@dataclass(frozen=True)
class ManifestEntry:
    """One line of a manifest.

    Attributes:
        path: Absolute path of the audio file.
        num_samples: Length of the file in samples (frames) at ``sample_rate``.
        sample_rate: The file's sample rate in Hz.
        speaker: Speaker id, or None.
        label: Class label (e.g. the spoken word), or None.
        mel_path: Absolute path of a ``.npy`` mel spectrogram ``(n_mels, frames)`` aligned with
            the audio (for fine-tuning on TTS output), or None.
    """

    path: Path
    num_samples: int
    sample_rate: int
    speaker: str | None = None
    label: str | None = None
    mel_path: Path | None = None

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.num_samples / self.sample_rate


class ManifestBuildResult(NamedTuple):
    """What :func:`build_manifest_from_audio` returns."""

    entries: list[ManifestEntry]
    """The accepted files, in input order, as written to the manifest."""
    rejected: list[tuple[Path, str]]
    """``(file, reason)`` for every file left out."""


def read_manifest(path: str | os.PathLike[str]) -> list[ManifestEntry]:
    """Read a TSV manifest.

    Args:
        path: The manifest file.

    Returns:
        The entries in file order, with ``path`` and ``mel_path`` resolved to absolute paths
        (relative ones are taken relative to the manifest's directory).

    Raises:
        ManifestError: The file is missing or unreadable, the header lacks a required column or
            has an unknown or repeated one, a line has the wrong number of fields, an empty
            path or a bad number, or the manifest holds no entries. The message names the file
            and the line number (1-based).
    """
    manifest = Path(path)
    try:
        if manifest.is_file() and manifest.stat().st_size > _MAX_MANIFEST_BYTES:
            raise ManifestError(manifest, f"{manifest.stat().st_size / 2**30:.1f} GiB: too large "
                                "for a manifest (is it an audio or archive file?); pass the .tsv")
        data = manifest.read_bytes()
    except FileNotFoundError:
        raise ManifestError(manifest, "manifest not found; check the path") from None
    except IsADirectoryError:
        raise ManifestError(
            manifest, "is a directory, not a manifest; pass the .tsv file"
        ) from None
    except OSError as exc:
        raise ManifestError(manifest, f"cannot read manifest: {describe_os_error(exc)}") from None
    try:
        text = data.decode("utf-8-sig")  # a byte-order mark (Windows editors) is accepted
    except UnicodeDecodeError as exc:
        bad_line = data.count(b"\n", 0, exc.start) + 1
        raise ManifestError(
            manifest, f"not UTF-8 text (byte 0x{data[exc.start]:02x}); save the manifest as "
            "UTF-8", bad_line,
        ) from None
    if "\x00" in text:
        raise ManifestError(manifest, "binary data (NUL bytes), not a text manifest; pass the "
                            ".tsv file", text.count("\n", 0, text.index("\x00")) + 1)

    base = Path(os.path.abspath(manifest)).parent
    columns: list[str] | None = None
    entries: list[ManifestEntry] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip("\r")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split("\t")
        if columns is None:
            columns = _parse_header(manifest, number, fields)
            continue
        if len(fields) != len(columns):
            raise ManifestError(
                manifest,
                f"expected {len(columns)} tab-separated fields ({', '.join(columns)}), "
                f"got {len(fields)}",
                number,
            )
        entries.append(
            _parse_entry(manifest, number, base, dict(zip(columns, fields, strict=True)))
        )
    if columns is None:
        raise ManifestError(
            manifest, f"empty manifest: no header line (need {', '.join(REQUIRED_COLUMNS)})"
        )
    if not entries:
        raise ManifestError(manifest, "empty manifest: a header but no entries")
    return entries


def write_manifest(path: str | os.PathLike[str], entries: Sequence[ManifestEntry]) -> Path:
    """Write entries as a TSV manifest, atomically.

    Paths are written relative to the manifest's directory (with ``/`` separators) when they can
    be (on Windows, a file on another drive stays absolute). The optional columns are written
    only when at least one entry has a value for them. The text goes to a temporary file in the
    same directory that is fsynced and renamed over ``path``.

    Args:
        path: The manifest file to write; missing parent directories are created.
        entries: The entries; their paths should be absolute (relative ones are taken relative
            to the current working directory).

    Returns:
        The path written.

    Raises:
        ManifestError: ``entries`` is empty, or a value contains a tab or newline, or a number
            is not a positive integer (``num_samples`` may be 0).
    """
    manifest = Path(path)
    if not entries:
        raise ManifestError(manifest, "refusing to write an empty manifest (no entries)")
    optional = [
        name for name in OPTIONAL_COLUMNS if any(getattr(e, name) is not None for e in entries)
    ]
    columns = list(REQUIRED_COLUMNS) + optional
    base = Path(os.path.abspath(manifest)).parent

    lines = ["\t".join(columns)]
    for position, entry in enumerate(entries):
        if entry.num_samples < 0 or entry.sample_rate <= 0:
            raise ManifestError(
                manifest,
                f"entry {position} ({entry.path}): num_samples must be >= 0 and sample_rate "
                f"> 0, got {entry.num_samples} and {entry.sample_rate}",
            )
        values = {
            "path": _relative_to(Path(entry.path), base),
            "num_samples": str(int(entry.num_samples)),
            "sample_rate": str(int(entry.sample_rate)),
            "speaker": entry.speaker or "",
            "label": entry.label or "",
            "mel_path": _relative_to(Path(entry.mel_path), base) if entry.mel_path else "",
        }
        row = [values[name] for name in columns]
        for name, value in zip(columns, row, strict=True):
            if any(ch in value for ch in "\t\r\n"):
                raise ManifestError(
                    manifest, f"entry {position}: {name} {value!r} contains a tab or newline"
                )
        lines.append("\t".join(row))
    write_text(manifest, "\n".join(lines) + "\n")
    return manifest


def rejected_path_for(manifest: str | os.PathLike[str]) -> Path:
    """Where the list of rejected files is written for ``manifest``: ``<stem>.rejected.tsv``."""
    manifest = Path(manifest)
    return manifest.with_name(f"{manifest.stem}.rejected.tsv")


def build_manifest_from_audio(
    files: Iterable[str | os.PathLike[str]],
    out_path: str | os.PathLike[str],
    *,
    speaker_of: Callable[[Path], str | None] | None = None,
    label_of: Callable[[Path], str | None] | None = None,
    mel_path_of: Callable[[Path], Path | None] | None = None,
    sample_rate: int | None = None,
    min_duration: float = 0.0,
    reject_silent: bool = False,
    silence_threshold_db: float = -60.0,
) -> ManifestBuildResult:
    """Probe audio files, write a manifest of the good ones and a list of the rejected ones.

    Each file's header is read with :func:`audio_info` (cheap); with ``reject_silent`` the
    samples are decoded as well. Files that cannot be read (corrupt, truncated, not audio,
    empty), are shorter than ``min_duration``, have another sample rate than ``sample_rate``
    (when given) or are silent (when ``reject_silent``) are left out with a reason. The reasons
    are logged in one warning with the count and written to :func:`rejected_path_for`
    (``<stem>.rejected.tsv``, columns ``path`` and ``reason``); a stale list from an earlier run
    is removed when nothing is rejected.

    Args:
        files: Audio files, in the order wanted in the manifest.
        out_path: The manifest to write.
        speaker_of: Maps a file to its speaker id (or None).
        label_of: Maps a file to its class label (or None).
        mel_path_of: Maps a file to its mel ``.npy`` file (or None).
        sample_rate: When given, reject files at any other rate. Leave None to accept every
            rate (the datasets resample on load).
        min_duration: Reject files shorter than this many seconds.
        reject_silent: Decode each file and reject it when its peak is below
            ``silence_threshold_db``.
        silence_threshold_db: Peak level in dBFS under which a file counts as silent.

    Returns:
        ``(entries, rejected)``; ``entries`` as written to ``out_path``.

    Raises:
        ManifestError: No file was accepted (the rejected list is still written).
    """
    manifest = Path(out_path)
    entries: list[ManifestEntry] = []
    rejected: list[tuple[Path, str]] = []
    for item in files:
        file = Path(item).absolute()
        reason: str | None = None
        try:
            info = audio_info(file)
        except AudioError as exc:
            rejected.append((file, failure_reason(exc, file)))
            continue
        if sample_rate is not None and info.sample_rate != sample_rate:
            reason = f"sample rate {info.sample_rate} Hz, expected {sample_rate} Hz"
        elif info.duration < min_duration:
            reason = f"too short: {info.duration:.3f} s < {min_duration:.3f} s"
        elif reject_silent:
            try:
                wave, _ = load_audio(file)
            except AudioError as exc:
                reason = failure_reason(exc, file)
            else:
                if is_silent(wave, silence_threshold_db):
                    reason = f"silent: peak below {silence_threshold_db:g} dBFS"
        if reason is not None:
            rejected.append((file, reason))
            continue
        entries.append(
            ManifestEntry(
                path=file,
                num_samples=info.num_frames,
                sample_rate=info.sample_rate,
                speaker=speaker_of(file) if speaker_of else None,
                label=label_of(file) if label_of else None,
                mel_path=Path(mel).absolute()
                if mel_path_of and (mel := mel_path_of(file))
                else None,
            )
        )

    rejected_file = rejected_path_for(manifest)
    if rejected:
        text = "path\treason\n" + "".join(
            f"{_relative_to(file, Path(os.path.abspath(manifest)).parent)}\t"
            f"{' '.join(reason.split())}\n"
            for file, reason in rejected
        )
        write_text(rejected_file, text)
        logger.warning(
            "%s: %d file(s) rejected (first: %s: %s); list written to %s",
            manifest,
            len(rejected),
            rejected[0][0],
            rejected[0][1],
            rejected_file,
        )
    else:
        with contextlib.suppress(FileNotFoundError):
            rejected_file.unlink()
    if not entries:
        raise ManifestError(
            manifest,
            f"no usable audio: all {len(rejected)} file(s) rejected (see {rejected_file})"
            if rejected
            else "no audio files given",
        )
    write_manifest(manifest, entries)
    return ManifestBuildResult(entries, rejected)


def failure_reason(exc: BaseException, path: str | os.PathLike[str]) -> str:
    """A one-line reason for a failure on ``path``, without the path the message may start with.

    Args:
        exc: The error (usually an :class:`~audiogan.audio.io.AudioError`, whose message is
            ``"<path>: <problem>[; <fix>]"``).
        path: The file it concerns.

    Returns:
        The problem (and fix) text, e.g. ``"not a readable audio file (...); check ..."``.
    """
    text = " ".join((str(exc) or type(exc).__name__).split())
    for prefix in {os.fspath(path), os.path.abspath(path), str(getattr(exc, "path", "") or "")}:
        if prefix and text.startswith(prefix + ": "):
            return text[len(prefix) + 2 :]
    return text


# --------------------------------------------------------------------------- internals


def _parse_header(manifest: Path, number: int, fields: list[str]) -> list[str]:
    columns = [field.strip() for field in fields]
    unknown = [name for name in columns if name not in _ALL_COLUMNS]
    repeated = sorted({name for name in columns if columns.count(name) > 1})
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if unknown:
        problem = (f"unknown column(s) {', '.join(map(repr, unknown))} in the header (the first "
                   f"line must name the columns); valid columns: {', '.join(_ALL_COLUMNS)}")
    elif repeated:
        problem = f"repeated column(s) {', '.join(repeated)}"
    elif missing:
        problem = (f"header lacks required column(s) {', '.join(missing)} (need "
                   f"{', '.join(REQUIRED_COLUMNS)}, tab-separated)")
    else:
        return columns
    raise ManifestError(manifest, problem, number)


def _parse_entry(manifest: Path, number: int, base: Path, row: dict[str, str]) -> ManifestEntry:
    path_text = row["path"].strip()
    if not path_text:
        raise ManifestError(manifest, "empty path", number)
    num_samples = _parse_int(manifest, number, "num_samples", row["num_samples"], minimum=0)
    sample_rate = _parse_int(manifest, number, "sample_rate", row["sample_rate"], minimum=1)
    mel_text = row.get("mel_path", "").strip()
    return ManifestEntry(
        path=_resolve(base, path_text),
        num_samples=num_samples,
        sample_rate=sample_rate,
        speaker=row.get("speaker", "").strip() or None,
        label=row.get("label", "").strip() or None,
        mel_path=_resolve(base, mel_text) if mel_text else None,
    )


def _parse_int(manifest: Path, number: int, name: str, text: str, *, minimum: int) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise ManifestError(
            manifest, f"{name} must be an integer, got {text.strip()!r}", number
        ) from None
    if value < minimum:
        raise ManifestError(manifest, f"{name} must be >= {minimum}, got {value}", number)
    return value


def _resolve(base: Path, text: str) -> Path:
    return Path(os.path.normpath(base / Path(text)))


def _relative_to(path: Path, base: Path) -> str:
    absolute = Path(os.path.abspath(path))
    try:
        relative = os.path.relpath(absolute, base)
    except ValueError:  # another drive on Windows
        return absolute.as_posix()
    return Path(relative).as_posix()
