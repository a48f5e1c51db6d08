"""The ``audiogan`` command line: each command is a thin call into the library.

Exit codes, for every command: 0 all good; 1 some inputs failed and the rest were written; 2
usage error or nothing could be processed; 130 interrupted. Errors are one line naming the file
or option (multi-input commands: one line per failed input as it happens, then one summary line,
see :class:`Failures`); ``--verbose`` adds the traceback.
"""

from __future__ import annotations

import functools
import logging
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from audiogan import __version__

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK, EXIT_PARTIAL, EXIT_FAILED = 0, 1, 2
EXIT_INTERRUPTED = 130

log = logging.getLogger("audiogan")


class Failures:
    """Per-input failures of a multi-input command, and its documented exit code.

    Each failure is printed as it happens, as exactly one line ``error: <input>: <reason>``
    (a reason that already starts with the input's name does not repeat it); :meth:`finish`
    then prints one summary line (``2 of 5 files failed``, no ``error:`` prefix, reasons not
    repeated) and exits 1 when some inputs were done, 2 when none were.
    """

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []
        self.done = 0
        self._printed = 0

    def add(self, name: str, reason: str) -> None:
        """Record and print the failure of input ``name`` (``reason``: one line, the fix)."""
        from audiogan.core.errors import one_line

        reason = one_line(reason)
        for prefix in (f"{name}: ", f"{name}:"):
            if reason.startswith(prefix):
                reason = reason[len(prefix):]
                break
        self.items.append((name, reason or "failed"))
        self._flush()

    def _flush(self) -> None:
        """Print the failures recorded since the last print (callers may append to items)."""
        for name, reason in self.items[self._printed:]:
            click.echo(f"error: {name}: {reason}", err=True)
        self._printed = len(self.items)

    def finish(self, what: str = "inputs") -> None:
        """Print the one summary line and exit with 1 or 2; return when nothing failed."""
        if not self.items:
            return
        self._flush()
        click.echo(f"{len(self.items)} of {len(self.items) + self.done} {what} failed",
                   err=True)
        sys.exit(EXIT_PARTIAL if self.done else EXIT_FAILED)


def _error_line(exc: BaseException) -> tuple[str, int]:
    """The one line and the exit code for an error that ends a command, or raise it again."""
    from audiogan.core.errors import AudioganError, describe_os_error, one_line

    if isinstance(exc, AudioganError):
        return one_line(exc) or type(exc).__name__, exc.exit_code
    if isinstance(exc, OSError):
        return describe_os_error(exc), EXIT_FAILED
    if isinstance(exc, MemoryError):
        return ("out of memory; process fewer or shorter inputs at a time, or free memory",
                EXIT_FAILED)
    raise exc


def one_line_errors(func: F) -> F:
    """Turn user errors into one line on stderr and their exit code (traceback with --verbose).

    User errors are :class:`~audiogan.core.errors.AudioganError` (exit code 2 unless the error says
    otherwise), ``OSError`` (a full disk, a missing or unreadable file: the line names the file)
    and ``MemoryError``. Anything else is a bug and keeps its traceback.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (Exception, MemoryError) as exc:
            message, code = _error_line(exc)
            ctx = click.get_current_context(silent=True)
            verbose = bool(ctx and ctx.find_root().obj and ctx.find_root().obj.get("verbose"))
            if verbose:
                traceback.print_exc()
            click.echo(f"error: {message}", err=True)
            sys.exit(code)

    return wrapper  # type: ignore[return-value]


def device_option(func: F) -> F:
    """The ``--device`` option every command that runs a model shares (text, resolved by
    :func:`audiogan.core.devices.resolve_device` inside the command: a bad one is one line)."""
    return click.option(
        "--device", default=None, metavar="DEVICE",
        help="cpu, cuda, cuda:N, mps or auto. Default: cuda when available.",
    )(func)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="audiogan")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging and full tracebacks.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """audiogan: train, run and evaluate GAN vocoders and waveform GANs."""
    ctx.obj = {"verbose": verbose}
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s" if verbose else "%(message)s",
    )


@cli.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--out-dir", required=True, type=click.Path(path_type=Path),
              help="Directory for <stem>.npy files.")
@click.option("--profile", default="hifigan", show_default=True,
              help="Feature convention: hifigan, tacotron2, pwg, melgan, vocos.")
@click.option("--sample-rate", type=int, default=None, help="Default: the profile's.")
@click.option("--n-fft", type=int, default=None, help="Default: the profile's.")
@click.option("--hop-length", type=int, default=None, help="Default: the profile's.")
@click.option("--win-length", type=int, default=None, help="Default: the profile's.")
@click.option("--n-mels", type=int, default=None, help="Default: the profile's.")
@click.option("--f-min", type=float, default=None, help="Default: the profile's.")
@click.option("--f-max", type=float, default=None, help="Default: the profile's (0 = sr/2).")
@one_line_errors
def features(
    inputs: tuple[Path, ...],
    out_dir: Path,
    profile: str,
    sample_rate: int | None,
    n_fft: int | None,
    hop_length: int | None,
    win_length: int | None,
    n_mels: int | None,
    f_min: float | None,
    f_max: float | None,
) -> None:
    """Write log-mel features of audio files as OUT_DIR/<stem>.npy, float32 (n_mels, frames).

    INPUTS are audio files or directories (their audio files, searched recursively).
    Input at another sample rate is resampled to the profile's; no loudness normalisation is
    applied (what a TTS model trained on these features expects). Inputs sharing a stem are
    refused before anything is written; a bad input is reported on one line and skipped (exit
    1 when others were written, 2 when none were; 130 when interrupted).
    """
    from audiogan.audio.io import AudioError
    from audiogan.features.files import check_feature_rate, feature_targets, write_features
    from audiogan.features.mel import FeatureError, MelSpectrogram, resolve_spec

    overrides: dict[str, Any] = {
        k: v
        for k, v in {
            "sample_rate": sample_rate, "n_fft": n_fft, "hop_length": hop_length,
            "win_length": win_length, "n_mels": n_mels, "f_min": f_min,
        }.items()
        if v is not None
    }
    if f_max is not None:
        overrides["f_max"] = None if f_max == 0 else f_max
    spec = resolve_spec(profile, **overrides)  # FeatureError: one line, exit 2
    check_feature_rate(spec)
    mel = MelSpectrogram.from_spec(spec)
    log.info("profile %s: %d Hz, %s", spec.profile, spec.sample_rate, spec.summary())
    pairs = feature_targets(inputs, out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise FeatureError(f"{out_dir}: exists and is not a directory; choose another -o")
    failures = Failures()
    out_dir.mkdir(parents=True, exist_ok=True)
    for path, target in pairs:
        try:
            shape = write_features(path, mel, target)
        except AudioError as exc:
            failures.add(str(path), str(exc))
        except KeyboardInterrupt:
            click.echo(f"error: interrupted at {path}; {failures.done} file(s) written, "
                       "the rest not processed", err=True)
            sys.exit(EXIT_INTERRUPTED)
        else:
            failures.done += 1
            log.info("%s -> %s %s", path, target, shape)
    failures.finish("files")


@cli.command()
@click.argument("config_path", metavar="CONFIG", type=click.Path(path_type=Path))
@click.option("-o", "--out-dir", required=True, type=click.Path(path_type=Path),
              help="Run directory (checkpoints/, events/, metrics.jsonl, samples/).")
@click.option("--resume", is_flag=True,
              help="Continue this run from its newest valid checkpoint (a new or empty OUT_DIR "
                   "starts afresh).")
@click.option("--overwrite", is_flag=True,
              help="Start afresh in an OUT_DIR that holds another run (deletes its checkpoints "
                   "and logs).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config value, e.g. --set training.batch_size=8 (repeatable).")
@device_option
@one_line_errors
def train(config_path: Path, out_dir: Path, resume: bool, overwrite: bool,
          overrides: tuple[str, ...], device: str | None) -> None:
    """Train the recipe CONFIG (YAML) into OUT_DIR.

    One trainer per OUT_DIR at a time (a second one stops with the first one's pid). An OUT_DIR
    that holds checkpoints needs --resume or --overwrite. Ctrl-C (SIGINT) or SIGTERM stops at the
    end of the step in progress and writes its checkpoint: exit 130 (SIGINT) or 143 (SIGTERM); a
    second signal aborts at once, keeping the checkpoints already written.

    Multi-GPU: torchrun --nproc_per_node=N -m audiogan train CONFIG -o DIR
    """
    from audiogan.config import load_config
    from audiogan.core.devices import resolve_device
    from audiogan.training.distributed import shutdown_distributed
    from audiogan.training.stopping import exit_code_for, signal_name
    from audiogan.training.trainer import Trainer

    resolve_device(device)  # DeviceError before the config or any model is loaded
    config = load_config(config_path, overrides)
    try:
        trainer = Trainer(config, out_dir, device=device, resume=resume, overwrite=overwrite)
        result = trainer.fit()
    except KeyboardInterrupt as exc:  # a second signal, or one before training began
        signum = int(getattr(exc, "signum", 2))
        click.echo(f"error: {out_dir}: aborted ({signal_name(signum)}) before the step in "
                   "progress finished; the checkpoints already written are intact; continue "
                   "with --resume", err=True)
        sys.exit(exit_code_for(signum))
    finally:
        shutdown_distributed()
    if trainer.dist.is_main:
        click.echo(
            f"trained to step {result.step} in {out_dir}; last checkpoint "
            f"{result.last_checkpoint}; skipped non-finite steps: {result.nonfinite_steps}"
        )


@cli.command()
@click.option("-o", "--out-dir", default="runs/demo", show_default=True,
              type=click.Path(path_type=Path), help="Where the corpus, runs and clips go.")
@click.option("--quick", is_flag=True,
              help="A shorter run: 300 vocoder steps instead of 1200 (what CI runs).")
@one_line_errors
def demo(out_dir: Path, quick: bool) -> None:
    """Synthesise a corpus, train a small HiFi-GAN and WaveGAN on CPU, and report.

    Prints the copy-synthesis log-mel L1 of the trained vocoder next to the untrained one's,
    and where the synthesised clips are.
    """
    import sys as _sys

    from audiogan.cli.demo import run_demo, summary_lines

    result = run_demo(out_dir, quick=quick, console=_sys.stderr.isatty())
    for line in summary_lines(result):
        click.echo(line)


# Command groups of other areas live in their own modules (each a thin layer over the library)
# and expose ``COMMANDS``: a list of click commands added to the group here.
_COMMAND_MODULES = (
    "audiogan.cli.inference", "audiogan.cli.data", "audiogan.cli.evaluate", "audiogan.cli.imports",
)


def _register_command_modules() -> None:
    import importlib

    for name in _COMMAND_MODULES:
        module = importlib.import_module(name)
        for command in module.COMMANDS:
            cli.add_command(command)


_register_command_modules()


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="audiogan")


if __name__ == "__main__":  # pragma: no cover
    main()
