"""Synthesis backends: what runs a vocoder's module, PyTorch (``torch``) or ONNX Runtime
(``onnxruntime``, CPU, the model directory's ``generator.onnx``).

A backend replaces only the module call of :class:`audiogan.Vocoder` (``Vocoder._run``); input
checks, chunking with context (``_span`` / ``max_frames``), streaming, ``lengths=`` and the keyed
noise of noise-driven generators are shared, so every backend gives the same audio (to float
rounding). :func:`check_backend` validates a ``backend=`` argument before anything is read;
:class:`OnnxRuntimeModule` wraps the ONNX Runtime session.

``generator.onnx`` is written by ``audiogan export MODEL -o MODEL_DIR --format onnx`` (input
``mel`` ``(B, n_mels, frames)`` [and ``noise`` ``(B, noise_channels, frames * hop)``], output
``wave`` ``(B, 1, frames * hop)``, statistics inside). When it is loaded it is run once on a short
mel against the PyTorch module of ``generator.safetensors``: a file that does not compute the
same function (a stale or foreign export) is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from audiogan.core.errors import AudioganError, one_line
from audiogan.inference.model_dir import ONNX_NAME, WEIGHTS_NAME, ModelFileError, resolve_dtype

__all__ = [
    "BACKENDS",
    "BackendError",
    "OnnxRuntimeModule",
    "check_backend",
    "import_onnxruntime",
    "onnx_file",
    "onnxruntime_available",
    "require_onnx_file",
]

BACKENDS: tuple[str, ...] = ("auto", "torch", "onnxruntime")
"""Valid ``backend=`` values: ``auto`` (the CPU policy, :mod:`audiogan.inference.cpu_policy`),
``torch`` (PyTorch eager) or ``onnxruntime`` (CPU, float32, the model directory's
``generator.onnx``)."""

#: Largest |difference| allowed between generator.onnx and the PyTorch module at load time.
LOAD_CHECK_ATOL = 1e-3
#: Frames of the load-time check (short: it costs one small call of each).
LOAD_CHECK_FRAMES = 16


class BackendError(AudioganError, ValueError):
    """A ``backend=`` / ``--backend`` that cannot run as asked (unknown name, onnxruntime not
    installed, a dtype or device it does not support); the message says the fix."""


def check_backend(
    backend: str, device: torch.device | None = None, dtype: torch.dtype | str | None = None
) -> str:
    """Validate ``backend`` (and what it allows) before anything is loaded -> its name.

    Args:
        backend: one of :data:`BACKENDS` (case-insensitive).
        device: the device asked for (None: the default, CPU).
        dtype: the dtype asked for (None: not given).

    Raises:
        BackendError: an unknown backend; for ``onnxruntime``: a device other than the CPU, a
            dtype other than float32, or onnxruntime not installed.
    """
    name = str(backend).lower()
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {backend!r}; valid backends: {', '.join(BACKENDS)}")
    if name == "onnxruntime":
        if device is not None and device.type != "cpu":
            raise BackendError(f"backend 'onnxruntime' runs on the CPU only, not on {device}; "
                               "use backend='torch' for that device")
        if dtype is not None and resolve_dtype(dtype) != torch.float32:
            raise BackendError(f"backend 'onnxruntime' runs float32 only, not {dtype}; drop the "
                               "dtype or use backend='torch'")
        import_onnxruntime()
    return name


def import_onnxruntime() -> Any:
    """The ``onnxruntime`` module.

    Raises:
        BackendError: it is not installed (one line: ``pip install 'audiogan[onnx]'``).
    """
    try:
        import onnxruntime
    except ImportError:
        raise BackendError("backend 'onnxruntime' needs the onnxruntime package: "
                           "pip install 'audiogan[onnx]'") from None
    return onnxruntime


def onnxruntime_available() -> bool:
    """Whether ``onnxruntime`` can be imported (without importing it)."""
    import importlib.util

    try:
        return importlib.util.find_spec("onnxruntime") is not None
    except (ImportError, ValueError):  # a module entry set to None, or a broken spec
        return False


def onnx_file(source: Path) -> Path | None:
    """``generator.onnx`` beside a model directory's ``generator.safetensors`` (``source``,
    where the weights came from), or None when there is none or ``source`` is a checkpoint."""
    if source.name != WEIGHTS_NAME:
        return None
    path = source.parent / ONNX_NAME
    return path if path.is_file() else None


def require_onnx_file(source: Path) -> Path:
    """:func:`onnx_file`, or a one-line :class:`ModelFileError` naming the file and the fix."""
    path = onnx_file(source)
    if path is not None:
        return path
    if source.name != WEIGHTS_NAME:
        raise ModelFileError(
            f"{source}: backend 'onnxruntime' runs a model directory's {ONNX_NAME}, and a "
            f"checkpoint has none; write one with: audiogan export {source} -o MODEL_DIR "
            "--format onnx, then load MODEL_DIR")
    folder = source.parent
    raise ModelFileError(
        f"{folder / ONNX_NAME}: not found; write it with: audiogan export {folder} -o "
        f"{folder} --format onnx (list every format the directory should keep), or use "
        "backend='torch'")


class OnnxRuntimeModule:
    """Runs ``generator.onnx`` with ONNX Runtime on the CPU; called like the vocoder's module.

    Session options: every graph optimisation, sequential execution, ``intra_op_num_threads``
    = ``threads`` (default: ``torch.get_num_threads()`` when the session is made), one inter-op
    thread.

    Args:
        path: the ``generator.onnx`` file.
        n_mels: the mel channels the model takes (checked against the file's input).
        noise_channels: the noise channels it takes (0: the file has one input, ``mel``).
        threads: intra-op threads (None: ``torch.get_num_threads()``).

    Raises:
        BackendError: onnxruntime is not installed.
        ModelFileError: the file cannot be read, or its inputs are not the model's.
    """

    def __init__(self, path: Path, n_mels: int, noise_channels: int = 0,
                 threads: int | None = None) -> None:
        ort = import_onnxruntime()
        self.path = Path(path)
        self.threads = int(threads) if threads is not None else torch.get_num_threads()
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(self.path), options,
                                                providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own types for corrupt files
            reason = one_line(exc)[:200] or type(exc).__name__
            raise ModelFileError(f"{self.path}: onnxruntime cannot load it ({reason}); write it "
                                 "again with audiogan export ... --format onnx") from None
        inputs = {item.name: item.shape for item in self.session.get_inputs()}
        wanted = ["mel", "noise"] if noise_channels > 0 else ["mel"]
        if sorted(inputs) != sorted(wanted) or "wave" not in {
                item.name for item in self.session.get_outputs()}:
            raise ModelFileError(
                f"{self.path}: inputs {sorted(inputs)} are not this model's {wanted} (output "
                "'wave'); write it again with audiogan export ... --format onnx")
        channels = inputs["mel"][1] if len(inputs["mel"]) == 3 else None
        if isinstance(channels, int) and channels != n_mels:
            raise ModelFileError(f"{self.path}: takes {channels} mel channels but the model has "
                                 f"{n_mels}; write it again with audiogan export ... --format onnx")
        self.noise_channels = int(noise_channels)

    def __call__(self, mel: Tensor, noise: Tensor | None = None) -> Tensor:
        """Synthesise.

        Args:
            mel: (B, n_mels, frames) raw profile features (any float dtype, CPU).
            noise: (B, noise_channels, frames * hop) for noise-driven models, else None.

        Returns:
            wave: (B, 1, frames * hop) float32 on the CPU.
        """
        feeds = {"mel": np.ascontiguousarray(mel.detach().to("cpu", torch.float32).numpy())}
        if self.noise_channels > 0:
            if noise is None:
                raise ValueError("this model takes noise: call it with (mel, noise)")
            feeds["noise"] = np.ascontiguousarray(
                noise.detach().to("cpu", torch.float32).numpy())
        return torch.from_numpy(self.session.run(["wave"], feeds)[0])

    def check_against(self, module: torch.nn.Module, mel: Tensor, noise: Tensor | None) -> float:
        """Run ``mel`` [+ ``noise``] through this file and through ``module`` (the PyTorch
        module, float32) -> the largest |difference|.

        Raises:
            ModelFileError: above :data:`LOAD_CHECK_ATOL` (a stale or foreign export).
        """
        with torch.inference_mode():
            reference = module(mel) if noise is None else module(mel, noise)
            ours = self(mel, noise)
        error = (float((reference.float() - ours).abs().max())
                 if reference.shape == ours.shape else float("inf"))
        if not error <= LOAD_CHECK_ATOL:
            raise ModelFileError(
                f"{self.path}: does not compute the function of {self.path.parent / WEIGHTS_NAME}"
                f" (max |difference| {error:.3g} > {LOAD_CHECK_ATOL:g} on a test mel); write it "
                "again with audiogan export ... --format onnx")
        return error
