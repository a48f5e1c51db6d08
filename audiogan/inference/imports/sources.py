"""Known public sources of pretrained weights, and the ``audiogan import --list`` text.

Each reader lists the sources it reads in ``FormatReader.sources``; :data:`SOURCES` adds the
well-known releases of toolkits that no reader handles yet, so ``--list`` says plainly which ones
are not importable. Nothing here touches the network.
"""

from __future__ import annotations

from audiogan.inference.imports.base import READERS, KnownSource

__all__ = ["SOURCES", "list_lines"]

SOURCES: tuple[KnownSource, ...] = ()
"""Releases of formats without a reader yet (readers carry their own sources)."""


def list_lines() -> list[str]:
    """The ``--list`` text: every format read, then every known source with its licence."""
    lines = ["formats (--format):"]
    for reader in READERS.values():
        lines.append(f"  {reader.name:<9} {reader.title}: {reader.files}")
    lines.append("known public sources of pretrained weights (nothing is downloaded here):")
    every = [s for reader in READERS.values() for s in reader.sources] + list(SOURCES)
    for source in every:
        status = "" if source.format in READERS else " [no reader yet]"
        lines.append(f"  [{source.format}] {source.name}{status}")
        lines.append(f"      {source.where}; licence: {source.licence}")
    return lines
