"""Loopback HTTP server and corpus-archive builders shared by test_corpora.py and test_recipes.py.

Archives are built from the real speech committed in tests/data/speech (LJSpeech-, VCTK-,
LibriTTS- and Speech-Commands-like layouts) and served by a threaded http.server on 127.0.0.1
that honours Range requests and can cut a response short.
"""

from __future__ import annotations

import io
import re
import tarfile
import threading
import zipfile
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from conftest import DEV_DATA

from audiogan.audio.io import resample

__all__ = ["DEV_DATA", "LJ_CLIPS", "LJ_IDS", "build_libritts", "build_ljspeech",
           "build_speech_commands", "build_vctk", "serve"]

# The utterance ids of the LJSpeech-like archive; the first six are the committed clips
# (tests/data/speech/ljspeech), whose excerpts also stand in for the other four (see _excerpt).
LJ_IDS = ("LJ001-0008", "LJ001-0002", "LJ001-0078", "LJ001-0013", "LJ001-0045", "LJ001-0090",
          "LJ001-0061", "LJ001-0039", "LJ001-0043", "LJ001-0095")
LJ_CLIPS = tuple(f"ljspeech/{uid}.wav" for uid in LJ_IDS[:6])


# ------------------------------------------------------------------------------ loopback server


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.root = root
        self.log: list[tuple[str, str | None]] = []
        self.cuts: dict[str, list[int]] = {}  # file name -> bytes to send before cutting, per GET

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        name = self.path.split("?", 1)[0].lstrip("/")
        requested = self.headers.get("Range")
        self.server.log.append((name, requested))
        file = self.server.root / name
        if not name or not file.is_file():
            self.send_error(404)
            return
        data = file.read_bytes()
        start = 0
        if requested:
            start = int(re.fullmatch(r"bytes=(\d+)-", requested)[1])  # type: ignore[index]
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        cuts = self.server.cuts.get(name)
        if cuts:
            self.wfile.write(data[start : start + cuts.pop(0)])
            self.wfile.flush()
            self.close_connection = True  # the connection drops mid-file
            return
        self.wfile.write(data[start:])

    def log_message(self, format: str, *args: object) -> None:
        pass


def serve(tmp_path: Path) -> Iterator[_Server]:
    """Serve ``tmp_path/www`` on 127.0.0.1 until the generator is closed (a fixture body)."""
    root = tmp_path / "www"
    root.mkdir()
    httpd = _Server(root)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


# ------------------------------------------------------------------------------ archive builders


def _clip(dev: Path, rel: str, seconds: float = 2.0) -> tuple[np.ndarray, int]:
    data, sr = sf.read(dev / rel, dtype="float32")
    return data[: int(seconds * sr)], sr


def _excerpt(dev: Path, clips: Sequence[str], index: int,
             seconds: float) -> tuple[np.ndarray, int]:
    """Utterance ``index`` of a built corpus: up to ``seconds`` of ``clips[index % len(clips)]``.

    The committed set holds fewer clips than some built corpora have utterances, so the clips
    are used round after round; each round starts 0.25 s later than the one before, so that no
    two utterances are the same samples. The first round is :func:`_clip` of each clip.
    """
    data, sr = sf.read(dev / clips[index % len(clips)], dtype="float32")
    start = int(index // len(clips) * 0.25 * sr)
    return data[start : start + int(seconds * sr)], sr


def _vctk_clips(dev: Path) -> list[str]:
    return sorted(f"vctk/{p.name}" for p in (dev / "vctk").glob("*.wav"))


def build_ljspeech(dev: Path, work: Path, *, bad: bool = True) -> Path:
    """LJSpeech-1.1.tar.bz2: 10 real-speech utterances, ``LJ_IDS`` (+ corrupt, silent and
    too-short ones when ``bad``)."""
    top = work / "LJSpeech-1.1"
    (top / "wavs").mkdir(parents=True)
    rows = []
    for index, uid in enumerate(LJ_IDS):
        data, sr = _excerpt(dev, LJ_CLIPS, index, 2.0)
        sf.write(top / "wavs" / f"{uid}.wav", data, sr, subtype="PCM_16")
        rows.append(f"{uid}|text|text")
    if bad:
        good = (top / "wavs" / f"{LJ_IDS[0]}.wav").read_bytes()
        (top / "wavs" / "LJ999-0001.wav").write_bytes(good[: len(good) // 3])  # truncated
        sf.write(top / "wavs" / "LJ999-0002.wav", np.zeros(22050, np.float32), 22050)  # silent
        data, sr = _clip(dev, f"ljspeech/{LJ_IDS[1]}.wav", 0.2)
        sf.write(top / "wavs" / "LJ999-0003.wav", data, sr)  # too short
        rows += ["LJ999-0001|corrupt|corrupt", "LJ999-0002|silent|silent",
                 "LJ999-0003|short|short"]
    (top / "metadata.csv").write_text("\n".join(rows) + "\n")
    (top / "README").write_text("LJ Speech-like test corpus\n")
    archive = work / "LJSpeech-1.1.tar.bz2"
    with tarfile.open(archive, "w:bz2") as tar:
        tar.add(top, arcname="LJSpeech-1.1")
    return archive


def build_vctk(dev: Path, work: Path, speakers: int = 6) -> Path:
    """VCTK-Corpus-0.92.zip: ``speakers`` speakers, 2 utterances each, mic1 + mic2, 48 kHz FLAC."""
    clips = _vctk_clips(dev)
    archive = work / "VCTK-Corpus-0.92.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("README.txt", "VCTK-like test corpus\n")
        for index in range(speakers * 2):
            speaker, utt = f"p{225 + index // 2}", f"{index % 2 + 1:03d}"
            data, sr = _excerpt(dev, clips, index, 1.5)
            wave = resample(torch.from_numpy(data)[None], sr, 48000)[0].clamp(-1, 1).numpy()
            for mic, gain in (("mic1", 1.0), ("mic2", 0.5)):
                buffer = io.BytesIO()
                sf.write(buffer, wave * gain, 48000, format="FLAC")
                zf.writestr(f"wav48_silence_trimmed/{speaker}/{speaker}_{utt}_{mic}.flac",
                            buffer.getvalue())
            zf.writestr(f"txt/{speaker}/{speaker}_{utt}.txt", "text\n")
    return archive


def build_speech_commands(dev: Path, work: Path) -> Path:
    """speech_commands_v0.02.tar.gz (no top folder): zero/, nine/, yes/, lists, background."""
    top = work / "sc"
    clips = sorted((dev / "speech_commands").glob("*.wav"))
    chosen = [c for c in clips if c.name.startswith("zero")][:8]
    chosen += [c for c in clips if c.name.startswith("nine")][:8]
    valid, test = [], []
    for index, clip in enumerate(chosen):
        word, rest = clip.name.split("_", 1)
        (top / word).mkdir(parents=True, exist_ok=True)
        (top / word / rest).write_bytes(clip.read_bytes())
        if index % 8 == 1:
            valid.append(f"{word}/{rest}")
        elif index % 8 == 2:
            test.append(f"{word}/{rest}")
    (top / "yes").mkdir()
    (top / "yes" / "00000000_nohash_0.wav").write_bytes(chosen[0].read_bytes())
    (top / "_background_noise_").mkdir()
    sf.write(top / "_background_noise_" / "noise.wav",
             np.random.default_rng(0).uniform(-0.1, 0.1, 32000).astype(np.float32), 16000)
    (top / "validation_list.txt").write_text("\n".join(valid) + "\n")
    (top / "testing_list.txt").write_text("\n".join(test) + "\n")
    archive = work / "speech_commands_v0.02.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for entry in sorted(top.iterdir()):
            tar.add(entry, arcname=entry.name)
    return archive


def build_libritts(dev: Path, work: Path, subset: str = "train-clean-100",
                   top: str = "LibriTTS") -> Path:
    """<subset>.tar.gz: LibriTTS/<subset>/<speaker>/<chapter>/<id>.wav at 24 kHz, 4 speakers."""
    clips = _vctk_clips(dev)
    base = work / "libritts" / top / subset
    for index in range(8):
        speaker, chapter = str(100 + index // 2), "2000"
        folder = base / speaker / chapter
        folder.mkdir(parents=True, exist_ok=True)
        data, sr = _excerpt(dev, clips, index, 1.5)
        wave = resample(torch.from_numpy(data)[None], sr, 24000)[0].clamp(-1, 1).numpy()
        uid = f"{speaker}_{chapter}_000001_{index:06d}"
        sf.write(folder / f"{uid}.wav", wave, 24000, subtype="PCM_16")
        (folder / f"{uid}.normalized.txt").write_text("text\n")
    name = subset if top == "LibriTTS" else subset.replace("-", "_")
    archive = work / f"{name}.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(work / "libritts" / top, arcname=top)
    return archive
