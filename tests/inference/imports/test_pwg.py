"""audiogan import, ParallelWaveGAN (ESPnet1) and descriptinc/melgan-neurips: checkpoints in
the toolkits' exact layouts -> model dirs whose output equals an independent forward; one-line
refusals; the safe args.yml reader; the PQMF option's default."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from faults.hostile import Payload as _Payload
from pwg_layout import (
    hifigan_disc_forward,
    hifigan_disc_state,
    hifigan_forward,
    hifigan_state,
    melgan_disc_forward,
    melgan_disc_state,
    melgan_forward,
    melgan_state,
    pqmf_synthesis,
)
from safetensors.torch import load_file

from audiogan import Vocoder
from audiogan.config.build import discriminator_from_config
from audiogan.inference.imports import ImportSourceError, detect_format, import_model
from audiogan.inference.model_dir import load_model
from audiogan.models.melgan import MultiBandMelGANGenerator
from audiogan.models.pqmf import pqmf_filters

FEATURES = {"sampling_rate": 8000, "fft_size": 64, "hop_size": 16, "win_length": None,
            "window": "hann", "num_mels": 8, "fmin": 0, "fmax": 4000}
HIFIGAN = {"in_channels": 8, "out_channels": 1, "channels": 32, "kernel_size": 7,
           "upsample_scales": [4, 4], "upsample_kernel_sizes": [8, 8],
           "resblock_kernel_sizes": [3, 5], "resblock_dilations": [[1, 3, 5], [1, 3, 5]],
           "use_additional_convs": True, "bias": True, "nonlinear_activation": "LeakyReLU",
           "nonlinear_activation_params": {"negative_slope": 0.1}, "use_causal_conv": False,
           "use_weight_norm": True}
MELGAN = {"in_channels": 8, "out_channels": 1, "kernel_size": 7, "channels": 32, "bias": True,
          "upsample_scales": [4, 4], "stack_kernel_size": 3, "stacks": 2,
          "nonlinear_activation": "LeakyReLU", "nonlinear_activation_params": {
              "negative_slope": 0.2}, "pad": "ReflectionPad1d", "pad_params": {},
          "use_final_nonlinear_activation": True, "use_weight_norm": True,
          "use_causal_conv": False}
MB_MELGAN = {**MELGAN, "out_channels": 4, "upsample_scales": [2, 2]}


def _stats(seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.normal(-2.0, 1.0, 8).astype(np.float32),
            rng.uniform(0.5, 2.0, 8).astype(np.float32))


def write_pwg(folder: Path, kind: str | None, params: dict[str, Any], state: dict,
              stats: bool = True, **extra: Any) -> Path:
    """checkpoint-1000steps.pkl + config.yml + stats.npy in the toolkit's layout."""
    folder.mkdir(parents=True, exist_ok=True)
    config = {**FEATURES, "format": "npy", "generator_params": params, **extra}
    if kind is not None:
        config["generator_type"] = kind
    (folder / "config.yml").write_text(yaml.safe_dump(config))
    if stats:
        np.save(folder / "stats.npy", np.stack(_stats()))
    checkpoint = folder / "checkpoint-1000steps.pkl"
    torch.save({"model": {"generator": state, "discriminator": {}},
                "optimizer": {"generator": {}, "discriminator": {}},
                "scheduler": {"generator": {}, "discriminator": {}},
                "steps": 1000, "epochs": 2}, checkpoint)
    return checkpoint


def _raw_mel(frames: int = 30) -> torch.Tensor:
    mean, _ = _stats()
    rng = np.random.default_rng(7)
    return torch.from_numpy(rng.normal(mean[:, None], 1.5, (8, frames)).astype(np.float32))[None]


def _normalised(mel: torch.Tensor) -> torch.Tensor:
    mean, scale = (torch.from_numpy(a)[None, :, None] for a in _stats())
    return (mel - mean) / scale


def _check(model_dir: Path, expected: torch.Tensor, frames: int = 30, hop: int = 16) -> None:
    out = Vocoder.load(model_dir)(_raw_mel(frames), check_range=False)
    assert out.shape[-1] == expected.shape[-1] == frames * hop
    assert float((out.reshape(-1) - expected.reshape(-1).float()).abs().max()) <= 1e-5


def _check_discriminator(model_dir: Path, state: dict, scale_prefix: str, layer_prefix: str,
                         scales: int, downsample: list[int]) -> None:
    """The imported melgan_msd's every feature map equals the independent forward's."""
    ours = discriminator_from_config(load_model(model_dir).config).eval()
    ours.load_state_dict(load_file(model_dir / "discriminator.safetensors"))
    wave = 0.3 * torch.randn(2, 1, 1000, generator=torch.Generator().manual_seed(1))
    expected = melgan_disc_forward(state, scale_prefix, layer_prefix, scales, downsample, wave)
    with torch.no_grad():
        out = ours(wave)
    assert len(out.features) == scales
    for theirs, mine, logits in zip(expected, out.features, out.logits):
        assert len(theirs) == len(mine)
        for a, b in zip(theirs, mine):
            assert a.shape == b.shape and float((a - b).abs().max()) <= 1e-5
        assert torch.equal(logits, mine[-1].flatten(1))


@pytest.mark.parametrize("additional", [True, False], ids=["resblock1", "resblock2"])
def test_pwg_hifigan_equals_the_independent_forward(tmp_path: Path, additional: bool) -> None:
    params = {**HIFIGAN, "use_additional_convs": additional}
    state = hifigan_state(params)
    checkpoint = write_pwg(tmp_path / "exp", "HiFiGANGenerator", params, state)
    result = import_model(tmp_path / "exp", tmp_path / "model")  # the directory: auto-detected
    assert result.format == "pwg" and result.detection.checkpoint == checkpoint
    assert "config.yml" in result.detection.description
    assert "stats.npy" in result.detection.description
    _check(tmp_path / "model", hifigan_forward(state, params, _normalised(_raw_mel())))
    loaded = load_model(tmp_path / "model")
    assert loaded.step == 1000 and loaded.config.features.profile == "pwg"
    assert loaded.config.generator.params["post_negative_slope"] == 0.01
    assert loaded.mean is not None and torch.allclose(loaded.mean, torch.from_numpy(_stats()[0]))


def test_pwg_hifigan_discriminator_equals_the_independent_forward(tmp_path: Path) -> None:
    """Release-shape MPD (one period) + MSD (one spectral-normed scale, one weight-normed)."""
    periods, scales = [3], 2
    disc = hifigan_disc_state(periods, scales)
    checkpoint = write_pwg(tmp_path / "exp", "HiFiGANGenerator", HIFIGAN, hifigan_state(HIFIGAN),
                           discriminator_type="HiFiGANMultiScaleMultiPeriodDiscriminator",
                           discriminator_params={"periods": periods, "scales": scales,
                                                 "follow_official_norm": True})
    saved = torch.load(checkpoint, weights_only=True)
    saved["model"]["discriminator"] = disc
    torch.save(saved, checkpoint)
    result = import_model(checkpoint, tmp_path / "model")
    assert any("imported as combined" in note for note in result.notes)
    config = load_model(tmp_path / "model").config
    assert config.discriminator.params["mpd_params"] == {"post_kernel_size": 2}
    ours = discriminator_from_config(config).eval()
    ours.load_state_dict(load_file(tmp_path / "model" / "discriminator.safetensors"))
    wave = 0.3 * torch.randn(1, 1, 1001, generator=torch.Generator().manual_seed(2))
    expected = hifigan_disc_forward(disc, periods, scales, wave)
    with torch.no_grad():
        out = ours(wave)
    assert len(out.features) == len(expected) == 3
    for theirs, mine in zip(expected, out.features):
        assert len(theirs) == len(mine)
        for a, b in zip(theirs, mine):
            assert float((a - b.flatten(1)).abs().max()) <= 1e-4 * max(1.0, float(a.abs().max()))
    # an option audiogan does not reproduce: the generator still imports, the weights do not
    write_pwg(tmp_path / "exp2", "HiFiGANGenerator", HIFIGAN, hifigan_state(HIFIGAN),
              discriminator_type="HiFiGANMultiScaleMultiPeriodDiscriminator",
              discriminator_params={"follow_official_norm": False})
    result = import_model(tmp_path / "exp2", tmp_path / "model2")
    assert any("follow_official_norm=False" in note for note in result.notes)
    assert not (tmp_path / "model2" / "discriminator.safetensors").exists()


def test_pwg_melgan_and_its_discriminator_equal_the_independent_forwards(
        tmp_path: Path) -> None:
    state = melgan_state("melgan", "stack", "skip_layer", 8, 32, [4, 4], 2)
    disc = melgan_disc_state("discriminators.{i}", "layers.{j}", 2, 8, [2, 4], 64)
    checkpoint = write_pwg(tmp_path / "exp", "MelGANGenerator", MELGAN, state, version="0.5.0",
                           discriminator_type="MelGANMultiScaleDiscriminator",
                           discriminator_params={"scales": 2, "channels": 8,
                                                 "downsample_scales": [2, 4],
                                                 "max_downsample_channels": 64})
    saved = torch.load(checkpoint, weights_only=True)
    saved["model"]["discriminator"] = disc
    torch.save(saved, checkpoint)
    result = import_model(checkpoint, tmp_path / "model")
    assert any("imported as melgan_msd" in note for note in result.notes)
    expected = melgan_forward(state, "melgan", "stack", "skip_layer", [4, 4], 2,
                              _normalised(_raw_mel()))
    _check(tmp_path / "model", expected)
    _check_discriminator(tmp_path / "model", disc, "discriminators.{i}", "layers.{j}", 2, [2, 4])


@pytest.mark.parametrize(("extra", "cutoff"), [
    ({"version": "0.5.3"}, 0.142), ({}, 0.15), ({"version": "0.4.2"}, 0.15),
    ({"version": "0.6.1", "pqmf_params": {"taps": 48, "cutoff_ratio": 0.16, "beta": 8.0}}, 0.16),
], ids=["v0.5.3", "no-version", "v0.4.2", "pqmf_params"])
def test_pwg_multiband_melgan_with_the_toolkit_pqmf(tmp_path: Path, extra: dict,
                                                    cutoff: float) -> None:
    state = melgan_state("melgan", "stack", "skip_layer", 8, 32, [2, 2], 2, out_channels=4)
    write_pwg(tmp_path / "exp", "MelGANGenerator", MB_MELGAN, state, **extra)
    import_model(tmp_path / "exp", tmp_path / "model")
    params = load_model(tmp_path / "model").config.generator.params
    assert params["pqmf_cutoff_ratio"] == cutoff and params["pqmf_scaled"] is False
    bands = melgan_forward(state, "melgan", "stack", "skip_layer", [2, 2], 2,
                           _normalised(_raw_mel()))
    design = extra.get("pqmf_params", {"taps": 62, "beta": 9.0})
    expected = pqmf_synthesis(bands, design["taps"], cutoff, design["beta"])
    _check(tmp_path / "model", expected)


def test_pqmf_default_is_unchanged_and_the_option_is_the_plain_windowed_sinc() -> None:
    scaled, _ = pqmf_filters()
    plain, _ = pqmf_filters(scaled=False)
    # Reference values of the default bank (4 bands, 62 taps, cut-off 0.142, Kaiser beta 9,
    # unit-DC-gain prototype h with h[31] = 0.1419958657): analysis 2 h[n] cos(phase_k(n) +
    # (-1)^k pi/4); the generator's synthesis buffer is 4 x the mirrored synthesis filters.
    pqmf = MultiBandMelGANGenerator(channels=16, upsample_rates=(2,)).pqmf
    analysis = pqmf.analysis_filter.reshape(4, 63).double()
    synthesis = pqmf.synthesis_filter.reshape(4, 63).double()
    assert analysis[:, 31].tolist() == pytest.approx([0.200812474] * 4, rel=1e-6)
    assert analysis[:, 10].tolist() == pytest.approx(
        [7.11931352e-05, 1.71875436e-04, -1.71875436e-04, -7.11931352e-05], rel=1e-5)
    assert synthesis[:, 31].tolist() == pytest.approx([0.803249896] * 4, rel=1e-6)
    assert synthesis[:, 20].tolist() == pytest.approx(
        [0.120949641, -0.0500989817, 0.0500989817, -0.120949641], rel=1e-6)
    assert float(synthesis.sum()) == pytest.approx(4.00199823, rel=1e-6)
    ratio = plain / scaled  # only the gain differs: the unscaled prototype's DC gain
    assert np.allclose(ratio, ratio.flat[0]) and ratio.flat[0] == pytest.approx(1.0000291159,
                                                                                rel=1e-9)


def test_pwg_stats_h5_read_with_h5py(tmp_path: Path) -> None:
    h5py = pytest.importorskip("h5py")
    state = melgan_state("melgan", "stack", "skip_layer", 8, 32, [4, 4], 2)
    write_pwg(tmp_path / "exp", "MelGANGenerator", MELGAN, state, format="hdf5")
    mean, scale = _stats()
    with h5py.File(tmp_path / "exp" / "stats.h5", "w") as f:
        f["mean"], f["scale"] = mean, scale
    (tmp_path / "exp" / "stats.npy").unlink()
    result = import_model(tmp_path / "exp", tmp_path / "model")
    assert any("stats.h5" in note for note in result.notes)
    _check(tmp_path / "model", melgan_forward(state, "melgan", "stack", "skip_layer", [4, 4], 2,
                                              _normalised(_raw_mel())))


def _refused(tmp_path: Path, kind: str | None, params: dict, state: dict,
             **extra: Any) -> str:
    write_pwg(tmp_path / "exp", kind, params, state, **extra)
    with pytest.raises(ImportSourceError) as info:
        import_model(tmp_path / "exp", tmp_path / "model")
    assert not (tmp_path / "model").exists() and "\n" not in str(info.value)
    return str(info.value)


def test_pwg_refusals_are_one_line_naming_the_key(tmp_path: Path) -> None:
    state = melgan_state("melgan", "stack", "skip_layer", 8, 32, [4, 4], 2)
    message = _refused(tmp_path, None, MELGAN, state)
    assert "ParallelWaveGANGenerator" in message and "generator_type" in message
    message = _refused(tmp_path, "StyleMelGANGenerator", MELGAN, state)
    assert "'StyleMelGANGenerator'" in message
    message = _refused(tmp_path, "MelGANGenerator", {**MELGAN, "use_causal_conv": True}, state)
    assert "'generator_params.use_causal_conv'" in message
    message = _refused(tmp_path, "MelGANGenerator", {**MELGAN, "pad": "ReplicationPad1d"}, state)
    assert "'generator_params.pad'" in message
    broken = dict(state)
    del broken["melgan.5.stack.4.weight_v"]
    assert "'melgan.5.stack.4.weight_v'" in _refused(tmp_path, "MelGANGenerator", MELGAN, broken)
    extra = {**state, "melgan.99.bias": torch.zeros(1)}
    assert "'melgan.99.bias'" in _refused(tmp_path, "MelGANGenerator", MELGAN, extra)
    assert "'hop_size'" in _refused(tmp_path, "MelGANGenerator", MELGAN, state, hop_size=32)
    (tmp_path / "exp" / "stats.npy").unlink()
    message = _refused(tmp_path, "MelGANGenerator", MELGAN, state, stats=False)
    assert "stats.h5 or stats.npy" in message


def test_pwg_pickle_payload_is_refused_and_nothing_runs(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    state = melgan_state("melgan", "stack", "skip_layer", 8, 32, [4, 4], 2)
    checkpoint = write_pwg(tmp_path / "exp", "MelGANGenerator", MELGAN, state)
    with open(checkpoint, "wb") as handle:
        pickle.dump({"model": {"generator": _Payload(marker)}}, handle)
    with pytest.raises(ImportSourceError, match="refused"):
        import_model(checkpoint, tmp_path / "model")
    assert not marker.exists() and not (tmp_path / "model").exists()


# --- descriptinc/melgan-neurips -----------------------------------------------------------------

ARGS_YML = """!!python/object:argparse.Namespace
batch_size: 16
cond_disc: false
data_path: data/ljspeech
downsamp_factor: 4
epochs: 3000
lambda_feat: 10
load_path: null
log_interval: 100
n_layers_D: 4
n_mel_channels: 8
n_residual_layers: 2
n_test_samples: 8
ndf: 16
ngf: 4
num_D: 3
save_interval: 1000
save_path: logs/test
seq_len: 8192
"""


def _neurips_mel(frames: int = 6) -> torch.Tensor:
    return -3.0 + torch.randn(1, 8, frames, generator=torch.Generator().manual_seed(5))


def test_melgan_neurips_training_dir_equals_the_independent_forward(tmp_path: Path) -> None:
    run = tmp_path / "logs"
    run.mkdir()
    state = melgan_state("model", "block", "shortcut", 8, 64, [8, 8, 2, 2], 2, seed=4)
    torch.save(state, run / "netG.pt")
    disc = melgan_disc_state("model.disc_{i}", "model.layer_{j}", 3, 16, [4, 4, 4, 4], 1024)
    torch.save(disc, run / "netD.pt")
    (run / "args.yml").write_text(ARGS_YML)
    reader, detection = detect_format(run)
    assert reader.name == "melgan" and "netG.pt + args.yml + netD.pt" in detection.description
    result = import_model(run, tmp_path / "model")
    assert any("discriminator imported from netD.pt" in note for note in result.notes)
    _check_discriminator(tmp_path / "model", disc, "model.disc_{i}", "model.layer_{j}", 3,
                         [4, 4, 4, 4])
    loaded = load_model(tmp_path / "model")
    assert loaded.config.features.profile == "melgan" and loaded.mean is None
    assert loaded.config.generator.params["resstack_dilations"] == [1, 3]
    mel = _neurips_mel()
    expected = melgan_forward(state, "model", "block", "shortcut", [8, 8, 2, 2], 2, mel)
    out = Vocoder.load(tmp_path / "model")(mel, check_range=False)
    assert out.shape[-1] == expected.shape[-1] == 6 * 256
    assert float((out.reshape(-1) - expected.reshape(-1).float()).abs().max()) <= 1e-5


def test_init_from_an_imported_melgan_starts_generator_and_discriminator(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from audiogan.config.build import generator_from_config
    from audiogan.models.layers import remove_weight_norm
    from audiogan.training.state import init_weights

    run = tmp_path / "logs"
    run.mkdir()
    state = melgan_state("model", "block", "shortcut", 8, 64, [8, 8, 2, 2], 2, seed=4)
    torch.save(state, run / "netG.pt")
    torch.save(melgan_disc_state("model.disc_{i}", "model.layer_{j}", 3, 16, [4, 4, 4, 4], 1024),
               run / "netD.pt")
    (run / "args.yml").write_text(ARGS_YML)
    import_model(run, tmp_path / "model")
    config = load_model(tmp_path / "model").config
    parts = SimpleNamespace(generator=generator_from_config(config),
                            discriminator=discriminator_from_config(config), config=config)
    init_weights(parts, tmp_path / "model")  # type: ignore[arg-type]
    expected = load_file(tmp_path / "model" / "discriminator.safetensors")
    got = parts.discriminator.state_dict()
    assert set(got) == set(expected) and all(torch.equal(got[k], v) for k, v in expected.items())
    mel = _neurips_mel()
    with torch.no_grad():
        out = remove_weight_norm(parts.generator).eval()(mel)
    reference = melgan_forward(state, "model", "block", "shortcut", [8, 8, 2, 2], 2, mel)
    assert float((out - reference.float()).abs().max()) <= 1e-5


def test_melgan_neurips_released_file_without_config(tmp_path: Path) -> None:
    state = melgan_state("model", "block", "shortcut", 8, 64, [8, 8, 2, 2], 3, seed=2)
    torch.save(state, tmp_path / "linda_johnson.pt")
    result = import_model(tmp_path / "linda_johnson.pt", tmp_path / "model")
    assert result.format == "melgan" and "no config" in result.detection.description
    assert any("Generator(8, 4, 3)" in note for note in result.notes)
    mel = _neurips_mel()
    expected = melgan_forward(state, "model", "block", "shortcut", [8, 8, 2, 2], 3, mel)
    out = Vocoder.load(tmp_path / "model")(mel, check_range=False)
    assert float((out.reshape(-1) - expected.reshape(-1).float()).abs().max()) <= 1e-5


def test_melgan_neurips_args_yml_accepts_only_the_namespace_tag(tmp_path: Path) -> None:
    run = tmp_path / "logs"
    run.mkdir()
    torch.save(melgan_state("model", "block", "shortcut", 8, 64, [8, 8, 2, 2], 2), run / "netG.pt")
    marker = tmp_path / "ran"
    (run / "args.yml").write_text(
        f"!!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(ImportSourceError) as info:
        import_model(run, tmp_path / "model")
    assert "args.yml" in str(info.value) and "\n" not in str(info.value)
    assert not marker.exists() and not (tmp_path / "model").exists()
    (run / "args.yml").write_text(ARGS_YML.replace("ngf: 4", "ngf: 32"))
    with pytest.raises(ImportSourceError, match="'ngf' is 32"):
        import_model(run, tmp_path / "model")
    (run / "args.yml").write_text(ARGS_YML.replace("seq_len: 8192", "seq_len: null"))
    with pytest.raises(ImportSourceError, match=r"args.yml: key 'seq_len' is None; it must be"):
        import_model(run, tmp_path / "model")
    assert not (tmp_path / "model").exists()


def test_list_names_both_formats_and_their_sources() -> None:
    from click.testing import CliRunner

    from audiogan.cli.main import cli

    result = CliRunner().invoke(cli, ["import", "--list"])
    assert result.exit_code == 0
    for text in ("pwg ", "kan-bayashi/ParallelWaveGAN", "checkpoint-<N>steps.pkl", "melgan ",
                 "descriptinc/melgan-neurips", "linda_johnson.pt"):
        assert text in result.output
    assert "[no reader yet]" not in result.output


def test_vocoder_load_takes_a_pwg_checkpoint_directly(tmp_path: Path) -> None:
    state = melgan_state("melgan", "stack", "skip_layer", 8, 32, [4, 4], 2)
    checkpoint = write_pwg(tmp_path / "exp", "MelGANGenerator", MELGAN, state)
    out = Vocoder.load(checkpoint)(_raw_mel(), check_range=False)
    expected = melgan_forward(state, "melgan", "stack", "skip_layer", [4, 4], 2,
                              _normalised(_raw_mel()))
    assert float((out.reshape(-1) - expected.reshape(-1).float()).abs().max()) <= 1e-5
    assert sorted(p.name for p in (tmp_path / "exp").iterdir()) == [
        "checkpoint-1000steps.pkl", "config.yml", "stats.npy"]


@pytest.mark.parametrize("where, key, value, named", [
    ("generator_params", "channels", "x", "'generator_params.channels' is 'x'"),
    ("config", "batch_max_steps", None, "'batch_max_steps' is None"),
    ("config", "fmax", "nyquist", "'fmax' is 'nyquist'"),
    ("config", "discriminator_params", {"layers": "x"}, "'discriminator_params.layers' is 'x'"),
])
def test_pwg_bad_config_value_is_one_cli_error_line(tmp_path: Path, where: str, key: str,
                                                    value: Any, named: str) -> None:
    from click.testing import CliRunner

    from audiogan.cli.main import cli

    state = melgan_state("melgan", "stack", "skip_layer", 8, 32, [4, 4], 2)
    params = {**MELGAN, key: value} if where == "generator_params" else MELGAN
    extra = {key: value} if where == "config" else {}
    write_pwg(tmp_path / "exp", "MelGANGenerator", params, state, **extra)
    result = CliRunner().invoke(cli, ["import", str(tmp_path / "exp"), "-o",
                                      str(tmp_path / "m")])
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert f"config.yml: key {named}" in lines[0] and "Traceback" not in result.output
    assert not (tmp_path / "m").exists()
