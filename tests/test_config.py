"""Config: YAML -> frozen dataclasses, overrides, errors listing valid keys, cross-field checks."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from audiogan.config import (
    Config,
    ConfigError,
    config_from_dict,
    load_config,
    save_config,
)

VALID = {
    "sample_rate": 22050,
    "features": {"profile": "hifigan", "n_fft": 1024, "hop_length": 256, "win_length": 1024,
                 "n_mels": 80, "f_min": 0, "f_max": 8000},
    "generator": {"name": "hifigan", "params": {"preset": "v1"}},
    "discriminator": {"name": "combined", "params": {"periods": [2, 3, 5, 7, 11], "scales": 3}},
    "loss": {"adversarial": "lsgan",
             "weights": {"adversarial": 1.0, "feature_matching": 2.0, "mel": 45.0},
             "mel": {"f_max": None}},
    "optim": {"generator": {"name": "adamw", "lr": 2.0e-4, "betas": [0.8, 0.99],
                            "weight_decay": 0.01},
              "discriminator": {"name": "adamw", "lr": 2.0e-4, "betas": [0.8, 0.99],
                                "weight_decay": 0.01}},
    "scheduler": {"name": "exponential", "gamma": 0.999, "interval": "epoch"},
    "training": {"batch_size": 16, "segment_length": 8192, "max_steps": 2500000,
                 "precision": "fp32"},
    "data": {"train": "manifests/train.tsv", "valid": "manifests/valid.tsv", "normalize": "peak"},
}


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "recipe" / "hifigan.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(VALID))
    return path


def test_valid_yaml_loads_with_types(config_file: Path) -> None:
    config = load_config(config_file)
    assert isinstance(config, Config)
    assert config.generator.name == "hifigan" and config.generator.params == {"preset": "v1"}
    assert config.optim.generator.betas == (0.8, 0.99)
    assert isinstance(config.optim.generator.lr, float)
    assert config.features.f_max == 8000.0 and config.features.n_mels == 80
    assert config.loss.mel.f_max is None
    assert config.input_kind == "mel"
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.sample_rate = 16000  # type: ignore[misc]


def test_paths_are_relative_to_the_config_file(config_file: Path) -> None:
    config = load_config(config_file)
    assert config.data.train == str(config_file.parent / "manifests" / "train.tsv")


def test_override_paths_are_relative_to_cwd(config_file: Path, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(config_file, ["data.train=other.tsv"])
    assert config.data.train == str(tmp_path / "other.tsv")


def test_unknown_key_lists_valid_keys(config_file: Path) -> None:
    data = yaml.safe_load(config_file.read_text())
    data["training"]["batch_sise"] = 8
    config_file.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as info:
        load_config(config_file)
    message = str(info.value)
    assert config_file.name in message
    assert "training.batch_sise" in message
    assert "batch_size" in message and "segment_length" in message


def test_unknown_top_level_key(config_file: Path) -> None:
    expected = (r"unknown key sampel_rate \(did you mean sample_rate\?\); "
                r"valid keys here: .*sample_rate")
    with pytest.raises(ConfigError, match=expected):
        config_from_dict({**VALID, "sampel_rate": 1})


def test_overrides_apply_with_types_kept(config_file: Path) -> None:
    config = load_config(
        config_file,
        ["training.batch_size=8", "optim.generator.lr=1e-4", "generator.params.preset=v2",
         "training.precision=bf16", "loss.weights.mel=40"],
    )
    assert config.training.batch_size == 8 and isinstance(config.training.batch_size, int)
    assert config.optim.generator.lr == pytest.approx(1e-4)
    assert isinstance(config.optim.generator.lr, float)
    assert config.generator.params["preset"] == "v2"
    assert config.training.precision == "bf16"
    assert config.loss.weights["mel"] == 40.0 and isinstance(config.loss.weights["mel"], float)


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("training.batch_size=eight", "training.batch_size: expected an integer"),
        ("training.precision=fp64", "training.precision: 'fp64' is not one of"),
        ("features.f_max=20000", "f_max"),
        ("features.win_length=2048", "win_length"),
        ("training.segment_length=8000", "multiple of features.hop_length"),
        ("features.hop_length=512", "upsamples by 256"),
        ("loss.weights.mell=1", "valid keys here: adversarial"),
        ("loss.adversarial=wgan", "valid names"),
        ("generator.name=hifi", "valid names"),
        ("training.batch_size=0", "training.batch_size must be positive"),
        ("nokey", "must look like key.sub=value"),
    ],
)
def test_bad_values_fail_with_the_key_named(config_file: Path, override: str, fragment: str):
    with pytest.raises(ConfigError) as info:
        load_config(config_file, [override])
    assert fragment in str(info.value)


def test_profile_defaults_fill_omitted_features() -> None:
    data = {**VALID, "sample_rate": 24000, "features": {"profile": "vocos", "n_mels": 100}}
    data["generator"] = {"name": "istft", "params": {"preset": "small"}}
    config = config_from_dict(data)
    f = config.features
    assert (f.n_fft, f.hop_length, f.win_length, f.n_mels) == (1024, 256, 1024, 100)
    assert f.f_max is None  # vocos: sr/2


def test_explicit_null_f_max_means_nyquist() -> None:
    data = {**VALID, "features": {"profile": "hifigan", "f_max": None}}
    assert config_from_dict(data).features.f_max is None
    assert config_from_dict({**VALID, "features": {"profile": "hifigan"}}).features.f_max == 8000


def test_save_and_reload_round_trip(config_file: Path, tmp_path: Path) -> None:
    config = load_config(config_file, ["training.batch_size=4"])
    out = save_config(config, tmp_path / "saved" / "config.yaml")
    again = load_config(out)
    assert again == config
    assert not list(out.parent.glob("*.tmp"))


def test_unreadable_and_non_mapping_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="missing.yaml: config file not found; check the path"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "list.yaml"
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="list.yaml: expected a mapping"):
        load_config(bad)
