"""The CLI's error mapping: typed errors and OS errors are one line with their exit code; bugs
keep their traceback."""

from __future__ import annotations

import errno

import click
import pytest
from click.testing import CliRunner

from audiogan.cli.main import one_line_errors
from audiogan.config import ConfigError
from audiogan.core.errors import AudioganError


class _Partial(AudioganError):
    exit_code = 1


def _command(exc: BaseException) -> click.Command:
    @click.command()
    @one_line_errors
    def cmd() -> None:
        raise exc

    return cmd


@pytest.mark.parametrize(
    ("exc", "code", "line"),
    [
        (ConfigError("run.yaml: training.lr: must be > 0\n(got -1)"), 2,
         "error: run.yaml: training.lr: must be > 0 (got -1)"),
        (_Partial("2 of 3 clips failed"), 1, "error: 2 of 3 clips failed"),
        (OSError(errno.ENOSPC, "No space left on device", "out/a.npy"), 2,
         "error: out/a.npy: No space left on device; free some space and run again"),
        (FileNotFoundError(errno.ENOENT, "No such file or directory", "x.yaml"), 2,
         "error: x.yaml: No such file or directory; check the path"),
        (MemoryError(), 2, "error: out of memory; process fewer or shorter inputs at a time, "
                           "or free memory"),
    ],
)
def test_user_errors_are_one_line(exc: BaseException, code: int, line: str) -> None:
    result = CliRunner().invoke(_command(exc), [])
    assert result.exit_code == code
    assert result.stderr.splitlines() == [line]
    assert "Traceback" not in result.output


def test_typed_errors_keep_their_builtin_base() -> None:
    assert issubclass(ConfigError, ValueError) and issubclass(ConfigError, AudioganError)


def test_bugs_are_not_disguised() -> None:
    result = CliRunner().invoke(_command(ValueError("bug")), [])
    assert isinstance(result.exception, ValueError)
    result = CliRunner().invoke(_command(KeyError("bug")), [])
    assert isinstance(result.exception, KeyError)
