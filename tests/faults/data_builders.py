"""Builders for the data area's fault cases (cases_data.py): tones, tar/zip archives, a root
holding the user's own file, and the checks that it is intact and nothing escaped."""

from __future__ import annotations

import io
import os
import struct
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf

from .harness import Case, Scenario

SR = 22050
USER_FILE = "keep/notes.txt"
USER_TEXT = "the user's own notes\n"


def _tone(seconds: float = 0.8, freq: float = 220.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _wav_bytes(seconds: float = 0.8, freq: float = 220.0) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, _tone(seconds, freq), SR, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "",
            size: int | None = None) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    if size is not None:
        info.size = size
    return info


def _tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]],
         mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tar:  # type: ignore[call-overload]
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _lj_members(count: int = 3) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    """An LJSpeech-1.1-like corpus: ``count`` tones and metadata.csv."""
    ids = [f"LJ001-{i:04d}" for i in range(1, count + 1)]
    members: list[tuple[tarfile.TarInfo, bytes | None]] = [
        (_member(f"LJSpeech-1.1/wavs/{uid}.wav"), _wav_bytes(0.8, 200.0 + 40 * i))
        for i, uid in enumerate(ids)
    ]
    metadata = "".join(f"{uid}|text|text\n" for uid in ids).encode()
    members.append((_member("LJSpeech-1.1/metadata.csv"), metadata))
    return members


def _user_root(root: Path) -> Path:
    """A root holding the user's own file, which every case checks is untouched."""
    (root / USER_FILE).parent.mkdir(parents=True, exist_ok=True)
    (root / USER_FILE).write_text(USER_TEXT)
    return root


def _untouched(root: Path, *, outside: Path | None = None,
               allowed: tuple[str, ...] = ("keep",)) -> Callable[[], None]:
    """The user's file is unchanged, only ``allowed`` top-level entries exist (nothing
    half-extracted, no staging directory), no link under the root points outside it, and
    nothing new appeared in ``outside``."""
    before = sorted(p.name for p in outside.iterdir()) if outside is not None else []

    def check() -> None:
        assert (root / USER_FILE).read_text() == USER_TEXT, "the user's file changed"
        names = sorted(p.name for p in root.iterdir())
        extra = [n for n in names if n not in allowed]
        assert not extra, f"left in the root: {extra}"
        real = os.path.realpath(root)
        for directory, dirs, files in os.walk(root):
            for name in dirs + files:
                path = os.path.join(directory, name)
                if os.path.islink(path):
                    target = os.path.realpath(path)
                    assert target == real or target.startswith(real + os.sep), (
                        f"link {path} escapes to {target}")
        if outside is not None:
            assert sorted(p.name for p in outside.iterdir()) == before, "a file escaped"

    return check


def _archive_case(name: str, members: list[tuple[tarfile.TarInfo, bytes | None]],
                  mode: str = "w:gz", suffix: str = ".tar.gz",
                  allowed: tuple[str, ...] = ("keep",)) -> Case:
    def build(tmp: Path) -> Scenario:
        archive = _tar(tmp / f"LJSpeech-1.1{suffix}", members, mode)
        root = _user_root(tmp / "sandbox" / "root")
        return Scenario(
            ["prepare", "ljspeech", "--root", str(root), "--archive", str(archive),
             "--no-verify"],
            2, names=(archive.name,),
            intact=_untouched(root, outside=tmp / "sandbox", allowed=allowed))

    return Case(f"data-archive-{name}", build)


def _corrupt_case(name: str, mode: str, suffix: str, damage: Callable[[bytes], bytes]) -> Case:
    def build(tmp: Path) -> Scenario:
        good = _tar(tmp / f"good{suffix}", _lj_members(4) + [
            (_member(f"LJSpeech-1.1/pad{i}.bin"), np.random.default_rng(i).bytes(40_000))
            for i in range(6)], mode)
        archive = tmp / f"LJSpeech-1.1{suffix}"
        archive.write_bytes(damage(good.read_bytes()))
        root = _user_root(tmp / "root")
        return Scenario(
            ["prepare", "ljspeech", "--root", str(root), "--archive", str(archive),
             "--no-verify"],
            2, names=(archive.name,), intact=_untouched(root))

    return Case(f"data-corrupt-{name}", build)


def _flip_middle(data: bytes) -> bytes:
    middle = bytearray(data)
    start = len(middle) // 2
    middle[start : start + 64] = bytes(b ^ 0x5A for b in middle[start : start + 64])
    return bytes(middle)


def _zip_case(name: str, entries: list[tuple[zipfile.ZipInfo | str, bytes]],
              patch: Callable[[bytes], bytes] | None = None) -> Case:
    def build(tmp: Path) -> Scenario:
        archive = tmp / "LJSpeech-1.1.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            for info, data in entries:
                zf.writestr(info, data)
        if patch is not None:
            archive.write_bytes(patch(archive.read_bytes()))
        root = _user_root(tmp / "sandbox" / "root")
        return Scenario(
            ["prepare", "ljspeech", "--root", str(root), "--archive", str(archive),
             "--no-verify"],
            2, names=(archive.name,), intact=_untouched(root, outside=tmp / "sandbox"))

    return Case(f"data-zip-{name}", build)


def _zip_symlink() -> zipfile.ZipInfo:
    info = zipfile.ZipInfo("LJSpeech-1.1/link")
    info.external_attr = 0o120777 << 16
    return info


def _declare_huge(data: bytes) -> bytes:
    """Every central-directory entry declares 4 GiB uncompressed (a zip bomb's header)."""
    out = bytearray(data)
    at = out.find(b"PK\x01\x02")
    while at != -1:
        out[at + 24 : at + 28] = struct.pack("<I", 0xFFFFFFFE)
        at = out.find(b"PK\x01\x02", at + 4)
    return bytes(out)


def _folder(tmp: Path, good: int = 3) -> Path:
    root = tmp / "wavs"
    (root / "sub").mkdir(parents=True)
    for i in range(good):
        sf.write(root / "sub" / f"good{i}.wav", _tone(0.8, 200.0 + 50 * i), SR)
    return root


def _manifest_written(root: Path, accepted: int) -> Callable[[], None]:
    def check() -> None:
        lines = [line for name in ("train", "valid", "test")
                 if (root / "manifests" / f"{name}.tsv").is_file()
                 for line in (root / "manifests" / f"{name}.tsv").read_text().splitlines()[1:]]
        assert len(lines) == accepted, f"{len(lines)} files in the manifests, not {accepted}"
        assert (root / "manifests" / "rejected.tsv").is_file(), "no rejected.tsv"

    return check


def _manifest_written_loose(root: Path) -> Callable[[], None]:
    def check() -> None:
        assert (root / "manifests" / "train.tsv").is_file()

    return check


def _nothing_at(path: Path) -> None:
    assert not path.exists(), f"{path} was written"


def _no_temps(directory: Path) -> None:
    left = [p.name for p in directory.rglob(".*.tmp")] if directory.exists() else []
    assert not left, f"temporary files left: {left}"


def _good_mirror(tmp: Path) -> str:
    (tmp / "www").mkdir()
    _tar(tmp / "www" / "LJSpeech-1.1.tar.bz2", _lj_members(3), "w:bz2")
    return (tmp / "www").as_uri()


def _junk_mirror(tmp: Path) -> str:
    (tmp / "www").mkdir()
    (tmp / "www" / "LJSpeech-1.1.tar.bz2").write_bytes(b"not the real archive" * 50)
    return (tmp / "www").as_uri()
