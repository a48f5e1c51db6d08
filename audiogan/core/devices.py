"""The one place a device name becomes a :class:`torch.device`, checked before any model loads.

Every command that takes ``--device`` (``train``, ``synthesize``, ``generate``, ``evaluate``,
``train-classifier``) and the library loaders (``Vocoder.load``, ``WaveGenerator.load``) go
through :func:`resolve_device`. Accepted: ``cpu``, ``cuda``, ``cuda:N``, ``mps`` and ``auto``
(or None: CUDA when available, else CPU). Anything else, or a device this machine lacks, is a
:class:`~audiogan.core.errors.DeviceError`: one line naming ``--device`` and the fix (exit 2).
"""

from __future__ import annotations

import torch

from audiogan.core.errors import DeviceError

__all__ = ["DeviceError", "resolve_device"]

_FORMS = "cpu, cuda, cuda:N, mps or auto"


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(text: str | torch.device | None, *, option: str = "--device") -> torch.device:
    """The device ``text`` names, checked against this machine.

    Args:
        text: ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``, ``"auto"`` / None (CUDA when
            available, else CPU) or a :class:`torch.device`. Surrounding spaces and case are
            ignored.
        option: How the message names the setting (``--device`` for the CLI, ``device=`` for
            the library).

    Returns:
        The device; a bare ``cuda`` stays index-less (torch's current CUDA device).

    Raises:
        DeviceError: Not one of the accepted forms, CUDA or MPS not available here, or
            ``cuda:N`` beyond the CUDA devices present. The message is one line naming
            ``option`` and the fix.
    """
    if text is None or (isinstance(text, str) and text.strip().lower() == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    name = str(text).strip().lower()
    device = _parse(name, option)
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise DeviceError(f"{_named(option, name)}: CUDA is not available on this machine; "
                              f"use {_named(option, 'cpu')}")
        if device.index is not None and device.index >= count:
            raise DeviceError(f"{_named(option, name)}: this machine has {count} CUDA device(s) "
                              f"(cuda:0 to cuda:{count - 1}); pick one of them")
    elif device.type == "mps" and not _mps_available():
        raise DeviceError(f"{_named(option, name)}: MPS (Apple GPU) is not available on this "
                          f"machine; use {_named(option, 'cpu')}")
    return device


def _named(option: str, value: str) -> str:
    """``--device cuda`` or ``device=cuda``."""
    return f"{option}{value}" if option.endswith("=") else f"{option} {value}"


def _parse(name: str, option: str) -> torch.device:
    """``name`` as a cpu / cuda[:N] / mps device, or DeviceError."""
    kind, _, index = name.partition(":")
    valid = (kind in ("cpu", "mps") and not _) or (
        kind == "cuda" and (not _ or (index.isdigit() and index.isascii()))
    )
    if not valid:
        raise DeviceError(f"{_named(option, name or repr(name))}: not a device; use {_FORMS}")
    return torch.device(kind, int(index)) if index else torch.device(kind)
