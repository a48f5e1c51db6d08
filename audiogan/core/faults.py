"""Deterministic fault injection for the reliability tests: named points that can be made to fail.

Code calls :func:`fault_point` at the places where a crash or an I/O error matters (between
writing a temporary file and renaming it, at a training-step boundary, ...). Normally that is one
dictionary look-up and nothing happens. When the environment variable ``AUDIOGAN_FAULT`` names the
point, the chosen fault happens there, in whatever process reaches it, so that a test drives a
real CLI run into exactly that state without relying on timing.

``AUDIOGAN_FAULT`` is a comma-separated list of ``POINT[@N]=ACTION``: the fault fires the ``N``-th
time (default the first) the process reaches ``POINT``. Actions:

``kill``
    ``SIGKILL`` to this process (a power cut, the OOM killer, a scheduler's last word).
``term`` / ``int``
    ``SIGTERM`` / ``SIGINT`` to this process (a job scheduler's stop, Ctrl-C); execution goes on
    to the handlers.
``enospc``
    ``OSError(ENOSPC)`` raised at the point (a full disk).
``memory``
    ``MemoryError`` raised at the point.
"""

from __future__ import annotations

import errno
import os
import signal
from collections import Counter

from audiogan.core.errors import AudioganError

__all__ = ["ENV_VAR", "fault_point"]

ENV_VAR = "AUDIOGAN_FAULT"

_hits: Counter[str] = Counter()


def _plan() -> dict[str, tuple[int, str]]:
    spec = os.environ.get(ENV_VAR, "")
    plan: dict[str, tuple[int, str]] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        point, _, action = item.partition("=")
        name, _, nth = point.partition("@")
        if not nth.isdigit() and nth:
            raise AudioganError(f"{ENV_VAR}: {item!r}: N in POINT@N=ACTION must be a whole number")
        plan[name] = (int(nth) if nth else 1, action)
    return plan


def fault_point(name: str) -> None:
    """Reach the fault point ``name``; a no-op unless ``AUDIOGAN_FAULT`` selects it."""
    if ENV_VAR not in os.environ:
        return
    target = _plan().get(name)
    if target is None:
        return
    _hits[name] += 1
    nth, action = target
    if _hits[name] != nth:
        return
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action == "term":
        os.kill(os.getpid(), signal.SIGTERM)
    elif action == "int":
        os.kill(os.getpid(), signal.SIGINT)
    elif action == "enospc":
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    elif action == "memory":
        raise MemoryError(f"injected at {name}")
    else:
        raise AudioganError(f"{ENV_VAR}: unknown action {action!r} for {name!r}; "
                            "use kill, term, int, enospc or memory")
