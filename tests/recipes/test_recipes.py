"""Recipes: every YAML loads; each run.sh downloads (loopback), prepares and trains a tiny model.

The run.sh tests serve archives built from tests/data/speech on 127.0.0.1 (see
test_corpora.py) and shrink the published configs with ``--set`` so that a CPU runs two steps.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from data.test_corpora import (
    DEV_DATA,
    LJ_IDS,
    _Server,
    build_libritts,
    build_ljspeech,
    build_speech_commands,
    build_vctk,
)
from training_helpers import SMALL_HIFIGAN

from audiogan.config import load_config
from audiogan.data.manifest import read_manifest
from audiogan.data.prepare import prepare_corpus

ROOT = Path(__file__).resolve().parents[2]
RECIPES = ROOT / "recipes"
YAMLS = sorted(RECIPES.glob("*/*.yaml"))
RUN_SCRIPTS = sorted(RECIPES.glob("*/run.sh"))

TINY_WAVEGAN = ("generator.params.model_size=4", "discriminator.params.model_size=4",
                "training.n_critic=1")
TINY_TRAINING = ("training.batch_size=2", "training.max_steps=2", "training.num_workers=0",
                 "training.log_every=1", "training.valid_every=2", "training.checkpoint_every=2",
                 "training.valid_clips=1", "training.num_samples=1")


@pytest.mark.parametrize("path", YAMLS, ids=[f"{p.parent.name}/{p.name}" for p in YAMLS])
def test_recipe_config_loads(path: Path) -> None:
    config = load_config(path)
    assert config.training.segment_length % (config.features.hop_length or 1) == 0
    if path.parent.name in ("vctk", "libritts"):
        assert config.sample_rate == 24000  # the multi-speaker recipes run at 24 kHz
    if path.parent.name == "folder":
        assert config.sample_rate == 44100


def test_every_recipe_has_its_files() -> None:
    expected = {
        "ljspeech": {"hifigan_v1", "hifigan_v2", "hifigan_v3", "melgan", "multiband_melgan",
                     "parallel_wavegan", "istft", "bigvgan_v2"},
        "vctk": {"hifigan_v1", "istft"},
        "libritts": {"hifigan_v1", "istft", "bigvgan_v2_24k"},
        "sc09": {"wavegan"},
        "folder": {"bigvgan_v2_44k", "bigvgan_v2_44k_256x"},
    }
    for corpus, configs in expected.items():
        folder = RECIPES / corpus
        assert {p.stem for p in folder.glob("*.yaml")} == configs
        assert (folder / "README.md").is_file() and os.access(folder / "run.sh", os.X_OK)
    assert "fine-tuning" in (RECIPES / "README.md").read_text().lower()


# ------------------------------------------------------------------------------ BigVGAN-v2

#: recipe -> (NVIDIA config it restates, i.e. the bigvgan preset, and its run.sh's corpus)
BIGVGAN_V2 = {
    "ljspeech/bigvgan_v2.yaml": "22khz_80band_256x",
    "libritts/bigvgan_v2_24k.yaml": "24khz_100band_256x",
    "folder/bigvgan_v2_44k.yaml": "44khz_128band_512x",
    "folder/bigvgan_v2_44k_256x.yaml": "44khz_128band_256x",
}


@pytest.mark.parametrize("name", sorted(BIGVGAN_V2))
def test_bigvgan_v2_recipes_are_nvidias_configs(name: str) -> None:
    """Each restates NVIDIA/BigVGAN's configs/bigvgan_v2_<preset>.json: features, generator,
    MPD + CQT discriminator, losses, clipping, optimiser, schedule and batch."""
    from audiogan.config.build import discriminator_from_config, loss_terms_from_config
    from audiogan.features.spec import BIGVGAN_FEATURES

    preset = BIGVGAN_V2[name]
    config = load_config(RECIPES / name)
    assert config.feature_spec() == BIGVGAN_FEATURES[preset]
    assert config.generator.name == "bigvgan" and config.generator.params == {"preset": preset}
    assert config.discriminator.name == "combined"
    assert config.discriminator.params == {"periods": [2, 3, 5, 7, 11], "scales": 0, "cqtd": True}
    with torch.device("meta"):
        disc = discriminator_from_config(config)
    assert list(disc.clip_groups()) == ["mpd", "cqtd"]
    assert disc.names[5:] == ["cqtd_h512_o9_b24", "cqtd_h256_o9_b36", "cqtd_h256_o9_b48"]
    convs = disc.parts[1].discriminators[0].convs
    assert [c.out_channels for c in convs] == [128, 128, 128, 128, 128]
    assert [c.dilation[0] for c in convs[1:4]] == [1, 2, 4]
    loss = config.loss
    assert loss.adversarial == "lsgan" and loss.feature_matching_reduction == "sum"
    assert loss.weights == {"adversarial": 1.0, "feature_matching": 2.0, "multiscale_mel": 15.0}
    mels = loss_terms_from_config(config).multiscale_mel.mels
    assert [(m.n_mels, m.n_fft, m.hop_length) for m in mels] == [
        (n, w, w // 4) for n, w in zip((5, 10, 20, 40, 80, 160, 320),
                                       (32, 64, 128, 256, 512, 1024, 2048))]
    assert all(m.sample_rate == config.sample_rate for m in mels)
    t = config.training
    assert (t.grad_clip, t.grad_clip_per_part) == (500.0, True)
    assert (t.batch_size, t.segment_length, t.max_steps, t.seed) == (4, 65536, 5_000_000, 1234)
    for optimizer in (config.optim.generator, config.optim.discriminator):
        assert (optimizer.name, optimizer.lr, optimizer.betas) == ("adamw", 1e-4, (0.8, 0.99))
    assert (config.scheduler.name, config.scheduler.gamma, config.scheduler.interval) == (
        "exponential", 0.9999996, "step")
    assert config.data.normalize == "peak"
    run_sh = (RECIPES / name).parent / "run.sh"
    readme = ((RECIPES / name).parent / "README.md").read_text()
    assert Path(name).name in readme
    default = re.search(r"^default_config=(\S+)$", run_sh.read_text(), re.M)
    assert default is not None
    if default.group(1) != Path(name).name:
        assert f"--config {Path(name).name}" in run_sh.read_text()


#: a few seconds a step on a CPU: one resblock, 64 -> 1 channels, slim MPD and CQT
TINY_BIGVGAN = ("generator.params.upsample_initial_channel=64",
                "generator.params.resblock_kernel_sizes=[3]",
                "generator.params.resblock_dilation_sizes=[[1]]",
                "discriminator.params.periods=[2, 3]",
                "discriminator.params.mpd_params={channels: [4, 8, 8, 8, 8]}",
                "discriminator.params.cqtd_params={filters: 4, max_filters: 8, "
                "hop_lengths: [256], n_octaves: [4], bins_per_octaves: [8]}",
                "training.segment_length=8192")


@pytest.mark.parametrize("name", sorted(BIGVGAN_V2))
def test_bigvgan_v2_recipes_train_two_steps_at_reduced_size(name: str, tmp_path: Path) -> None:
    """The recipe as it is (losses, per-part clipping, schedule) with --set overrides that
    shrink the models, on a synthetic corpus at its rate: two steps and a checkpoint."""
    from training_helpers import _write_corpus

    from audiogan.training.trainer import Trainer

    rate = load_config(RECIPES / name).sample_rate
    data = _write_corpus(tmp_path / "data", n=4, seconds=0.5, sr=rate).parent
    config = load_config(RECIPES / name, [
        *TINY_BIGVGAN, *TINY_TRAINING, "training.valid_every=1000", "training.num_samples=0",
        f"data.train={data / 'train.tsv'}", "data.valid=null"])
    assert (config.training.grad_clip, config.training.grad_clip_per_part) == (500.0, True)
    trainer = Trainer(config, tmp_path / "run", device="cpu", console=False)
    assert trainer.fit().step == 2
    assert (tmp_path / "run" / "checkpoints" / "step_00000002.pt").is_file()
    logged = (tmp_path / "run" / "metrics.jsonl").read_text()
    for key in ("g_multiscale_mel", "d_grad_norm_mpd", "d_grad_norm_cqtd"):
        assert f'"{key}"' in logged, key


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _run(script: Path, *args: str, env: dict[str, str] | None = None,
         timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(script), *args], capture_output=True, text=True,
                          timeout=timeout, env=env or _env(), cwd=ROOT)


@pytest.mark.parametrize("script", RUN_SCRIPTS, ids=[p.parent.name for p in RUN_SCRIPTS])
def test_run_sh_syntax_and_help(script: Path) -> None:
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    if script.parent.name == "tiny":
        return
    result = _run(script, "--help")
    assert result.returncode == 0 and "--stop-stage" in result.stdout
    first = "Stages: 0 import" if script.parent.name == "finetune" else "Stages: 0 download"
    assert first in result.stdout
    bad = _run(script, "--bogus")
    assert bad.returncode == 2 and "unknown option --bogus" in bad.stderr


def test_every_command_the_recipes_call_exists() -> None:
    # The recipes call each stage's command directly (no "is it there yet?" fallback), so a
    # renamed or removed command must fail here rather than halfway through a recipe.
    from audiogan.cli.main import cli

    scripts = [RECIPES / "common.sh", *RUN_SCRIPTS]
    called = {m.group(1) for path in scripts
              for m in re.finditer(r"^\s*audiogan ([a-z][a-z-]*)", path.read_text(), re.M)}
    assert {"prepare", "train", "synthesize", "generate", "evaluate", "train-classifier",
            "import"} <= called
    assert called <= set(cli.commands), called - set(cli.commands)
    for path in scripts:
        assert "has_command" not in path.read_text(), path


# ------------------------------------------------------------------------------ fine-tuning


def test_tts_pairs_prepared_by_folder_train_with_init_from(dev_data: Path, tmp_path: Path) -> None:
    """The documented layout (wavs/ + mels/ + init_from) trains: recipes/README.md."""
    from audiogan.features.mel import MelSpectrogram
    from audiogan.training.trainer import Trainer

    pairs = tmp_path / "pairs"
    (pairs / "wavs").mkdir(parents=True)
    (pairs / "mels").mkdir()
    features = MelSpectrogram("hifigan")
    for uid in LJ_IDS[:6]:
        data, sr = sf.read(dev_data / "ljspeech" / f"{uid}.wav", dtype="float32")
        data = data[: sr]
        sf.write(pairs / "wavs" / f"{uid}.wav", data, sr)
        # stands in for a TTS model's ground-truth-aligned mel: one frame short is tolerated
        mel = features(torch.from_numpy(data)[None])[0].numpy()[:, :-1]
        np.save(pairs / "mels" / f"{uid}.npy", mel)
    result = prepare_corpus("folder", pairs / "wavs", mel_dir=pairs / "mels",
                            out=pairs / "manifests", progress=False)
    assert result is not None
    assert all(e.mel_path for e in read_manifest(result.manifests["train"]))
    overrides = [*SMALL_HIFIGAN, *TINY_TRAINING, "training.max_steps=1",
                 f"data.train={result.manifests['train']}", "data.valid=null"]
    config = load_config(RECIPES / "ljspeech" / "hifigan_v1.yaml", overrides)
    Trainer(config, tmp_path / "base", device="cpu", console=False).fit()
    tuned = load_config(RECIPES / "ljspeech" / "hifigan_v1.yaml",
                        [*overrides, f"training.init_from={tmp_path / 'base'}"])
    trainer = Trainer(tuned, tmp_path / "tuned", device="cpu", console=False)
    assert type(trainer.train_set).__name__ == "MelWavePairDataset"
    assert trainer.fit().step == 1


# ------------------------------------------------------------------------------ run.sh end to end


@pytest.fixture
def server(tmp_path: Path) -> Iterator[_Server]:
    (tmp_path / "www").mkdir()
    httpd = _Server(tmp_path / "www")
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _sets(*groups: tuple[str, ...]) -> list[str]:
    return [arg for group in groups for item in group for arg in ("--set", item)]


CASES = {
    "ljspeech": (build_ljspeech, [], SMALL_HIFIGAN, "hifigan_v1"),
    "vctk": (build_vctk, ["--mic", "mic2"], SMALL_HIFIGAN, "hifigan_v1"),
    "libritts": (build_libritts, [], SMALL_HIFIGAN, "hifigan_v1"),
    "sc09": (build_speech_commands, [], TINY_WAVEGAN, "wavegan"),
}


@pytest.mark.slow
@pytest.mark.parametrize("corpus", sorted(CASES))
def test_run_sh_download_prepare_train(corpus: str, server: _Server, tmp_path: Path) -> None:
    build, extra, tiny, config = CASES[corpus]
    (tmp_path / "build").mkdir()
    archive = build(DEV_DATA, tmp_path / "build")
    (server.root / archive.name).write_bytes(archive.read_bytes())
    root, out = tmp_path / "root", tmp_path / "exp"
    args = ["--stage", "0", "--stop-stage", "2", "--root", str(root), "--out", str(out),
            "--mirror", server.url, "--no-verify", "--jobs", "1", "--device", "cpu", *extra,
            *_sets(tiny, TINY_TRAINING)]
    result = _run(RECIPES / corpus / "run.sh", *args)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert [name for name, _ in server.log] == [archive.name]
    for split in ("train", "valid", "test"):
        assert read_manifest(root / "manifests" / f"{split}.tsv")
    run = out / config
    assert (run / "checkpoints" / "step_00000002.pt").is_file()
    assert "trained to step 2" in result.stdout
    # stage 1 again: nothing to do
    again = _run(RECIPES / corpus / "run.sh", "--stage", "1", "--stop-stage", "1", "--root",
                 str(root), *extra)
    assert again.returncode == 0 and "up to date (nothing to do)" in again.stdout


@pytest.mark.slow
def test_folder_run_sh_prepares_and_trains_bigvgan_v2(tmp_path: Path) -> None:
    """recipes/folder/run.sh on a folder of 44.1 kHz and 22.05 kHz clips: stage 0 only checks
    the folder, stage 1 resamples the 22.05 kHz clips to 44.1 kHz, stage 2 trains two steps."""
    from training_helpers import _write_corpus

    audio = tmp_path / "my_audio"
    _write_corpus(audio / "a", n=6, seconds=0.5, sr=44100)
    _write_corpus(audio / "b", n=2, seconds=0.5, sr=22050)
    for manifest in audio.rglob("*.tsv"):
        manifest.unlink()  # a folder of audio, nothing else
    out = tmp_path / "exp"
    args = ["--root", str(audio), "--out", str(out), "--stop-stage", "2", "--device", "cpu",
            *_sets(TINY_BIGVGAN, TINY_TRAINING)]
    result = _run(RECIPES / "folder" / "run.sh", *args)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "stage 0: nothing to download" in result.stdout
    entries = [e for split in ("train", "valid", "test")
               for e in read_manifest(audio / "manifests" / f"{split}.tsv")]
    assert len(entries) == 8 and {e.sample_rate for e in entries} == {44100}
    assert len(list((audio / "manifests" / "audio_44100").rglob("*.wav"))) == 2
    assert (out / "bigvgan_v2_44k" / "checkpoints" / "step_00000002.pt").is_file()
    missing = _run(RECIPES / "folder" / "run.sh", "--root", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "is not a directory" in missing.stderr
