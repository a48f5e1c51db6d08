"""audiogan import, NVIDIA BigVGAN: checkpoints saved by the bigvgan 2.4.1 package itself (from
.refs/, randomly initialised, in its own layout) -> model dirs whose Vocoder output equals the
package's torch forward on the same mel; discriminators, detection, safety, one-line errors."""

from __future__ import annotations

import copy
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner
from faults.hostile import Payload as _Payload
from refs_helpers import require_reference

from audiogan import Vocoder
from audiogan.cli.main import cli
from audiogan.features.spec import BIGVGAN_FEATURES
from audiogan.inference.imports import DISCRIMINATOR_NAME, ImportSourceError, import_model
from audiogan.inference.imports.base import detect_format
from audiogan.inference.imports.bigvgan import bigvgan_config, published_shape
from audiogan.inference.model_dir import load_model

ROOT = Path(__file__).resolve().parents[3]

#: A v2 config (snakebeta, log-scale, no tanh, no final bias, CQT discriminator) at toy size.
V2_SMALL: dict[str, Any] = {
    "resblock": "1", "upsample_rates": [4, 2], "upsample_kernel_sizes": [8, 4],
    "upsample_initial_channel": 32, "resblock_kernel_sizes": [3, 7],
    "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5]], "use_tanh_at_final": False,
    "use_bias_at_final": False, "activation": "snakebeta", "snake_logscale": True,
    "use_cqtd_instead_of_mrd": True, "cqtd_filters": 8, "cqtd_max_filters": 16,
    "cqtd_filters_scale": 1, "cqtd_dilations": [1, 2, 4], "cqtd_hop_lengths": [64, 32, 32],
    "cqtd_n_octaves": [5, 5, 5], "cqtd_bins_per_octaves": [12, 18, 24],
    "mpd_reshapes": [2, 3], "use_spectral_norm": False, "discriminator_channel_mult": 0.25,
    "use_multiscale_melloss": True, "lambda_melloss": 15, "clip_grad_norm": 500,
    "segment_size": 4096, "num_mels": 8, "n_fft": 64, "hop_size": 8, "win_size": 64,
    "sampling_rate": 8000, "fmin": 0, "fmax": None, "fmax_for_loss": None,
    "learning_rate": 0.0001, "adam_b1": 0.8, "adam_b2": 0.99, "lr_decay": 0.9999996,
    "batch_size": 4, "seed": 1234,
}
#: A v1-style config without the v2 keys (tanh and final bias by default), plain Snake,
#: resblock 2 and the MRD.
V1_SMALL: dict[str, Any] = {
    **{k: v for k, v in V2_SMALL.items()
       if not k.startswith(("cqtd", "use_", "clip_", "lambda_"))},
    "resblock": "2", "activation": "snake", "snake_logscale": False,
    "resolutions": [[64, 16, 48], [128, 32, 96], [32, 8, 24]], "use_spectral_norm": False,
    "fmax": 4000,
}


@pytest.fixture(scope="module")
def ref() -> Any:
    """The bigvgan package (torch activation path) from .refs/."""
    refs = require_reference("bigvgan/bigvgan.py", "the bigvgan 2.4.1 reference package")
    if str(refs) not in sys.path:
        sys.path.insert(0, str(refs))
    import bigvgan.bigvgan
    import bigvgan.discriminators
    import bigvgan.env

    return bigvgan


def reference_generator(ref: Any, hparams: dict[str, Any], seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = ref.bigvgan.BigVGAN(ref.env.AttrDict(copy.deepcopy(hparams)), use_cuda_kernel=False)
    with torch.no_grad():  # move Snake's parameters off their initial values
        for name, param in model.named_parameters():
            if name.endswith((".alpha", ".beta")):
                param.add_(0.1 * torch.randn_like(param))
    return model.eval()


def write_release(folder: Path, model: torch.nn.Module, hparams: dict[str, Any],
                  weight_norm: str = "weight_g") -> Path:
    """bigvgan_generator.pt + config.json as NVIDIA publishes them; weight norm as
    ``weight_g``/``weight_v``, ``parametrizations``, or folded by the package's own
    ``remove_weight_norm`` (``plain``: ``model`` itself is folded then, as the package does
    for inference)."""
    folder.mkdir(parents=True, exist_ok=True)
    if weight_norm == "plain":
        model.remove_weight_norm()
    state = model.state_dict()
    if weight_norm == "parametrizations":
        state = {k.replace("weight_g", "parametrizations.weight.original0")
                  .replace("weight_v", "parametrizations.weight.original1"): v
                 for k, v in state.items()}
    torch.save({"generator": state}, folder / "bigvgan_generator.pt")
    (folder / "config.json").write_text(json.dumps(hparams, indent=4))
    return folder / "bigvgan_generator.pt"


def _mel(channels: int = 8, frames: int = 24, seed: int = 3) -> torch.Tensor:
    return -5.0 + 2.0 * torch.randn(1, channels, frames,
                                    generator=torch.Generator().manual_seed(seed))


def _max_diff(model: torch.nn.Module, voc: Vocoder, mel: torch.Tensor) -> float:
    with torch.no_grad():
        expected = model(mel).reshape(-1)
    out = voc(mel).reshape(-1)
    assert out.shape == expected.shape
    return float((out - expected).abs().max())


@pytest.mark.parametrize("weight_norm", ["weight_g", "plain", "parametrizations"])
def test_v2_generator_equals_the_package_forward(tmp_path: Path, ref: Any,
                                                 weight_norm: str) -> None:
    model = reference_generator(ref, V2_SMALL)
    source = write_release(tmp_path / "release", model, V2_SMALL, weight_norm)
    result = import_model(source, tmp_path / "model")
    assert result.format == "bigvgan" and "config.json" in result.detection.description
    voc = Vocoder.load(tmp_path / "model")
    assert _max_diff(model, voc, _mel()) <= 1e-4
    config = load_model(tmp_path / "model").config
    params = config.generator.params
    assert config.generator.name == "bigvgan" and params["use_tanh_at_final"] is False
    assert params["use_bias_at_final"] is False and params["activation"] == "snakebeta"
    assert config.feature_spec().f_max is None and config.feature_spec().hop_length == 8
    assert config.training.grad_clip == 500.0 and config.training.grad_clip_per_part
    assert config.loss.weights == {"adversarial": 1.0, "feature_matching": 2.0,
                                   "multiscale_mel": 15.0}
    assert config.loss.multiscale_mel.n_mels == (5, 10, 20, 40, 80, 160, 320)
    assert config.loss.multiscale_mel.window_lengths == (32, 64, 128, 256, 512, 1024, 2048)
    from audiogan.config.build import loss_terms_from_config

    assert loss_terms_from_config(config).weights["multiscale_mel"] == 15.0


def test_v1_generator_snake_resblock2_tanh(tmp_path: Path, ref: Any) -> None:
    model = reference_generator(ref, V1_SMALL, seed=1)
    source = write_release(tmp_path / "release", model, V1_SMALL)
    import_model(source, tmp_path / "model")
    voc = Vocoder.load(tmp_path / "model")
    assert _max_diff(model, voc, _mel(frames=16)) <= 1e-4
    config = load_model(tmp_path / "model").config
    assert config.generator.params["use_tanh_at_final"] is True
    assert config.training.grad_clip == 1000.0  # the reference's default without the key
    assert config.feature_spec().f_max == 4000.0
    assert config.loss.weights == {"adversarial": 1.0, "feature_matching": 2.0, "mel": 45.0}


def test_a_v2_published_shape_at_reduced_width(tmp_path: Path, ref: Any) -> None:
    """44khz_128band_512x's stages, kernels and AMP blocks with 64 instead of 1536 channels."""
    hparams = {**V2_SMALL, "upsample_rates": [8, 4, 2, 2, 2, 2],
               "upsample_kernel_sizes": [16, 8, 4, 4, 4, 4], "upsample_initial_channel": 64,
               "resblock_kernel_sizes": [3, 7, 11],
               "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]], "num_mels": 128,
               "n_fft": 2048, "hop_size": 512, "win_size": 2048, "sampling_rate": 44100}
    model = reference_generator(ref, hparams, seed=2)
    source = write_release(tmp_path / "release", model, hparams, "plain")
    voc = Vocoder.load(source)  # converted in memory
    assert _max_diff(model, voc, _mel(128, frames=6)) <= 1e-4


def _hparams_of(name: str) -> dict[str, Any]:
    spec = BIGVGAN_FEATURES[name]
    v2 = name.endswith("x")
    return {**V2_SMALL, "upsample_rates": [8, 4, 2, 2, 2, 2] if "512x" in name
            else [4, 4, 2, 2, 2, 2] if not name.startswith("base") else [8, 8, 2, 2],
            "upsample_kernel_sizes": [16, 8, 4, 4, 4, 4] if "512x" in name
            else [8, 8, 4, 4, 4, 4] if not name.startswith("base") else [16, 16, 4, 4],
            "upsample_initial_channel": 512 if name.startswith("base") else 1536,
            "resblock_kernel_sizes": [3, 7, 11],
            "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
            "use_tanh_at_final": not v2, "use_bias_at_final": not v2,
            "num_mels": spec.n_mels, "n_fft": spec.n_fft, "hop_size": spec.hop_length,
            "win_size": spec.win_length, "sampling_rate": spec.sample_rate,
            "fmax": spec.f_max}


@pytest.mark.parametrize("name", sorted(BIGVGAN_FEATURES))
def test_published_configs_convert_to_their_preset_and_features(name: str) -> None:
    hparams = _hparams_of(name)
    data = bigvgan_config(hparams, hparams["num_mels"], Path("config.json"))
    assert published_shape(data) == name
    data["generator"]["params"]["upsample_initial_channel"] = 64
    assert published_shape(data) is None


def test_a_published_shape_is_named_as_its_preset(tmp_path: Path, ref: Any) -> None:
    """base_22khz_80band at full width (14M parameters): the config names the preset."""
    hparams = _hparams_of("base_22khz_80band")
    model = reference_generator(ref, hparams)
    result = import_model(write_release(tmp_path / "release", model, hparams, "plain"),
                          tmp_path / "model")
    assert any("'base_22khz_80band'" in note for note in result.notes)
    config = load_model(tmp_path / "model").config
    assert config.generator.params["preset"] == "base_22khz_80band"
    assert config.feature_spec() == BIGVGAN_FEATURES["base_22khz_80band"]
    assert _max_diff(model, Vocoder.load(tmp_path / "model"), _mel(80, frames=4)) <= 1e-4


def test_v1_discriminators_load_and_score_as_the_package(tmp_path: Path, ref: Any) -> None:
    """v1: MPD and MRD (the MRD with BigVGAN's rectangular-window magnitude) as the package."""
    model = reference_generator(ref, V1_SMALL)
    source = write_release(tmp_path / "release", model, V1_SMALL)
    h = ref.env.AttrDict(copy.deepcopy(V1_SMALL))
    torch.manual_seed(4)
    mpd = ref.discriminators.MultiPeriodDiscriminator(h).eval()
    mrd = ref.discriminators.MultiResolutionDiscriminator(h).eval()
    torch.save({"mpd": mpd.state_dict(), "mrd": mrd.state_dict(), "optim_g": {}, "optim_d": {},
                "steps": 2500, "epoch": 3}, source.with_name("bigvgan_discriminator_optimizer.pt"))
    result = import_model(source.parent, tmp_path / "model")
    assert "bigvgan_discriminator_optimizer.pt" in result.detection.description
    assert not any("window" in note for note in result.notes)
    assert (tmp_path / "model" / DISCRIMINATOR_NAME).is_file()
    assert load_model(tmp_path / "model").step == 2500

    from safetensors.torch import load_file

    from audiogan.config.build import discriminator_from_config

    ours = discriminator_from_config(load_model(tmp_path / "model").config)
    ours.load_state_dict(load_file(tmp_path / "model" / DISCRIMINATOR_NAME))
    wave = 0.5 * torch.randn(1, 1, 1200, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        expected = mpd(wave, wave)[0] + mrd(wave, wave)[0]
        logits = ours.eval()(wave).logits
    assert len(logits) == len(expected) == len(V1_SMALL["mpd_reshapes"]) + len(
        V1_SMALL["resolutions"])
    for theirs, mine in zip(expected, logits):
        assert float((theirs.flatten(1) - mine.flatten(1)).abs().max()) <= 1e-5


def test_v2_discriminators_mpd_and_cqt_score_as_the_package(tmp_path: Path, ref: Any) -> None:
    """v2: the ``mrd`` key holds the CQT discriminator (nnAudio's CQT buffers included)."""
    require_reference("nnAudio/features/cqt.py", "nnAudio 0.3.4 (bigvgan's CQT)")
    model = reference_generator(ref, V2_SMALL)
    source = write_release(tmp_path / "release", model, V2_SMALL)
    h = ref.env.AttrDict(copy.deepcopy(V2_SMALL))
    torch.manual_seed(6)
    mpd = ref.discriminators.MultiPeriodDiscriminator(h).eval()
    cqtd = ref.discriminators.MultiScaleSubbandCQTDiscriminator(h).eval()
    torch.save({"mpd": mpd.state_dict(), "mrd": cqtd.state_dict(), "optim_g": {},
                "optim_d": {}, "steps": 10, "epoch": 0},
               source.with_name("bigvgan_discriminator_optimizer.pt"))
    result = import_model(source, tmp_path / "model")
    assert not any("window" in note for note in result.notes)

    from safetensors.torch import load_file

    from audiogan.config.build import discriminator_from_config

    config = load_model(tmp_path / "model").config
    assert config.discriminator.params["cqtd"] is True
    ours = discriminator_from_config(config)
    ours.load_state_dict(load_file(tmp_path / "model" / DISCRIMINATOR_NAME))
    wave = 0.5 * torch.randn(1, 1, 2048, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        mpd_logits, _, _, _ = mpd(wave, wave)
        cqt_logits, _, _, _ = cqtd(wave, wave)
        logits = ours.eval()(wave).logits
    expected = list(mpd_logits) + list(cqt_logits)
    assert len(logits) == len(expected)
    for theirs, mine in zip(expected, logits):
        assert float((theirs.reshape(-1) - mine.reshape(-1)).abs().max()) <= 1e-4


def test_training_init_from_the_imported_model_or_the_release(tmp_path: Path, ref: Any) -> None:
    """training.init_from: the imported model directory starts the weight-normed generator and
    the discriminators from the release's weights; the release folder itself works too."""
    from types import SimpleNamespace

    from safetensors.torch import load_file

    from audiogan.config.build import discriminator_from_config, generator_from_config
    from audiogan.models.layers import remove_weight_norm
    from audiogan.training.state import init_weights

    model = reference_generator(ref, V1_SMALL)
    source = write_release(tmp_path / "release", model, V1_SMALL)
    h = ref.env.AttrDict(copy.deepcopy(V1_SMALL))
    torch.save({"mpd": ref.discriminators.MultiPeriodDiscriminator(h).state_dict(),
                "mrd": ref.discriminators.MultiResolutionDiscriminator(h).state_dict()},
               source.with_name("bigvgan_discriminator_optimizer.pt"))
    import_model(source, tmp_path / "model")
    config = load_model(tmp_path / "model").config
    mel = _mel(frames=10)
    for origin in (tmp_path / "model", source.parent):
        parts = SimpleNamespace(generator=generator_from_config(config),
                                discriminator=discriminator_from_config(config), config=config)
        init_weights(parts, origin)  # type: ignore[arg-type]
        generator = remove_weight_norm(parts.generator).eval()
        with torch.no_grad():
            diff = (generator(mel).reshape(-1) - model(mel).reshape(-1)).abs().max()
        assert float(diff) <= 1e-4, origin
    expected = load_file(tmp_path / "model" / DISCRIMINATOR_NAME)
    parts = SimpleNamespace(generator=generator_from_config(config),
                            discriminator=discriminator_from_config(config), config=config)
    init_weights(parts, tmp_path / "model")  # type: ignore[arg-type]
    got = parts.discriminator.state_dict()
    assert all(torch.equal(got[k], v) for k, v in expected.items())


def test_training_checkpoints_beside_a_bigvgan_config(tmp_path: Path, ref: Any) -> None:
    """g_/do_ files from BigVGAN's train.py: recognised by the config beside them, not as
    jik876's; a do_ file without its g_ is one line."""
    model = reference_generator(ref, V1_SMALL)
    folder = tmp_path / "run"
    write_release(folder, model, V1_SMALL)
    (folder / "bigvgan_generator.pt").rename(folder / "g_00005000")
    reader, detection = detect_format(folder)
    assert reader.name == "bigvgan" and detection.checkpoint.name == "g_00005000"
    assert import_model(folder / "g_00005000", tmp_path / "model").format == "bigvgan"
    assert load_model(tmp_path / "model").step == 5000
    torch.save({"mpd": {}, "mrd": {}}, folder / "do_00006000")
    with pytest.raises(ImportSourceError, match="g_00006000.* not beside it"):
        detect_format(folder / "do_00006000")
    (folder / "config.json").write_text(json.dumps({"resblock": "1"}))  # jik876's kind
    assert detect_format(folder / "g_00005000")[0].name == "hifigan"


def test_foreign_files_are_not_bigvgan(tmp_path: Path) -> None:
    from audiogan.inference.imports.base import READERS

    reader = READERS["bigvgan"]
    (tmp_path / "config.json").write_text("{not json")
    for name in ("g_00000001", "model.pt", "do_00000001", "config.json"):
        (tmp_path / name).write_bytes(b"\x00junk")
        assert reader.detect(tmp_path / name) is None
    assert reader.detect(tmp_path) is None
    lone = tmp_path / "alone" / "bigvgan_discriminator_optimizer.pt"
    lone.parent.mkdir()
    lone.write_bytes(b"")
    with pytest.raises(ImportSourceError, match="bigvgan_generator.pt.*not beside it"):
        reader.detect(lone)


def test_a_pickle_payload_is_refused_and_nothing_runs(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    folder = tmp_path / "release"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(V2_SMALL))
    torch.save({"generator": _Payload(marker)}, folder / "bigvgan_generator.pt")
    result = CliRunner().invoke(cli, ["import", str(folder), "-o", str(tmp_path / "model")])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "bigvgan_generator.pt: refused" in lines[0]
    with open(folder / "bigvgan_generator.pt", "wb") as handle:
        pickle.dump({"generator": _Payload(marker)}, handle)
    with pytest.raises(ImportSourceError, match="refused"):
        import_model(folder, tmp_path / "model")
    assert not marker.exists() and not (tmp_path / "model").exists()


def test_mismatches_are_one_line_naming_the_key(tmp_path: Path, ref: Any) -> None:
    model = reference_generator(ref, V2_SMALL)
    source = write_release(tmp_path / "release", model, V2_SMALL)
    state = torch.load(source)["generator"]
    cases = {
        "ups.9.0.bias": {**state, "ups.9.0.bias": torch.zeros(3)},
        "resblocks.0.convs1.0.weight_v": {k: v for k, v in state.items()
                                          if k != "resblocks.0.convs1.0.weight_v"},
        "resblocks.1.activations.5.act.beta": {
            k: v for k, v in state.items() if k != "resblocks.1.activations.5.act.beta"},
    }
    for key, broken in cases.items():
        torch.save({"generator": broken}, source)
        result = CliRunner().invoke(cli, ["import", str(source), "-o", str(tmp_path / "m")])
        lines = [line for line in result.output.splitlines() if line.startswith("error:")]
        assert result.exit_code == 2 and len(lines) == 1 and repr(key)[1:-1] in lines[0], (
            key, result.output)
        assert not (tmp_path / "m").exists()
    torch.save({"generator": state}, source)
    (source.parent / "config.json").write_text(json.dumps({**V2_SMALL, "num_mels": 80}))
    with pytest.raises(ImportSourceError, match="'num_mels' is 80.*8 channels"):
        import_model(source, tmp_path / "m")
    (source.parent / "config.json").write_text(json.dumps(
        {k: v for k, v in V2_SMALL.items() if k != "activation"}))
    with pytest.raises(ImportSourceError, match="config.json: key 'activation' is missing"):
        import_model(source, tmp_path / "m")


def test_an_upsampler_with_odd_kernel_minus_rate_is_refused(tmp_path: Path, ref: Any) -> None:
    # kernel 7 at rate 4: the package pads (7 - 4) // 2 = 1, so that stage gives 4T + 1 samples
    odd = {**V2_SMALL, "upsample_kernel_sizes": [7, 4]}
    model = reference_generator(ref, odd)
    with torch.no_grad():
        assert model(_mel(frames=10)).shape[-1] != 10 * 8
    source = write_release(tmp_path / "release", model, odd)
    result = CliRunner().invoke(cli, ["import", str(source), "-o", str(tmp_path / "m")])
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert "config.json: 'upsample_kernel_sizes'[0]=7 with rate 4" in lines[0]
    assert "e.g. 8" in lines[0]
    assert not (tmp_path / "m").exists()


def test_cli_import_then_synthesize_from_the_model_dir(tmp_path: Path, ref: Any) -> None:
    model = reference_generator(ref, V2_SMALL)
    source = write_release(tmp_path / "release", model, V2_SMALL)
    runner = CliRunner()
    result = runner.invoke(cli, ["import", str(source), "-o", str(tmp_path / "model")])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == [
        "config.yaml", "generator.safetensors"]
    listing = runner.invoke(cli, ["import", "--list"]).output
    assert "NVIDIA BigVGAN" in listing and "bigvgan_v2_44khz_128band_512x" in listing


def test_parity_benchmark_runs_as_a_script(tmp_path: Path) -> None:
    """benchmarks/import_parity_bigvgan.py on one small preset shape, the bigvgan package from
    .refs/ as the reference."""
    refs = require_reference("bigvgan/bigvgan.py", "the bigvgan 2.4.1 reference package")
    out = tmp_path / "parity.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "import_parity_bigvgan.py"), "--presets",
         "base_22khz_80band", "--width", "32", "--frames", "8", "--clips", "1", "--threads", "1",
         "--json", str(out)],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
        env={**os.environ, "PYTHONPATH": f"{refs}:{ROOT}", "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rows = json.loads(out.read_text())["rows"]
    assert len(rows) == 2 and all(row["max_abs_diff"] <= 1e-4 for row in rows)


def test_the_scheduler_steps_per_step_in_v2_and_per_epoch_in_v1() -> None:
    """BigVGAN-v2's training steps its schedulers every step, v1's once per epoch."""
    def interval(hparams: dict[str, Any]) -> str:
        return bigvgan_config(hparams, 8, Path("config.json"))["scheduler"]["interval"]

    assert interval(V2_SMALL) == "step" and interval(V1_SMALL) == "epoch"
    assert interval({**V1_SMALL, "use_multiscale_melloss": True}) == "step"  # v2's loss alone


@pytest.mark.parametrize("key, value, named", [
    ("n_fft", None, "n_fft' is None"), ("segment_size", None, "segment_size' is None"),
    ("sampling_rate", "22k", "sampling_rate' is '22k'"),
    ("learning_rate", "x", "learning_rate' is 'x'"),
    ("discriminator_channel_mult", "x", "discriminator_channel_mult' is 'x'"),
    ("batch_size", True, "batch_size' is True"), ("hop_size", 8.5, "hop_size' is 8.5"),
    ("cqtd_dilations", 5, "cqtd_dilations' is 5"),
    ("cqtd_n_octaves", [5, "x", 5], "cqtd_n_octaves[1]' is 'x'"),
    ("use_tanh_at_final", "false", "use_tanh_at_final' is 'false'"),
    ("resblock_dilation_sizes", [[1, 3, 5], [1, None, 5]],
     "resblock_dilation_sizes[1][1]' is None"), ("fmax", "max", "fmax' is 'max'"),
])
def test_a_bad_config_value_is_one_error_line_naming_the_key(tmp_path: Path, key: str,
                                                             value: Any, named: str) -> None:
    folder = tmp_path / "release"
    folder.mkdir()
    torch.save({"generator": {"conv_pre.weight": torch.zeros(4, 8, 7)}},
               folder / "bigvgan_generator.pt")
    (folder / "config.json").write_text(json.dumps({**V2_SMALL, key: value}))
    result = CliRunner().invoke(cli, ["import", str(folder), "-o", str(tmp_path / "m")])
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert "Traceback" not in result.output and f"config.json: key '{named}" in lines[0]
    assert not (tmp_path / "m").exists()


def test_a_discriminator_its_config_cannot_build_is_one_error_line(tmp_path: Path) -> None:
    """9 octaves of CQT do not fit under 8 kHz (the config check cannot know the rate's limit
    without building): one line, exit 2, nothing written."""
    from audiogan.config.build import generator_from_config
    from audiogan.inference.imports.base import build_config
    from audiogan.models.layers import remove_weight_norm

    generator = generator_from_config(build_config(bigvgan_config(V2_SMALL, 8, tmp_path), tmp_path))
    remove_weight_norm(generator)
    folder = tmp_path / "release"
    folder.mkdir()
    torch.save({"generator": generator.state_dict()}, folder / "bigvgan_generator.pt")
    torch.save({"mpd": {}, "mrd": {}}, folder / "bigvgan_discriminator_optimizer.pt")
    (folder / "config.json").write_text(json.dumps({**V2_SMALL, "cqtd_n_octaves": [9, 9, 9]}))
    result = CliRunner().invoke(cli, ["import", str(folder), "-o", str(tmp_path / "m")])
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert "its config's discriminator cannot be built" in lines[0] and "Nyquist" in lines[0]
    assert not (tmp_path / "m").exists()
