"""Config format versions: models written before a default changed load and sound as before.

``tests/data/hifigan_v1_model`` and ``hifigan_v1_checkpoint.pt`` were written by audiogan before
config versions existed (commit accc2b6), with ``hifigan_v1_expected.safetensors`` holding a mel
and the waveform that code produced from it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from audiogan.config import CONFIG_VERSION, ConfigError, config_from_dict, load_config
from audiogan.config.build import generator_from_config
from audiogan.inference.model_dir import load_model

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.mark.parametrize("source", ["hifigan_v1_model", "hifigan_v1_checkpoint.pt"])
def test_models_written_before_versions_sound_exactly_as_before(source: str) -> None:
    expected = load_file(str(DATA / "hifigan_v1_expected.safetensors"))
    loaded = load_model(DATA / source)
    assert loaded.config.version == CONFIG_VERSION
    assert loaded.config.generator.params["post_negative_slope"] is None  # = negative_slope
    with torch.no_grad():
        wave = loaded.generator(expected["mel"])
    assert torch.equal(wave, expected["wave"])


def test_a_recipe_without_version_is_current_and_gets_the_reference_slope() -> None:
    config = load_config(DATA / "hifigan_v1_model" / "config.yaml")  # read as a recipe
    assert config.version == CONFIG_VERSION
    assert "post_negative_slope" not in config.generator.params
    assert generator_from_config(config).post_negative_slope == 0.01
    old = load_config(DATA / "hifigan_v1_model" / "config.yaml", saved=True)
    assert generator_from_config(old).post_negative_slope == 0.1
    assert old.to_dict()["version"] == CONFIG_VERSION  # saved again: explicit and current
    again = config_from_dict(old.to_dict(), saved=True)
    assert again.generator.params["post_negative_slope"] is None


def test_the_slope_changes_the_output_and_explicit_values_win() -> None:
    data = yaml.safe_load((DATA / "hifigan_v1_model" / "config.yaml").read_text())
    data["version"] = 1
    data["generator"]["params"]["post_negative_slope"] = 0.01
    assert config_from_dict(data).generator.params["post_negative_slope"] == 0.01
    expected = load_file(str(DATA / "hifigan_v1_expected.safetensors"))
    loaded = load_model(DATA / "hifigan_v1_model")
    loaded.generator.post_activation.negative_slope = 0.01
    with torch.no_grad():
        assert not torch.allclose(loaded.generator(expected["mel"]), expected["wave"])


@pytest.mark.parametrize("version", [0, 99, "two", True])
def test_an_unknown_version_is_one_line(version: object) -> None:
    data = yaml.safe_load((DATA / "hifigan_v1_model" / "config.yaml").read_text())
    data["version"] = version
    with pytest.raises(ConfigError, match=r"^version: .* upgrade audiogan$"):
        config_from_dict(data)


def test_resuming_an_old_checkpoint_never_changes_a_default_silently() -> None:
    from audiogan.config.versions import legacy_mismatch

    state = torch.load(DATA / "hifigan_v1_checkpoint.pt", weights_only=True)
    saved = state["config"]
    recipe = yaml.safe_load((DATA / "hifigan_v1_model" / "config.yaml").read_text())
    message = legacy_mismatch(saved, config_from_dict(recipe))
    assert message is not None and message.startswith("generator.params.post_negative_slope:")
    assert "set generator.params.post_negative_slope: null" in message
    assert "post_negative_slope" not in saved["generator"]["params"]  # the state is untouched
    recipe["generator"]["params"]["post_negative_slope"] = None
    assert legacy_mismatch(saved, config_from_dict(recipe)) is None
    assert legacy_mismatch({**saved, "version": CONFIG_VERSION}, config_from_dict(recipe)) is None


@pytest.mark.parametrize("source", ["hifigan_v1_model", "hifigan_v1_checkpoint.pt"])
def test_init_from_an_old_model_warns_when_the_recipe_changes_a_default(source: str,
                                                                        caplog) -> None:
    # Defect: training.init_from skipped the version check, so a v1 model (slope 0.1) was
    # fine-tuned with the new default 0.01 without a word.
    from types import SimpleNamespace

    from audiogan.config.build import discriminator_from_config, generator_from_config
    from audiogan.training.state import init_weights

    recipe = yaml.safe_load((DATA / "hifigan_v1_model" / "config.yaml").read_text())

    def trainer_for(data: dict) -> SimpleNamespace:
        config = config_from_dict(data)
        return SimpleNamespace(config=config, generator=generator_from_config(config),
                               discriminator=discriminator_from_config(config))

    with caplog.at_level("WARNING", logger="audiogan.training.state"):
        init_weights(trainer_for(recipe), DATA / source)
    lines = [r.getMessage() for r in caplog.records if "post_negative_slope" in r.getMessage()]
    assert len(lines) == 1 and "\n" not in lines[0]
    assert "set generator.params.post_negative_slope: null" in lines[0]
    caplog.clear()
    recipe["generator"]["params"]["post_negative_slope"] = None  # the model's own value
    with caplog.at_level("WARNING", logger="audiogan.training.state"):
        init_weights(trainer_for(recipe), DATA / source)
    assert "post_negative_slope" not in caplog.text
