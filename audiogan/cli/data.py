"""``audiogan prepare``: fetch, verify and unpack a corpus, then write its manifests."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from audiogan.cli.main import EXIT_INTERRUPTED, Failures, one_line_errors


@click.command()
@click.argument("corpus", metavar="CORPUS", required=False)
@click.option("--root", type=click.Path(path_type=Path),
              help="Where the corpus is (or is unpacked); for 'folder', the audio directory.")
@click.option("--download", is_flag=True, help="Download archives not found under ROOT.")
@click.option("--download-only", is_flag=True,
              help="Stop after downloading, verifying and unpacking (no manifests).")
@click.option("--mirror", metavar="URL", default=None,
              help="Download from this base URL instead (same file names).")
@click.option("--archive", "archives", multiple=True, type=click.Path(path_type=Path),
              help="An archive you already have (repeatable); verified like a download.")
@click.option("--no-verify", is_flag=True,
              help="Skip the size/checksum check (a mirror that carries another release).")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Directory for the manifests [default: ROOT/manifests].")
@click.option("--sample-rate", type=int, default=None,
              help="Target rate; other files are resampled once into the cache "
              "[default: the corpus's: 22050 LJSpeech/folder, 24000 VCTK/LibriTTS, 16000 SC].")
@click.option("--mic", type=click.Choice(["mic1", "mic2"]), default="mic1", show_default=True,
              help="VCTK microphone.")
@click.option("--subset", "subsets", multiple=True,
              help="LibriTTS subsets, e.g. --subset train-clean-100,train-clean-360.")
@click.option("--min-duration", type=float, default=None,
              help="Reject shorter files, seconds [default: 0.5 speech corpora, 0.1 SC/folder].")
@click.option("--mel-dir", type=click.Path(path_type=Path), default=None,
              help="folder only: TTS mel .npy files mirroring the audio tree (fine-tuning pairs).")
@click.option("--hop-length", type=int, default=256, show_default=True,
              help="Hop of the mels in --mel-dir.")
@click.option("--jobs", type=int, default=None,
              help="Worker processes [default: CPU count, at most 8].")
@click.option("--list", "list_archives", is_flag=True,
              help="Print the archive table (URL, size, checksums, sources) and exit.")
@one_line_errors
def prepare(corpus: str | None, root: Path | None, download: bool, download_only: bool,
            mirror: str | None, archives: tuple[Path, ...], no_verify: bool, out: Path | None,
            sample_rate: int | None, mic: str, subsets: tuple[str, ...],
            min_duration: float | None, mel_dir: Path | None, hop_length: int,
            jobs: int | None, list_archives: bool) -> None:
    """Prepare CORPUS under ROOT: train/valid/test manifests (TSV) and rejected.tsv.

    CORPUS is one of ljspeech, vctk, libritts, libritts-r, sc09, speech_commands, folder.
    Archives are found under ROOT (or ROOT/downloads), taken from --archive, or downloaded
    with --download; each is checked against the published size and checksum. Running the
    command again with the same inputs does nothing.

    \b
    audiogan prepare ljspeech --root data/ljspeech --download
    audiogan prepare vctk --root data/vctk --download --mic mic2 --sample-rate 24000
    audiogan prepare folder --root my_wavs --sample-rate 22050
    """
    from audiogan.core.errors import one_line
    from audiogan.data.corpora import ARCHIVES, CorpusError, canonical_corpus
    from audiogan.data.prepare import prepare_corpus

    if list_archives:
        for name, remote in ARCHIVES.items():
            size = f"{remote.size} bytes" if remote.size else "size unknown"
            click.echo(f"{name}\n  url: {remote.url}\n  {size}"
                       + (f" ({remote.size_source})" if remote.size_source else ""))
            for checksum in remote.checksums:
                click.echo(f"  {checksum.algorithm}: {checksum.value} ({checksum.source})")
            if not remote.checksums:
                click.echo("  no published checksum: verified by size only (if known)")
        return
    if corpus is None or root is None:
        raise click.UsageError("give CORPUS and --root DIR (or --list)")
    try:
        name = canonical_corpus(corpus)
    except CorpusError as exc:
        raise click.BadParameter(str(exc), param_hint="CORPUS") from None
    workers = jobs if jobs is not None else min(os.cpu_count() or 1, 8)
    failures = Failures()
    try:
        result = prepare_corpus(
            name, root, download=download or download_only, download_only=download_only,
            archives=archives, mirror=mirror, verify=not no_verify, out=out,
            sample_rate=sample_rate, mic=mic, subsets=subsets, min_duration=min_duration,
            mel_dir=mel_dir, hop_length=hop_length, jobs=workers,
            progress=sys.stderr.isatty(),
            report=lambda path, reason: failures.add(str(path), one_line(reason)),
        )
    except KeyboardInterrupt:
        click.echo(f"error: {name}: interrupted; nothing half-written is left: run the same "
                   "command again to continue (a download resumes, finished files are reused)",
                   err=True)
        sys.exit(EXIT_INTERRUPTED)
    if result is None:
        done = "downloaded, verified and unpacked" if not no_verify else "unpacked (not verified)"
        click.echo(f"{name}: {done} under {root}")
        return
    counts = ", ".join(f"{split} {count}" for split, count in result.counts.items())
    if result.up_to_date:
        click.echo(f"{name}: manifests in {result.out_dir} are up to date (nothing to do): "
                   f"{counts} files at {result.sample_rate} Hz")
    else:
        click.echo(f"{name}: {counts} files at {result.sample_rate} Hz; manifests in "
                   f"{result.out_dir}")
    if result.rejected:
        click.echo(f"reasons of the files left out: {result.out_dir / 'rejected.tsv'}", err=True)
    failures.done = sum(result.counts.values())
    failures.finish("files")  # exit 1 when some were left out (the manifests are written)


COMMANDS = [prepare]
