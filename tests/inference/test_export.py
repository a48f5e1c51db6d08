"""Model directories (safetensors + YAML), ONNX and TorchScript exports and their parity."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from _inference_runs import (
    Run,
    tiny_config,
    tiny_generator,
    vocoder_config,
    vocoder_run,
    wavegan_run,
    write_corpus,
)
from safetensors import safe_open

from audiogan import Vocoder, WaveGenerator
from audiogan.config import config_from_dict, load_config
from audiogan.inference.export import ExportError, export_model, write_model_dir
from audiogan.inference.imports.base import ImportSourceError
from audiogan.inference.model_dir import (
    CONFIG_NAME,
    ONNX_NAME,
    STATS_NAME,
    TORCHSCRIPT_NAME,
    WEIGHTS_NAME,
    LoadedModel,
    ModelFileError,
    load_model,
)
from audiogan.models import Generator
from audiogan.models.layers import has_weight_norm
from audiogan.training import checkpoint as ckpt
from audiogan.training.trainer import Trainer


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return vocoder_run(tmp_path_factory)


@pytest.fixture(scope="module")
def wg_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return wavegan_run(tmp_path_factory)


def _loaded(name: str) -> LoadedModel:
    """An untrained tiny generator of ``name`` with its config (hop 256, 80 mels)."""
    generator = tiny_generator(name).eval()
    generator.remove_weight_norm()
    return LoadedModel(generator, tiny_config(name))


def _mel(frames: int, batch: int = 1, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return -11.0 + 12.0 * torch.rand(batch, 80, frames, generator=gen)


def test_model_dir_contents(run: Run, tmp_path: Path) -> None:
    result = export_model(run.run_dir, tmp_path / "model")
    out = tmp_path / "model"
    assert sorted(p.name for p in out.iterdir()) == [CONFIG_NAME, WEIGHTS_NAME]
    assert result.source == run.run_dir / "checkpoints" / "best.pt"
    assert load_config(out / CONFIG_NAME) == run.trainer.config  # the resolved config
    with safe_open(str(out / WEIGHTS_NAME), framework="pt") as handle:
        meta = handle.metadata()
        keys = list(handle.keys())
    assert meta["format"] == "audiogan-model" and meta["step"] == "2" and meta["ema"] == "true"
    assert not any("parametrizations" in key for key in keys)  # weight norm folded
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp dirs left
    # re-export over an existing model dir replaces it (here adding TorchScript)
    export_model(out, out, ["torchscript"])
    assert (out / TORCHSCRIPT_NAME).is_file()
    assert load_model(out).step == 2


def test_feature_stats_travel_with_the_model(tmp_path: Path) -> None:
    # A pwg run whose features carry z-normalisation statistics (checkpoint at step 0).
    data = write_corpus(tmp_path / "data", n=2)
    trainer = Trainer(vocoder_config(data, profile="pwg"), tmp_path / "run", device="cpu",
                      console=False)
    mean, scale = torch.linspace(-5, -2, 80), torch.linspace(0.5, 1.5, 80)
    trainer.features.set_stats(mean, scale)
    ckpt.save_checkpoint(trainer.state_dict(), ckpt.step_path(tmp_path / "run", 0))
    export_model(tmp_path / "run", tmp_path / "model")
    assert (tmp_path / "model" / STATS_NAME).is_file()
    voc = Vocoder.load(tmp_path / "model")
    wave = torch.from_numpy(np.sin(np.arange(6000) * 0.05).astype(np.float32) * 0.3)
    raw = voc.features(wave)
    with torch.no_grad():
        expected = trainer.eval_generator()(trainer.features(wave[None]))[0, 0]
    assert (voc(raw) - expected).abs().max() <= 1e-5
    assert torch.allclose(voc.module.mean, mean) and torch.allclose(voc.module.scale, scale)


@pytest.mark.parametrize("name", ["trained_hifigan", "istft", "wavegan"])
def test_onnx_reproduces_pytorch(name: str, run: Run, wg_run: Run, tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime not installed (extra 'onnx')")
    source = {"trained_hifigan": run.run_dir, "wavegan": wg_run.run_dir}.get(name) or _loaded(name)
    result = export_model(source, tmp_path / "model", ["onnx"])
    assert result.max_abs_error["onnx"] <= 1e-4
    session = ort.InferenceSession(str(tmp_path / "model" / ONNX_NAME),
                                   providers=["CPUExecutionProvider"])
    if name == "wavegan":
        gen = WaveGenerator.load(tmp_path / "model")
        z, labels = gen.latents(3, seed=5), torch.tensor([1, 0, 1])
        assert [i.name for i in session.get_inputs()] == ["z", "labels"]
        out = session.run(["wave"], {"z": z.numpy(), "labels": labels.numpy()})[0]
        expected = gen.sample(3, seed=5, labels=labels)
    else:
        voc = Vocoder.load(tmp_path / "model")
        mel = _mel(77, batch=1, seed=1)  # a length not used during export
        assert [i.name for i in session.get_inputs()] == ["mel"]
        out = session.run(["wave"], {"mel": mel.numpy()})[0]
        expected = voc(mel)
    assert out.shape[:2] == (expected.shape[0], 1)
    assert np.abs(out[:, 0] - expected.numpy()).max() <= 1e-4


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated")
@pytest.mark.parametrize("name", ["trained_hifigan", "istft", "wavegan"])
def test_torchscript_reproduces_pytorch(name: str, run: Run, wg_run: Run, tmp_path: Path):
    source = {"trained_hifigan": run.run_dir, "wavegan": wg_run.run_dir}.get(name) or _loaded(name)
    result = export_model(source, tmp_path / "model", ["torchscript"])
    assert result.max_abs_error["torchscript"] <= 1e-4
    module = torch.jit.load(str(tmp_path / "model" / TORCHSCRIPT_NAME))
    if name == "wavegan":
        gen = WaveGenerator.load(tmp_path / "model")
        labels = torch.tensor([0, 1])
        out = module(gen.latents(2, seed=9), labels)[:, 0]
        expected = gen.sample(2, seed=9, labels=labels)
    else:
        voc = Vocoder.load(tmp_path / "model")
        mel = _mel(61, batch=2, seed=2)
        out = module(mel)[:, 0]
        expected = voc(mel)
    assert (out - expected).abs().max() <= 1e-4


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated")
def test_bigvgan_torchscript_reproduces_pytorch(tmp_path: Path) -> None:
    """BigVGAN (alias-free SnakeBeta: replicate padding, depthwise filters) as TorchScript, at
    a length and batch not used during export."""
    result = export_model(_loaded("bigvgan"), tmp_path / "model", ["torchscript"])
    assert result.max_abs_error["torchscript"] <= 1e-4
    voc = Vocoder.load(tmp_path / "model")
    mel = _mel(45, batch=2, seed=3)
    scripted = torch.jit.load(str(tmp_path / "model" / TORCHSCRIPT_NAME))
    out = scripted(mel)
    assert out.shape == (2, 1, 45 * 256)
    assert (out[:, 0] - voc(mel)).abs().max() <= 1e-4


@pytest.mark.slow
def test_bigvgan_onnx_reproduces_pytorch(tmp_path: Path) -> None:
    """The same through ONNX Runtime (the filters' shapes are constants in the graph)."""
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime not installed (extra 'onnx')")
    result = export_model(_loaded("bigvgan"), tmp_path / "model", ["onnx"])
    assert result.max_abs_error["onnx"] <= 1e-4
    voc = Vocoder.load(tmp_path / "model")
    mel = _mel(45, batch=2, seed=3)
    session = ort.InferenceSession(str(tmp_path / "model" / ONNX_NAME),
                                   providers=["CPUExecutionProvider"])
    out = session.run(["wave"], {"mel": mel.numpy()})[0]
    assert out.shape == (2, 1, 45 * 256)
    assert np.abs(out[:, 0] - voc(mel).numpy()).max() <= 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("name", ["melgan", "multiband_melgan"])
def test_melgan_exports_reproduce_pytorch(name: str, run: Run, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime", reason="onnxruntime not installed (extra 'onnx')")
    result = export_model(_loaded(name), tmp_path / "model", ["onnx", "torchscript"])
    assert max(result.max_abs_error.values()) <= 1e-4


class _Unexportable(Generator):
    """Runs through numpy in forward: TorchScript cannot script it and tracing freezes it."""

    input_kind = "mel"

    def __init__(self) -> None:
        super().__init__()
        self.in_channels, self.hop_length, self.receptive_field_frames = 80, 256, 0
        self.proj = torch.nn.Conv1d(80, 256, 1)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        scale = float(np.abs(mel.detach().numpy()).mean())  # a value the trace bakes in
        y = self.proj(mel) * scale
        return y.transpose(1, 2).reshape(mel.shape[0], 1, -1)


def test_unfaithful_export_is_a_clear_error_and_writes_nothing(run: Run, tmp_path: Path):
    out = tmp_path / "model"
    export_model(run.run_dir, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    loaded = LoadedModel(_Unexportable().eval(), run.trainer.config)
    with pytest.raises(ExportError, match=r"TorchScript \(traced\) export differs from PyTorch"):
        export_model(loaded, out, ["torchscript"])
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_export_refuses_bad_targets_and_formats(run: Run, tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("mine")
    with pytest.raises(ExportError, match="not an audiogan model directory"):
        export_model(run.run_dir, tmp_path / "notes")
    with pytest.raises(ExportError, match="valid formats: safetensors, onnx, torchscript"):
        export_model(run.run_dir, tmp_path / "m", ["tflite"])


def test_broken_model_dirs_are_clear_errors(run: Run, tmp_path: Path) -> None:
    out = tmp_path / "model"
    export_model(run.run_dir, out)
    weights = (out / WEIGHTS_NAME).read_bytes()
    (out / WEIGHTS_NAME).write_bytes(weights[:100])
    with pytest.raises(ModelFileError, match="generator.safetensors: unreadable"):
        Vocoder.load(out)
    (out / WEIGHTS_NAME).write_bytes(weights)
    text = (out / CONFIG_NAME).read_text().replace("upsample_initial_channel: 16",
                                                   "upsample_initial_channel: 32")
    (out / CONFIG_NAME).write_text(text)
    with pytest.raises(ModelFileError, match="weights do not fit config.yaml"):
        Vocoder.load(out)
    (out / CONFIG_NAME).unlink()
    with pytest.raises(ModelFileError, match="config.yaml is missing"):
        Vocoder.load(out / WEIGHTS_NAME)


def test_classes_travel_with_the_model(wg_run: Run, tmp_path: Path) -> None:
    export_model(wg_run.run_dir, tmp_path / "model")
    with safe_open(str(tmp_path / "model" / WEIGHTS_NAME), framework="pt") as handle:
        assert json.loads(handle.metadata()["classes"]) == ["a", "b"]
    gen = WaveGenerator.load(tmp_path / "model")
    direct = WaveGenerator.load(wg_run.run_dir)
    assert gen.classes == ("a", "b")
    assert (gen.sample(2, seed=3) - direct.sample(2, seed=3)).abs().max() <= 1e-6


def test_export_of_a_live_weight_normed_generator_leaves_it_alone(run: Run, tmp_path: Path):
    live = run.trainer.generator  # still weight-normed (training form)
    export_model(LoadedModel(live, run.trainer.config), tmp_path / "model")
    assert has_weight_norm(live)
    mel = run.trainer.features(run.wave[None])
    with torch.no_grad():
        expected = live(mel)[0, 0]
    assert (Vocoder.load(tmp_path / "model")(mel[0]) - expected).abs().max() <= 1e-5


@pytest.mark.parametrize("fault", ["atomic.before_fsync@1", "atomic.before_fsync@2",
                                   "atomic.before_fsync@3", "atomic.before_swap"])
def test_a_full_disk_leaves_the_previous_export_and_no_staging(
        run: Run, tmp_path: Path, monkeypatch, fault: str) -> None:
    """Writes: config, weights, generator.ts, then the swap. TorchScript used to abort inside
    torch.jit.save (C++) on a full disk and leave its staging directory behind."""
    from audiogan.core import faults

    out = tmp_path / "model"
    export_model(run.run_dir, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    monkeypatch.setattr(faults, "_hits", type(faults._hits)())
    monkeypatch.setenv("AUDIOGAN_FAULT", f"{fault}=enospc")
    named = {"@1": CONFIG_NAME, "@2": WEIGHTS_NAME, "@3": TORCHSCRIPT_NAME}.get(fault[-2:], "")
    with pytest.raises(ExportError, match=rf"model/?{named}: No space left on device; free some "
                       r"space and run again; nothing was exported \(.*model left as it was\)"):
        export_model(run.run_dir, out, ["torchscript"])
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_model_directories_follow_the_umask(run: Run, tmp_path: Path) -> None:
    import os

    old = os.umask(0o022)
    try:
        export_model(run.run_dir, tmp_path / "model", ["torchscript"])
    finally:
        os.umask(old)
    assert (tmp_path / "model").stat().st_mode & 0o777 == 0o755
    assert {p.stat().st_mode & 0o777 for p in (tmp_path / "model").iterdir()} == {0o644}


def _retag(path: Path, **changes: str) -> None:
    """Rewrite a safetensors file with some metadata keys changed (tensors kept)."""
    from safetensors.torch import load_file, save_file

    with safe_open(str(path), framework="pt") as handle:
        metadata = dict(handle.metadata() or {})
    save_file(load_file(str(path)), str(path), metadata={**metadata, **changes})


@pytest.mark.parametrize(("key", "value"), [
    ("classes", "not json ["), ("classes", '{"a": 1}'), ("classes", '["a", "b", "c"]'),
    ("classes", "[1, 2]"), ("step", "many"), ("version", "99"), ("format", "other"),
])
def test_tampered_metadata_names_the_file_and_the_key(wg_run: Run, tmp_path: Path,
                                                      key: str, value: str) -> None:
    out = tmp_path / "model"
    export_model(wg_run.run_dir, out)
    _retag(out / WEIGHTS_NAME, **{key: value})
    with pytest.raises(ModelFileError) as caught:
        load_model(out)
    message = str(caught.value)
    assert message.startswith(f"{out / WEIGHTS_NAME}: ") and f"'{key}'" in message
    assert "\n" not in message


def test_feature_stats_of_the_wrong_shape_or_non_finite_are_named(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    loaded = _loaded("hifigan")
    loaded = LoadedModel(loaded.generator, loaded.config, mean=torch.zeros(80),
                         scale=torch.ones(80))
    out = tmp_path / "model"
    export_model(loaded, out)
    for stats, key in (({"mean": torch.zeros(3), "scale": torch.ones(3)}, "mean"),
                       ({"mean": torch.zeros(80), "scale": torch.full((80,), float("nan"))},
                        "scale"),
                       ({"mean": torch.zeros(80), "scale": torch.zeros(80)}, "scale")):
        save_file(stats, str(out / STATS_NAME))
        with pytest.raises(ModelFileError, match=rf"{STATS_NAME}: '?{key}"):
            load_model(out)


_WRITER_CONFIG = {
    "sample_rate": 22050,
    "generator": {"name": "hifigan", "params": {"preset": "v1"}},
    "discriminator": {"name": "combined", "params": {}},
}


def test_write_model_dir_writes_config_and_files(tmp_path: Path) -> None:
    out = tmp_path / "model"
    write_model_dir(config_from_dict(_WRITER_CONFIG), [("a.bin", b"12"), ("b.bin", b"")], out,
                    ExportError, "exported")
    assert sorted(p.name for p in out.iterdir()) == ["a.bin", "b.bin", "config.yaml"]
    assert (out / "a.bin").read_bytes() == b"12"
    assert "hifigan" in (out / "config.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize(("error", "verb"), [(ExportError, "exported"),
                                             (ImportSourceError, "imported")])
def test_write_model_dir_failure_names_the_caller_and_leaves_nothing(
        tmp_path: Path, error: type[Exception], verb: str) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder", encoding="utf-8")
    out = blocker / "model"
    with pytest.raises(error, match=f"nothing was {verb} \\({out} not created\\)"):
        write_model_dir(config_from_dict(_WRITER_CONFIG), [("a.bin", b"1")], out, error, verb)
    assert blocker.read_text(encoding="utf-8") == "not a folder"
