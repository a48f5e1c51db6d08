"""Vocoder.load(backend="onnxruntime"): the model directory's generator.onnx run by ONNX Runtime
in place of the module call, everything else shared (validation, chunking, streaming, lengths,
keyed noise); its errors through the API and the CLI."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
import torch
from _inference_runs import tiny_config, tiny_generator, vocoder_run
from click.testing import CliRunner

from audiogan import Vocoder, WaveGenerator
from audiogan.cli.main import cli
from audiogan.inference.backends import (
    BACKENDS,
    BackendError,
    OnnxRuntimeModule,
    check_backend,
)
from audiogan.inference.export import export_model
from audiogan.inference.mel_input import MelInputError
from audiogan.inference.model_dir import ONNX_NAME, LoadedModel, ModelFileError

pytest.importorskip("onnxruntime", reason="onnxruntime not installed (extra 'onnx')")

ATOL = 1e-4


def _export(root: Path, name: str, formats: tuple[str, ...] = ("onnx",), seed: int = 0,
            stats: bool = False) -> Path:
    torch.manual_seed(seed)
    generator = tiny_generator(name).eval()
    generator.remove_weight_norm()
    config = tiny_config(name)
    extra = {"mean": torch.full((80,), -5.0), "scale": torch.full((80,), 2.0)} if stats else {}
    return export_model(LoadedModel(generator, config, **extra), root / name, formats).out_dir


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("backend_models")
    return {"hifigan": _export(root, "hifigan", stats=True),
            "parallel_wavegan": _export(root, "parallel_wavegan"),
            "plain": _export(root / "plain", "hifigan", formats=())}


def _mel(frames: int, batch: int = 2, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return -5.0 + 1.5 * torch.randn(batch, 80, frames, generator=gen)


def _pair(path: Path) -> tuple[Vocoder, Vocoder]:
    return Vocoder.load(path, backend="torch"), Vocoder.load(path, backend="onnxruntime")


@pytest.mark.parametrize("name", ["hifigan", "parallel_wavegan"])
def test_onnxruntime_equals_torch_one_call_chunks_lengths_and_streams(
        models: dict[str, Path], name: str) -> None:
    eager, ort = _pair(models[name])
    assert ort.backend == "onnxruntime" and eager.backend == "torch"
    assert ort.path_info.backend == "onnxruntime" and ort.dtype == torch.float32
    mel = _mel(120)
    one = eager(mel, seed=3)
    assert one.shape == (2, 120 * 256)
    assert (ort(mel, seed=3) - one).abs().max() <= ATOL
    # automatic chunks (_span): smaller max_frames on both, so the chunk edges are crossed
    for voc in (eager, ort):
        voc.max_frames, voc.chunk_frames = 50, 40
    assert (ort(mel, seed=3) - one).abs().max() <= ATOL
    # a padded batch with lengths: each item trimmed and re-synthesised without the padding
    items = ort(mel, lengths=[120, 70], seed=3)
    reference = eager(mel, lengths=[120, 70], seed=3)
    assert [item.shape[-1] for item in items] == [120 * 256, 70 * 256]
    assert max(float((a - b).abs().max()) for a, b in zip(items, reference)) <= ATOL
    # pull and push streaming
    pulled = torch.cat(list(ort.stream(mel[0], chunk_frames=32, seed=3)))
    assert (pulled - one[0]).abs().max() <= ATOL
    streamer = ort.streamer(seed=3)
    pushed = torch.cat([*(streamer.push(mel[0, :, i : i + 25]) for i in range(0, 120, 25)),
                        streamer.flush()])
    assert (pushed - one[0]).abs().max() <= ATOL


def test_noise_model_onnxruntime_takes_the_seed(models: dict[str, Path]) -> None:
    ort = Vocoder.load(models["parallel_wavegan"], backend="onnxruntime")
    mel = _mel(40, batch=1)
    assert (ort(mel, seed=1) - ort(mel, seed=1)).abs().max() == 0
    assert (ort(mel, seed=1) - ort(mel, seed=2)).abs().max() > 1e-3


def test_onnxruntime_keeps_the_input_checks(models: dict[str, Path]) -> None:
    ort = Vocoder.load(models["hifigan"], backend="onnxruntime")
    with pytest.raises(MelInputError, match="transpose"):
        ort(torch.zeros(30, 80))
    with pytest.raises(MelInputError, match="non-finite"):
        ort(torch.full((80, 10), float("nan")))


def test_session_threads_and_options(models: dict[str, Path]) -> None:
    ort = Vocoder.load(models["hifigan"], backend="onnxruntime")
    assert isinstance(ort._session, OnnxRuntimeModule)
    options = ort._session.session.get_session_options()
    assert options.intra_op_num_threads == torch.get_num_threads() == ort._session.threads
    import onnxruntime

    assert options.graph_optimization_level == onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    threaded = OnnxRuntimeModule(models["hifigan"] / ONNX_NAME, 80, threads=1)
    assert threaded.session.get_session_options().intra_op_num_threads == 1


def test_model_dir_without_generator_onnx(models: dict[str, Path]) -> None:
    with pytest.raises(ModelFileError) as caught:
        Vocoder.load(models["plain"], backend="onnxruntime")
    message = str(caught.value)
    assert "\n" not in message and str(models["plain"] / ONNX_NAME) in message
    assert "--format onnx" in message


def test_run_dir_has_no_generator_onnx(tmp_path_factory: pytest.TempPathFactory) -> None:
    run = vocoder_run(tmp_path_factory)  # a tiny trained run: checkpoints, no generator.onnx
    with pytest.raises(ModelFileError) as caught:
        Vocoder.load(run.run_dir, backend="onnxruntime")
    message = str(caught.value)
    assert "\n" not in message and "a checkpoint has none" in message
    assert "audiogan export" in message and "--format onnx" in message and ".pt" in message


def test_a_foreign_generator_onnx_is_refused(models: dict[str, Path], tmp_path: Path) -> None:
    other = _export(tmp_path, "hifigan", seed=1)  # same shape, other weights
    model = Path(shutil.copytree(models["hifigan"], tmp_path / "model"))
    shutil.copy(other / ONNX_NAME, model / ONNX_NAME)
    with pytest.raises(ModelFileError, match="does not compute the function"):
        Vocoder.load(model, backend="onnxruntime")
    (model / ONNX_NAME).write_bytes(b"not an onnx file")
    with pytest.raises(ModelFileError, match="onnxruntime cannot load it"):
        Vocoder.load(model, backend="onnxruntime")


def test_missing_onnxruntime_is_one_line(models: dict[str, Path],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import raises ImportError
    with pytest.raises(BackendError, match=r"pip install 'audiogan\[onnx\]'"):
        Vocoder.load(models["hifigan"], backend="onnxruntime")
    assert Vocoder.load(models["hifigan"]).backend == "torch"  # the default needs none


def test_backend_arguments_are_checked_before_loading(tmp_path: Path) -> None:
    nowhere = tmp_path / "nowhere"
    with pytest.raises(BackendError, match="valid backends: auto, torch, onnxruntime"):
        Vocoder.load(nowhere, backend="tensorrt")
    with pytest.raises(BackendError, match="float32 only"):
        Vocoder.load(nowhere, backend="onnxruntime", dtype="bfloat16")
    with pytest.raises(BackendError, match="CPU only"):  # (a CUDA device, were there one)
        check_backend("onnxruntime", torch.device("cuda"))
    assert check_backend("ONNXRuntime", torch.device("cpu"), "float32") == "onnxruntime"
    assert BACKENDS == ("auto", "torch", "onnxruntime")


def test_onnxruntime_vocoder_stays_on_the_cpu_in_float32(models: dict[str, Path]) -> None:
    ort = Vocoder.load(models["hifigan"], backend="onnxruntime")
    assert ort.to("cpu", torch.float32) is ort
    with pytest.raises(BackendError, match="float32 only"):
        ort.to(torch.bfloat16)
    assert ort.dtype == torch.float32 and ort.backend == "onnxruntime"


def test_wave_generators_refuse_onnxruntime() -> None:
    from faults.inference_kit import _template

    model = _template("wavegan")  # a tiny class-conditional WaveGAN model directory
    with pytest.raises(BackendError, match="vocoders only"):
        WaveGenerator.load(model, backend="onnxruntime")
    generator = WaveGenerator.load(model)
    assert generator.path_info.backend == "torch" and generator.dtype == torch.float32


def _invoke(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _synthesize_with_onnxruntime(model: Path, tmp_path: Path):
    """``audiogan synthesize MODEL m.npy -o ort --backend onnxruntime`` on a 30-frame mel;
    returns (the mel file, the click result), the command checked to have succeeded."""
    import numpy as np

    mel = tmp_path / "m.npy"
    np.save(mel, _mel(30, batch=1)[0].numpy())
    result = _invoke("synthesize", model, mel, "-o", tmp_path / "ort", "--backend",
                     "onnxruntime")
    assert result.exit_code == 0, result.output
    return mel, result


def test_cli_synthesize_backend(models: dict[str, Path], tmp_path: Path) -> None:
    mel, result = _synthesize_with_onnxruntime(models["hifigan"], tmp_path)
    assert "path: onnxruntime float32 on cpu (backend='onnxruntime' given)" in result.output
    eager = _invoke("synthesize", models["hifigan"], mel, "-o", tmp_path / "torch")
    assert eager.exit_code == 0 and "path: torch float32 on cpu (policy:" in eager.output
    import soundfile as sf

    a, _ = sf.read(tmp_path / "ort" / "m.wav", dtype="float32")
    b, _ = sf.read(tmp_path / "torch" / "m.wav", dtype="float32")
    assert a.shape == b.shape == (30 * 256,) and abs(a - b).max() <= 2 / 32768  # PCM-16 steps
    for args, named in (
        (("--backend", "onnxruntime"), str(models["plain"] / ONNX_NAME)),
        (("--backend", "onnxruntime", "--dtype", "bfloat16"), "float32 only"),
    ):
        failed = _invoke("synthesize", models["plain"], mel, "-o", tmp_path / "no", *args)
        errors = [line for line in failed.output.splitlines() if line.startswith("error:")]
        assert failed.exit_code == 2 and len(errors) == 1 and named in errors[0], failed.output
    assert not (tmp_path / "no").exists() or not any((tmp_path / "no").iterdir())


def test_cli_onnxruntime_without_device_runs_on_the_cpu_where_cuda_is_present(
        models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # --device's default: cuda
    _, result = _synthesize_with_onnxruntime(models["hifigan"], tmp_path)
    assert "path: onnxruntime float32 on cpu" in result.output
    assert (tmp_path / "ort" / "m.wav").is_file()
