"""Start-up checks of everything a training config names, before a model is built or a step taken.

A bad ``data.valid`` used to surface at the first validation, after thousands of steps; a missing
``training.init_from`` after the models were built. :func:`check_training_inputs` looks at every
path the config names, in seconds, and raises one :class:`~audiogan.config.ConfigError` whose
line names the config key, the file and the fix:

* ``data.train`` (required) and ``data.valid``: the manifest exists (a missing manifest of the
  embedded tiny corpus is built, see :mod:`audiogan.data.embedded`; for any other the message
  gives the ``audiogan prepare`` command that makes it), is a file, parses with its header and
  has entries; **every** listed audio (and ``mel_path``) file exists (a ``stat`` each, cheap); the
  first :data:`PROBE_ENTRIES` audio files open, agree with the manifest's sample rate and (when
  shorter than :data:`DECODE_MAX_SECONDS`) decode to finite samples; mel files (the first few)
  have the shape ``(features.n_mels, frames)``. Validation reads ``data.valid``'s files
  without skipping, so any of them that does not open is an error; the training datasets skip
  unreadable files (:mod:`audiogan.data.datasets`), so for ``data.train`` that is a warning
  unless none of the probed files opens.
* Sample rates: files at another rate than ``sample_rate`` are resampled on load by the waveform
  datasets (a note is returned and logged); mel + wave pairs cannot be resampled (an error).
* ``training.batch_size`` is not larger than the number of training clips; ``data.labels`` covers
  every label of an unconditional generator's clips.
* ``training.init_from``: an exported model directory (``generator.safetensors``), a checkpoint
  file or a run directory with one, or another toolkit's checkpoint that ``audiogan import``
  reads, that loads and holds a generator of the configured kind.
* ``discriminator.params``: the discriminator is built on the ``meta`` device (no memory), so a
  value its constructor refuses is one line instead of a traceback from the model build.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from audiogan.audio.io import AudioError, audio_info, load_audio
from audiogan.config import Config, ConfigError
from audiogan.config.checks import check_discriminator
from audiogan.core.errors import describe_os_error
from audiogan.data.embedded import EmbeddedCorpusError, ensure_embedded_corpus
from audiogan.data.manifest import ManifestEntry, ManifestError, failure_reason, read_manifest
from audiogan.inference.kinds import model_kind

__all__ = ["DECODE_MAX_SECONDS", "PROBE_ENTRIES", "check_training_inputs", "prepare_command"]

log = logging.getLogger(__name__)

PROBE_ENTRIES = 8
"""Audio (and mel) files opened per manifest; the rest are only checked to exist."""

DECODE_MAX_SECONDS = 60.0
"""Probed files up to this long are decoded in full (longer ones: the header only)."""


def check_training_inputs(config: Config) -> list[str]:
    """Check every file ``config`` names before training starts.

    Args:
        config: A loaded, validated config.

    Returns:
        Notes for the log (e.g. which files are resampled on load); they are logged at INFO.

    Raises:
        ConfigError: One line naming the config key, the file and the fix.
    """
    notes: list[str] = []
    kind = model_kind(config)
    t, data = config.training, config.data
    if not data.train:
        raise ConfigError(
            "data.train: no training manifest given; set data.train in the recipe or pass "
            "--set data.train=PATH (make one with: audiogan prepare folder --root <your audio "
            "folder> --out <dir>)"
        )
    train = _read(config, "data.train", data.train)
    _check_entries(config, "data.train", data.train, train, PROBE_ENTRIES, notes, skip_bad=True)
    if len(train) < t.batch_size:
        raise ConfigError(
            f"training.batch_size={t.batch_size} is more than the {len(train)} clips in "
            f"data.train ({data.train}); lower training.batch_size or add data"
        )
    if kind.labelled:
        _check_labels(config, train)
    if data.valid:
        valid = _read(config, "data.valid", data.valid)
        probe = max(PROBE_ENTRIES, kind.valid_entries(config))
        _check_entries(config, "data.valid", data.valid, valid, probe, notes)
    if t.init_from:
        _check_init_from(config, t.init_from)
    check_discriminator(config)  # its params' values (the keys were checked at load)
    for note in notes:
        log.info("%s", note)
    return notes


def prepare_command(manifest: str | os.PathLike[str], sample_rate: int) -> str:
    """The ``audiogan prepare`` command that writes ``manifest``.

    ``<root>/manifests/<split>.tsv`` under a directory named after a known corpus gives that
    corpus's command; anything else the ``folder`` command with the manifest's directory as
    ``--out``.
    """
    from audiogan.data.corpora import CorpusError, canonical_corpus

    path = Path(manifest)
    if path.parent.name == "manifests":
        try:
            name = canonical_corpus(path.parent.parent.name)
        except CorpusError:
            name = None
        if name is not None and name != "folder":
            return f"audiogan prepare {name} --root {_shown(path.parent.parent)} --download"
    return (
        f"audiogan prepare folder --root <your audio folder> --out {_shown(path.parent)} "
        f"--sample-rate {sample_rate}"
    )


# ------------------------------------------------------------------------------- internals


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it (shorter to read)."""
    try:
        return str(Path(os.path.abspath(path)).relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _read(config: Config, key: str, manifest: str) -> list[ManifestEntry]:
    path = Path(manifest)
    if not path.exists() and not _embedded(key, path):
        raise ConfigError(
            f"{key}: {path}: manifest not found; make it with: "
            f"{prepare_command(path, config.sample_rate)} (or fix the path)"
        )
    if path.is_dir():
        found = sorted(path.glob("*.tsv"))
        example = f" (e.g. {found[0]})" if found else ""
        raise ConfigError(f"{key}: {path} is a directory; point {key} at a manifest file{example}")
    try:
        return read_manifest(path)
    except ManifestError as exc:
        raise ConfigError(f"{key}: {exc}") from None


def _embedded(key: str, manifest: Path) -> bool:
    """Build the embedded corpus ``manifest`` belongs to (if it does); errors name ``key``."""
    try:
        return ensure_embedded_corpus(manifest)
    except EmbeddedCorpusError as exc:
        raise ConfigError(f"{key}: {exc}") from None
    except OSError as exc:
        raise ConfigError(
            f"{key}: building the embedded corpus for {manifest.name} failed: "
            f"{describe_os_error(exc)}"
        ) from None


class _Unreadable(Exception):
    """Internal: a probed audio file does not open (the message is the whole error line)."""


def _check_entries(config: Config, key: str, manifest: str, entries: Sequence[ManifestEntry],
                   probe: int, notes: list[str], *, skip_bad: bool = False) -> None:
    """Every listed file exists; the first ``probe`` open; rates and mel shapes fit.

    With ``skip_bad`` (the training manifest, whose datasets skip unreadable files) a probed
    file that does not open is a note unless none of the probed files opens.
    """
    fix = f"fix the paths in {manifest} or rebuild it"
    missing = [e.path for e in entries if not _is_file(e.path)]
    missing += [e.mel_path for e in entries if e.mel_path is not None and not _is_file(e.mel_path)]
    if missing:
        raise ConfigError(
            f"{key}: {len(missing)} file(s) listed in {manifest} do not exist or are not files "
            f"(first: {missing[0]}); {fix}"
        )
    pairs = model_kind(config).mel_pairs and any(e.mel_path for e in entries)
    if pairs:
        bare = [e.path for e in entries if e.mel_path is None]
        if bare:
            raise ConfigError(
                f"{key}: {len(bare)} line(s) of {manifest} have no mel_path while others do "
                f"(first: {bare[0]}); give every line a mel_path or none"
            )
    rate = config.sample_rate
    other = [e for e in entries if e.sample_rate != rate]
    if other and pairs:
        raise ConfigError(
            f"{key}: {other[0].path} is {other[0].sample_rate} Hz but sample_rate is {rate}; "
            "mel + wave pairs are not resampled: make the mels and audio at "
            f"{rate} Hz or set sample_rate"
        )
    if other:
        rates = sorted({e.sample_rate for e in other})
        notes.append(
            f"{key}: {len(other)} of {len(entries)} file(s) are at {', '.join(map(str, rates))} "
            f"Hz; they are resampled to {rate} Hz on load"
        )
    probed = entries[:probe]
    unreadable: list[str] = []
    for entry in probed:
        try:
            _probe_audio(key, manifest, entry)
        except _Unreadable as exc:
            if not skip_bad:
                raise ConfigError(str(exc)) from None
            unreadable.append(str(exc))
            continue
        if pairs and entry.mel_path is not None:
            _probe_mel(config, key, manifest, entry.mel_path)
    if unreadable and len(unreadable) == len(probed):
        raise ConfigError(
            f"{unreadable[0]} (none of the first {len(probed)} file(s) opens: check the "
            "manifest and the audio format)"
        )
    if unreadable:
        log.warning("%s: %d of the first %d file(s) cannot be read; training skips them "
                    "(first: %s)", key, len(unreadable), len(probed), unreadable[0])


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:
        return False


def _probe_audio(key: str, manifest: str, entry: ManifestEntry) -> None:
    try:
        info = audio_info(entry.path)
        if info.duration <= DECODE_MAX_SECONDS:
            wave, _ = load_audio(entry.path)
            if not bool(wave.isfinite().all()):
                raise AudioError(f"{entry.path}: non-finite (NaN/Inf) samples")
    except (AudioError, OSError, ValueError) as exc:
        raise _Unreadable(
            f"{key}: {entry.path}: {failure_reason(exc, entry.path)}; replace the file or "
            f"remove its line from {manifest}"
        ) from None
    if info.sample_rate != entry.sample_rate:
        raise ConfigError(
            f"{key}: {entry.path} is {info.sample_rate} Hz but {manifest} says "
            f"{entry.sample_rate} Hz; the manifest is stale: rebuild it"
        )


def _probe_mel(config: Config, key: str, manifest: str, mel_path: Path) -> None:
    import numpy as np

    n_mels = config.features.n_mels
    try:
        mel = np.load(mel_path, mmap_mode="r", allow_pickle=False)
        shape = tuple(mel.shape)
    except (OSError, ValueError) as exc:
        reason = " ".join(str(exc).split())
        raise ConfigError(
            f"{key}: {mel_path}: not a readable .npy mel ({reason}); recompute it or "
            f"remove its line from {manifest}"
        ) from None
    if len(shape) != 2 or shape[0] != n_mels:
        raise ConfigError(
            f"{key}: {mel_path}: mel shape {shape}, expected ({n_mels}, frames) for "
            "features.n_mels; store mels as (n_mels, frames) with the recipe's features"
        )


def _check_labels(config: Config, entries: Sequence[ManifestEntry]) -> None:
    labels = config.data.labels
    if labels is None:
        return
    known = set(labels)
    strange = [e for e in entries if e.label is not None and e.label not in known]
    if strange:
        raise ConfigError(
            f"data.labels: {strange[0].path} has label {strange[0].label!r}, which is not in "
            f"data.labels {list(labels)}; add it or fix the manifest {config.data.train}"
        )


def _check_init_from(config: Config, source: str) -> None:
    from audiogan.training import checkpoint as ckpt

    path = Path(source)
    if not path.exists():
        raise ConfigError(
            f"training.init_from: {path}: not found; give a checkpoint file, a run directory "
            "or an exported model directory"
        )
    if (path / "generator.safetensors").is_file():
        try:
            from safetensors import safe_open

            with safe_open(os.fspath(path / "generator.safetensors"), framework="pt") as handle:
                handle.keys()
        except Exception as exc:  # safetensors raises its own error types for bad headers
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise ConfigError(
                f"training.init_from: {path / 'generator.safetensors'}: unreadable ({reason}); "
                "export the model again"
            ) from None
        return
    if not (path / ckpt.CHECKPOINT_DIR).is_dir():  # another toolkit's checkpoint?
        from audiogan.inference.imports import ImportSourceError, detect_format, find_reader

        found = find_reader(path)
        if found is not None:
            try:
                reader, detection = detect_format(path, found[0].name)
                detection.generator_only = True
                name = reader.read(detection, None).config.generator.name
            except ImportSourceError as exc:
                raise ConfigError(f"training.init_from: {exc}") from None
            if name != config.generator.name:
                raise ConfigError(
                    f"training.init_from: {path} holds a {name!r} generator but generator.name "
                    f"is {config.generator.name!r}; start from a checkpoint of the same model"
                )
            return
    try:
        state = ckpt.load_checkpoint(ckpt.find_checkpoint(path))
    except ckpt.CheckpointError as exc:
        raise ConfigError(f"training.init_from: {exc}") from None
    if "generator" not in state:
        raise ConfigError(
            f"training.init_from: {path}: the checkpoint holds no generator weights"
        )
    saved = state.get("config")
    saved_name = saved.get("generator", {}).get("name") if isinstance(saved, dict) else None
    if saved_name is not None and saved_name != config.generator.name:
        raise ConfigError(
            f"training.init_from: {path} holds a {saved_name!r} generator but generator.name is "
            f"{config.generator.name!r}; start from a checkpoint of the same model"
        )

