"""The fault-injection harness: run a CLI scenario and judge it the way a user would.

A :class:`Case` builds a scenario in a fresh directory (bad files, a full disk, a signal at a fault
point, ...) and says what a user must see: the exit code, one line on stderr that names the file
or key, no traceback, and - checked by the case's ``intact`` callback - nothing lost or
half-written. Cases run in-process through click's runner (fast) unless they need a process of
their own (signals, memory limits), which :func:`run_subprocess` gives them, with the data segment
capped by ``RLIMIT_DATA`` so that unbounded memory shows up as a failure, not a swapping machine.

Each area keeps its cases in a ``cases_*.py`` module exposing ``CASES``; :mod:`catalogue`
collects them, ``test_catalogue.py`` runs each one as a test, and ``python -m tests.faults.totals``
prints the totals the README quotes.
"""

from __future__ import annotations

import os
import re
import resource
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: The data-segment cap for memory-bounded runs: importing torch and running a small model stays
#: well under it; an N^2 or gcd-sized allocation does not.
DEFAULT_MEMORY_LIMIT = 3 * 1024**3


@dataclass
class Outcome:
    """What a run printed and returned."""

    exit_code: int
    stdout: str
    stderr: str
    traceback: bool

    @property
    def error_lines(self) -> list[str]:
        """The lines on stderr that report an error (``error: ...``)."""
        return [line for line in self.stderr.splitlines() if line.startswith("error:")]


@dataclass
class Scenario:
    """One prepared run: its arguments, environment and how it must end."""

    args: Sequence[str]
    code: int
    names: Sequence[str] = ()  # substrings the error line must contain (the file or key)
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    subprocess: bool = False
    memory_limit: int | None = None
    timeout: float = 300.0
    # how many "error:" lines: None = any number >= 1 when code != 0; 0 for a process killed
    # outright (SIGKILL: nothing can be printed; ``intact`` then checks what it left behind)
    errors: int | None = 1
    intact: Callable[[], None] | None = None  # raises AssertionError when data was lost
    stdin: str | None = None


@dataclass(frozen=True)
class Case:
    """A named fault scenario: ``build(tmp)`` prepares files under ``tmp``, returns a Scenario."""

    name: str
    build: Callable[[Path], Scenario]
    slow: bool = False


def run_in_process(args: Sequence[str], env: dict[str, str], cwd: Path | None,
                   stdin: str | None = None) -> Outcome:
    """Run ``audiogan ARGS`` through click's test runner in this process."""
    from click.testing import CliRunner

    from audiogan.cli.main import cli
    from audiogan.core import faults

    faults._hits.clear()  # each case counts its fault points (``POINT@N``) from zero
    old_cwd = os.getcwd()
    saved = {key: os.environ.get(key) for key in env}
    try:
        os.environ.update(env)
        if cwd is not None:
            os.chdir(cwd)
        result = CliRunner().invoke(cli, list(args), catch_exceptions=True, input=stdin)
    finally:
        os.chdir(old_cwd)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    crashed = result.exception is not None and not isinstance(result.exception, SystemExit)
    stderr = result.stderr
    if crashed:
        import traceback

        stderr += "".join(traceback.format_exception(result.exception))
    return Outcome(result.exit_code, result.stdout, stderr, crashed or "Traceback" in stderr)


def _child_setup(limit: int | None) -> Callable[[], None]:
    """What the child gets before exec: SIGINT at its default (a shell starts background jobs
    with SIGINT ignored, and an ignored signal stays ignored across exec, so a simulated Ctrl-C
    would do nothing), and the data segment capped when ``limit`` is set."""
    def apply() -> None:  # runs between fork and exec: no imports here (the import lock)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if limit:
            resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))

    return apply


def run_subprocess(args: Sequence[str], env: dict[str, str], cwd: Path | None,
                   memory_limit: int | None = None, timeout: float = 300.0,
                   stdin: str | None = None) -> Outcome:
    """Run ``python -m audiogan ARGS`` in a child process, its data segment capped if asked."""
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **env}
    full_env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT), full_env.get("PYTHONPATH", "")]))
    proc = subprocess.run(
        [sys.executable, "-m", "audiogan", *args], capture_output=True, text=True,
        timeout=timeout, env=full_env, cwd=cwd, input=stdin,
        preexec_fn=_child_setup(memory_limit),
    )
    return Outcome(proc.returncode, proc.stdout, proc.stderr, "Traceback" in proc.stderr)


def run(scenario: Scenario) -> Outcome:
    """Run a scenario the way it asks to be run."""
    if scenario.subprocess or scenario.memory_limit:
        return run_subprocess(scenario.args, scenario.env, scenario.cwd,
                              scenario.memory_limit, scenario.timeout, scenario.stdin)
    return run_in_process(scenario.args, scenario.env, scenario.cwd, scenario.stdin)


@dataclass
class Verdict:
    """How a scenario went, in the catalogue's terms."""

    outcome: Outcome
    one_line: bool
    traceback: bool
    data_lost: str | None
    problems: list[str]


def judge(scenario: Scenario, outcome: Outcome) -> Verdict:
    """Check the outcome against what the scenario expects; list every problem found."""
    problems: list[str] = []
    if outcome.traceback:
        problems.append("traceback on stderr")
    if outcome.exit_code != scenario.code:
        problems.append(f"exit code {outcome.exit_code}, expected {scenario.code}")
    lines = outcome.error_lines
    if scenario.code != 0 and scenario.errors is not None and len(lines) != scenario.errors:
        problems.append(f"{len(lines)} error lines, expected {scenario.errors}")
    if scenario.code != 0 and not lines and scenario.errors != 0:
        problems.append("no 'error:' line")
    for name in scenario.names:
        if not any(name in line for line in lines):
            problems.append(f"no error line names {name!r}")
    data_lost = None
    if scenario.intact is not None:
        try:
            scenario.intact()
        except AssertionError as exc:
            data_lost = str(exc) or "data lost"
            problems.append(f"data lost: {data_lost}")
    one_line = not outcome.traceback and (scenario.code == 0 or bool(lines)
                                          or scenario.errors == 0) and not [
        p for p in problems if "error line" in p or "exit code" in p]
    return Verdict(outcome, one_line, outcome.traceback, data_lost, problems)


def describe(verdict: Verdict) -> str:
    """A failure message with what the run printed."""
    o = verdict.outcome
    return ("; ".join(verdict.problems) + f"\n--- exit {o.exit_code}"
            f"\n--- stderr:\n{o.stderr[-4000:]}\n--- stdout:\n{o.stdout[-2000:]}")


def match(pattern: str, text: str) -> bool:
    """``re.search`` with DOTALL, for intact checks on file contents."""
    return re.search(pattern, text, re.DOTALL) is not None
