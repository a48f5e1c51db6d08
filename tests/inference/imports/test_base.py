"""Shared import plumbing: numbered checkpoint names sort by their number, not as text, so a
directory import takes the newest step (``checkpoint-10000steps.pkl`` after
``checkpoint-900steps.pkl``; ``g_00010000`` after ``g_900``)."""

from __future__ import annotations

import re
from pathlib import Path

from audiogan.inference.imports import base
from audiogan.inference.imports.hifigan_jik import HiFiGANJikReader
from audiogan.inference.imports.pwg import ParallelWaveGANReader


def test_name_number_reads_group_one() -> None:
    pattern = re.compile(r"^checkpoint-(\d+)steps\.pkl$")
    names = ["checkpoint-900steps.pkl", "checkpoint-10000steps.pkl", "checkpoint-0100steps.pkl"]
    assert [base.name_number(pattern, Path(name)) for name in names] == [900, 10000, 100]
    ordered = sorted((Path("run") / name for name in names), key=lambda p: base.name_number(
        pattern, p))
    assert [p.name for p in ordered] == [names[2], names[0], names[1]]


def test_pwg_directory_takes_the_highest_step(tmp_path: Path) -> None:
    for name in ("checkpoint-900steps.pkl", "checkpoint-10000steps.pkl", "checkpoint-x.pkl"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "checkpoint-99999steps.pkl").mkdir()  # not a file: never taken
    detection = ParallelWaveGANReader().detect(tmp_path)
    assert detection is not None
    assert detection.checkpoint == tmp_path / "checkpoint-10000steps.pkl"


def test_jik_directory_takes_the_highest_step(tmp_path: Path) -> None:
    for name in ("g_900", "g_00010000", "do_00020000"):
        (tmp_path / name).write_bytes(b"")
    detection = HiFiGANJikReader().detect(tmp_path)
    assert detection is not None
    assert detection.checkpoint == tmp_path / "g_00010000"
