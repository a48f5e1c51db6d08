"""audiogan import, Vocos (mel): checkpoints in the Hub layout (``pytorch_model.bin`` + Vocos'
``config.yaml``) -> ``istft`` model dirs whose output equals an independent forward of Vocos'
architecture on the common samples; refusals are one line naming the key.

The layout is written from the format's description (no reference code): a plain state dict
with ``backbone.embed``, ``backbone.norm``, ``backbone.convnext.{i}.{dwconv,norm,pwconv1,
pwconv2,gamma}``, ``backbone.final_layer_norm``, ``head.out``, the buffers
``head.istft.window`` and ``feature_extractor.mel_spec.{spectrogram.window,mel_scale.fb}``; the
config has ``feature_extractor``/``backbone``/``head`` sections with ``class_path``/``init_args``.
"""

from __future__ import annotations

import copy
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml
from click.testing import CliRunner
from refs_helpers import require_reference
from torch import Tensor

from audiogan import Vocoder
from audiogan.cli.main import cli
from audiogan.inference.imports import ImportSourceError, detect_format, import_model
from audiogan.inference.model_dir import load_model

N_MELS, DIM, HIDDEN, LAYERS, N_FFT, HOP = 12, 16, 24, 2, 64, 16


def hub_config(padding: str = "center", head_padding: str | None = None) -> dict[str, Any]:
    """A Vocos ``config.yaml`` (as a mapping) of a tiny mel model."""
    return {
        "feature_extractor": {
            "class_path": "vocos.feature_extractors.MelSpectrogramFeatures",
            "init_args": {"sample_rate": 8000, "n_fft": N_FFT, "hop_length": HOP,
                          "n_mels": N_MELS, "padding": padding}},
        "backbone": {
            "class_path": "vocos.models.VocosBackbone",
            "init_args": {"input_channels": N_MELS, "dim": DIM, "intermediate_dim": HIDDEN,
                          "num_layers": LAYERS}},
        "head": {
            "class_path": "vocos.heads.ISTFTHead",
            "init_args": {"dim": DIM, "n_fft": N_FFT, "hop_length": HOP,
                          "padding": head_padding or padding}},
    }


def hub_state(seed: int = 0, gamma: bool = True) -> dict[str, Tensor]:
    """Random weights in Vocos' state-dict layout (LayerNorm weights near 1)."""
    gen = torch.Generator().manual_seed(seed)

    def rnd(*shape: int, scale: float = 0.2, offset: float = 0.0) -> Tensor:
        return offset + scale * torch.randn(*shape, generator=gen)

    state = {
        "feature_extractor.mel_spec.spectrogram.window": torch.hann_window(N_FFT),
        "feature_extractor.mel_spec.mel_scale.fb": torch.rand(N_FFT // 2 + 1, N_MELS,
                                                              generator=gen),
        "backbone.embed.weight": rnd(DIM, N_MELS, 7), "backbone.embed.bias": rnd(DIM),
        "backbone.norm.weight": rnd(DIM, offset=1.0), "backbone.norm.bias": rnd(DIM),
    }
    for i in range(LAYERS):
        block = f"backbone.convnext.{i}"
        if gamma:
            state[f"{block}.gamma"] = rnd(DIM, offset=0.5)
        state.update({
            f"{block}.dwconv.weight": rnd(DIM, 1, 7), f"{block}.dwconv.bias": rnd(DIM),
            f"{block}.norm.weight": rnd(DIM, offset=1.0), f"{block}.norm.bias": rnd(DIM),
            f"{block}.pwconv1.weight": rnd(HIDDEN, DIM), f"{block}.pwconv1.bias": rnd(HIDDEN),
            f"{block}.pwconv2.weight": rnd(DIM, HIDDEN), f"{block}.pwconv2.bias": rnd(DIM)})
    state.update({
        "backbone.final_layer_norm.weight": rnd(DIM, offset=1.0),
        "backbone.final_layer_norm.bias": rnd(DIM),
        "head.out.weight": rnd(N_FFT + 2, DIM), "head.out.bias": rnd(N_FFT + 2, scale=0.5),
        "head.istft.window": torch.hann_window(N_FFT)})
    return state


def write_hub(directory: Path, config: dict[str, Any] | None = None,
              state: dict[str, Tensor] | None = None) -> Path:
    """``directory/pytorch_model.bin`` + ``directory/config.yaml``; returns the directory."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.yaml").write_text(yaml.safe_dump(config or hub_config()))
    torch.save(hub_state() if state is None else state, directory / "pytorch_model.bin")
    return directory


def _layer_norm(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """LayerNorm over the last axis (eps 1e-6), written out."""
    mean = x.mean(-1, keepdim=True)
    var = (x - mean).pow(2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + 1e-6) * weight + bias


def reference_forward(state: dict[str, Tensor], mel: Tensor, padding: str) -> Tensor:
    """Vocos' backbone + ISTFTHead in float64, from its description: (B, samples)."""
    s = {k: v.double() for k, v in state.items()}
    x = F.conv1d(mel.double(), s["backbone.embed.weight"], s["backbone.embed.bias"], padding=3)
    x = _layer_norm(x.transpose(1, 2), s["backbone.norm.weight"], s["backbone.norm.bias"])
    for i in range(LAYERS):
        p = f"backbone.convnext.{i}."
        h = F.conv1d(x.transpose(1, 2), s[p + "dwconv.weight"], s[p + "dwconv.bias"],
                     padding=3, groups=DIM).transpose(1, 2)
        h = _layer_norm(h, s[p + "norm.weight"], s[p + "norm.bias"])
        h = h @ s[p + "pwconv1.weight"].T + s[p + "pwconv1.bias"]
        h = 0.5 * h * (1.0 + torch.erf(h / math.sqrt(2.0)))  # exact GELU
        h = h @ s[p + "pwconv2.weight"].T + s[p + "pwconv2.bias"]
        x = x + (s[p + "gamma"] * h if p + "gamma" in s else h)
    x = _layer_norm(x, s["backbone.final_layer_norm.weight"], s["backbone.final_layer_norm.bias"])
    x = (x @ s["head.out.weight"].T + s["head.out.bias"]).transpose(1, 2)
    log_mag, phase = x.chunk(2, dim=1)
    spec = torch.clamp(torch.exp(log_mag), max=1e2) * torch.exp(1j * phase)
    window = torch.hann_window(N_FFT, dtype=torch.float64)
    if padding == "center":  # torch.istft without a length: (frames - 1) * hop samples
        return torch.istft(spec, N_FFT, HOP, N_FFT, window, center=True)
    # "same": irfft per frame, window, overlap-add, divide by the window envelope, trim
    # (n_fft - hop) / 2 on both sides: frames * hop samples.
    frames = torch.fft.irfft(spec, n=N_FFT, dim=1) * window[None, :, None]
    count = frames.shape[-1]
    total = (count - 1) * HOP + N_FFT
    out = torch.zeros(mel.shape[0], total, dtype=torch.float64)
    envelope = torch.zeros(total, dtype=torch.float64)
    for t in range(count):
        out[:, t * HOP : t * HOP + N_FFT] += frames[:, :, t]
        envelope[t * HOP : t * HOP + N_FFT] += window.square()
    pad = (N_FFT - HOP) // 2
    return out[:, pad:-pad] / envelope[pad:-pad]


def _mel(frames: int = 30, seed: int = 1) -> Tensor:
    return -4.0 + 1.5 * torch.randn(1, N_MELS, frames, generator=torch.Generator().manual_seed(
        seed))


@pytest.mark.parametrize("padding", ["center", "same"])
def test_generator_equals_the_reference_forward(tmp_path: Path, padding: str) -> None:
    source = write_hub(tmp_path / "vocos", hub_config(head_padding=padding))
    result = import_model(source, tmp_path / "model")
    assert result.format == "vocos" and "config.yaml" in result.detection.description
    voc = Vocoder.load(tmp_path / "model")
    mel = _mel()
    expected = reference_forward(hub_state(), mel, padding).float().reshape(-1)
    out = voc(mel).reshape(-1)
    assert out.shape[-1] == 30 * HOP  # audiogan: frames * hop
    assert expected.shape[-1] == (29 if padding == "center" else 30) * HOP
    assert float(expected.abs().max()) > 1e-2
    common = expected.shape[-1]
    assert float((out[:common] - expected).abs().max()) <= 1e-5
    loaded = load_model(tmp_path / "model")
    assert loaded.config.generator.name == "istft"
    assert loaded.config.generator.params["padding"] == padding
    assert loaded.config.features.profile == "vocos" and loaded.config.sample_rate == 8000
    assert loaded.config.features.n_mels == N_MELS and loaded.config.features.hop_length == HOP
    assert any("(frames - 1) * hop" in n for n in result.notes) == (padding == "center")


def test_features_follow_vocos_mel_conventions(tmp_path: Path) -> None:
    """Audio -> mel of the imported model equals Vocos' MelSpectrogramFeatures conventions
    (centred reflect padding, periodic hann, |X|, HTK mel filters without normalisation over
    0 .. sr/2, ln(max(x, 1e-7))), computed here in float64 from that description."""
    write_hub(tmp_path / "vocos")
    import_model(tmp_path / "vocos", tmp_path / "model")
    voc = Vocoder.load(tmp_path / "model")
    t = np.arange(4000) / 8000
    wave = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * np.random.default_rng(0).standard_normal(
        t.size)).astype(np.float32)
    ours = voc.features(torch.from_numpy(wave)).reshape(N_MELS, -1).double()
    y = F.pad(torch.from_numpy(wave).double()[None, None], (N_FFT // 2, N_FFT // 2),
              mode="reflect")[0]
    spec = torch.stft(y, N_FFT, HOP, N_FFT, torch.hann_window(N_FFT, dtype=torch.float64),
                      center=False, return_complex=True).abs()[0]
    def hz_to_mel(f: Any) -> Any:
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)
    edges = 700.0 * (10 ** (np.linspace(hz_to_mel(0.0), hz_to_mel(4000.0), N_MELS + 2)
                            / 2595.0) - 1.0)
    freqs = np.linspace(0, 4000, N_FFT // 2 + 1)
    down = (freqs[None, :] - edges[:-2, None]) / (edges[1:-1, None] - edges[:-2, None])
    up = (edges[2:, None] - freqs[None, :]) / (edges[2:, None] - edges[1:-1, None])
    basis = torch.from_numpy(np.maximum(0.0, np.minimum(down, up)))
    expected = torch.log(torch.clamp(basis @ spec, min=1e-7))
    assert ours.shape == expected.shape == (N_MELS, 4000 // HOP + 1)
    assert float((ours - expected).abs().max()) <= 1e-3


def test_detection_by_the_toolkit_names(tmp_path: Path) -> None:
    source = write_hub(tmp_path / "snap")
    for path in (source, source / "pytorch_model.bin"):
        reader, detection = detect_format(path)
        assert reader.name == "vocos"
        assert detection.description == "Vocos checkpoint (pytorch_model.bin + config.yaml)"
        assert detection.config_file == source / "config.yaml"
    # a pytorch_model.bin beside a foreign config.yaml is not Vocos
    other = tmp_path / "other"
    other.mkdir()
    torch.save(hub_state(), other / "pytorch_model.bin")
    (other / "config.yaml").write_text("model: bert\n")
    with pytest.raises(ImportSourceError, match="not recognised"):
        detect_format(other)
    # without config.yaml: recognised by name, and read asks for --config
    bare = tmp_path / "bare"
    bare.mkdir()
    torch.save(hub_state(), bare / "pytorch_model.bin")
    with pytest.raises(ImportSourceError, match="--config"):
        import_model(bare / "pytorch_model.bin", tmp_path / "m1")
    import_model(bare / "pytorch_model.bin", tmp_path / "m2", config_file=source / "config.yaml")
    assert (tmp_path / "m2" / "generator.safetensors").is_file()
    # a transformers-style snapshot (pytorch_model.bin + config.json) is not claimed
    (bare / "config.json").write_text("{}")
    with pytest.raises(ImportSourceError, match="not recognised"):
        detect_format(bare / "pytorch_model.bin")


def test_no_layer_scale_means_identity_gamma(tmp_path: Path) -> None:
    config = hub_config()
    config["backbone"]["init_args"]["layer_scale_init_value"] = -1.0
    state = hub_state(gamma=False)
    result = import_model(write_hub(tmp_path / "v", config, state), tmp_path / "model")
    assert any("gamma = 1" in note for note in result.notes)
    mel = _mel()
    expected = reference_forward(state, mel, "center").float().reshape(-1)
    out = Vocoder.load(tmp_path / "model")(mel).reshape(-1)[: expected.numel()]
    assert float((out - expected).abs().max()) <= 1e-5


def _encodec_config() -> dict[str, Any]:
    config = hub_config()
    config["feature_extractor"] = {
        "class_path": "vocos.feature_extractors.EncodecFeatures",
        "init_args": {"encodec_model": "encodec_24khz", "bandwidths": [1.5, 3.0, 6.0, 12.0]}}
    config["backbone"]["init_args"].update(input_channels=128, adanorm_num_embeddings=4)
    return config


def _edit(section: str, **init_args: Any) -> dict[str, Any]:
    config = copy.deepcopy(hub_config())
    config[section]["init_args"].update(init_args)
    return config


@pytest.mark.parametrize(("config", "state_edit", "message"), [
    (_encodec_config(), None, "EnCodec-feature Vocos"),
    (_edit("feature_extractor", padding="same"), None, "'feature_extractor.init_args.padding'"),
    (_edit("backbone", input_channels=13), None, "'backbone.init_args.input_channels'"),
    (_edit("head", hop_length=8), None, "'head.init_args.hop_length'"),
    (_edit("backbone", num_layers=1), None, "unexpected key 'backbone.convnext.1."),
    (_edit("backbone", num_layers=3), None, "'backbone.convnext.2.dwconv.weight' is missing"),
    (_edit("backbone", dim=8), None, "'head.init_args.dim'"),
    (hub_config(), "drop", "'head.out.bias' is missing"),
    (hub_config(), "window", "'head.istft.window'"),
    (hub_config(), "shape", "'head.weight' has shape"),
])
def test_refusals_are_one_line_naming_the_key(tmp_path: Path, config: dict[str, Any],
                                              state_edit: str | None, message: str) -> None:
    state = hub_state()
    if state_edit == "drop":
        del state["head.out.bias"]
    elif state_edit == "window":
        state["head.istft.window"] = torch.ones(N_FFT)
    elif state_edit == "shape":
        state["head.out.weight"] = torch.zeros(N_FFT, DIM)
    if config["backbone"]["init_args"].get("dim") == 8:
        config["head"]["init_args"]["dim"] = DIM
    source = write_hub(tmp_path / "v", config, state)
    with pytest.raises(ImportSourceError) as info:
        import_model(source, tmp_path / "model", fmt="vocos")
    assert message in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "model").exists()


def test_cli_import_says_what_it_detected_and_lists_vocos(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    source = write_hub(tmp_path / "vocos-mel")
    runner = CliRunner()
    with caplog.at_level("INFO", logger="audiogan.inference.imports"):
        result = runner.invoke(cli, ["import", str(source), "-o", str(tmp_path / "model")])
    assert result.exit_code == 0, result.output
    assert "detected Vocos checkpoint (pytorch_model.bin + config.yaml)" in caplog.text
    result = runner.invoke(cli, ["info", str(tmp_path / "model")])
    assert result.exit_code == 0 and "istft" in result.output
    listing = runner.invoke(cli, ["import", "--list"]).output
    assert "vocos" in listing and "charactr/vocos-mel-24khz" in listing
    assert not any("vocos" in line and "[no reader yet]" in line
                   for line in listing.splitlines())
    bad = write_hub(tmp_path / "enc", _encodec_config())
    result = runner.invoke(cli, ["import", str(bad), "-o", str(tmp_path / "m2")])
    assert result.exit_code == 2
    assert [line for line in result.output.splitlines() if line.startswith("error:")] == [
        line for line in result.output.splitlines() if line.strip()][-1:]
    assert "EnCodec" in result.output


@pytest.mark.parametrize("name", ["", "pytorch_model.bin"], ids=["directory", "weights-file"])
def test_vocoder_load_takes_a_vocos_source_directly(tmp_path: Path, name: str,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    source = write_hub(tmp_path / "vocos")
    with caplog.at_level("INFO"):
        voc = Vocoder.load(source / name if name else source)
    assert "converted Vocos checkpoint" in caplog.text
    mel = _mel()
    expected = reference_forward(hub_state(), mel, "center").float().reshape(-1)
    out = voc(mel).reshape(-1)[: expected.numel()]
    assert float((out - expected).abs().max()) <= 1e-5
    assert sorted(p.name for p in source.iterdir()) == ["config.yaml", "pytorch_model.bin"]
    result = CliRunner().invoke(cli, ["info", str(source)])
    assert result.exit_code == 0 and "istft" in result.output


def test_parity_benchmark_runs_as_a_script(tmp_path: Path, dev_data: Path) -> None:
    """benchmarks/import_parity_vocos.py on one clip cut to 0.5 s, the vocos package from
    .refs/ as the reference (see tests/refs_helpers.py)."""
    root = Path(__file__).resolve().parents[3]
    refs = require_reference("vocos/pretrained.py", "the vocos reference package")
    out = tmp_path / "parity.json"
    result = subprocess.run(
        [sys.executable, str(root / "benchmarks" / "import_parity_vocos.py"), "--data",
         str(dev_data / "ljspeech"), "--clips", "1", "--max-seconds", "0.5", "--threads", "1",
         "--json", str(out)],
        capture_output=True, text=True, cwd=root, timeout=300,
        env={**os.environ, "PYTHONPATH": f"{refs}:{root}", "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rows = json.loads(out.read_text())["rows"]
    assert len(rows) == 2 and all(row["mel_max_abs_diff"] <= 1e-4 for row in rows)
    center, same = rows
    assert center["our_len"] == center["ref_len"] + 256 and same["our_len"] == same["ref_len"]
