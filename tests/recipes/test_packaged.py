"""audiogan.recipes: the tiny recipes ship inside the package, and the demo is built from them."""

from __future__ import annotations

import configparser
import os
from pathlib import Path

import pytest
import yaml

from audiogan.config import Config, config_from_dict, load_config
from audiogan.config.schema import ConfigError
from audiogan.recipes import (
    TINY_DIR,
    UnknownRecipeError,
    load_tiny_recipe,
    path_override,
    tiny_recipe,
    tiny_recipe_names,
)

ROOT = Path(__file__).resolve().parents[2]
NAMES = ["bigvgan", "hifigan", "istft", "melgan", "multiband_melgan", "parallel_wavegan",
         "wavegan"]


def test_every_generator_has_a_tiny_recipe() -> None:
    assert tiny_recipe_names() == NAMES
    assert TINY_DIR == ROOT / "audiogan" / "recipes" / "tiny"


@pytest.mark.parametrize("name", NAMES)
def test_every_tiny_recipe_loads(name: str) -> None:
    config = load_tiny_recipe(name)
    assert config.generator.name == name
    assert config.training.segment_length % config.features.hop_length == 0
    assert config.training.num_workers == 0  # small enough for a CPU, in-process loading
    assert config.data.train and config.data.train.endswith("train.tsv")


def test_setup_cfg_ships_the_tiny_recipes_in_a_wheel() -> None:
    # A wheel carries package data only when setup.cfg lists it: its globs must match exactly
    # the tiny recipe files (an installed audiogan finds them next to audiogan/recipes).
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    assert "audiogan, audiogan.*" in parser["options.packages.find"]["include"]
    shipped: set[Path] = set()
    for package, globs in parser["options.package_data"].items():
        folder = ROOT / package.replace(".", "/")
        assert (folder / "__init__.py").is_file(), package
        for pattern in globs.replace(",", " ").split():
            shipped |= set(folder.glob(pattern))
    assert shipped == {tiny_recipe(name) for name in NAMES}


@pytest.mark.parametrize("name", NAMES)
def test_the_checkout_recipes_tiny_files_are_the_packaged_ones(name: str) -> None:
    linked = ROOT / "recipes" / "tiny" / f"{name}.yaml"
    assert linked.is_symlink() and linked.resolve() == tiny_recipe(name)
    assert not os.path.isabs(os.readlink(linked))  # a link that works in any clone
    # paths in the recipe are relative to the file: the checkout's runs/tiny/data
    config = load_config(linked)
    assert config == load_tiny_recipe(name)
    assert Path(config.data.train).parent.parent == ROOT / "runs" / "tiny" / "data"


def test_unknown_tiny_recipe_is_one_line_listing_the_names() -> None:
    for bad in ("hifigan_v1", "../tiny/hifigan", "hifigan.yaml"):
        with pytest.raises(UnknownRecipeError) as info:
            tiny_recipe(bad)
        message = str(info.value)
        assert "\n" not in message and repr(bad) in message
        assert "hifigan, istft, melgan, multiband_melgan, parallel_wavegan, wavegan" in message
    assert issubclass(UnknownRecipeError, ConfigError)


def test_overrides_apply_and_bad_ones_name_the_key() -> None:
    config = load_tiny_recipe("melgan", ["training.max_steps=3", "generator.params.channels=32"])
    assert config.training.max_steps == 3 and config.generator.params["channels"] == 32
    with pytest.raises(ConfigError, match=r"melgan\.yaml: .*training\.max_stpes"):
        load_tiny_recipe("melgan", ["training.max_stpes=3"])


@pytest.mark.parametrize("path", ["null", "a: b", "[x]", "123", "~/x y/t.tsv", " sp ",
                                  "é/\x85/😀", "it's \"q\"", "#c", "*a", "x" * 300])
def test_path_override_keeps_the_path_verbatim(path: str) -> None:
    text = path_override("data.train", path)
    assert text.startswith("data.train=") and "\n" not in text
    assert yaml.safe_load(text.split("=", 1)[1]) == path


# ------------------------------------------------------------------------- the demo's configs


def _recorded_vocoder(train: Path, valid: Path, steps: int) -> Config:
    """The demo's HiFi-GAN config as it was written out in full before the tiny recipes."""
    return config_from_dict({
        "sample_rate": 22050,
        "features": {"profile": "hifigan"},
        "generator": {"name": "hifigan", "params": {
            "preset": "v1", "upsample_initial_channel": 32}},
        "discriminator": {"name": "combined", "params": {
            "periods": [2, 3, 5], "scales": 2,
            "mpd_params": {"channels": [8, 16, 32, 64, 64]},
            "msd_params": {"channels": [16, 16, 32, 64, 64, 64, 64]}}},
        "loss": {"adversarial": "lsgan",
                 "weights": {"adversarial": 1.0, "feature_matching": 2.0, "mel": 45.0}},
        "optim": {"generator": {"name": "adamw", "lr": 1e-3, "betas": [0.8, 0.99]},
                  "discriminator": {"name": "adamw", "lr": 1e-3, "betas": [0.8, 0.99]}},
        "scheduler": {"name": "exponential", "gamma": 0.999, "interval": "epoch"},
        "training": {"batch_size": 4, "segment_length": 8192, "max_steps": steps,
                     "discriminator_start_step": int(steps * 0.8), "num_workers": 0,
                     "log_every": 25, "valid_every": steps, "checkpoint_every": steps,
                     "keep_last": 1, "valid_clips": 4, "num_samples": 4},
        "data": {"train": str(train), "valid": str(valid), "normalize": "peak"},
    })


def _recorded_wavegan(train: Path, steps: int) -> Config:
    """The demo's WaveGAN config as it was written out in full before the tiny recipes."""
    adam = {"name": "adam", "lr": 1e-4, "betas": [0.5, 0.9], "weight_decay": 0.0}
    return config_from_dict({
        "sample_rate": 16000,
        "features": {"profile": "hifigan", "f_max": None},
        "generator": {"name": "wavegan", "params": {"model_size": 8, "num_classes": 10}},
        "discriminator": {"name": "wavegan", "params": {"model_size": 8, "num_classes": 10}},
        "loss": {"adversarial": "wgan_gp", "weights": {"adversarial": 1.0}},
        "optim": {"generator": adam, "discriminator": adam},
        "scheduler": {"name": "none"},
        "training": {"batch_size": 8, "segment_length": 16384, "max_steps": steps,
                     "n_critic": 5, "num_workers": 0, "log_every": 2, "valid_every": steps,
                     "checkpoint_every": steps, "keep_last": 1, "num_samples": 10},
        "data": {"train": str(train)},
    })


def _saved(config: Config) -> str:
    return yaml.safe_dump(config.to_dict(), sort_keys=False)


@pytest.mark.parametrize("quick", [True, False], ids=["quick", "full"])
@pytest.mark.parametrize("where", ["relative", "absolute", "odd"])
def test_demo_configs_equal_the_recorded_values(quick: bool, where: str, tmp_path: Path,
                                                monkeypatch) -> None:
    # The demo builds on the tiny recipes; its output stays byte-identical only if the
    # resulting configs equal (and save as) the ones it used to spell out in full.
    from audiogan.cli.demo import vocoder_config, wavegan_config

    monkeypatch.chdir(tmp_path)
    base = {"relative": Path("runs/demo"), "absolute": tmp_path / "demo",
            "odd": Path("null: [x]")}[where]
    train, valid = base / "speech" / "train.tsv", base / "speech" / "valid.tsv"
    steps = 300 if quick else 1200
    voc = vocoder_config(train, valid, quick=quick)
    assert voc == _recorded_vocoder(train, valid, steps)
    assert _saved(voc) == _saved(_recorded_vocoder(train, valid, steps))
    assert voc.data.train == str(tmp_path / train)  # relative to the working directory
    digits = base / "digits" / "train.tsv"
    wave = wavegan_config(digits, quick=quick)
    assert wave == _recorded_wavegan(digits, 4 if quick else 60)
    assert _saved(wave) == _saved(_recorded_wavegan(digits, 4 if quick else 60))
