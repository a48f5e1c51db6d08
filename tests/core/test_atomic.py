"""audiogan.core.atomic and audiogan.core.faults: atomic files and directories, umask modes,
fault points."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from audiogan.core.atomic import (
    StagedDirectory,
    atomic_write,
    remove_stale_temps,
    write_bytes,
    write_text,
    write_with,
)
from audiogan.core.errors import AudioganError, describe_os_error
from audiogan.core.faults import ENV_VAR, fault_point


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_write_replaces_whole_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "a.bin"
    write_bytes(target, b"old")
    write_bytes(target, b"new contents")
    assert target.read_bytes() == b"new contents"
    write_text(tmp_path / "t.txt", "héllo\n")
    assert (tmp_path / "t.txt").read_text(encoding="utf-8") == "héllo\n"
    write_with(tmp_path / "w.bin", lambda f: f.write(b"xyz"))
    assert (tmp_path / "w.bin").read_bytes() == b"xyz"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.bin", "sub", "t.txt", "w.bin"]


def test_failure_keeps_old_file_and_removes_temp(tmp_path: Path) -> None:
    target = tmp_path / "a.bin"
    write_bytes(target, b"precious")
    with pytest.raises(RuntimeError), atomic_write(target) as handle:
        handle.write(b"half")
        raise RuntimeError("writer died")
    assert target.read_bytes() == b"precious"
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]


def test_injected_full_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "a.bin"
    write_bytes(target, b"precious")
    monkeypatch.setenv(ENV_VAR, "atomic.before_fsync=enospc")
    with pytest.raises(OSError) as info:
        write_bytes(target, b"new")
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(target)
    assert target.read_bytes() == b"precious"
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]


def test_modes_follow_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        write_bytes(tmp_path / "f", b"x")
        with StagedDirectory(tmp_path / "d") as staging:
            write_bytes(staging / "g", b"y")
        old_group = os.umask(0o002)
        write_bytes(tmp_path / "f2", b"x")
        os.umask(old_group)
    finally:
        os.umask(old)
    assert _mode(tmp_path / "f") == 0o644
    assert _mode(tmp_path / "f2") == 0o664
    assert _mode(tmp_path / "d") == 0o755
    assert _mode(tmp_path / "d" / "g") == 0o644


def test_staged_directory_swaps_whole_and_keeps_old_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "model"
    with StagedDirectory(target) as staging:
        write_text(staging / "config.yaml", "v: 1\n")
    with pytest.raises(OSError), StagedDirectory(target) as staging:
        write_text(staging / "config.yaml", "v: 2\n")
        raise OSError(errno.ENOSPC, "No space left on device")
    assert (target / "config.yaml").read_text() == "v: 1\n"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]
    with StagedDirectory(target) as staging:
        write_text(staging / "other.txt", "v: 3\n")
    assert sorted(p.name for p in target.iterdir()) == ["other.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_remove_stale_temps_touches_only_our_names(tmp_path: Path) -> None:
    (tmp_path / ".step_00000006.pt.0123456789ab.tmp").write_bytes(b"x" * 100)
    (tmp_path / ".model.0123456789ab.staging").mkdir()
    (tmp_path / "step_00000006.pt").write_bytes(b"keep")
    (tmp_path / "notes.tmp").write_text("keep")
    (tmp_path / ".hidden").write_text("keep")
    removed = remove_stale_temps(tmp_path)
    assert len(removed) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [".hidden", "notes.tmp",
                                                          "step_00000006.pt"]


def test_fault_point_fires_on_the_nth_hit(monkeypatch: pytest.MonkeyPatch) -> None:
    fault_point("test.point")  # not selected: nothing happens
    monkeypatch.setenv(ENV_VAR, "test.nth@3=memory,test.other=enospc")
    fault_point("test.nth")
    fault_point("test.nth")
    with pytest.raises(MemoryError):
        fault_point("test.nth")
    fault_point("test.nth")  # only the third
    with pytest.raises(OSError):
        fault_point("test.other")


def test_describe_os_error_names_file_and_fix() -> None:
    line = describe_os_error(OSError(errno.ENOSPC, "No space left on device", "/runs/x.pt"))
    assert line == "/runs/x.pt: No space left on device; free some space and run again"
    line = describe_os_error(PermissionError(errno.EACCES, "Permission denied"), "a.wav")
    assert line == "a.wav: Permission denied; check the file's permissions"
    assert issubclass(AudioganError, Exception) and AudioganError.exit_code == 2


def test_a_swap_killed_between_its_renames_is_restored_not_deleted(tmp_path: Path) -> None:
    """Killed after the old directory was moved aside and before the new one came in: the
    clean-up puts the only copy back instead of deleting it."""
    backup = tmp_path / ".model.0123456789ab.old"
    backup.mkdir()
    (backup / "config.yaml").write_text("v: 1\n")
    (tmp_path / ".model.fedcba987654.staging").mkdir()
    remove_stale_temps(tmp_path)
    assert (tmp_path / "model" / "config.yaml").read_text() == "v: 1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    # with the new one in place, the old one is only a leftover
    backup.mkdir()
    remove_stale_temps(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_remove_stale_temps_can_be_limited_to_some_names(tmp_path: Path) -> None:
    (tmp_path / ".config.yaml.0123456789ab.tmp").write_text("x")
    (tmp_path / ".eval.0123456789ab.staging").mkdir()
    removed = remove_stale_temps(tmp_path, ("config.yaml", "run.json"))
    assert [p.name for p in removed] == [".config.yaml.0123456789ab.tmp"]
    assert [p.name for p in tmp_path.iterdir()] == [".eval.0123456789ab.staging"]


def test_a_malformed_fault_spec_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, "test.point@x=kill")
    with pytest.raises(AudioganError, match="whole number"):
        fault_point("test.point")
    monkeypatch.setenv(ENV_VAR, "test.point=explode")
    with pytest.raises(AudioganError, match="unknown action"):
        fault_point("test.point")
