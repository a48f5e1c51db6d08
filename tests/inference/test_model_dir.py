"""load_model on hand-made checkpoints, run directories and model directories: what each gives
(weights, step, EMA, statistics, classes, source) and the one-line errors of broken ones.

Best-over-latest preference, a truncated best.pt or newest checkpoint, EMA preference, tampered
metadata, bad statistics and an unreadable or mismatched model directory are covered by
tests/inference/test_vocoder.py and tests/inference/test_export.py; this file covers the rest.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file, save_file

from audiogan.config import Config, config_from_dict
from audiogan.config.build import generator_from_config
from audiogan.core.checkpoints import CHECKPOINT_FORMAT, CheckpointError
from audiogan.inference.export import export_model
from audiogan.inference.model_dir import (
    CONFIG_NAME,
    STATS_NAME,
    WEIGHTS_NAME,
    LoadedModel,
    ModelFileError,
    load_model,
)
from audiogan.models.layers import remove_weight_norm

TINY = {"preset": "v1", "upsample_initial_channel": 16, "resblock_kernel_sizes": [3],
        "resblock_dilation_sizes": [[1, 3]]}


def _config(**generator: Any) -> Config:
    return config_from_dict({
        "generator": {"name": "hifigan", "params": {**TINY, **generator}},
        "discriminator": {"name": "combined", "params": {}},
    })


def _state(config: Config, seed: int = 0, **extra: Any) -> dict[str, Any]:
    """A checkpoint as ``audiogan train`` writes it, reduced to what loading reads."""
    torch.manual_seed(seed)
    return {"format": CHECKPOINT_FORMAT, "config": config.to_dict(),
            "generator": generator_from_config(config).state_dict(), **extra}


def _save(state: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return path


def _output(generator: torch.nn.Module) -> torch.Tensor:
    mel = torch.linspace(-5.0, 1.0, 80 * 6).reshape(1, 80, 6)
    with torch.no_grad():
        return generator(mel)


def _folded(config: Config, state: dict[str, Any], key: str = "generator") -> torch.nn.Module:
    generator = generator_from_config(config)
    generator.load_state_dict(state[key])
    remove_weight_norm(generator)
    return generator.eval()


# --------------------------------------------------------------------------- checkpoint files


def test_a_checkpoint_file_gives_its_weights_step_statistics_and_classes(tmp_path: Path) -> None:
    config = _config()
    mean, scale = torch.arange(80, dtype=torch.float64), torch.full((80,), 2.0, dtype=torch.float64)
    state = _state(config, step=12, classes=["yes", "no"],
                   features={"mean": mean, "scale": scale})
    path = _save(state, tmp_path / "model.pt")

    loaded = load_model(path)

    assert loaded.step == 12 and not loaded.ema and loaded.source == path
    assert loaded.classes == ("yes", "no")
    assert loaded.mean.dtype == torch.float32 and torch.equal(loaded.mean, mean.float())
    assert torch.equal(loaded.scale, scale.float())
    assert not loaded.generator.training and loaded.input_kind == "mel"
    assert loaded.config.generator.params["upsample_initial_channel"] == 16
    torch.testing.assert_close(_output(loaded.generator), _output(_folded(config, state)))


def test_unknown_step_and_no_statistics_or_classes(tmp_path: Path) -> None:
    loaded = load_model(_save(_state(_config(), features={"window": torch.ones(4)}),
                              tmp_path / "m.pt"))
    assert loaded.step is None and loaded.classes is None
    assert loaded.mean is None and loaded.scale is None


def test_ema_weights_win_over_the_raw_ones(tmp_path: Path) -> None:
    config = _config()
    state = _state(config, step=4)
    state["generator_ema"] = _state(config, seed=1)["generator"]
    loaded = load_model(_save(state, tmp_path / "m.pt"))
    assert loaded.ema
    torch.testing.assert_close(_output(loaded.generator),
                               _output(_folded(config, state, "generator_ema")))


@pytest.mark.parametrize(("change", "message"), [
    (lambda s: s.pop("format"), "not an audiogan checkpoint (no format/config entries)"),
    (lambda s: s.update(format="other-toolkit"), "not an audiogan checkpoint"),
    (lambda s: s.update(config="hifigan"), "not an audiogan checkpoint"),
    (lambda s: s["config"]["generator"].update(name="no_such_model"),
     "its saved config is invalid"),
    (lambda s: s.pop("generator"), "holds no generator weights"),
    (lambda s: s.update(generator=[1, 2]), "holds no generator weights"),
])
def test_broken_checkpoints_are_one_line_errors(tmp_path: Path, change, message: str) -> None:
    state = _state(_config(), step=1)
    change(state)
    path = _save(state, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError) as caught:
        load_model(path)
    text = str(caught.value)
    assert text.startswith(f"{path}: ") and message in text and "\n" not in text


def test_weights_of_another_size_name_the_first_mismatch(tmp_path: Path) -> None:
    state = _state(_config(upsample_initial_channel=32))
    state["config"] = _config().to_dict()  # the config says 16 channels
    path = _save(state, tmp_path / "m.pt")
    with pytest.raises(CheckpointError) as caught:
        load_model(path)
    text = str(caught.value)
    assert text.startswith(f"{path}: generator weights do not fit the saved config (")
    assert "size mismatch" in text and "Error(s) in loading" not in text and "\n" not in text


# --------------------------------------------------------------------------- run directories


def _run(tmp_path: Path, steps: tuple[int, ...] = (1, 2)) -> Path:
    run = tmp_path / "run"
    config = _config()
    for step in steps:
        _save(_state(config, seed=step, step=step), run / "checkpoints" / f"step_{step:08d}.pt")
    (run / CONFIG_NAME).write_text("# a run keeps its recipe here too\n")
    return run


def test_a_run_dir_with_its_config_yaml_loads_from_its_checkpoints(tmp_path: Path) -> None:
    run = _run(tmp_path)
    loaded = load_model(run)
    assert loaded.step == 2 and loaded.source == run / "checkpoints" / "step_00000002.pt"


def test_a_best_pt_of_another_format_falls_back_to_the_newest_step(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    run = _run(tmp_path)
    _save({"weights": torch.ones(2)}, run / "checkpoints" / "best.pt")
    with caplog.at_level(logging.WARNING):
        assert load_model(run).step == 2
    assert "best.pt: not an audiogan checkpoint" in caplog.text
    assert "using the newest step checkpoint instead" in caplog.text


def test_a_run_dir_whose_checkpoints_are_all_damaged_is_an_error(tmp_path: Path) -> None:
    run = _run(tmp_path)
    for path in (run / "checkpoints").iterdir():
        path.write_bytes(path.read_bytes()[:64])
    (run / "checkpoints" / "best.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"run: no model here: expected generator\."
                       r"safetensors .*checkpoints/best\.pt or a loadable checkpoints/step_"):
        load_model(run)


def test_step_numbers_order_checkpoints_not_names(tmp_path: Path) -> None:
    run = _run(tmp_path, steps=(99_999_999, 100_000_000))  # by name, step_9... is the last
    assert load_model(run).step == 100_000_000


# --------------------------------------------------------------------------- model directories


def _model_dir(tmp_path: Path, **stats: torch.Tensor) -> tuple[Path, LoadedModel]:
    loaded = load_model(_save(_state(_config(), step=7), tmp_path / "m.pt"))
    if stats:
        loaded = LoadedModel(loaded.generator, loaded.config, step=7, **stats)
    return export_model(loaded, tmp_path / "model").out_dir, loaded


@pytest.mark.parametrize("name", ["", WEIGHTS_NAME, CONFIG_NAME, STATS_NAME])
def test_a_model_dir_loads_from_itself_or_any_of_its_files(tmp_path: Path, name: str) -> None:
    out, original = _model_dir(tmp_path, mean=torch.zeros(80), scale=torch.ones(80))
    loaded = load_model(out / name if name else out)
    assert loaded.source == out / WEIGHTS_NAME and loaded.step == 7 and not loaded.ema
    assert torch.equal(loaded.scale, torch.ones(80))
    torch.testing.assert_close(_output(loaded.generator), _output(original.generator))


def test_metadata_without_step_or_version_still_loads(tmp_path: Path) -> None:
    out, _ = _model_dir(tmp_path)
    weights = load_file(str(out / WEIGHTS_NAME))
    save_file(weights, str(out / WEIGHTS_NAME), metadata={"format": "audiogan-model"})
    loaded = load_model(out)
    assert loaded.step is None and not loaded.ema and loaded.classes is None


def test_a_config_yaml_without_weights_or_checkpoints_is_named(tmp_path: Path) -> None:
    out, _ = _model_dir(tmp_path)
    (out / WEIGHTS_NAME).unlink()
    with pytest.raises(ModelFileError, match=r"has config\.yaml but no generator\.safetensors "
                       r"and no checkpoints/"):
        load_model(out)


def test_statistics_without_scale_are_named(tmp_path: Path) -> None:
    out, _ = _model_dir(tmp_path, mean=torch.zeros(80), scale=torch.ones(80))
    save_file({"mean": torch.zeros(80)}, str(out / STATS_NAME))
    with pytest.raises(ModelFileError, match=rf"{STATS_NAME}: unreadable or without mean/scale"):
        load_model(out)
