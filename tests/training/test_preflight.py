"""Training start-up checks (issue 11 defect 8) and the embedded tiny corpus on first use (14)."""

from __future__ import annotations

import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml
from click.testing import CliRunner

from audiogan.config import ConfigError, load_config
from audiogan.data import embedded
from audiogan.data.embedded import (
    EmbeddedCorpus,
    EmbeddedCorpusError,
    embedded_corpus_for,
    ensure_embedded_corpus,
)
from audiogan.training.preflight import check_training_inputs, prepare_command

ROOT = Path(__file__).resolve().parents[2]
SR = 22050


def _wav(path: Path, seconds: float = 0.5, sr: int = SR) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * sr)) / sr
    sf.write(path, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), sr, subtype="PCM_16")
    return path


def _manifest(path: Path, files: list[Path], rate: int = SR, seconds: float = 0.5) -> Path:
    rows = [f"{f.name}\t{int(seconds * rate)}\t{rate}" for f in files]
    path.write_text("path\tnum_samples\tsample_rate\n" + "\n".join(rows) + "\n")
    return path


def _config(tmp_path: Path, train: Path, valid: Path | None = None, *extra: str):
    recipe = yaml.safe_load((ROOT / "recipes" / "tiny" / "hifigan.yaml").read_text())
    recipe["training"]["batch_size"] = 2
    recipe["data"] = {"train": str(train), "normalize": "peak"}
    if valid is not None:
        recipe["data"]["valid"] = str(valid)
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return load_config(path, list(extra))


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    files = [_wav(tmp_path / "data" / f"c{i}.wav") for i in range(4)]
    return _manifest(tmp_path / "data" / "train.tsv", files)


# ------------------------------------------------------------------ defect 8: checks at start-up


def test_bad_valid_manifest_stops_the_trainer_before_any_model_is_built(
        tmp_path: Path, corpus: Path, monkeypatch) -> None:
    # Before: a bad data.valid surfaced at the first validation, after training steps.
    from audiogan.training import trainer as trainer_module

    def no_model(*args, **kwargs):
        raise AssertionError("a model was built before the data were checked")

    monkeypatch.setattr(trainer_module, "generator_from_config", no_model)
    valid = tmp_path / "data" / "valid.tsv"
    valid.write_text("file\tlength\n")
    config = _config(tmp_path, corpus, valid)
    with pytest.raises(ConfigError) as info:
        trainer_module.Trainer(config, tmp_path / "run", device="cpu", console=False)
    message = str(info.value)
    assert message.startswith(f"data.valid: {valid}") and "column" in message
    assert not (tmp_path / "run").exists()


def test_every_listed_file_is_checked_not_only_the_probed_ones(tmp_path: Path) -> None:
    files = [_wav(tmp_path / "data" / f"c{i}.wav", seconds=0.1) for i in range(30)]
    manifest = _manifest(tmp_path / "data" / "train.tsv", files, seconds=0.1)
    files[25].unlink()
    with pytest.raises(ConfigError) as info:
        check_training_inputs(_config(tmp_path, manifest))
    assert "data.train: 1 file(s) listed in" in str(info.value)
    assert "c25.wav" in str(info.value)


def test_a_corrupt_file_among_the_first_is_named_with_its_key(tmp_path: Path,
                                                              corpus: Path) -> None:
    files = [_wav(tmp_path / "v" / f"v{i}.wav") for i in range(3)]
    files[1].write_bytes(b"RIFF....WAVEfmt garbage")
    valid = _manifest(tmp_path / "v" / "valid.tsv", files)
    with pytest.raises(ConfigError, match=r"^data.valid: .*v1.wav: .*remove its line from"):
        check_training_inputs(_config(tmp_path, corpus, valid))


def test_a_bad_training_file_among_good_ones_is_left_to_the_dataset(tmp_path: Path,
                                                                     caplog) -> None:
    # The training datasets skip unreadable files; only when none opens is it an error.
    files = [_wav(tmp_path / "data" / f"c{i}.wav") for i in range(4)]
    files[1].write_bytes(b"not audio")
    manifest = _manifest(tmp_path / "data" / "train.tsv", files)
    assert check_training_inputs(_config(tmp_path, manifest)) == []
    assert "1 of the first 4 file(s) cannot be read; training skips them" in caplog.text
    for file in files:
        file.write_bytes(b"not audio")
    with pytest.raises(ConfigError, match=r"^data.train: .*c0.wav: .*none of the first 4"):
        check_training_inputs(_config(tmp_path, manifest))


def test_files_at_another_rate_are_noted_as_resampled(tmp_path: Path, corpus: Path) -> None:
    files = [_wav(tmp_path / "v" / f"v{i}.wav", sr=16000) for i in range(2)]
    valid = _manifest(tmp_path / "v" / "valid.tsv", files, rate=16000)
    notes = check_training_inputs(_config(tmp_path, corpus, valid))
    assert notes == ["data.valid: 2 of 2 file(s) are at 16000 Hz; they are resampled to "
                     "22050 Hz on load"]


def test_a_stale_manifest_rate_is_an_error(tmp_path: Path, corpus: Path) -> None:
    files = [_wav(tmp_path / "v" / "v0.wav", sr=16000)]
    valid = _manifest(tmp_path / "v" / "valid.tsv", files, rate=SR)
    with pytest.raises(ConfigError, match=r"is 16000 Hz but .* says 22050 Hz; the manifest"):
        check_training_inputs(_config(tmp_path, corpus, valid))


def test_batch_larger_than_the_corpus(tmp_path: Path, corpus: Path) -> None:
    with pytest.raises(ConfigError, match=r"^training.batch_size=8 is more than the 4 clips"):
        check_training_inputs(_config(tmp_path, corpus, None, "training.batch_size=8"))


def test_discriminator_values_are_checked_before_the_models_are_built(
        tmp_path: Path, corpus: Path) -> None:
    # Before: the trainer's build raised a bare ValueError (a traceback) for these.
    from audiogan.training.trainer import Trainer

    config = _config(tmp_path, corpus, None, "discriminator.params.periods=[2, 0]")
    with pytest.raises(ConfigError, match=r"^discriminator.params: period must be >= 1, got 0"):
        Trainer(config, tmp_path / "run", device="cpu", console=False)
    assert not (tmp_path / "run").exists()


def test_init_from_is_checked_at_start(tmp_path: Path, corpus: Path) -> None:
    missing = tmp_path / "old_run"
    config = _config(tmp_path, corpus, None, f"training.init_from={missing}")
    with pytest.raises(ConfigError, match=r"^training.init_from: .*old_run: not found"):
        check_training_inputs(config)
    (missing / "checkpoints").mkdir(parents=True)
    with pytest.raises(ConfigError, match=r"^training.init_from: .*no checkpoints/best.pt"):
        check_training_inputs(config)


def test_missing_manifests_name_the_command_that_makes_them(tmp_path: Path,
                                                            monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert prepare_command(tmp_path / "data" / "ljspeech" / "manifests" / "train.tsv",
                           22050) == "audiogan prepare ljspeech --root data/ljspeech --download"
    assert prepare_command(tmp_path / "lists" / "train.tsv", 24000) == (
        "audiogan prepare folder --root <your audio folder> --out lists --sample-rate 24000")
    config = _config(tmp_path, tmp_path / "lists" / "train.tsv")
    with pytest.raises(ConfigError, match=r"^data.train: .*train.tsv: manifest not found; make "
                                          r"it with: audiogan prepare folder"):
        check_training_inputs(config)


# ------------------------------------------------------------------ defect 14: embedded corpus


def test_only_the_tiny_corpus_location_is_recognised(tmp_path: Path) -> None:
    data = tmp_path / "runs" / "tiny" / "data"
    assert embedded_corpus_for(data / "speech" / "train.tsv").name == "speech"
    assert embedded_corpus_for(data / "speech" / "valid.tsv").name == "speech"
    assert embedded_corpus_for(data / "digits" / "train.tsv").name == "digits"
    assert embedded_corpus_for(data / "digits" / "valid.tsv") is None
    assert embedded_corpus_for(data / "speech" / "test.tsv") is None
    assert embedded_corpus_for(tmp_path / "runs" / "big" / "data" / "speech" / "train.tsv") is None
    assert embedded_corpus_for(tmp_path / "data" / "speech" / "train.tsv") is None
    assert ensure_embedded_corpus(tmp_path / "data" / "speech" / "train.tsv") is False
    assert not (tmp_path / "data").exists()


def _stage0_snippet() -> str:
    """The Python that recipes/tiny/run.sh stage 0 runs (between <<'PY' and PY)."""
    text = (ROOT / "recipes" / "tiny" / "run.sh").read_text()
    found = re.search(r"<<'PY'\n(.*?)\nPY\n", text, re.DOTALL)
    assert found, "run.sh stage 0 no longer holds the python snippet this test reads"
    return found.group(1)


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_readme_training_example_works_on_a_fresh_clone(tmp_path: Path, monkeypatch) -> None:
    # Before: "manifest not found" (the corpus only existed after run.sh stage 0).
    from audiogan.cli.main import cli

    clone = tmp_path / "clone"
    # recipes/tiny/*.yaml link to the packaged tiny recipes: a clone has both
    shutil.copytree(ROOT / "recipes" / "tiny", clone / "recipes" / "tiny", symlinks=True)
    shutil.copytree(ROOT / "audiogan" / "recipes" / "tiny", clone / "audiogan" / "recipes" / "tiny")
    readme = (ROOT / "README.md").read_text()
    line = next(x for x in readme.splitlines() if x.startswith("audiogan train recipes/tiny/"))
    args = line.split("#")[0].split()[1:]
    assert args[:4] == ["train", "recipes/tiny/hifigan.yaml", "-o", "runs/hifigan"]
    monkeypatch.chdir(clone)
    result = CliRunner().invoke(cli, [*args, "--set", "training.max_steps=2", "--set",
                                      "training.valid_every=2", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert (clone / "runs" / "hifigan" / "checkpoints" / "step_00000002.pt").is_file()
    built = clone / "runs" / "tiny" / "data" / "speech"
    reference = tmp_path / "reference"
    subprocess.run([sys.executable, "-c", _stage0_snippet(), str(reference / "speech"),
                    str(reference / "digits")], check=True, env={**os.environ,
                                                                 "OMP_NUM_THREADS": "1"})
    assert _tree(built) == _tree(reference / "speech")  # byte-identical to run.sh stage 0
    assert not [p for p in built.parent.iterdir() if p.name.endswith(".staging")]


def test_a_killed_build_leaves_no_corpus_that_looks_complete(tmp_path: Path) -> None:
    manifest = tmp_path / "runs" / "tiny" / "data" / "digits" / "train.tsv"
    code = ("import sys; from audiogan.data.embedded import ensure_embedded_corpus; "
            "ensure_embedded_corpus(sys.argv[1])")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "AUDIOGAN_FAULT": "embedded.before_commit=kill",
           "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code, str(manifest)], env=env)
    assert proc.returncode == -9
    data = manifest.parent.parent
    assert not manifest.parent.exists()  # only the hidden staging directory
    assert [p for p in data.iterdir() if p.name.endswith(".staging")]
    assert ensure_embedded_corpus(manifest) is True  # the next use builds it and tidies up
    assert manifest.is_file()
    assert sorted(p.name for p in data.iterdir()) == [".embedded.lock", "digits"]


def _fake_corpus(log: Path) -> EmbeddedCorpus:
    def build(root: Path) -> None:
        with open(log, "a") as handle:
            handle.write(f"{os.getpid()}\n")
        time.sleep(0.5)  # a slow build: the other process arrives while it runs
        (root / "train.tsv").write_text("path\tnum_samples\tsample_rate\n")
        (root / "valid.tsv").write_text("path\tnum_samples\tsample_rate\n")

    return EmbeddedCorpus("speech", ("train.tsv", "valid.tsv"),
                          frozenset({"train.tsv", "valid.tsv"}), build)


def _first_use(manifest: str, queue) -> None:
    queue.put(ensure_embedded_corpus(manifest))


@pytest.mark.skipif(sys.platform == "win32", reason="flock")
def test_two_concurrent_first_uses_build_once(tmp_path: Path, monkeypatch) -> None:
    log = tmp_path / "builds.log"
    monkeypatch.setitem(embedded.TINY_CORPORA, "speech", _fake_corpus(log))
    manifest = str(tmp_path / "runs" / "tiny" / "data" / "speech" / "train.tsv")
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    workers = [context.Process(target=_first_use, args=(manifest, queue)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    assert [worker.exitcode for worker in workers] == [0, 0]
    assert [queue.get(timeout=5), queue.get(timeout=5)] == [True, True]
    assert len(log.read_text().split()) == 1  # the second waited for the lock and reused it


def test_foreign_files_at_the_corpus_location_are_never_replaced(tmp_path: Path) -> None:
    speech = tmp_path / "runs" / "tiny" / "data" / "speech"
    speech.mkdir(parents=True)
    (speech / "mine.wav").write_bytes(b"user data")
    with pytest.raises(EmbeddedCorpusError, match=r"holds mine.wav; move them elsewhere"):
        ensure_embedded_corpus(speech / "train.tsv")
    assert (speech / "mine.wav").read_bytes() == b"user data"
