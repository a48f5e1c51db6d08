"""The HTML report: structure (always), atomic replacement, and a real headless browser."""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import signal
import subprocess
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from audiogan.evaluation.report import (
    REPORT_FORMAT,
    ClipRow,
    GeneratedGrid,
    Media,
    ModelRow,
    ReportContent,
    ReportDirectory,
    ReportError,
    display_mel_db,
    render_html,
)

SR = 16000


# --------------------------------------------------------------------------- helpers


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.audio: list[str] = []
        self.images: list[str] = []
        self.audio_elements = 0
        self.other: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "audio":
            self.audio_elements += 1
            if values.get("src"):
                self.audio.append(values["src"] or "")
        elif tag == "source":
            self.audio.append(values.get("src") or "")
        elif tag == "img":
            self.images.append(values.get("src") or "")
        elif tag in ("script", "link", "iframe"):
            self.other.append(tag)


def assert_report_structure(report_dir: Path) -> _Links:
    """Every link is relative and inside; every audio file decodes; every PNG is valid."""
    page = report_dir / "report.html"
    links = _Links()
    links.feed(page.read_text(encoding="utf-8"))
    assert not links.other, f"external resources or scripts: {links.other}"
    assert links.audio_elements == len(links.audio)  # one source per player
    for src in links.audio + links.images:
        parts = urlsplit(src)
        assert not parts.scheme and not parts.netloc and not src.startswith("/"), src
        target = (report_dir / unquote(parts.path)).resolve()
        assert target.is_relative_to(report_dir.resolve()), src
        assert target.is_file(), src
    for src in links.audio:
        data, rate = sf.read(report_dir / unquote(src))
        assert data.size > 0 and rate > 0 and np.isfinite(data).all(), src
    for src in links.images:
        path = report_dir / unquote(src)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", src
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            assert image.size[0] > 50 and image.size[1] > 50, src
    return links


def _tone(f0: float, seconds: float = 0.6) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return 0.3 * np.sin(2 * np.pi * f0 * t) * np.minimum(1.0, t / 0.05)


def build_report(target: Path) -> Path:
    """A small report with awkward names: two clips, two models and a generated grid."""
    with ReportDirectory(target) as report:
        clips = []
        for index, name in enumerate(["plain", "spaces & #hash ü"]):
            original = _tone(200.0 + 50 * index)
            ref_db = display_mel_db(original, SR)
            reference = Media(
                "original",
                audio=report.write_audio(f"audio/{name}/original.wav", original, SR),
                image=report.write_spectrogram(
                    f"images/{name}/original.png", ref_db, 0.6, title="original"
                ),
            )
            outputs = []
            for model in ("model a", "model<b>"):
                estimate = original * 0.8 + 0.01 * np.random.default_rng(index).standard_normal(
                    original.size
                )
                est_db = display_mel_db(estimate, SR)
                outputs.append(Media(
                    model,
                    audio=report.write_audio(f"audio/{name}/{model}.wav", estimate, SR),
                    image=report.write_spectrogram(
                        f"images/{name}/{model}.png", est_db, 0.6, title=model,
                        top_db=float(ref_db.max()),
                    ),
                    diff_image=report.write_difference(
                        f"images/{name}/{model}-diff.png", ref_db, est_db, 0.6
                    ),
                    metrics={"log_mel_l1_db": 1.5, "f0_rmse_cents": float("nan")},
                ))
            clips.append(ClipRow(f"clip{index}", f"{name}.wav", reference, outputs))
        generated = [
            Media(f"#{i}", audio=report.write_audio(f"audio/gen/{i}.wav", _tone(300.0 + i), SR),
                  image=report.write_spectrogram(
                      f"images/gen/{i}.png", display_mel_db(_tone(300.0 + i), SR), 0.6,
                      title=f"#{i}"),
                  caption="classified: seven (p = 0.90)")
            for i in range(3)
        ]
        report.write_text("summary.json", json.dumps({"format": REPORT_FORMAT}))
        content = ReportContent(
            title="test <report>",
            meta=[("data", "x & y")],
            models=[ModelRow("model a", "vocoder", "/m/a", {"log_mel_l1_db": (1.5, 0.1)},
                             {"RTF": "0.1"}),
                    ModelRow("model<b>", "vocoder", "/m/b", {"log_mel_l1_db": None})],
            metric_keys=["log_mel_l1_db", "f0_rmse_cents"],
            clips=clips,
            order_note="worst first",
            generated=[GeneratedGrid("gen", generated, {"inception score": "1.900"}, ["note"])],
            notes=["pesq_wb skipped: package 'pesq' is not installed"],
        )
        return report.commit(render_html(content))


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory) -> Path:
    return build_report(tmp_path_factory.mktemp("r") / "report").parent


# --------------------------------------------------------------------------- structure


def test_report_structure_and_escaping(report_dir: Path) -> None:
    links = assert_report_structure(report_dir)
    assert len(links.audio) == 2 * 3 + 3
    assert len(links.images) == 2 * (1 + 2 * 2) + 3
    page = (report_dir / "report.html").read_text(encoding="utf-8")
    assert "test &lt;report&gt;" in page and "model&lt;b&gt;" in page and "x &amp; y" in page
    assert "spaces%20%26%20%23hash%20%C3%BC" in page
    assert "pesq_wb skipped" in page
    assert not list(report_dir.parent.glob(".report.*"))


def test_report_directory_can_be_moved(report_dir: Path, tmp_path: Path) -> None:
    moved = tmp_path / "elsewhere" / "copy"
    shutil.copytree(report_dir, moved)
    assert_report_structure(moved)


def test_an_earlier_report_is_replaced_and_others_are_refused(tmp_path: Path) -> None:
    target = tmp_path / "out"
    build_report(target)
    (target / "stale.txt").write_text("from the first run")
    build_report(target)
    assert not (target / "stale.txt").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]

    unrelated = tmp_path / "mine"
    unrelated.mkdir()
    (unrelated / "thesis.tex").write_text("keep me")
    with pytest.raises(ReportError, match="not an audiogan report"):
        ReportDirectory(unrelated)
    assert (unrelated / "thesis.tex").read_text() == "keep me"
    link = tmp_path / "link"
    link.symlink_to(target)
    with pytest.raises(ReportError, match="symbolic link"):
        ReportDirectory(link)
    assert (target / "report.html").is_file() and link.is_symlink()


def test_a_failed_run_leaves_the_earlier_report_untouched(tmp_path: Path) -> None:
    target = tmp_path / "out"
    build_report(target)
    before = sorted(p.relative_to(target) for p in target.rglob("*"))
    with pytest.raises(RuntimeError, match="boom"), ReportDirectory(target) as report:
        report.write_audio("audio/x.wav", _tone(100.0), SR)
        raise RuntimeError("boom")
    assert sorted(p.relative_to(target) for p in target.rglob("*")) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def _small_report(target: Path) -> Path:
    with ReportDirectory(target) as report:
        report.write_audio("audio/a.wav", _tone(200.0, 0.2), SR)
        report.write_text("summary.json", json.dumps({"format": REPORT_FORMAT}))
        return report.commit(render_html(ReportContent(title="small")))


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize("point", ["report.write@2", "atomic.before_fsync", "atomic.before_swap"])
def test_a_full_disk_keeps_the_earlier_report_and_names_the_file(
    tmp_path: Path, monkeypatch, point: str
) -> None:
    from audiogan.core import faults

    target = tmp_path / "out"
    build_report(target)
    before = {p.relative_to(target): p.read_bytes() for p in target.rglob("*") if p.is_file()}
    faults._hits.clear()
    monkeypatch.setenv("AUDIOGAN_FAULT", f"{point}=enospc")
    with pytest.raises(ReportError) as caught:
        _small_report(target)
    message = str(caught.value)
    assert "No space left on device" in message and "free some space" in message
    assert str(target) in message and "unchanged" in message and "\n" not in message
    after = {p.relative_to(target): p.read_bytes() for p in target.rglob("*") if p.is_file()}
    assert after == before
    assert _leftovers(tmp_path) == []


def test_leftovers_of_a_killed_run_are_removed_but_a_live_run_is_left_alone(
    tmp_path: Path,
) -> None:
    import fcntl

    target = tmp_path / "out"
    dead = tmp_path / ".out.0123456789ab.staging"
    (dead / "audio").mkdir(parents=True)
    (dead / "audio" / "half.wav").write_bytes(b"RIFF")
    legacy = tmp_path / ".out.partial-0a1b2c3d"
    legacy.mkdir()
    live = tmp_path / ".out.ba9876543210.staging"
    live.mkdir()
    other = tmp_path / ".other.0123456789ab.staging"  # another target's: not ours to touch
    other.mkdir()
    fd = os.open(live, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a run in progress holds it
    try:
        _small_report(target)
    finally:
        os.close(fd)
    assert _leftovers(tmp_path) == sorted([live.name, other.name])
    assert (target / "report.html").is_file()


def test_an_earlier_report_caught_between_the_swap_renames_is_restored(tmp_path: Path) -> None:
    target = tmp_path / "out"
    build_report(target)
    page = (target / "report.html").read_text(encoding="utf-8")
    backup = tmp_path / ".out.0123456789ab.old"
    os.rename(target, backup)  # killed after moving the earlier report aside
    with pytest.raises(RuntimeError, match="boom"), ReportDirectory(target):
        assert (target / "report.html").read_text(encoding="utf-8") == page  # back in place
        raise RuntimeError("boom")
    assert (target / "report.html").read_text(encoding="utf-8") == page
    assert _leftovers(tmp_path) == []


def test_skipped_clips_are_listed_apart(tmp_path: Path) -> None:
    page = render_html(ReportContent(
        title="t", skipped=[("quiet <1>.wav", "silent reference (all samples zero)")]
    ))
    assert "<h2>Skipped clips</h2>" in page
    assert "quiet &lt;1&gt;.wav: silent reference (all samples zero)" in page


def test_links_must_stay_inside_the_report(tmp_path: Path) -> None:
    with ReportDirectory(tmp_path / "r") as report:
        for bad in ("../escape.wav", "/abs.wav", "http://example.com/a.wav"):
            with pytest.raises(ReportError, match="relative"):
                report.path(bad)


# --------------------------------------------------------------------------- browser

_HARNESS = """<!DOCTYPE html><html><body>
<iframe id="r" src="report.html" style="width:1400px;height:1000px"></iframe>
<script>
const frame = document.getElementById("r");
const deadline = Date.now() + 40000;
function collect(doc) {
  const audio = [...doc.querySelectorAll("audio")].map(a => {
    const source = a.querySelector("source");
    return {src: a.currentSrc, readyState: a.readyState, error: a.error ? a.error.code : null,
            duration: a.duration, canPlay: a.canPlayType(source ? source.type : "audio/wav")};
  });
  const images = [...doc.querySelectorAll("img")].map(i => ({
    src: i.currentSrc || i.src, complete: i.complete, naturalWidth: i.naturalWidth}));
  return {audio: audio, images: images};
}
function check() {
  const doc = frame.contentDocument;
  const pending = [...doc.querySelectorAll("audio")].some(a => a.readyState < 1 && !a.error)
    || [...doc.querySelectorAll("img")].some(i => !i.complete);
  if (pending && Date.now() < deadline) { setTimeout(check, 100); return; }
  fetch("/__result", {method: "POST", body: JSON.stringify(collect(doc))});
}
frame.addEventListener("load", () => {
  const doc = frame.contentDocument;
  doc.querySelectorAll("img").forEach(i => { i.loading = "eager"; });
  doc.querySelectorAll("audio").forEach(a => { a.preload = "auto"; a.load(); });
  check();
});
</script></body></html>
"""

_CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--mute-audio", "--hide-scrollbars",
)


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


class _Server:
    """Loopback HTTP server for the report plus the harness page and a result endpoint."""

    def __init__(self, root: Path) -> None:
        self.result: dict | None = None
        self.received = threading.Event()
        owner = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/__harness.html":
                    body = _HARNESS.encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html; charset=utf-8")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                super().do_GET()

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                owner.result = json.loads(self.rfile.read(length))
                self.send_response(204)
                self.end_headers()
                owner.received.set()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(Handler, directory=str(root))
        )
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> _Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _run_browser(binary: str, args: list[str], timeout: float) -> subprocess.Popen:
    return subprocess.Popen(
        [binary, *_CHROMIUM_FLAGS, *args], stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def check_in_browser(report_dir: Path, work: Path) -> dict:
    """Load report.html in headless Chromium; return what the page saw; save a screenshot."""
    binary = _chromium()
    if binary is None:
        pytest.skip("no Chromium/Chrome found (apt-get install chromium chromium-driver)")
    with _Server(report_dir) as server:
        browser = _run_browser(
            binary, [f"--user-data-dir={work / 'profile'}", "--window-size=1400,1000",
                     f"{server.url}/__harness.html"], timeout=60,
        )
        try:
            assert server.received.wait(60), "the browser never reported back"
        finally:
            _stop(browser)
        shot = work / "report.png"
        screenshot = subprocess.run(
            [binary, *_CHROMIUM_FLAGS, f"--user-data-dir={work / 'profile2'}",
             "--window-size=1400,2000", "--virtual-time-budget=10000",
             f"--screenshot={shot}", f"{server.url}/report.html"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=90, check=False,
        )
    assert screenshot.returncode == 0 and shot.is_file()
    with Image.open(shot) as image:
        assert image.size == (1400, 2000)
        assert len(np.unique(np.asarray(image.convert("L")))) > 10  # not a blank page
    assert server.result is not None
    return server.result


def assert_browser_sees_everything(result: dict, links: _Links) -> None:
    assert len(result["audio"]) == links.audio_elements
    assert len(result["images"]) == len(links.images)
    for audio in result["audio"]:
        assert audio["error"] is None, audio
        assert audio["src"], audio
        assert audio["readyState"] >= 1 and audio["duration"] > 0, audio
        assert audio["canPlay"] in ("maybe", "probably"), audio
    for image in result["images"]:
        assert image["complete"] and image["naturalWidth"] > 0, image


def test_report_in_headless_chromium(report_dir: Path, tmp_path: Path) -> None:
    links = assert_report_structure(report_dir)
    result = check_in_browser(report_dir, tmp_path)
    assert_browser_sees_everything(result, links)
    assert (tmp_path / "report.png").stat().st_size > 10_000
