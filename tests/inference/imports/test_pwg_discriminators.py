"""Import of ParallelWaveGAN checkpoints' Parallel WaveGAN discriminators
(``ParallelWaveGANDiscriminator`` -> ``parallel_wavegan``, ``ResidualParallelWaveGANDiscriminator``
-> ``residual_parallel_wavegan``): scores equal to parallel-wavegan 0.6.1's, usable by
``training.init_from``, options not reproduced left out with a note, bad values one line."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from pwg_layout import hifigan_state, wn
from refs_helpers import pwg_reference, randomise_weight_norm_state
from safetensors.torch import load_file

from audiogan.config.build import discriminator_from_config, generator_from_config
from audiogan.inference.imports import ImportSourceError, import_model
from audiogan.inference.model_dir import load_model
from audiogan.training.state import init_weights

FEATURES = {"sampling_rate": 8000, "fft_size": 64, "hop_size": 16, "win_length": None,
            "window": "hann", "num_mels": 8, "fmin": 0, "fmax": 4000, "format": "npy"}
HIFIGAN = {"in_channels": 8, "out_channels": 1, "channels": 16, "kernel_size": 7,
           "upsample_scales": [4, 4], "upsample_kernel_sizes": [8, 8],
           "resblock_kernel_sizes": [3], "resblock_dilations": [[1, 3]],
           "use_additional_convs": True, "bias": True, "nonlinear_activation": "LeakyReLU",
           "nonlinear_activation_params": {"negative_slope": 0.1}, "use_causal_conv": False,
           "use_weight_norm": True}


def write_checkpoint(folder: Path, discriminator: dict[str, Any], **config: Any) -> Path:
    """A HiFiGANGenerator checkpoint directory in the toolkit's layout with ``discriminator`` as
    its discriminator's state dict and ``config`` added to config.yml."""
    folder.mkdir(parents=True)
    (folder / "config.yml").write_text(yaml.safe_dump({
        **FEATURES, "generator_type": "HiFiGANGenerator", "generator_params": HIFIGAN,
        **config}))
    rng = np.random.default_rng(0)
    np.save(folder / "stats.npy", np.stack([rng.normal(-2.0, 1.0, 8),
                                            rng.uniform(0.5, 2.0, 8)]).astype(np.float32))
    checkpoint = folder / "checkpoint-400steps.pkl"
    torch.save({"model": {"generator": hifigan_state(HIFIGAN), "discriminator": discriminator},
                "optimizer": {"generator": {}, "discriminator": {}},
                "scheduler": {"generator": {}, "discriminator": {}}, "steps": 400,
                "epochs": 1}, checkpoint)
    return checkpoint


def plain_state(layers: int = 4, channels: int = 8, kernel_size: int = 3) -> dict[str, Any]:
    """A ``ParallelWaveGANDiscriminator`` state dict (``conv_layers.{2i}``), random values."""
    gen = torch.Generator().manual_seed(5)
    state: dict[str, Any] = {}
    for i in range(layers - 1):
        wn(state, f"conv_layers.{2 * i}", (channels, 1 if i == 0 else channels, kernel_size),
           gen)
    wn(state, f"conv_layers.{2 * (layers - 1)}", (1, channels, kernel_size), gen)
    return state


@pytest.mark.filterwarnings("ignore:.*torch.nn.utils.weight_norm:FutureWarning")  # reference
@pytest.mark.parametrize("kind, params, name", [
    (None, {}, "parallel_wavegan"),  # no discriminator_type: the toolkit's default
    ("ParallelWaveGANDiscriminator", {"layers": 5, "conv_channels": 16, "dilation_factor": 2,
                                      "nonlinear_activation_params": {"negative_slope": 0.3}},
     "parallel_wavegan"),
    ("ResidualParallelWaveGANDiscriminator", {"layers": 6, "stacks": 2, "residual_channels": 16,
                                              "gate_channels": 16, "skip_channels": 8,
                                              "bias": False}, "residual_parallel_wavegan"),
])
def test_reference_checkpoint_imports_and_scores_equal(tmp_path: Path, kind: str | None,
                                                       params: dict, name: str) -> None:
    models = pwg_reference()
    reference = getattr(models, kind or "ParallelWaveGANDiscriminator")(**params).eval()
    randomise_weight_norm_state(reference, 9)
    extra: dict[str, Any] = {"discriminator_params": params}
    if kind is not None:
        extra["discriminator_type"] = kind
    checkpoint = write_checkpoint(tmp_path / "exp", reference.state_dict(), **extra)
    result = import_model(checkpoint, tmp_path / "model")
    label = kind or "ParallelWaveGANDiscriminator"
    assert f"{label} imported as {name} (optimiser states are not)" in result.notes
    config = load_model(tmp_path / "model").config
    assert config.discriminator.name == name
    ours = discriminator_from_config(config).eval()
    ours.load_state_dict(load_file(tmp_path / "model" / "discriminator.safetensors"))
    wave = 0.4 * torch.randn(2, 1, 2000, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, got = reference(wave), ours(wave).logits[0]
    assert got.shape == expected.shape
    assert float((got - expected).abs().max()) <= 1e-4 * max(1.0, float(expected.abs().max()))


def test_init_from_the_import_or_the_checkpoint_starts_the_discriminator(tmp_path: Path) -> None:
    state = plain_state()
    checkpoint = write_checkpoint(tmp_path / "exp", state, discriminator_params={
        "layers": 4, "conv_channels": 8})
    import_model(checkpoint, tmp_path / "model")
    config = load_model(tmp_path / "model").config
    expected = load_file(tmp_path / "model" / "discriminator.safetensors")
    for source in (tmp_path / "model", tmp_path / "exp"):  # the model directory, then in memory
        parts = SimpleNamespace(generator=generator_from_config(config),
                                discriminator=discriminator_from_config(config), config=config)
        init_weights(parts, source)  # type: ignore[arg-type]
        got = parts.discriminator.state_dict()
        assert set(got) == set(expected)
        assert all(torch.equal(got[k], v) for k, v in expected.items())
    # the weights are the checkpoint's: g and v kept as the training layout's parametrisation
    assert torch.equal(expected["convs.1.parametrizations.weight.original0"],
                       state["conv_layers.2.weight_g"])
    assert torch.equal(expected["post.parametrizations.weight.original1"],
                       state["conv_layers.6.weight_v"])


@pytest.mark.parametrize("kind, params, state, note, name", [
    ("ParallelWaveGANDiscriminator", {"use_weight_norm": False}, None,
     "use_weight_norm=False is not reproduced", "parallel_wavegan"),
    ("ParallelWaveGANDiscriminator", {"nonlinear_activation": "ELU"}, None,
     "nonlinear_activation='ELU' is not reproduced", "parallel_wavegan"),
    ("ParallelWaveGANDiscriminator", {"in_channels": 2}, None, "in_channels=2 is not",
     "parallel_wavegan"),
    ("ParallelWaveGANDiscriminator", {"layers": 4, "conv_channels": 8, "scales": 3}, None,
     "discriminator_params.scales is not a ParallelWaveGANDiscriminator option",
     "parallel_wavegan"),
    ("ParallelWaveGANDiscriminator", {"nonlinear_activation_params": {"negative_slope": 0.2,
                                                                      "inplace": False}}, None,
     "nonlinear_activation_params.inplace is not reproduced", "parallel_wavegan"),
    ("ParallelWaveGANDiscriminator", {"layers": 1}, None,
     "discriminator_params give parallel_wavegan layers must be an integer >= 2, got 1",
     "parallel_wavegan"),
    ("ResidualParallelWaveGANDiscriminator", {"use_causal_conv": True}, None,
     "use_causal_conv=True is not reproduced", "residual_parallel_wavegan"),
    ("ParallelWaveGANDiscriminator", {}, {}, "none in the checkpoint", "parallel_wavegan"),
])
def test_options_not_reproduced_leave_the_weights_out(tmp_path: Path, kind: str, params: dict,
                                                      state: dict | None, note: str,
                                                      name: str) -> None:
    checkpoint = write_checkpoint(tmp_path / "exp", plain_state() if state is None else state,
                                  discriminator_type=kind, discriminator_params=params)
    result = import_model(checkpoint, tmp_path / "model")
    assert any(note in line and "training.init_from starts a new one" in line
               for line in result.notes), result.notes
    assert not (tmp_path / "model" / "discriminator.safetensors").exists()
    config = load_model(tmp_path / "model").config
    assert config.discriminator.name == name
    discriminator_from_config(config)  # a config audiogan's discriminator accepts
    if params.get("layers") == 1:
        assert config.discriminator.params == {}  # refused values: audiogan's defaults


@pytest.mark.parametrize("change, message", [
    (lambda s: s.pop("conv_layers.2.weight_g"),
     "discriminator key 'conv_layers.2.weight_g' is missing"),
    (lambda s: s.update({"conv_layers.8.bias": torch.zeros(1)}),
     "unexpected discriminator key 'conv_layers.8.bias'"),
])
def test_a_state_dict_that_does_not_fit_is_one_line(tmp_path: Path, change: Any,
                                                    message: str) -> None:
    state = plain_state()
    change(state)
    checkpoint = write_checkpoint(tmp_path / "exp", state, discriminator_params={
        "layers": 4, "conv_channels": 8})
    with pytest.raises(ImportSourceError) as caught:
        import_model(checkpoint, tmp_path / "model")
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert not (tmp_path / "model").exists()


@pytest.mark.parametrize("kind, params, named", [
    ("ResidualParallelWaveGANDiscriminator", {"dropout": "x"}, "discriminator_params.dropout"),
    ("ParallelWaveGANDiscriminator", {"bias": "yes"}, "discriminator_params.bias"),
    ("ParallelWaveGANDiscriminator", {"nonlinear_activation_params": {"negative_slope": "x"}},
     "discriminator_params.nonlinear_activation_params.negative_slope"),
    ("MelGANMultiScaleDiscriminator", {"scales": "x"}, "discriminator_params.scales"),
])
def test_a_bad_value_is_one_line_naming_the_key(tmp_path: Path, kind: str, params: dict,
                                                named: str) -> None:
    checkpoint = write_checkpoint(tmp_path / "exp", plain_state(), discriminator_type=kind,
                                  discriminator_params=params)
    with pytest.raises(ImportSourceError) as caught:
        import_model(checkpoint, tmp_path / "model")
    assert f"config.yml: key '{named}'" in str(caught.value)
    assert "\n" not in str(caught.value)
