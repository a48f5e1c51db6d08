"""Fault cases for ``synthesize --backend onnxruntime``: a model directory without
``generator.onnx``, a corrupt or foreign ``generator.onnx``, onnxruntime not
installed, a dtype the backend does not run. Each is one ``error:`` line naming the file (or the
package / option) and the fix, exit code 2, no traceback and nothing written.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from .harness import Case, Scenario
from .inference_kit import _model, _synth, _unchanged, _wavs

ONNX = "generator.onnx"


def _with_onnx(tmp: Path, name: str = "model") -> Path:
    """A copy of the tiny vocoder exported again with its generator.onnx."""
    from audiogan.inference.export import export_model

    source = _model(tmp)
    if name != "model":
        source = Path(shutil.move(source, tmp / name))
    return export_model(source, source, ["onnx"]).out_dir


def _ort_case(prepare: Callable[[Path], Path], names: tuple[str, ...],
              extra: tuple[str, ...] = (), env: dict[str, str] | None = None,
              subprocess: bool = False) -> Callable[[Path], Scenario]:
    def build(tmp: Path) -> Scenario:
        model = prepare(tmp)
        args = [*_synth(tmp, model), "--backend", "onnxruntime", *extra]
        return Scenario(args, 2, names, env=env or {}, subprocess=subprocess,
                        intact=_unchanged(model, _wavs(tmp / "out", [])))

    return build


def _no_onnx(tmp: Path) -> Path:
    return _model(tmp)


def _corrupt_onnx(tmp: Path) -> Path:
    model = _with_onnx(tmp)
    (model / ONNX).write_bytes(b"\x08\x07garbage" * 40)
    return model


def _foreign_onnx(tmp: Path) -> Path:
    """generator.onnx of other weights of the same shape."""
    import torch
    from safetensors.torch import load_file, save_file

    other = _with_onnx(tmp, "other")
    weights = other / "generator.safetensors"
    state = {k: v + 0.05 * torch.randn_like(v) for k, v in load_file(str(weights)).items()}
    model = Path(shutil.copytree(other, tmp / "model"))
    save_file(state, str(model / "generator.safetensors"), metadata={
        "format": "audiogan-model", "version": "1", "input_kind": "mel", "step": "",
        "ema": "false", "classes": ""})
    shutil.rmtree(other)
    return model


def _fake_package(tmp: Path) -> Path:
    """A directory whose ``onnxruntime`` module fails to import, as if it were not installed."""
    fake = tmp / "fake_site"
    fake.mkdir()
    (fake / "onnxruntime.py").write_text("raise ImportError('No module named onnxruntime')\n")
    return fake


def _no_package(tmp: Path) -> Scenario:
    model = _with_onnx(tmp)
    fake = _fake_package(tmp)
    return Scenario([*_synth(tmp, model), "--backend", "onnxruntime"], 2,
                    ("pip install 'audiogan[onnx]'",), env={"PYTHONPATH": str(fake)},
                    subprocess=True, intact=_unchanged(model, _wavs(tmp / "out", [])))


CASES: list[Case] = [
    Case("inference/backend/onnxruntime_without_generator_onnx",
         _ort_case(_no_onnx, (ONNX, "--format onnx"))),
    Case("inference/backend/onnxruntime_corrupt_generator_onnx",
         _ort_case(_corrupt_onnx, (ONNX, "cannot load"))),
    Case("inference/backend/onnxruntime_foreign_generator_onnx",
         _ort_case(_foreign_onnx, (ONNX, "does not compute"))),
    Case("inference/backend/onnxruntime_with_bfloat16",
         _ort_case(_no_onnx, ("float32 only",), extra=("--dtype", "bfloat16"))),
    Case("inference/backend/onnxruntime_not_installed", _no_package, slow=True),
]
