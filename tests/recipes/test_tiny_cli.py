"""The tiny recipes: every one trains a few steps end-to-end from the CLI (the installed file),
and recipes/tiny/run.sh (which trains the checkout's links to them) works."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from audiogan.data.synthetic import build_synthetic_clips, build_synthetic_corpus
from audiogan.recipes import tiny_recipe, tiny_recipe_names
from audiogan.training import checkpoint as ckpt

TINY = Path(__file__).resolve().parents[2] / "recipes" / "tiny"
MODELS = tiny_recipe_names()


@pytest.fixture(scope="module")
def corpora(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny_data")
    speech = build_synthetic_corpus(root / "speech", num_utterances=12, seed=0,
                                    valid_fraction=0.2)
    digits = build_synthetic_clips(root / "digits", num_clips=16, seed=0)
    return {"speech": speech["train"].parent, "digits": digits["train"].parent}


@pytest.mark.parametrize("model", MODELS)
def test_tiny_recipe_trains_from_the_cli(model: str, corpora, tmp_path: Path) -> None:
    if model == "wavegan":
        data = ["--set", f"data.train={corpora['digits'] / 'train.tsv'}"]
    else:
        data = ["--set", f"data.train={corpora['speech'] / 'train.tsv'}",
                "--set", f"data.valid={corpora['speech'] / 'valid.tsv'}",
                "--set", "training.discriminator_start_step=1"]
    run = tmp_path / model
    result = subprocess.run(
        [sys.executable, "-m", "audiogan", "train", str(tiny_recipe(model)), "-o", str(run),
         "--device", "cpu", "--set", "training.max_steps=2", "--set", "training.valid_every=2",
         "--set", "training.valid_clips=1", *data],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"trained to step 2 in {run}" in result.stdout
    state = ckpt.load_checkpoint(ckpt.step_path(run, 2))
    assert state["step"] == 2 and state["config"]["generator"]["name"] == model
    history = [line for line in (run / "metrics.jsonl").read_text().splitlines() if line]
    assert len(history) >= 2
    if model != "wavegan":  # the discriminator joined at step 1
        assert '"d_loss"' in history[-2]


def test_tiny_train_bad_override_is_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "audiogan", "train", str(TINY / "hifigan.yaml"), "-o",
         str(tmp_path / "r"), "--set", "training.batch_sise=2"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert "batch_sise" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("bash") is None, reason="run.sh needs bash")
def test_run_sh_stages_0_and_1(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        ["bash", str(TINY / "run.sh"), "--stop-stage", "1", "--steps", "2", "--models",
         "hifigan wavegan", "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=900, env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for model in ("hifigan", "wavegan"):
        assert ckpt.step_path(tmp_path / "out" / model, 2).is_file()
    assert (tmp_path / "out" / "data" / "speech" / "train.tsv").is_file()
    # Re-running continues the runs (train --resume) instead of being refused; more steps go on.
    again = subprocess.run(
        ["bash", str(TINY / "run.sh"), "--stage", "1", "--stop-stage", "1", "--steps", "3",
         "--models", "hifigan", "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=900, env=env,
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert "trained to step 3" in again.stdout
    assert ckpt.step_path(tmp_path / "out" / "hifigan", 3).is_file()


def test_train_twice_into_one_run_directory(corpora, tmp_path: Path) -> None:
    # What the recipes do on a re-run: --resume continues (or starts a new directory); without
    # it, another run's directory is refused in one line instead of mixed and pruned.
    from click.testing import CliRunner

    from audiogan.cli.main import cli

    run = tmp_path / "run"
    args = ["train", str(TINY / "hifigan.yaml"), "-o", str(run), "--device", "cpu",
            "--set", f"data.train={corpora['speech'] / 'train.tsv'}",
            "--set", f"data.valid={corpora['speech'] / 'valid.tsv'}",
            "--set", "training.max_steps=1", "--set", "training.valid_clips=1"]
    first = CliRunner().invoke(cli, [*args, "--resume"])  # a new directory: starts afresh
    assert first.exit_code == 0, first.output
    before = ckpt.step_path(run, 1).read_bytes()
    refused = CliRunner().invoke(cli, args)
    assert refused.exit_code == 2
    lines = [x for x in refused.stderr.splitlines() if x.startswith("error:")]
    assert len(lines) == 1 and str(run) in lines[0] and "--resume" in lines[0], refused.stderr
    assert ckpt.step_path(run, 1).read_bytes() == before
    again = CliRunner().invoke(cli, [*args, "--resume", "--set", "training.max_steps=2"])
    assert again.exit_code == 0, again.output
    assert f"trained to step 2 in {run}" in again.stdout


def test_tiny_parallel_wavegan_synthesizes_the_same_audio_for_a_seed(corpora,
                                                                      tmp_path: Path) -> None:
    """The tiny Parallel WaveGAN trained from the CLI; `synthesize --seed` on its run gives the
    same files byte for byte, and another seed other audio."""
    from click.testing import CliRunner

    from audiogan.cli.main import cli

    run = tmp_path / "run"
    trained = CliRunner().invoke(cli, [
        "train", str(tiny_recipe("parallel_wavegan")), "-o", str(run), "--device", "cpu",
        "--set", f"data.train={corpora['speech'] / 'train.tsv'}",
        "--set", f"data.valid={corpora['speech'] / 'valid.tsv'}",
        "--set", "training.max_steps=2", "--set", "training.discriminator_start_step=1",
        "--set", "training.valid_clips=1"])
    assert trained.exit_code == 0, trained.output
    wavs = corpora["speech"] / "wavs"
    outputs = {}
    for name, seed in (("a", "7"), ("b", "7"), ("c", "8")):
        result = CliRunner().invoke(cli, ["synthesize", str(run), str(wavs), "-o",
                                          str(tmp_path / name), "--seed", seed,
                                          "--batch-size", "2"])
        assert result.exit_code == 0, result.output
        outputs[name] = {p.relative_to(tmp_path / name): p.read_bytes()
                         for p in sorted((tmp_path / name).rglob("*.wav"))}
    assert len(outputs["a"]) == 12
    assert outputs["a"] == outputs["b"]
    assert all(outputs["c"][key] != data for key, data in outputs["a"].items())
