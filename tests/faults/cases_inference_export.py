"""Fault cases for ``export``: a full disk at each write and at the swap, Ctrl-C before the swap,
an output that is a foreign directory or a file. Each is one ``error:`` line naming the file,
the documented exit code, no traceback, and a previous export left intact.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from .harness import Case, Scenario
from .inference_kit import _model, _unchanged

# ------------------------------------------------------------------------------ export


def _export_fault(fault: str, named: str, formats: tuple[str, ...] = ("torchscript",),
                  ) -> Callable[[Path], Scenario]:
    """A full disk at ``fault`` while re-exporting over a previous export."""

    def build(tmp: Path) -> Scenario:
        from audiogan.core import faults

        faults._hits.clear()
        source = _model(tmp)
        previous = tmp / "exported"
        shutil.copytree(source, previous)
        args = ["export", str(source), "-o", str(previous)]
        for name in formats:
            args += ["--format", name]

        def intact() -> None:
            entries = sorted(p.name for p in tmp.iterdir())
            assert entries == ["exported", "model"], f"left behind: {entries}"

        return Scenario(args, 2, (named, "No space left", "left as it was"),
                        env={"AUDIOGAN_FAULT": f"{fault}=enospc"},
                        intact=_unchanged(previous, intact))

    return build


def _export_interrupted(tmp: Path) -> Scenario:
    source = _model(tmp)
    previous = tmp / "exported"
    shutil.copytree(source, previous)

    def intact() -> None:
        entries = sorted(p.name for p in tmp.iterdir())
        assert entries == ["exported", "model"], f"left behind: {entries}"

    return Scenario(["export", str(source), "-o", str(previous), "--format", "torchscript"],
                    130, ("interrupted",), subprocess=True,
                    env={"AUDIOGAN_FAULT": "atomic.before_swap=int"},
                    intact=_unchanged(previous, intact))


def _export_over_foreign_dir(tmp: Path) -> Scenario:
    source = _model(tmp)
    (tmp / "mine").mkdir()
    (tmp / "mine" / "notes.txt").write_text("keep me")
    return Scenario(["export", str(source), "-o", str(tmp / "mine")], 2,
                    ("mine", "notes.txt"), intact=_unchanged(tmp / "mine"))


def _export_over_file(tmp: Path) -> Scenario:
    source = _model(tmp)
    (tmp / "target").write_text("a file")
    return Scenario(["export", str(source), "-o", str(tmp / "target")], 2, ("target",),
                    intact=lambda: None if (tmp / "target").read_text() == "a file" else (
                        _ for _ in ()).throw(AssertionError("file changed")))


CASES: list[Case] = [
    Case("inference/export/full_disk_config", _export_fault("atomic.before_fsync@1",
                                                            "config.yaml")),
    Case("inference/export/full_disk_weights", _export_fault("atomic.before_fsync@2",
                                                             "generator.safetensors")),
    Case("inference/export/full_disk_torchscript", _export_fault("atomic.before_fsync@3",
                                                                 "generator.ts")),
    Case("inference/export/full_disk_at_swap", _export_fault("atomic.before_swap", "exported")),
    Case("inference/export/ctrl_c_before_swap", _export_interrupted, slow=True),
    Case("inference/export/over_a_foreign_directory", _export_over_foreign_dir),
    Case("inference/export/over_a_file", _export_over_file),
]
