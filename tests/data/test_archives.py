"""Safe extraction of corpus archives: hostile members refused, corrupt data one error, relative
roots and roots through links, merges that never delete the user's files nor let a link escape."""

from __future__ import annotations

import io
import re
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from audiogan.data.archives import ArchiveConflictError, extract_archive
from audiogan.data.download import CorpusError, UnsafeArchiveError

# ------------------------------------------------------------------------------ extraction


def _tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


MALICIOUS_TARS = {
    "dotdot": [(_member("corpus/ok.txt"), b"fine"), (_member("../evil.txt"), b"evil")],
    "nested-dotdot": [(_member("corpus/../../evil.txt"), b"evil")],
    "absolute": [(_member("/tmp/audiogan-evil.txt"), b"evil")],
    "symlink-out": [(_member("corpus/link", tarfile.SYMTYPE, "../../.."), None),
                    (_member("corpus/link/evil.txt"), b"evil")],
    "symlink-absolute": [(_member("link", tarfile.SYMTYPE, "/etc"), None)],
    "hardlink-out": [(_member("corpus/h", tarfile.LNKTYPE, "../../outside.txt"), None)],
    "device": [(_member("corpus/null", tarfile.CHRTYPE), None)],
    "fifo": [(_member("corpus/pipe", tarfile.FIFOTYPE), None)],
}


@pytest.mark.parametrize("case", sorted(MALICIOUS_TARS))
def test_malicious_tar_is_refused(case: str, tmp_path: Path) -> None:
    archive = _tar(tmp_path / "evil.tar.gz", MALICIOUS_TARS[case])
    sandbox = tmp_path / "sandbox"
    root = sandbox / "root"
    root.mkdir(parents=True)
    before = sorted(p for p in tmp_path.rglob("*"))
    with pytest.raises(UnsafeArchiveError, match="refused member"):
        extract_archive(archive, root, progress=False)
    assert sorted(p for p in tmp_path.rglob("*")) == before  # nothing written anywhere
    assert not Path("/tmp/audiogan-evil.txt").exists()


@pytest.mark.parametrize("name", ["../evil.txt", "/abs/evil.txt", "a/../../evil.txt",
                                  "..\\evil.txt", "C:/evil.txt"])
def test_malicious_zip_is_refused(name: str, tmp_path: Path) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("corpus/ok.txt", "fine")
        zf.writestr(zipfile.ZipInfo(name), "evil")
    root = tmp_path / "sandbox" / "root"
    root.mkdir(parents=True)
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(UnsafeArchiveError, match="refused member"):
        extract_archive(archive, root, progress=False)
    assert sorted(tmp_path.rglob("*")) == before


def test_zip_symlink_entry_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "evil.zip"
    info = zipfile.ZipInfo("link")
    info.external_attr = (0o120777 << 16)
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(info, "../../etc")
    with pytest.raises(UnsafeArchiveError, match="symbolic link"):
        extract_archive(archive, tmp_path / "root", progress=False)


def test_safe_archive_with_inside_links_extracts_and_merges(tmp_path: Path) -> None:
    archive = _tar(tmp_path / "ok.tar.gz", [
        (_member("top/a/file.txt"), b"hello"),
        (_member("top/alias", tarfile.SYMTYPE, "a/file.txt"), None),
        (_member("top/hard", tarfile.LNKTYPE, "top/a/file.txt"), None),
    ])
    root = tmp_path / "root"
    (root / "top" / "keep").mkdir(parents=True)
    assert extract_archive(archive, root, progress=False) == [root / "top"]
    assert (root / "top" / "alias").read_text() == "hello"
    assert (root / "top" / "hard").read_text() == "hello"
    assert (root / "top" / "keep").is_dir()  # merged, not replaced
    assert not list(root.glob(".extracting-*"))


def test_archive_made_with_dot_entries_extracts(tmp_path: Path) -> None:
    # `tar -C dir -czf x.tar.gz .` stores "./" and "./name" members
    archive = _tar(tmp_path / "dot.tar.gz", [
        (_member("./", tarfile.DIRTYPE), None),
        (_member("./words", tarfile.DIRTYPE), None),
        (_member("./words/a.txt"), b"a"),
    ])
    root = tmp_path / "root"
    extract_archive(archive, root, progress=False)
    assert (root / "words" / "a.txt").read_text() == "a"


def test_not_an_archive(tmp_path: Path) -> None:
    junk = tmp_path / "x.tar.gz"
    junk.write_bytes(b"<html>rate limited</html>")
    with pytest.raises(CorpusError, match="not a tar or zip archive"):
        extract_archive(junk, tmp_path / "root", progress=False)


def _lj_like(path: Path, mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tar:
        for name, data in (("LJSpeech-1.1/metadata.csv", b"LJ001-0001|a|a\n"),
                           ("LJSpeech-1.1/wavs/LJ001-0001.wav", b"RIFF" + bytes(4000))):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_extract_into_relative_root_and_root_through_symlink(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # issue 11 defect 1: every archive was refused as "not a genuine corpus release"
    archive = _lj_like(tmp_path / "lj.tar.gz")
    monkeypatch.chdir(tmp_path)
    assert extract_archive(archive, "data/lj", progress=False) == [Path("data/lj/LJSpeech-1.1")]
    assert (tmp_path / "data" / "lj" / "LJSpeech-1.1" / "metadata.csv").is_file()
    (tmp_path / "disk").mkdir()
    (tmp_path / "linked").symlink_to(tmp_path / "disk", target_is_directory=True)
    extract_archive(archive, tmp_path / "linked" / "lj", progress=False)
    assert (tmp_path / "disk" / "lj" / "LJSpeech-1.1" / "wavs" / "LJ001-0001.wav").is_file()
    assert not list((tmp_path / "disk" / "lj").glob(".extracting-*"))


def test_a_file_member_never_deletes_the_users_directory(tmp_path: Path) -> None:
    # issue 11 defect 9: the merge rmtree'd a directory in the way of a file member
    root = tmp_path / "root"
    (root / "top" / "wavs").mkdir(parents=True)
    (root / "top" / "wavs" / "mine.wav").write_bytes(b"precious")
    (root / "top" / "other.txt").write_text("old")
    archive = _tar(tmp_path / "x.tar.gz", [(_member("top/other.txt"), b"new"),
                                           (_member("top/wavs"), b"a file")])
    with pytest.raises(ArchiveConflictError, match=r"wavs is a directory.*nothing was unpacked"):
        extract_archive(archive, root, progress=False)
    assert (root / "top" / "wavs" / "mine.wav").read_bytes() == b"precious"
    assert (root / "top" / "other.txt").read_text() == "old"  # nothing moved before the refusal
    assert sorted(p.name for p in root.iterdir()) == ["top"]
    (root / "link").symlink_to(tmp_path, target_is_directory=True)
    into_link = _tar(tmp_path / "y.tar.gz", [(_member("link/evil.txt"), b"evil")])
    with pytest.raises(ArchiveConflictError, match="is a link"):
        extract_archive(into_link, root, progress=False)
    assert not (tmp_path / "evil.txt").exists()


def test_a_link_that_escapes_only_after_the_merge_is_refused(tmp_path: Path) -> None:
    # issue 11 defect 9: resolved inside the staging directory, outside the root once merged
    root = tmp_path / "sandbox" / "root"
    root.mkdir(parents=True)
    outside = tmp_path / "sandbox" / ".extracting-x.tar.gz" / "top"
    outside.mkdir(parents=True)
    (outside / "secret").write_text("outside the root")
    archive = _tar(tmp_path / "x.tar.gz", [
        (_member("top/secret"), b"inside"),
        (_member("top/link", tarfile.SYMTYPE, "../../.extracting-x.tar.gz/top/secret"), None),
    ])
    with pytest.raises(UnsafeArchiveError, match="outside .* once unpacked"):
        extract_archive(archive, root, progress=False)
    assert list(root.iterdir()) == []
    # a link through a directory link the user already has in the root
    (root / "data").symlink_to(tmp_path, target_is_directory=True)
    through = _tar(tmp_path / "z.tar.gz", [(_member("top/l", tarfile.SYMTYPE, "../data/x"),
                                            None)])
    with pytest.raises(UnsafeArchiveError, match="once unpacked"):
        extract_archive(through, root, progress=False)
    assert sorted(p.name for p in root.iterdir()) == ["data"]


def _flip(data: bytes) -> bytes:
    out = bytearray(data)
    middle = len(out) // 2
    out[middle : middle + 32] = bytes(b ^ 0xA5 for b in out[middle : middle + 32])
    return bytes(out)


@pytest.mark.parametrize("mode", ["w:gz", "w:xz", "w:bz2", "zip"])
@pytest.mark.parametrize("damage", ["flipped", "truncated"])
def test_corrupt_compressed_data_is_one_error_and_leaves_nothing(
    tmp_path: Path, mode: str, damage: str
) -> None:
    # issue 11 defect 7: zlib/LZMA errors ended in a traceback (exit 1)
    payload = [(f"top/f{i}.bin", np.random.default_rng(i).bytes(30_000) + bytes(30_000))
               for i in range(6)]
    good = tmp_path / ("good.zip" if mode == "zip" else "good.tar")
    if mode == "zip":
        with zipfile.ZipFile(good, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in payload:
                zf.writestr(name, data)
    else:
        _tar(good, [(_member(name), data) for name, data in payload])
        with tarfile.open(good) as plain, tarfile.open(tmp_path / "c.tar", mode) as packed:
            for member in plain:
                packed.addfile(member, plain.extractfile(member))
        good = tmp_path / "c.tar"
    data = good.read_bytes()
    bad = tmp_path / f"bad-{damage}"
    bad.write_bytes(_flip(data) if damage == "flipped" else data[: len(data) // 2])
    root = tmp_path / "root"
    (root / "keep").mkdir(parents=True)
    with pytest.raises(CorpusError, match=rf"^{re.escape(str(bad))}: corrupt or truncated"):
        extract_archive(bad, root, progress=False)
    assert [p.name for p in root.iterdir()] == ["keep"]


def test_archive_larger_than_the_free_space_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil as shutil_module

    archive = _lj_like(tmp_path / "lj.tar.gz")
    usage = shutil_module.disk_usage(tmp_path)
    monkeypatch.setattr("audiogan.data.archives.shutil.disk_usage",
                        lambda path: usage._replace(free=100))
    with pytest.raises(CorpusError, match="needs 0.00 GB but only 0.00 GB are free"):
        extract_archive(archive, tmp_path / "root", progress=False)
    assert list((tmp_path / "root").iterdir()) == []
