"""Fine-tuning from imported models: export keeps an imported discriminator, training.init_from
takes a bare jik876 checkpoint, the adversarial start (discriminator warm-up) and the
recipes/finetune mechanics on a tiny jik876-layout generator."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml
from click.testing import CliRunner
from jik_layout import TINY_CONFIG, discriminator_state, generator_state, reference_forward
from jik_layout import write_checkpoint as write_jik
from safetensors.torch import load_file

from audiogan.cli.main import cli
from audiogan.config import ConfigError, config_from_dict
from audiogan.config.build import discriminator_from_config, generator_from_config
from audiogan.inference.imports import DISCRIMINATOR_NAME, convert_in_memory, import_model
from audiogan.models.layers import remove_weight_norm
from audiogan.training.preflight import check_training_inputs
from audiogan.training.state import init_weights
from audiogan.training.trainer import Trainer

ROOT = Path(__file__).resolve().parents[2]
SR = TINY_CONFIG["sampling_rate"]  # 8000 Hz, hop 16, 8 mels
TINY_DISC = {"periods": [2, 3], "scales": 1, "mpd_params": {"channels": [4, 8, 16, 16, 16]},
             "msd_params": {"channels": [16, 16, 32, 32, 32, 32, 32]}}


def _jik_dir(root: Path, *, discriminator: bool) -> Path:
    """A jik876 checkpoint directory: g_00001000 + config.json [+ do_00001000]."""
    path = write_jik(root, TINY_CONFIG)
    if discriminator:
        torch.save(discriminator_state(), root / "do_00001000")
    return path


def _mel(frames: int = 12) -> torch.Tensor:
    return -5.0 + 2.0 * torch.randn(1, 8, frames, generator=torch.Generator().manual_seed(3))


def _reference(mel: torch.Tensor) -> torch.Tensor:
    return reference_forward(generator_state(TINY_CONFIG, 8), TINY_CONFIG, mel).float()


def _trainer_parts(config) -> SimpleNamespace:  # what init_weights touches
    return SimpleNamespace(generator=generator_from_config(config),
                           discriminator=discriminator_from_config(config), config=config)


def _plain_output(generator: torch.nn.Module, mel: torch.Tensor) -> torch.Tensor:
    model = remove_weight_norm(copy.deepcopy(generator)).eval()
    with torch.no_grad():
        return model(mel)


# ------------------------------------------------------------------ export of an imported model


def test_export_keeps_the_discriminator_of_an_imported_model(tmp_path: Path) -> None:
    import_model(_jik_dir(tmp_path / "cp", discriminator=True), tmp_path / "model")
    imported = (tmp_path / "model" / DISCRIMINATOR_NAME).read_bytes()
    runner = CliRunner()
    result = runner.invoke(cli, ["export", str(tmp_path / "model"), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert DISCRIMINATOR_NAME in result.output
    assert (tmp_path / "out" / DISCRIMINATOR_NAME).read_bytes() == imported
    # in place (e.g. adding a format to the imported directory) was refused as "not a model
    # directory"; it keeps the file too
    result = runner.invoke(cli, ["export", str(tmp_path / "model"), "-o", str(tmp_path / "model")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "model" / DISCRIMINATOR_NAME).read_bytes() == imported

    # training.init_from on the exported directory starts both parts from the imported weights
    config = convert_in_memory(tmp_path / "cp").config
    parts = _trainer_parts(config)
    init_weights(parts, tmp_path / "out")  # type: ignore[arg-type]
    expected = load_file(tmp_path / "model" / DISCRIMINATOR_NAME)
    got = parts.discriminator.state_dict()
    assert all(torch.equal(got[k], v) for k, v in expected.items())
    mel = _mel()
    assert float((_plain_output(parts.generator, mel) - _reference(mel)).abs().max()) <= 1e-5


def test_export_refuses_an_unreadable_discriminator_and_writes_nothing(tmp_path: Path) -> None:
    import_model(_jik_dir(tmp_path / "cp", discriminator=True), tmp_path / "model")
    (tmp_path / "model" / DISCRIMINATOR_NAME).write_bytes(b"\x00" * 32)
    result = CliRunner().invoke(cli, ["export", str(tmp_path / "model"), "-o",
                                      str(tmp_path / "out")])
    assert result.exit_code == 2
    line = result.output.strip()
    assert "\n" not in line and DISCRIMINATOR_NAME in line and "unreadable" in line
    assert not (tmp_path / "out").exists()


def test_export_of_a_model_without_discriminator_writes_none(tmp_path: Path) -> None:
    import_model(_jik_dir(tmp_path / "cp", discriminator=False), tmp_path / "model")
    result = CliRunner().invoke(cli, ["export", str(tmp_path / "model"), "-o",
                                      str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "out" / DISCRIMINATOR_NAME).exists()


# ------------------------------------------------------------- init_from a bare jik876 file


@pytest.mark.parametrize("discriminator", [True, False], ids=["g_+do_", "g_only"])
def test_init_from_a_bare_jik876_checkpoint_converts_it(tmp_path: Path,
                                                         discriminator: bool) -> None:
    g_file = _jik_dir(tmp_path / "cp", discriminator=discriminator)
    config = convert_in_memory(g_file).config
    parts = _trainer_parts(config)
    fresh_d = copy.deepcopy(parts.discriminator.state_dict())
    assert init_weights(parts, g_file) == g_file  # type: ignore[arg-type]
    mel = _mel()
    assert float((_plain_output(parts.generator, mel) - _reference(mel)).abs().max()) <= 1e-5
    got = parts.discriminator.state_dict()
    if discriminator:  # the do_ file beside it: as `audiogan import` converts it
        import_model(g_file, tmp_path / "model")
        expected = load_file(tmp_path / "model" / DISCRIMINATOR_NAME)
        assert all(torch.equal(got[k], v) for k, v in expected.items())
    else:
        assert all(torch.equal(got[k], v) for k, v in fresh_d.items())


def test_init_from_a_jik876_file_passes_preflight_or_names_the_mismatch(tmp_path: Path) -> None:
    g_file = _jik_dir(tmp_path / "cp", discriminator=False)
    data = _config_dict(tmp_path, init_from=str(g_file))
    check_training_inputs(config_from_dict(data))  # accepted
    data["generator"] = {"name": "melgan", "params": {"upsample_rates": [4, 4]}}
    with pytest.raises(ConfigError, match=r"training.init_from: .*'hifigan' generator"):
        check_training_inputs(config_from_dict(data))


def test_init_from_warns_when_the_configured_generator_computes_otherwise(
        tmp_path: Path, caplog) -> None:
    g_file = _jik_dir(tmp_path / "cp", discriminator=False)
    config = convert_in_memory(g_file).config
    data = _config_dict(tmp_path, init_from=str(g_file))
    data["generator"]["params"]["post_negative_slope"] = 0.1  # not the reference's 0.01
    caplog.set_level("WARNING")
    init_weights(_trainer_parts(config_from_dict(data)), g_file)  # type: ignore[arg-type]
    assert "post_negative_slope" not in caplog.text  # generic: named by its effect
    assert "option that changes the output" in caplog.text
    caplog.clear()
    init_weights(_trainer_parts(config), g_file)  # type: ignore[arg-type]
    assert "changes the output" not in caplog.text


# ------------------------------------------------- discriminator warm-up (adversarial start)


def _corpus(root: Path, n: int = 6, seconds: float = 0.5) -> Path:
    """Harmonic chirps at 8 kHz in a folder; returns the folder."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rows = ["path\tnum_samples\tsample_rate"]
    for i in range(n):
        t = np.arange(int(SR * seconds)) / SR
        phase = 2 * np.pi * np.cumsum(120 + 20 * i + 60 * t) / SR
        x = sum(0.25 / k * np.sin(k * phase) for k in range(1, 5))
        x = (x + 0.01 * rng.standard_normal(t.size)).astype(np.float32)
        sf.write(root / f"clip{i}.wav", x, SR)
        rows.append(f"clip{i}.wav\t{t.size}\t{SR}")
    (root / "train.tsv").write_text("\n".join(rows) + "\n")
    (root / "valid.tsv").write_text("\n".join(rows[:2]) + "\n")
    return root


def _config_dict(tmp_path: Path, **training) -> dict:
    """The imported tiny model's config with a tiny discriminator and a few-step loop."""
    corpus = _corpus(tmp_path / "data")
    g_file = tmp_path / "cp" / "g_00001000"
    data = convert_in_memory(g_file).config.to_dict()
    data["discriminator"] = {"name": "combined", "params": TINY_DISC}
    data["training"] = {"batch_size": 2, "segment_length": 1024, "max_steps": 4,
                        "num_workers": 0, "log_every": 1, "valid_every": 1000,
                        "checkpoint_every": 1000, "valid_clips": 1, "num_samples": 1,
                        "seed": 3, **training}
    data["data"] = {"train": str(corpus / "train.tsv"), "valid": str(corpus / "valid.tsv")}
    return data


def test_adversarial_start_warms_the_discriminator_up_first(tmp_path: Path) -> None:
    _jik_dir(tmp_path / "cp", discriminator=False)
    import_model(tmp_path / "cp" / "g_00001000", tmp_path / "model")
    data = _config_dict(tmp_path, init_from=str(tmp_path / "model"),
                        discriminator_start_step=0, adversarial_start_step=2)
    trainer = Trainer(config_from_dict(data), tmp_path / "run", device="cpu", console=False)
    mel = _mel()
    # init_from loaded the imported weights
    assert float((_plain_output(trainer.generator, mel) - _reference(mel)).abs().max()) <= 1e-5
    d_before = copy.deepcopy(trainer.discriminator.state_dict())
    history = trainer.fit().history  # one stats dict per step, from step 0
    assert len(history) == 4
    for stats in history[:2]:  # steps 0 and 1: D trains, G gets the mel loss only
        assert "d_loss" in stats and "g_mel" in stats
        assert "g_adversarial" not in stats and "g_feature_matching" not in stats
    for stats in history[2:]:  # from step 2 on the discriminator drives G
        assert "g_adversarial" in stats and "g_feature_matching" in stats
    d_after = trainer.discriminator.state_dict()
    assert any(not torch.equal(d_after[k], v) for k, v in d_before.items())


def test_adversarial_start_before_the_discriminator_is_refused() -> None:
    with pytest.raises(ConfigError, match="adversarial_start_step=5 is before"):
        config_from_dict({"generator": {"name": "hifigan"},
                          "discriminator": {"name": "combined"},
                          "training": {"discriminator_start_step": 10,
                                       "adversarial_start_step": 5}})


# ------------------------------------------------------------------ recipes/finetune mechanics


def test_finetune_recipe_runs_end_to_end_on_a_tiny_model(tmp_path: Path) -> None:
    """run.sh stages 0-4 on a tiny jik876-layout g_ file, 8 clips (2 held back), 3 steps."""
    g_file = _jik_dir(tmp_path / "cp", discriminator=False)
    clips = _corpus(tmp_path / "clips", n=8)
    for name in ("train.tsv", "valid.tsv"):
        (clips / name).unlink()
    config = yaml.safe_load((ROOT / "recipes/finetune/hifigan_v1_universal.yaml").read_text())
    tiny = convert_in_memory(g_file).config.to_dict()
    config.update(sample_rate=SR, features=tiny["features"], generator=tiny["generator"],
                  discriminator={"name": "combined", "params": TINY_DISC})
    config["training"].update(batch_size=2, segment_length=1024, max_steps=3, num_workers=0,
                              adversarial_start_step=2, log_every=1, valid_every=3,
                              checkpoint_every=3, valid_clips=1, num_samples=1)
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(config))
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    result = subprocess.run(
        ["bash", str(ROOT / "recipes/finetune/run.sh"), "--source", str(g_file), "--data",
         str(clips), "--held-back", "2", "--out", str(tmp_path / "exp"), "--config",
         str(tmp_path / "tiny.yaml"), "--device", "cpu"],
        capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    manifests = tmp_path / "exp" / "manifests"
    held_in = (manifests / "finetune_train.tsv").read_text().splitlines()[1:]
    held_back = (manifests / "heldback.tsv").read_text().splitlines()[1:]
    assert len(held_in) == 6 and len(held_back) == 2
    assert not {r.split("\t")[0] for r in held_in} & {r.split("\t")[0] for r in held_back}
    assert all(Path(r.split("\t")[0]).name in ("clip6.wav", "clip7.wav") for r in held_back)
    run = tmp_path / "exp" / "tiny"
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["training"]["init_from"] == str(tmp_path / "exp" / "imported")
    assert (tmp_path / "exp" / "eval_imported" / "summary.json").is_file()
    summary = (run / "eval" / "summary.json").read_text()
    assert "imported" in summary and "tiny" in summary


def test_finetune_recipe_help_and_bad_options() -> None:
    script = ROOT / "recipes/finetune/run.sh"
    result = subprocess.run(["bash", str(script), "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "Stages: 0 import" in result.stdout
    bad = subprocess.run(["bash", str(script), "--held-back", "x"], capture_output=True,
                         text=True)
    assert bad.returncode == 2 and "--held-back" in bad.stderr
