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


def test_feature_spec_of_a_hand_built_config_names_the_unresolved_size() -> None:
    resolved = config_from_dict(VALID)
    spec = resolved.feature_spec()
    assert (spec.profile, spec.sample_rate, spec.n_fft, spec.hop_length, spec.win_length,
            spec.n_mels, spec.f_min, spec.f_max) == ("hifigan", 22050, 1024, 256, 1024, 80,
                                                     0.0, 8000.0)
    # Config(...) by hand keeps the features' None sizes: feature_spec says which one
    features = dataclasses.replace(resolved.features, hop_length=None, n_mels=None)
    with pytest.raises(TypeError, match=r"features\.hop_length is None.*load_config"):
        dataclasses.replace(resolved, features=features).feature_spec()


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


# ------------------------------------------------------------------ issue 11: one line per fault


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("training.batch_size=.nan", "training.batch_size: expected an integer, got nan"),
        ("training.max_steps=.inf", "training.max_steps: expected an integer, got inf"),
        ("optim.generator.lr=.nan", "optim.generator.lr: expected a finite number"),
        ("loss.weights.mel=.inf", "loss.weights.mel: expected a finite number"),
        ("optim.generator.lr=-1", "optim.generator.lr must be positive"),
        ("optim.discriminator.eps=0", "optim.discriminator.eps must be positive"),
        ("optim.generator.weight_decay=-0.1", "optim.generator.weight_decay must be >= 0"),
        ("optim.generator.betas=[0.8, 1.0]", "optim.generator.betas[1] must be in [0, 1)"),
        ("scheduler.gamma=0", "scheduler.gamma must be in (0, 1]"),
        ("scheduler.gamma=1.5", "scheduler.gamma must be in (0, 1]"),
        ("training.seed=-1", "training.seed must be >= 0"),
        ("training.valid_clips=-2", "training.valid_clips must be >= 0"),
        ("training.num_workers=-1", "training.num_workers must be >= 0"),
        ("training.grad_accumulation=3", "must be a multiple of training.grad_accumulation"),
        ("loss.weights.mel=-45", "loss.weights.mel must be >= 0"),
        ("loss.gradient_penalty=-1", "loss.gradient_penalty must be >= 0"),
        ("loss.stft.fft_sizes=[0, 2048, 512]", "loss.stft.fft_sizes[0] must be positive"),
        ("loss.stft.win_lengths=[2000, 1200, 240]", "loss.stft.win_lengths[0]=2000 exceeds"),
        ("loss.mel.f_min=-5", "loss.mel.f_min must be >= 0"),
        ("sample_rate=1000000000", "sample_rate must be between 1 and"),
        ("features.n_mels=0", "features.n_mels must be positive"),
        ("data.labels=[a, a]", "data.labels must be unique"),
        ("discriminator.params.bogus=1", "discriminator.params:"),
    ],
)
def test_bad_numbers_are_one_config_error_naming_the_key(config_file: Path, override: str,
                                                          fragment: str) -> None:
    # Before: NaN/inf integers raised a bare ValueError/OverflowError (a traceback), and
    # negative rates, NaN floats and unknown discriminator params were accepted.
    with pytest.raises(ConfigError) as info:
        load_config(config_file, [override])
    message = str(info.value)
    assert fragment in message
    assert config_file.name in message and f"--set {override}" in message
    assert "\n" not in message


def test_milestones_must_increase(config_file: Path) -> None:
    with pytest.raises(ConfigError, match=r"scheduler.milestones must be increasing"):
        load_config(config_file, ["scheduler={name: multistep, milestones: [100, 50]}"])


def test_unconditional_generator_with_spectral_loss_is_refused_at_load(config_file) -> None:
    # Before: accepted by load_config; the trainer raised a bare ValueError after building.
    overrides = ["generator={name: wavegan, params: {model_size: 8}}",
                 "discriminator={name: wavegan, params: {model_size: 8}}",
                 "sample_rate=16000", "training.segment_length=16384"]
    with pytest.raises(ConfigError, match=r"loss.weights.mel: spectral terms"):
        load_config(config_file, overrides)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "the file is empty; a recipe needs at least generator"),
        (b"# only a comment\n", "the file is empty"),
        (b"sample_rate: 22050\ngenerator: {name: hifi\xff}\n",
         "not UTF-8 text (byte 0xff at offset 41); save the recipe as UTF-8"),
        (b"sample_rate: 22050\ngenerator: {name: hifigan\n", "not valid YAML at line 3, column 1"),
        (b"!!python/object/apply:os.system ['true']\n", "not valid YAML at line 1"),
        (b"a: " + b"[" * 1100 + b"]" * 1100 + b"\n", "nested too deeply"),
        (b"- 1\n", "expected a mapping at the top level (key: value lines), got list"),
        (b"generator: {name: hifigan}\n", "missing required key discriminator; add it"),
    ],
)
def test_bad_recipe_files_are_one_line(tmp_path: Path, content: bytes, fragment: str) -> None:
    # Before: a non-UTF-8 file and deep nesting gave tracebacks; YAML errors spanned lines.
    path = tmp_path / "recipe.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(str(path)) and fragment in message
    assert "\n" not in message


def test_a_directory_or_huge_file_is_not_read_as_a_recipe(tmp_path: Path) -> None:
    folder = tmp_path / "recipes"
    folder.mkdir()
    (folder / "hifigan.yaml").write_text(yaml.safe_dump(VALID))
    with pytest.raises(ConfigError, match=r"is a directory; pass the recipe YAML file \(e.g. "):
        load_config(folder)
    huge = tmp_path / "huge.yaml"
    huge.write_text("#" * (2 * 1024**2))
    with pytest.raises(ConfigError, match="too large for a recipe"):
        load_config(huge)


def test_an_alias_bomb_is_refused_before_it_is_expanded(tmp_path: Path) -> None:
    # 10**6 values from a few hundred bytes; before, the copy expanded all of them.
    lines = ["a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    for prev, name in zip("abcde", "bcdef"):
        lines.append(f"{name}: &{name} [{', '.join([f'*{prev}'] * 10)}]")
    lines.append("generator: {name: hifigan, params: {preset: v1, x: *f}}")
    lines.append("discriminator: {name: combined}")
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError, match="YAML aliases expanded"):
        load_config(path)


def test_set_names_the_override_and_suggests_the_key(config_file: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(config_file, ["training.bach_size=3"])
    message = str(info.value)
    assert "--set training.bach_size=3: unknown key training.bach_size" in message
    assert "(did you mean training.batch_size?)" in message
    with pytest.raises(ConfigError, match=r"--set training.batch_size.x=1: batch_size is 16"):
        load_config(config_file, ["training.batch_size.x=1"])
    with pytest.raises(ConfigError, match=r"--set =3: the key is empty"):
        load_config(config_file, ["=3"])


def test_save_config_is_atomic_on_a_full_disk(config_file: Path, tmp_path: Path,
                                              monkeypatch) -> None:
    from audiogan.core import faults

    config = load_config(config_file)
    target = save_config(config, tmp_path / "run" / "config.yaml")
    before = target.read_bytes()
    monkeypatch.setattr(faults, "_hits", faults.Counter())
    monkeypatch.setenv("AUDIOGAN_FAULT", "atomic.before_rename=enospc")
    with pytest.raises(OSError):
        save_config(load_config(config_file, ["training.batch_size=4"]), target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in target.parent.iterdir()) == ["config.yaml"]


@pytest.mark.parametrize(("nested", "fragment"), [
    ({"cqtd_params": {"bins_per_octaves": [24]}},
     "discriminator.params.cqtd_params: hop_lengths, n_octaves and bins_per_octaves need one "
     "entry per sub-discriminator each, got [512, 256, 256], [9, 9, 9], [24]"),
    ({"cqtd_params": {"bogus": 1}},
     "discriminator.params.cqtd_params: got an unexpected keyword argument 'bogus'; valid keys "
     "here: hop_lengths, n_octaves, bins_per_octaves"),
    ({"cqtd_params": {"hop_lengths": 256}}, "discriminator.params.cqtd_params.hop_lengths must "
     "be a non-empty list"),
    ({"cqtd_params": [24]}, "discriminator.params.cqtd_params must be a mapping"),
    ({"mpd_params": {"bogus": 1}}, "discriminator.params.mpd_params: got an unexpected keyword "
     "argument 'bogus'; valid keys here: channels,"),
    ({"mrd_params": {"periods": [2]}}, "discriminator.params.mrd_params: got an unexpected"),
])
def test_bad_nested_discriminator_params_fail_at_load(nested: dict, fragment: str) -> None:
    """combined's *_params go to one part's constructor each: their keys and the CQT's list
    lengths are checked with the config, not first when the model is built."""
    params = {"periods": [2, 3], "scales": 0, "cqtd": True, "resolutions": [[512, 128, 512]]}
    good = {**VALID, "discriminator": {"name": "combined", "params": params}}
    config_from_dict({**good, "discriminator": {"name": "combined", "params": {
        **params, "cqtd_params": {"bins_per_octaves": [24, 36, 48], "filters": 8}}}})
    with pytest.raises(ConfigError) as info:
        config_from_dict({**good, "discriminator": {"name": "combined",
                                                    "params": {**params, **nested}}})
    assert fragment in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(ConfigError, match=r"^discriminator.params: hop_lengths, n_octaves"):
        config_from_dict({**good, "discriminator": {"name": "cqtd", "params": {
            "n_octaves": [9, 9]}}})
