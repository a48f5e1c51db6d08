"""One device resolver for every command and loader: the accepted forms, and a bad ``--device``
is one line naming the option and the fix (exit 2, no traceback) before any file is read."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from audiogan import Vocoder, WaveGenerator
from audiogan.cli.main import cli
from audiogan.core.devices import resolve_device
from audiogan.core.errors import AudioganError, DeviceError

needs_no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks a CPU-only machine")
needs_no_mps = pytest.mark.skipif(
    bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()),
    reason="checks a machine without MPS",
)


@pytest.mark.parametrize("text", ["cpu", "CPU", " cpu ", torch.device("cpu")])
def test_cpu_forms_resolve_to_cpu(text: str | torch.device) -> None:
    assert resolve_device(text) == torch.device("cpu")


@needs_no_cuda
@pytest.mark.parametrize("text", [None, "auto", "AUTO"])
def test_default_and_auto_are_cpu_without_cuda(text: str | None) -> None:
    assert resolve_device(text) == torch.device("cpu")


@needs_no_cuda
@pytest.mark.parametrize("text", ["cuda", "cuda:0", "cuda:1", torch.device("cuda", 1)])
def test_cuda_forms_are_parsed_then_refused_without_cuda(text: str | torch.device) -> None:
    with pytest.raises(DeviceError) as info:
        resolve_device(text)
    name = str(text)
    assert str(info.value) == (f"--device {name}: CUDA is not available on this machine; "
                               "use --device cpu")


@needs_no_mps
def test_mps_is_refused_when_unavailable() -> None:
    with pytest.raises(DeviceError, match=r"^--device mps: MPS .* not available .*"
                                          r"use --device cpu$"):
        resolve_device("mps")


@pytest.mark.parametrize("text", ["bogus", "graphics", "cuda:", "cuda:x", "cuda:-1", "cpu:0", "",
                                  "meta", "cuda:1:2"])
def test_garbage_is_refused_with_the_accepted_forms(text: str) -> None:
    with pytest.raises(DeviceError) as info:
        resolve_device(text)
    message = str(info.value)
    assert message.startswith("--device ") and "\n" not in message
    assert message.endswith("not a device; use cpu, cuda, cuda:N, mps or auto")


def test_device_error_is_a_typed_user_error_with_exit_2() -> None:
    assert issubclass(DeviceError, AudioganError) and issubclass(DeviceError, ValueError)
    assert DeviceError.exit_code == 2


@needs_no_cuda
def test_library_loaders_name_the_keyword_before_reading_the_model(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"  # never read: the device is checked first
    for loader in (Vocoder.load, WaveGenerator.load):
        with pytest.raises(DeviceError, match=r"^device=cuda:1: CUDA is not available .* "
                                              r"use device=cpu$"):
            loader(missing, device="cuda:1")


@needs_no_cuda
def test_evaluate_and_training_resolve_through_the_same_function(tmp_path: Path) -> None:
    from audiogan.evaluation.run import evaluate
    from audiogan.training.distributed import init_distributed

    with pytest.raises(DeviceError, match=r"^device=cuda:1: CUDA is not available"):
        evaluate([tmp_path / "model"], tmp_path, tmp_path / "report", device="cuda:1")
    assert not (tmp_path / "report").exists()
    with pytest.raises(DeviceError, match=r"^--device cuda:1: CUDA is not available"):
        init_distributed("cuda:1")
    assert init_distributed("cpu").device == torch.device("cpu")
    assert init_distributed(None).device == torch.device("cpu")


def _commands(tmp: Path) -> dict[str, list[str]]:
    """Each command that takes --device, with arguments that would otherwise start work."""
    (tmp / "in.npy").write_bytes(b"")
    (tmp / "recipe.yaml").write_text("generator: {name: hifigan}\n")
    return {
        "train": ["train", str(tmp / "recipe.yaml"), "-o", str(tmp / "run")],
        "synthesize": ["synthesize", str(tmp / "model"), str(tmp / "in.npy"), "-o",
                       str(tmp / "out")],
        "generate": ["generate", str(tmp / "model"), "-n", "1", "-o", str(tmp / "out")],
        "evaluate": ["evaluate", str(tmp / "model"), "--data", str(tmp), "-o",
                     str(tmp / "report")],
        "train-classifier": ["train-classifier", str(tmp), "-o", str(tmp / "clf")],
    }


@needs_no_cuda
@pytest.mark.parametrize("command", ["train", "synthesize", "generate", "evaluate",
                                     "train-classifier"])
def test_every_command_refuses_cuda_1_in_one_line(command: str, tmp_path: Path) -> None:
    args = _commands(tmp_path)[command]
    result = CliRunner().invoke(cli, [*args, "--device", "cuda:1"])
    assert result.exit_code == 2, result.output
    assert result.output == ("error: --device cuda:1: CUDA is not available on this machine; "
                             "use --device cpu\n")
    assert not (tmp_path / "out").exists() and not (tmp_path / "run").exists()
    assert not (tmp_path / "report").exists() and not (tmp_path / "clf").exists()


@pytest.mark.parametrize("command", ["train", "synthesize", "generate", "evaluate",
                                     "train-classifier"])
def test_every_command_refuses_a_non_device_in_one_line(command: str, tmp_path: Path) -> None:
    args = _commands(tmp_path)[command]
    result = CliRunner().invoke(cli, [*args, "--device", "gpu0"])
    assert result.exit_code == 2, result.output
    assert result.output == ("error: --device gpu0: not a device; use cpu, cuda, cuda:N, mps "
                             "or auto\n")


@pytest.mark.parametrize("command", ["train", "synthesize", "generate", "evaluate",
                                     "train-classifier"])
def test_every_command_documents_the_same_device_forms(command: str) -> None:
    result = CliRunner().invoke(cli, [command, "--help"], terminal_width=200)
    assert result.exit_code == 0
    assert "cpu, cuda, cuda:N, mps or auto. Default: cuda when available." in result.output
