"""Fault cases for corpora, archives and manifests: ``audiogan prepare`` and manifest readers.

Hostile archives (traversal, absolute members, links out, links that escape only after the
merge, devices, a member over the user's directory, zip bombs), corrupt and truncated
compressed data, downloads that cannot succeed, a full disk while unpacking or downloading,
folders with corrupt / empty / silent / special / unreadable files, and manifests with a
byte-order mark, bad headers, bad rows or bad bytes. Each says: the exit code, one ``error:``
line per failed input naming it, no traceback, and that the user's files under the root are
still there and unchanged, nothing half-extracted is left and nothing escaped the root.
"""

from __future__ import annotations

import os
import tarfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf

from .data_builders import (
    SR,
    USER_FILE,
    USER_TEXT,
    _archive_case,
    _corrupt_case,
    _declare_huge,
    _flip_middle,
    _folder,
    _good_mirror,
    _junk_mirror,
    _lj_members,
    _manifest_written,
    _manifest_written_loose,
    _member,
    _no_temps,
    _nothing_at,
    _tar,
    _tone,
    _untouched,
    _user_root,
    _wav_bytes,
    _zip_case,
    _zip_symlink,
)
from .harness import Case, Scenario

# ------------------------------------------------------------------------------ hostile archives

_ESCAPE_AFTER_MERGE = "../../.extracting-LJSpeech-1.1.tar.gz/LJSpeech-1.1/target"

HOSTILE = [
    _archive_case("dotdot", [(_member("LJSpeech-1.1/ok.txt"), b"ok"),
                             (_member("../evil.txt"), b"evil")]),
    _archive_case("nested-dotdot", [(_member("LJSpeech-1.1/../../evil.txt"), b"evil")]),
    _archive_case("absolute", [(_member("/tmp/audiogan-fault-evil.txt"), b"evil")]),
    _archive_case("symlink-out", [
        (_member("LJSpeech-1.1/link", tarfile.SYMTYPE, "../../.."), None),
        (_member("LJSpeech-1.1/link/evil.txt"), b"evil")]),
    _archive_case("symlink-absolute", [(_member("LJSpeech-1.1/etc", tarfile.SYMTYPE, "/etc"),
                                        None)]),
    # resolves inside the staging directory, outside the root once merged (defect 9)
    _archive_case("symlink-escapes-after-merge", [
        (_member("LJSpeech-1.1/target"), b"inside"),
        (_member("LJSpeech-1.1/link", tarfile.SYMTYPE, _ESCAPE_AFTER_MERGE), None)]),
    _archive_case("hardlink-out", [(_member("LJSpeech-1.1/h", tarfile.LNKTYPE,
                                            "../../outside.txt"), None)]),
    _archive_case("chardev", [(_member("LJSpeech-1.1/null", tarfile.CHRTYPE), None)]),
    _archive_case("blockdev", [(_member("LJSpeech-1.1/sda", tarfile.BLKTYPE), None)]),
    _archive_case("fifo", [(_member("LJSpeech-1.1/pipe", tarfile.FIFOTYPE), None)]),
    _archive_case("empty-tar", [], mode="w:", suffix=".tar"),
    # unpacked (it is safe), then refused: not the corpus's layout
    _archive_case("no-corpus-inside", [(_member("something/else.txt"), b"x")],
                  allowed=("keep", "something")),
    _zip_case("dotdot", [("LJSpeech-1.1/ok.txt", b"ok"), ("../evil.txt", b"evil")]),
    _zip_case("absolute", [("/abs/evil.txt", b"evil")]),
    _zip_case("backslash-dotdot", [("..\\evil.txt", b"evil")]),
    _zip_case("drive-letter", [("C:/evil.txt", b"evil")]),
    _zip_case("symlink", [(_zip_symlink(), b"../../etc")]),
    _zip_case("bomb-declared-sizes", [(f"LJSpeech-1.1/z{i}.bin", b"\0" * 1000)
                                      for i in range(40)], patch=_declare_huge),
]


def _escape_after_merge(tmp: Path) -> Scenario:
    """The link's target exists outside the root, so the old code left a live escape."""
    outside = tmp / "sandbox" / ".extracting-LJSpeech-1.1.tar.gz" / "LJSpeech-1.1"
    outside.mkdir(parents=True)
    (outside / "target").write_text("secret outside the root\n")
    return HOSTILE[5].build(tmp)


def _tar_huge_member(tmp: Path) -> Scenario:
    """A tar header declaring a 1 TB member with a few bytes behind it."""
    archive = tmp / "LJSpeech-1.1.tar"
    header = _member("LJSpeech-1.1/huge.wav", size=10**12).tobuf(format=tarfile.GNU_FORMAT)
    archive.write_bytes(header + b"\0" * 4096)
    root = _user_root(tmp / "root")
    return Scenario(["prepare", "ljspeech", "--root", str(root), "--archive", str(archive),
                     "--no-verify"], 2, names=(archive.name,), intact=_untouched(root))


def _member_over_user_dir(tmp: Path) -> Scenario:
    """A file member where the user has a directory: it must not be deleted (defect 9)."""
    root = _user_root(tmp / "root")
    mine = root / "LJSpeech-1.1" / "wavs"
    mine.mkdir(parents=True)
    (mine / "mine.txt").write_text("my file\n")
    archive = _tar(tmp / "LJSpeech-1.1.tar.gz", [(_member("LJSpeech-1.1/wavs"), b"a file")])

    def intact() -> None:
        _untouched(root, allowed=("keep", "LJSpeech-1.1"))()
        assert (mine / "mine.txt").read_text() == "my file\n", "the user's directory was deleted"
        assert sorted(p.name for p in (root / "LJSpeech-1.1").iterdir()) == ["wavs"]

    return Scenario(["prepare", "ljspeech", "--root", str(root), "--archive", str(archive),
                     "--no-verify"], 2, names=(archive.name, "wavs"), intact=intact)


def _dir_over_user_file(tmp: Path) -> Scenario:
    root = _user_root(tmp / "root")
    (root / "LJSpeech-1.1").write_text("my file, not a folder\n")
    archive = _tar(tmp / "LJSpeech-1.1.tar.gz", _lj_members(3))

    def intact() -> None:
        _untouched(root, allowed=("keep", "LJSpeech-1.1"))()
        assert (root / "LJSpeech-1.1").read_text() == "my file, not a folder\n"

    return Scenario(["prepare", "ljspeech", "--root", str(root), "--archive", str(archive),
                     "--no-verify"], 2, names=(archive.name,), intact=intact)


def _full_disk_while_unpacking(tmp: Path) -> Scenario:
    archive = _tar(tmp / "LJSpeech-1.1.tar.gz", _lj_members(3))
    root = _user_root(tmp / "root")
    return Scenario(["prepare", "ljspeech", "--root", str(root), "--archive", str(archive),
                     "--no-verify"], 2, names=(archive.name,),
                    env={"AUDIOGAN_FAULT": "archives.member@2=enospc"}, intact=_untouched(root))


def _full_disk_while_merging(tmp: Path) -> Scenario:
    archive = _tar(tmp / "LJSpeech-1.1.tar.gz", _lj_members(3))
    root = _user_root(tmp / "root")
    return Scenario(["prepare", "ljspeech", "--root", str(root), "--archive", str(archive),
                     "--no-verify"], 2,
                    env={"AUDIOGAN_FAULT": "archives.merge=enospc"}, names=(archive.name,),
                    intact=_untouched(root))


def _interrupted_unpacking(tmp: Path) -> Scenario:
    archive = _tar(tmp / "LJSpeech-1.1.tar.gz", _lj_members(3))
    root = _user_root(tmp / "root")
    return Scenario(["prepare", "ljspeech", "--root", str(root), "--archive", str(archive),
                     "--no-verify"], 130, names=("interrupted",), subprocess=True,
                    env={"AUDIOGAN_FAULT": "archives.member@2=int"}, intact=_untouched(root))


def _bad_metadata(tmp: Path) -> Scenario:
    members = _lj_members(3)
    members[-1] = (_member("LJSpeech-1.1/metadata.csv"), b"LJ001-0001|a|a\nLJ001-0002|\xff|\n")
    archive = _tar(tmp / "LJSpeech-1.1.tar.gz", members)
    root = _user_root(tmp / "root")
    return Scenario(["prepare", "ljspeech", "--root", str(root), "--archive", str(archive),
                     "--no-verify"], 2, names=("metadata.csv:2", "UTF-8"),
                    intact=_untouched(root, allowed=("keep", "LJSpeech-1.1")))


SPECIAL = [
    Case("data-archive-interrupted-unpacking", _interrupted_unpacking),
    Case("data-archive-metadata-not-utf8", _bad_metadata),
    Case("data-archive-symlink-escapes-after-merge-live", _escape_after_merge),
    Case("data-archive-tar-huge-member", _tar_huge_member),
    Case("data-archive-member-over-user-directory", _member_over_user_dir),
    Case("data-archive-directory-over-user-file", _dir_over_user_file),
    Case("data-archive-full-disk-unpacking", _full_disk_while_unpacking),
    Case("data-archive-full-disk-merging", _full_disk_while_merging),
]

CORRUPT = [
    _corrupt_case("gz-flipped", "w:gz", ".tar.gz", _flip_middle),
    _corrupt_case("xz-flipped", "w:xz", ".tar.xz", _flip_middle),
    _corrupt_case("bz2-flipped", "w:bz2", ".tar.bz2", _flip_middle),
    _corrupt_case("gz-truncated", "w:gz", ".tar.gz", lambda d: d[: len(d) // 2]),
    _corrupt_case("xz-truncated", "w:xz", ".tar.xz", lambda d: d[: len(d) // 2]),
    _corrupt_case("bz2-truncated", "w:bz2", ".tar.bz2", lambda d: d[: len(d) // 2]),
    _corrupt_case("tar-truncated", "w:", ".tar", lambda d: d[: len(d) // 2 + 100]),
    _corrupt_case("gz-header-only", "w:gz", ".tar.gz", lambda d: d[:20]),
    _corrupt_case("empty-file", "w:gz", ".tar.gz", lambda d: b""),
    _corrupt_case("html-page", "w:gz", ".tar.gz", lambda d: b"<html>rate limited</html>\n"),
    _zip_case("deflate-flipped", [(f"LJSpeech-1.1/n{i}.bin", bytes(range(256)) * 400)
                                  for i in range(4)], patch=_flip_middle),
    _zip_case("truncated", [(f"LJSpeech-1.1/n{i}.bin", bytes(range(256)) * 400)
                            for i in range(4)], patch=lambda d: d[: len(d) // 2]),
]


# ------------------------------------------------------------------------------ roots (defect 1)


def _good_archive(tmp: Path) -> Path:
    return _tar(tmp / "LJSpeech-1.1.tar.bz2", _lj_members(4), "w:bz2")


def _prepared(root: Path) -> Callable[[], None]:
    def check() -> None:
        assert (root / USER_FILE).read_text() == USER_TEXT
        assert (root / "LJSpeech-1.1" / "metadata.csv").is_file(), "not unpacked"
        assert (root / "manifests" / "train.tsv").is_file(), "no manifest"
        assert not list(Path(root).glob(".extracting-*")), "staging left behind"

    return check


def _relative_root(tmp: Path) -> Scenario:
    archive = _good_archive(tmp)
    _user_root(tmp / "data" / "lj")
    return Scenario(["prepare", "ljspeech", "--root", "data/lj", "--archive", archive.name,
                     "--no-verify", "--jobs", "1"], 0, cwd=tmp,
                    intact=_prepared(tmp / "data" / "lj"))


def _root_through_symlink(tmp: Path) -> Scenario:
    archive = _good_archive(tmp)
    real = _user_root(tmp / "disk" / "lj")
    (tmp / "data").symlink_to(tmp / "disk", target_is_directory=True)
    return Scenario(["prepare", "ljspeech", "--root", str(tmp / "data" / "lj"), "--archive",
                     str(archive), "--no-verify", "--jobs", "1"], 0, intact=_prepared(real))


def _absolute_root(tmp: Path) -> Scenario:
    archive = _good_archive(tmp)
    root = _user_root(tmp / "lj")
    return Scenario(["prepare", "ljspeech", "--root", str(root), "--archive", str(archive),
                     "--no-verify", "--jobs", "1"], 0, intact=_prepared(root))


ROOTS = [
    Case("data-root-relative", _relative_root),
    Case("data-root-through-symlink", _root_through_symlink),
    Case("data-root-absolute", _absolute_root),
]


# ------------------------------------------------------------------------------ downloads


def _download_case(name: str, mirror: Callable[[Path], str], code: int = 2,
                   names: Callable[[Path], tuple[str, ...]] = lambda tmp: (),
                   env: dict[str, str] | None = None, verify: bool = True) -> Case:
    def build(tmp: Path) -> Scenario:
        root = _user_root(tmp / "root")
        args = ["prepare", "ljspeech", "--root", str(root), "--download", "--mirror",
                mirror(tmp)]
        return Scenario(args + ([] if verify else ["--no-verify"]), code, names=names(tmp),
                        env=env or {},
                        intact=_untouched(root, allowed=("keep", "downloads")))

    return Case(f"data-download-{name}", build)






def _interrupted_download(tmp: Path) -> Scenario:
    root = _user_root(tmp / "root")
    part = root / "downloads" / "LJSpeech-1.1.tar.bz2.part"

    def intact() -> None:
        _untouched(root, allowed=("keep", "downloads"))()
        assert part.is_file() and part.stat().st_size > 0, "the partial download was lost"
        assert not part.with_suffix("").exists(), "an incomplete download was renamed in place"

    return Scenario(["prepare", "ljspeech", "--root", str(root), "--download", "--mirror",
                     _good_mirror(tmp), "--no-verify"], 130, names=("interrupted",),
                    subprocess=True, env={"AUDIOGAN_FAULT": "download.block=int"},
                    intact=intact)


DOWNLOADS = [
    Case("data-download-interrupted", _interrupted_download),
    _download_case("missing-file-url", lambda tmp: (tmp / "nowhere").as_uri(),
                   names=lambda tmp: ("LJSpeech-1.1.tar.bz2",)),
    _download_case("not-a-url", lambda tmp: "ftp-ish:/mirror",
                   names=lambda tmp: ("ftp-ish:/mirror",)),
    _download_case("checksum-mismatch", _junk_mirror,
                   names=lambda tmp: ("LJSpeech-1.1.tar.bz2", "expected")),
    _download_case("junk-unverified", _junk_mirror, verify=False,
                   names=lambda tmp: ("LJSpeech-1.1.tar.bz2",)),
    _download_case("full-disk", _good_mirror, verify=False,
                   env={"AUDIOGAN_FAULT": "download.block=enospc"},
                   names=lambda tmp: ("LJSpeech-1.1.tar.bz2.part", "space")),
]


# ------------------------------------------------------------------------------ folders (defect 12)






def _mixed_folder(tmp: Path) -> Scenario:
    root = _folder(tmp)
    (root / "empty.wav").write_bytes(b"")
    good = (root / "sub" / "good0.wav").read_bytes()
    (root / "truncated.wav").write_bytes(good[:30])
    sf.write(root / "silent.wav", np.zeros(SR, np.float32), SR)
    (root / "text.wav").write_text("this is not audio\n")
    return Scenario(["prepare", "folder", "--root", str(root), "--jobs", "1"], 1,
                    names=("empty.wav", "truncated.wav", "silent.wav", "text.wav"), errors=4,
                    intact=_manifest_written(root, 3))


def _all_bad_folder(tmp: Path) -> Scenario:
    root = tmp / "wavs"
    root.mkdir()
    (root / "a.wav").write_bytes(b"")
    (root / "b.flac").write_bytes(b"fLaC junk")
    return Scenario(["prepare", "folder", "--root", str(root), "--jobs", "1"], 2,
                    names=("a.wav", "b.flac", "no usable audio"), errors=3)


def _special_files(tmp: Path) -> Scenario:
    root = _folder(tmp)
    os.mkfifo(root / "pipe.wav")  # reading it would block for ever
    (root / "dangling.wav").symlink_to(tmp / "gone.wav")
    (root / "zero.wav").symlink_to("/dev/zero")  # reading it would never end
    return Scenario(["prepare", "folder", "--root", str(root), "--jobs", "1"], 1,
                    names=("pipe.wav", "dangling.wav", "zero.wav"), errors=3,
                    intact=_manifest_written(root, 3))


def _unreadable_folder(tmp: Path) -> Scenario:
    root = _folder(tmp)
    locked = root / "locked"
    locked.mkdir()
    sf.write(locked / "hidden.wav", _tone(), SR)
    locked.chmod(0)
    if os.geteuid() == 0:  # root reads it anyway: then it is simply prepared
        return Scenario(["prepare", "folder", "--root", str(root), "--jobs", "1"], 0,
                        intact=_manifest_written_loose(root))
    return Scenario(["prepare", "folder", "--root", str(root), "--jobs", "1"], 1,
                    names=("locked",), errors=1, intact=_manifest_written(root, 3))




def _empty_folder(tmp: Path) -> Scenario:
    (tmp / "nothing").mkdir()
    return Scenario(["prepare", "folder", "--root", str(tmp / "nothing")], 2,
                    names=("nothing",))


def _root_is_a_file(tmp: Path) -> Scenario:
    (tmp / "a.wav").write_bytes(_wav_bytes())
    return Scenario(["prepare", "folder", "--root", str(tmp / "a.wav")], 2, names=("a.wav",))


def _manifests_unwritable(tmp: Path) -> Scenario:
    root = _folder(tmp)
    return Scenario(["prepare", "folder", "--root", str(root), "--jobs", "1"], 2,
                    env={"AUDIOGAN_FAULT": "atomic.before_fsync=enospc"},
                    names=("train.tsv", "space"),
                    intact=lambda: _no_temps(root / "manifests"))




def _bad_option(option: str, value: str) -> Callable[[Path], Scenario]:
    def build(tmp: Path) -> Scenario:
        root = _folder(tmp)
        return Scenario(["prepare", "folder", "--root", str(root), option, value], 2,
                        names=(option,), intact=lambda: _nothing_at(root / "manifests"))

    return build


FOLDERS = [
    Case("data-folder-sample-rate-zero", _bad_option("--sample-rate", "0")),
    Case("data-folder-sample-rate-huge", _bad_option("--sample-rate", "10000000")),
    Case("data-folder-min-duration-nan", _bad_option("--min-duration", "nan")),
    Case("data-folder-mixed-bad-files", _mixed_folder),
    Case("data-folder-all-bad", _all_bad_folder),
    Case("data-folder-special-files", _special_files),
    Case("data-folder-unreadable-subfolder", _unreadable_folder),
    Case("data-folder-empty", _empty_folder),
    Case("data-folder-root-is-a-file", _root_is_a_file),
    Case("data-folder-full-disk-manifests", _manifests_unwritable),
]


# ------------------------------------------------------------------------------ manifests (13)


def _manifest_case(name: str, content: bytes, names: Callable[[str], tuple[str, ...]]) -> Case:
    def build(tmp: Path) -> Scenario:
        (tmp / "clips").mkdir()
        sf.write(tmp / "clips" / "a.wav", _tone(), SR)
        manifest = tmp / "clips.tsv"
        manifest.write_bytes(content)
        return Scenario(["train-classifier", str(manifest), "-o", str(tmp / "out")], 2,
                        names=names(str(manifest)), intact=lambda: _nothing_at(tmp / "out"))

    return Case(f"data-manifest-{name}", build)




_HEADER = b"path\tnum_samples\tsample_rate\tlabel\n"
_ROW = b"clips/a.wav\t17640\t22050\tzero\n"

MANIFESTS = [
    # the BOM is accepted: the error is the bad row on line 3, not the header (defect 13)
    _manifest_case("bom-then-bad-row", b"\xef\xbb\xbf" + _HEADER + _ROW + b"clips/a.wav\tx\t1\tz\n",
                   lambda m: (f"{m}:3", "num_samples")),
    _manifest_case("missing-column", b"path\tnum_samples\n" + b"clips/a.wav\t17640\n",
                   lambda m: (f"{m}:1", "sample_rate")),
    _manifest_case("unknown-column", b"path\tnum_samples\tsample_rate\tvolume\n" + _ROW,
                   lambda m: (f"{m}:1", "volume")),
    _manifest_case("repeated-column", b"path\tpath\tnum_samples\tsample_rate\n",
                   lambda m: (f"{m}:1", "repeated")),
    _manifest_case("short-row", _HEADER + _ROW + b"clips/a.wav\t17640\n",
                   lambda m: (f"{m}:3",)),
    _manifest_case("nan-samples", _HEADER + b"clips/a.wav\tnan\t22050\tzero\n",
                   lambda m: (f"{m}:2", "num_samples")),
    _manifest_case("negative-rate", _HEADER + b"clips/a.wav\t100\t-5\tzero\n",
                   lambda m: (f"{m}:2", "sample_rate")),
    _manifest_case("empty-path", _HEADER + b"\t100\t22050\tzero\n",
                   lambda m: (f"{m}:2", "empty path")),
    _manifest_case("latin-1", _HEADER + "clips/caf\u00e9.wav\t1\t22050\tz\n".encode("latin-1"),
                   lambda m: (f"{m}:2", "UTF-8")),
    _manifest_case("empty", b"", lambda m: (m, "empty")),
    _manifest_case("header-only", _HEADER, lambda m: (m, "no entries")),
    _manifest_case("binary", b"\x00\x01\x02PK\x03\x04" * 100, lambda m: (m,)),
]


CASES: list[Case] = [*HOSTILE, *SPECIAL, *CORRUPT, *ROOTS, *DOWNLOADS, *FOLDERS, *MANIFESTS]
