"""audiogan import of kan-bayashi/ParallelWaveGAN's ``ParallelWaveGANGenerator``: a checkpoint in
the toolkit's layout -> a model dir whose output, for a seed, equals an independent float64
forward (and, with .refs, the reference package's own ``inference``) on that seed's keyed noise;
one-line refusals naming the key for what audiogan does not reproduce."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml
from torch import Tensor

from audiogan import Vocoder
from audiogan.inference.imports import ImportSourceError, import_model
from audiogan.inference.model_dir import load_model
from audiogan.models.randomness import keyed_noise
from tests.refs_helpers import pwg_reference

FEATURES = {"sampling_rate": 8000, "fft_size": 64, "hop_size": 12, "win_length": None,
            "window": "hann", "num_mels": 8, "fmin": 0, "fmax": 4000}
PARAMS: dict[str, Any] = {
    "in_channels": 1, "out_channels": 1, "kernel_size": 3, "layers": 6, "stacks": 2,
    "residual_channels": 8, "gate_channels": 16, "skip_channels": 8, "aux_channels": 8,
    "aux_context_window": 2, "dropout": 0.0, "bias": True, "use_weight_norm": True,
    "use_causal_conv": False, "upsample_conditional_features": True,
    "upsample_net": "ConvInUpsampleNetwork", "upsample_params": {"upsample_scales": [4, 3]}}


def _stats() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    return (rng.normal(-2.0, 1.0, 8).astype(np.float32),
            rng.uniform(0.5, 2.0, 8).astype(np.float32))


def _raw_mel(frames: int = 20) -> Tensor:
    mean, _ = _stats()
    rng = np.random.default_rng(7)
    return torch.from_numpy(rng.normal(mean[:, None], 1.5, (8, frames)).astype(np.float32))[None]


def _normalised(mel: Tensor) -> Tensor:
    mean, scale = (torch.from_numpy(a)[None, :, None] for a in _stats())
    return (mel - mean) / scale


# ----------------------------------------- the toolkit's layout and an independent forward


def pwg_state(p: dict[str, Any], seed: int = 0) -> dict[str, Tensor]:
    """A random ParallelWaveGANGenerator state dict: old-style weight norm (``weight_g`` /
    ``weight_v``) on every conv when ``use_weight_norm``, else plain ``weight``."""
    gen = torch.Generator().manual_seed(seed)
    state: dict[str, Tensor] = {}

    def layer(name: str, shape: tuple[int, ...], bias: bool) -> None:
        v = torch.randn(*shape, generator=gen) / math.sqrt(math.prod(shape[1:]))
        if p["use_weight_norm"]:
            state[f"{name}.weight_g"] = 0.5 + torch.rand(shape[0], *[1] * (len(shape) - 1),
                                                         generator=gen)
            state[f"{name}.weight_v"] = v
        else:
            state[f"{name}.weight"] = v
        if bias:
            state[f"{name}.bias"] = 0.1 * torch.randn(shape[0], generator=gen)

    aux, window = p["aux_channels"], p["aux_context_window"]
    r, g, s = p["residual_channels"], p["gate_channels"], p["skip_channels"]
    layer("upsample_net.conv_in", (aux, aux, 2 * window + 1), False)
    for i, scale in enumerate(p["upsample_params"]["upsample_scales"]):
        layer(f"upsample_net.upsample.up_layers.{2 * i + 1}", (1, 1, 1, 2 * scale + 1), False)
    layer("first_conv", (r, 1, 1), True)
    for i in range(p["layers"]):
        layer(f"conv_layers.{i}.conv", (g, r, p["kernel_size"]), p["bias"])
        layer(f"conv_layers.{i}.conv1x1_aux", (g, aux, 1), False)
        layer(f"conv_layers.{i}.conv1x1_out", (r, g // 2, 1), p["bias"])
        layer(f"conv_layers.{i}.conv1x1_skip", (s, g // 2, 1), p["bias"])
    layer("last_conv_layers.1", (s, s, 1), True)
    layer("last_conv_layers.3", (1, s, 1), True)
    return state


def _weight(state: dict[str, Tensor], name: str) -> Tensor:
    if f"{name}.weight" in state:
        return state[f"{name}.weight"].double()
    v, g = state[f"{name}.weight_v"].double(), state[f"{name}.weight_g"].double()
    norm = v.flatten(1).norm(dim=1).reshape(g.shape)
    return g * v / norm


def pwg_forward(state: dict[str, Tensor], p: dict[str, Any], mel: Tensor, noise: Tensor
                ) -> Tensor:
    """The generator as the paper describes it, float64: mel (B, n_mels, T) (normalised),
    noise (B, 1, T * hop) -> (B, 1, T * hop)."""
    def bias(name: str) -> Tensor | None:
        return state[f"{name}.bias"].double() if f"{name}.bias" in state else None

    window = p["aux_context_window"]
    c = F.conv1d(F.pad(mel.double(), (window, window), mode="replicate"),
                 _weight(state, "upsample_net.conv_in"))
    for i, scale in enumerate(p["upsample_params"]["upsample_scales"]):
        kernel = _weight(state, f"upsample_net.upsample.up_layers.{2 * i + 1}")
        stretched = c.repeat_interleave(scale, dim=-1).unsqueeze(1)  # (B, 1, C, T * s)
        c = F.conv2d(stretched, kernel, padding=(0, scale)).squeeze(1)
    x = F.conv1d(noise.double(), _weight(state, "first_conv"), bias("first_conv"))
    skips = torch.zeros(())
    per_stack = p["layers"] // p["stacks"]
    for i in range(p["layers"]):
        name, dilation = f"conv_layers.{i}", 2 ** (i % per_stack)
        h = F.conv1d(x, _weight(state, f"{name}.conv"), bias(f"{name}.conv"),
                     padding=(p["kernel_size"] - 1) // 2 * dilation, dilation=dilation)
        h = h + F.conv1d(c, _weight(state, f"{name}.conv1x1_aux"))
        a, b = h.chunk(2, dim=1)
        z = torch.tanh(a) * torch.sigmoid(b)
        skips = skips + F.conv1d(z, _weight(state, f"{name}.conv1x1_skip"),
                                 bias(f"{name}.conv1x1_skip"))
        x = (x + F.conv1d(z, _weight(state, f"{name}.conv1x1_out"), bias(f"{name}.conv1x1_out"))
             ) * math.sqrt(0.5)
    h = torch.relu(skips * math.sqrt(1.0 / p["layers"]))
    h = torch.relu(F.conv1d(h, _weight(state, "last_conv_layers.1"), bias("last_conv_layers.1")))
    return F.conv1d(h, _weight(state, "last_conv_layers.3"), bias("last_conv_layers.3"))


def write_checkpoint(folder: Path, params: dict[str, Any], state: dict[str, Tensor],
                     kind: str | None = "ParallelWaveGANGenerator", **extra: Any) -> Path:
    """checkpoint-1000steps.pkl + config.yml + stats.npy in the toolkit's layout."""
    folder.mkdir(parents=True, exist_ok=True)
    config = {**FEATURES, "format": "npy", "generator_params": params, **extra}
    if kind is not None:
        config["generator_type"] = kind
    (folder / "config.yml").write_text(yaml.safe_dump(config))
    np.save(folder / "stats.npy", np.stack(_stats()))
    checkpoint = folder / "checkpoint-1000steps.pkl"
    torch.save({"model": {"generator": state, "discriminator": {}},
                "optimizer": {}, "scheduler": {}, "steps": 1000, "epochs": 2}, checkpoint)
    return checkpoint


# ------------------------------------------------------------------------------ the tests


@pytest.mark.parametrize("changes", [
    {},
    {"use_weight_norm": False, "bias": False, "kernel_size": 5, "aux_context_window": 0},
    {"layers": 4, "stacks": 4, "upsample_params": {"upsample_scales": [2, 3, 2]}},
], ids=["weight_norm", "plain_no_bias", "one_layer_per_stack"])
def test_imported_generator_equals_the_independent_forward(tmp_path: Path,
                                                           changes: dict[str, Any]) -> None:
    params = {**PARAMS, **changes}
    state = pwg_state(params)
    write_checkpoint(tmp_path / "exp", params, state)
    result = import_model(tmp_path / "exp", tmp_path / "model")
    loaded = load_model(tmp_path / "model")
    assert loaded.config.generator.name == "parallel_wavegan"
    assert loaded.config.features.profile == "pwg" and loaded.mean is not None
    assert any("feature statistics" in note for note in result.notes)
    vocoder = Vocoder.load(tmp_path / "model")
    mel = _raw_mel()
    for seed in (0, 5):
        noise = keyed_noise(seed, 0, 20 * 12)[None]
        expected = pwg_forward(state, params, _normalised(mel), noise)
        out = vocoder(mel, seed=seed, check_range=False)
        assert out.shape[-1] == 20 * 12
        assert float((out.reshape(-1) - expected.reshape(-1)).abs().max()) <= 1e-5


def test_an_absent_generator_type_means_parallel_wavegan(tmp_path: Path) -> None:
    state = pwg_state(PARAMS, seed=3)
    write_checkpoint(tmp_path / "exp", PARAMS, state, kind=None)
    import_model(tmp_path / "exp", tmp_path / "model")
    config = load_model(tmp_path / "model").config
    assert config.generator.name == "parallel_wavegan"
    assert config.generator.params["upsample_scales"] == [4, 3]
    assert config.loss.weights == {"adversarial": 4.0, "stft": 1.0}
    assert config.training.grad_clip_discriminator == 1.0
    expected = pwg_forward(state, PARAMS, _normalised(_raw_mel()), keyed_noise(0, 0, 240)[None])
    out = Vocoder.load(tmp_path / "model")(_raw_mel(), check_range=False)
    assert float((out.reshape(-1) - expected.reshape(-1)).abs().max()) <= 1e-5


def test_the_checkpoints_training_settings_become_the_fine_tuning_config(tmp_path: Path) -> None:
    extra = {"lambda_adv": 2.5,
             "stft_loss_params": {"fft_sizes": [512, 256], "hop_sizes": [64, 32],
                                  "win_lengths": [256, 128]},
             "generator_optimizer_type": "Adam",
             "generator_optimizer_params": {"lr": 3e-4, "eps": 1e-7, "weight_decay": 0.01},
             "discriminator_optimizer_params": {"lr": 2e-5},
             "generator_grad_norm": -1, "discriminator_grad_norm": 5}
    write_checkpoint(tmp_path / "exp", PARAMS, pwg_state(PARAMS, seed=1), **extra)
    import_model(tmp_path / "exp", tmp_path / "model")
    config = load_model(tmp_path / "model").config
    assert config.loss.weights == {"adversarial": 2.5, "stft": 1.0}
    assert list(config.loss.stft.fft_sizes) == [512, 256]
    assert list(config.loss.stft.win_lengths) == [256, 128]
    g, d = config.optim.generator, config.optim.discriminator
    assert (g.name, g.lr, g.eps, g.weight_decay) == ("adam", 3e-4, 1e-7, 0.01)
    assert (d.name, d.lr, d.eps, d.weight_decay) == ("radam", 2e-5, 1e-6, 0.0)
    assert config.training.grad_clip is None  # <= 0: the toolkit does not clip
    assert config.training.grad_clip_discriminator == 5.0


def test_an_unclipped_discriminator_stays_unclipped_beside_a_clipped_generator(
        tmp_path: Path) -> None:
    write_checkpoint(tmp_path / "exp", PARAMS, pwg_state(PARAMS, seed=1),
                     generator_grad_norm=10, discriminator_grad_norm=0)
    import_model(tmp_path / "exp", tmp_path / "model")
    training = load_model(tmp_path / "model").config.training
    assert training.grad_clip == 10.0
    assert training.grad_clip_discriminator is not None
    assert training.grad_clip_discriminator >= 1e30


@pytest.mark.parametrize("extra, key", [
    ({"lambda_adv": "four"}, "'lambda_adv'"),
    ({"generator_optimizer_params": [1e-4]}, "'generator_optimizer_params'"),
    ({"discriminator_optimizer_params": {"lr": None}}, "'discriminator_optimizer_params.lr'"),
    ({"stft_loss_params": {"fft_sizes": 1024}}, "'stft_loss_params.fft_sizes'"),
])
def test_bad_training_settings_are_one_line_naming_the_key(tmp_path: Path, extra: dict[str, Any],
                                                           key: str) -> None:
    write_checkpoint(tmp_path / "exp", PARAMS, pwg_state(PARAMS, seed=1), **extra)
    with pytest.raises(ImportSourceError) as info:
        import_model(tmp_path / "exp", tmp_path / "model")
    assert key in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "model").exists()


@pytest.mark.parametrize("changes, key", [
    ({"use_causal_conv": True}, "'generator_params.use_causal_conv'"),
    ({"upsample_conditional_features": False},
     "'generator_params.upsample_conditional_features'"),
    ({"upsample_net": "UpsampleNetwork"}, "'generator_params.upsample_net'"),
    ({"upsample_net": "MelGANGenerator"}, "'generator_params.upsample_net'"),
    ({"upsample_params": {"upsample_scales": [4, 3], "nonlinear_activation": "LeakyReLU"}},
     "'generator_params.upsample_params.nonlinear_activation'"),
    ({"upsample_params": {"upsample_scales": [4, 3], "freq_axis_kernel_size": 3}},
     "'generator_params.upsample_params.freq_axis_kernel_size'"),
    ({"upsample_params": {"upsample_scales": [4, 3], "interpolate_mode": "bilinear"}},
     "'generator_params.upsample_params.interpolate_mode'"),
    ({"out_channels": 2}, "'generator_params.out_channels'"),
    ({"in_channels": 2}, "'generator_params.in_channels'"),
    ({"aux_channels": 10}, "'num_mels'"),
    ({"layers": 5}, "'generator_params.layers'"),
    ({"gate_channels": 15}, "'generator_params.kernel_size' must be odd and 'gate_channels'"),
    ({"skip_channels": "64"}, "generator_params.skip_channels"),
    ({"upsample_params": {"upsample_scales": [4, 4]}}, "'hop_size'"),
    ({"use_weight_norm": False, "colour": "blue"}, "'generator_params.colour'"),
])
def test_options_audiogan_does_not_reproduce_are_one_line_refusals(
        tmp_path: Path, changes: dict[str, Any], key: str) -> None:
    params = {**PARAMS, **changes}
    write_checkpoint(tmp_path / "exp", params, pwg_state(PARAMS))
    with pytest.raises(ImportSourceError) as info:
        import_model(tmp_path / "exp", tmp_path / "model")
    message = str(info.value)
    assert key in message and "\n" not in message, message
    assert "config.yml" in message
    assert not (tmp_path / "model").exists()


def test_weights_that_do_not_fit_the_config_are_named(tmp_path: Path) -> None:
    state = pwg_state(PARAMS)
    broken = {k: v for k, v in state.items() if k != "conv_layers.3.conv1x1_skip.weight_v"}
    write_checkpoint(tmp_path / "a", PARAMS, broken)
    with pytest.raises(ImportSourceError, match="'conv_layers.3.conv1x1_skip.weight_v'"):
        import_model(tmp_path / "a", tmp_path / "model")
    extra = {**state, "conv_layers.6.conv.bias": torch.zeros(16)}
    write_checkpoint(tmp_path / "b", PARAMS, extra)
    with pytest.raises(ImportSourceError, match="'conv_layers.6.conv.bias'"):
        import_model(tmp_path / "b", tmp_path / "model")
    assert not (tmp_path / "model").exists()


def test_the_reference_generator_imports_and_matches(tmp_path: Path) -> None:
    """The reference package's own ParallelWaveGANGenerator (release shape, random weights),
    saved as its trainer saves it: our Vocoder at a seed equals its ``inference`` given that
    seed's keyed noise."""
    ParallelWaveGANGenerator = pwg_reference().ParallelWaveGANGenerator

    params = {"aux_channels": 8}  # the rest: the toolkit's defaults (parallel_wavegan.v1)
    torch.manual_seed(0)
    reference = ParallelWaveGANGenerator(**copy.deepcopy(params))
    with torch.no_grad():
        for parameter in reference.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    reference.eval()
    write_checkpoint(tmp_path / "exp", params, reference.state_dict(),
                     **{**FEATURES, "fft_size": 1024, "hop_size": 256})
    import_model(tmp_path / "exp", tmp_path / "model")
    mel = _raw_mel(12)
    with torch.no_grad():
        expected = reference.inference(_normalised(mel)[0].T,
                                       x=keyed_noise(9, 0, 12 * 256).T)[:, 0]
    out = Vocoder.load(tmp_path / "model")(mel, seed=9, check_range=False)
    assert expected.abs().amax() > 0.1
    assert float((out.reshape(-1) - expected).abs().max()) <= 1e-4


def test_init_from_an_imported_parallel_wavegan_starts_training_from_its_weights(
        tmp_path: Path) -> None:
    """The imported config builds a weight-normed training generator whose weights, loaded
    by ``training.init_from``, compute the checkpoint's function."""
    from types import SimpleNamespace

    from audiogan.config.build import discriminator_from_config, generator_from_config
    from audiogan.models.layers import has_weight_norm, remove_weight_norm
    from audiogan.training.state import init_weights

    state = pwg_state(PARAMS, seed=2)
    write_checkpoint(tmp_path / "exp", PARAMS, state)
    import_model(tmp_path / "exp", tmp_path / "model")
    config = load_model(tmp_path / "model").config
    parts = SimpleNamespace(generator=generator_from_config(config),
                            discriminator=discriminator_from_config(config), config=config)
    assert has_weight_norm(parts.generator)
    init_weights(parts, tmp_path / "model")  # type: ignore[arg-type]
    mel, noise = _normalised(_raw_mel()), keyed_noise(4, 0, 240)[None]
    with torch.no_grad():
        out = remove_weight_norm(parts.generator).eval()(mel, noise)
    expected = pwg_forward(state, PARAMS, mel, noise)
    assert float((out.double() - expected).abs().max()) <= 1e-5
