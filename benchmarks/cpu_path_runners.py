"""The CPU inference paths that ``cpu_paths.py`` and ``cpu_paths_fp32.py`` compare.

Every path turns one model directory into a callable ``mel (B, n_mels, frames) float32 ->
wave (B, frames * hop) float32`` that runs the deployable module
(:attr:`audiogan.Vocoder.module`: z-normalisation + generator, weight norm folded), i.e. what
:class:`audiogan.Vocoder` runs inside its input checks and chunking:

- ``fp32``: eager PyTorch in float32, the reference;
- ``auto``: ``Vocoder.load(model_dir)`` with no dtype: the path the CPU policy picks (its
  ``path_info`` is recorded; no ``generator.onnx`` in the directory, so never ONNX Runtime);
- ``bf16_weights``: ``Vocoder.load(model_dir, dtype="bfloat16")`` (generator in bfloat16);
- ``bf16_autocast``: float32 weights under ``torch.autocast("cpu", torch.bfloat16)``;
- ``bf16_tail1`` / ``bf16_tail2``: HiFi-GAN-style generators (``upsamples``, ``mrfs``,
  ``conv_post``) in bfloat16 except the last one / two upsampling stages and ``conv_post``, which
  stay float32 (the stage's input is cast up): the last stage holds ~11% of HiFi-GAN V1's
  multiply-adds (the last two ~33%) but most of bf16's log-mel error; other generators: skipped;
- ``channels_last``: ``torch.channels_last`` is a 4-D layout, so it does not apply to Conv1d
  weights or (B, C, T) activations as they are; this path rewrites every ``Conv1d`` /
  ``ConvTranspose1d`` as the equivalent 2-D convolution over ``(B, C, 1, T)`` in channels-last
  (NHWC) layout, squeezing back to 3-D between layers (the squeezed tensor keeps the
  channels-last strides, so the next layer re-enters the layout without a copy);
- ``compile``: ``torch.compile`` (inductor, default dynamic-shape handling) of the fp32 module;
  needs a C++ compiler (skipped with the reason when there is none); the first call's extra
  time (the compilation) is reported separately;
- ``ort_fp32``: ``generator.onnx`` written by audiogan's exporter
  (:func:`audiogan.inference.export.export_model`, parity-checked there to 1e-4) run by an
  ONNX Runtime ``InferenceSession`` with ``intra_op_num_threads`` = the thread count;
- ``ort_int8``: that ONNX model after ``onnxruntime.quantization.quant_pre_process`` and
  ``quantize_static`` (QDQ format, int8 per-channel weights, uint8 activations, MinMax
  calibration on a few real mels), run the same way. (``quantize_dynamic`` does not quantise
  Conv.)
"""

from __future__ import annotations

import copy
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: Every path, in table order (``fp32`` first: the reference).
PATHS: tuple[str, ...] = ("fp32", "auto", "bf16_weights", "bf16_autocast", "bf16_tail1",
                          "bf16_tail2", "channels_last", "compile", "ort_fp32", "ort_int8")
#: The paths that keep float32 semantics (their output must equal eager fp32 to 1e-4 to count).
FP32_PATHS: tuple[str, ...] = ("fp32", "channels_last", "compile", "ort_fp32")
#: Largest max |diff| from eager fp32 at which an fp32-semantics path counts as the same audio.
FP32_TOLERANCE = 1e-4

Synth = Callable[[Tensor], Tensor]


@dataclass
class PathRunner:
    """One built path.

    Attributes:
        name: the path (a :data:`PATHS` entry).
        fn: ``mel (B, n_mels, frames) -> wave (B, T)`` float32, or None when skipped.
        skip: why the path was not built (None when it was).
        setup_s: seconds spent building it (export, quantisation, module rewrite).
        first_call_s: seconds of the first call (``compile``: includes the compilation).
        notes: facts worth recording (e.g. what was quantised).
    """

    name: str
    fn: Synth | None = None
    skip: str | None = None
    setup_s: float = 0.0
    first_call_s: float | None = None
    notes: dict[str, Any] = field(default_factory=dict)


def cpu_features() -> dict[str, Any]:
    """What the CPU offers for reduced precision: /proc/cpuinfo flags and torch's view."""
    flags: set[str] = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    try:
        import onnxruntime

        ort = onnxruntime.__version__
    except ImportError:
        ort = None
    return {
        "avx512_bf16": "avx512_bf16" in flags,
        "avx512f": "avx512f" in flags,
        "amx_bf16": "amx_bf16" in flags,
        "amx_tile": "amx_tile" in flags,
        "avx512_vnni": "avx512_vnni" in flags,
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "mkldnn_available": torch.backends.mkldnn.is_available(),
        "mkldnn_bf16_supported": bool(getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported",
                                              lambda: False)()),
        "onnxruntime": ort,
    }


def compiler_status() -> str | None:
    """None when a C++ compiler for inductor is on PATH, else why ``compile`` is skipped."""
    for name in ("c++", "g++", "clang++"):
        if shutil.which(name):
            return None
    return "no C++ compiler on PATH (inductor's CPU backend needs one)"


# --------------------------------------------------------------------------- torch paths


def _eager(module: nn.Module, autocast: bool = False) -> Synth:
    def run(mel: Tensor) -> Tensor:
        with torch.inference_mode():
            if autocast:
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    wave = module(mel)
            else:
                wave = module(mel)
        return wave[:, 0].float()

    return run


class _ConvAs2d(nn.Module):
    """A folded ``Conv1d`` / ``ConvTranspose1d`` run as a channels-last 2-D convolution.

    ``forward``: x (B, C_in, T) -> (B, C_out, T') with the original layer's T'.
    """

    def __init__(self, conv: nn.Conv1d | nn.ConvTranspose1d) -> None:
        super().__init__()
        if conv.padding_mode != "zeros":
            raise ValueError(f"padding_mode {conv.padding_mode!r} is not rewritten")
        self.transposed = isinstance(conv, nn.ConvTranspose1d)
        weight = conv.weight.detach().unsqueeze(2).contiguous(memory_format=torch.channels_last)
        self.weight = nn.Parameter(weight, requires_grad=False)
        self.bias = None if conv.bias is None else nn.Parameter(conv.bias.detach(),
                                                                requires_grad=False)
        padding = conv.padding
        self.padding: Any = padding if isinstance(padding, str) else (0, int(padding[0]))
        self.stride = (1, int(conv.stride[0]))
        self.dilation = (1, int(conv.dilation[0]))
        self.output_padding = (0, int(conv.output_padding[0])) if self.transposed else (0, 0)
        self.groups = conv.groups
        self.trim = int(getattr(conv, "trim", 0))

    def forward(self, x: Tensor) -> Tensor:
        x4 = x.unsqueeze(2).contiguous(memory_format=torch.channels_last)
        if self.transposed:
            y = F.conv_transpose2d(x4, self.weight, self.bias, self.stride, self.padding,
                                   self.output_padding, self.groups, self.dilation)
        else:
            y = F.conv2d(x4, self.weight, self.bias, self.stride, self.padding, self.dilation,
                         self.groups)
        y = y.squeeze(2)
        return y[..., : y.shape[-1] - self.trim] if self.trim else y


def channels_last_copy(module: nn.Module) -> tuple[nn.Module, int]:
    """A copy of ``module`` with every Conv1d / ConvTranspose1d rewritten (:class:`_ConvAs2d`);
    returns it and the number of layers rewritten."""
    rewritten = copy.deepcopy(module)
    count = 0
    for parent in list(rewritten.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, (nn.Conv1d, nn.ConvTranspose1d)):
                setattr(parent, name, _ConvAs2d(child))
                count += 1
    return rewritten.eval(), count


def bf16_tail_module(vocoder: Any, stages: int) -> nn.Module:
    """``vocoder``'s module (already bfloat16) with its last ``stages`` upsampling stages and
    ``conv_post`` back in float32 (``keep_float32_tail``: what the CPU policy runs).

    Raises:
        ValueError: the generator has no ``keep_float32_tail`` (not HiFi-GAN), or ``stages``
            is out of range.
    """
    generator = vocoder.module.generator
    if not hasattr(generator, "keep_float32_tail"):
        raise ValueError(f"{type(generator).__name__} has no HiFi-GAN upsampling stages")
    generator.keep_float32_tail(stages)
    return vocoder.module  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- ONNX Runtime


def ort_session(onnx_path: Path, threads: int) -> Any:
    """An ONNX Runtime CPU session on ``onnx_path`` with ``threads`` intra-op threads."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(str(onnx_path), options,
                                        providers=["CPUExecutionProvider"])


def _ort_synth(session: Any) -> Synth:
    def run(mel: Tensor) -> Tensor:
        (wave,) = session.run(["wave"], {"mel": mel.detach().float().numpy()})
        return torch.from_numpy(wave)[:, 0]

    return run


def export_onnx(model_dir: Path, work_dir: Path) -> Path:
    """``generator.onnx`` of ``model_dir`` written by audiogan's exporter under ``work_dir``."""
    from audiogan.inference.export import export_model

    result = export_model(model_dir, work_dir / "onnx_model", ["onnx"])
    return result.files["onnx"]


def quantize_int8(onnx_path: Path, calibration: Sequence[Tensor], out_path: Path) -> dict[str, Any]:
    """Static int8 quantisation (QDQ) of ``onnx_path`` calibrated on ``calibration`` mels
    (each ``(1, n_mels, frames)``); writes ``out_path``, returns what was quantised."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter([{"mel": mel.float().numpy()} for mel in calibration])

        def get_next(self) -> dict[str, Any] | None:
            return next(self.items, None)

    prepared = out_path.with_name(out_path.stem + "_pre.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quant_pre_process(str(onnx_path), str(prepared), skip_symbolic_shape=True)
        quantize_static(str(prepared), str(out_path), Reader(), quant_format=QuantFormat.QDQ,
                        per_channel=True, weight_type=QuantType.QInt8,
                        activation_type=QuantType.QUInt8,
                        calibrate_method=CalibrationMethod.MinMax)
    ops: dict[str, int] = {}
    for node in onnx.load(str(out_path)).graph.node:
        ops[node.op_type] = ops.get(node.op_type, 0) + 1
    return {"quantized_op_counts": {k: v for k, v in sorted(ops.items())
                                    if k in ("QuantizeLinear", "DequantizeLinear", "Conv",
                                             "ConvTranspose", "QLinearConv")},
            "calibration_mels": [list(mel.shape) for mel in calibration]}


# --------------------------------------------------------------------------- building


def _timed_first_call(runner: PathRunner, probe: Tensor) -> None:
    """Call the runner once on ``probe`` (records ``first_call_s``; a failure becomes a skip)."""
    assert runner.fn is not None
    started = time.perf_counter()
    try:
        runner.fn(probe)
    except Exception as exc:  # any failure of a path means: this path does not run here
        runner.fn = None
        runner.skip = f"first call failed ({type(exc).__name__}: {str(exc).splitlines()[0]})"
    runner.first_call_s = time.perf_counter() - started


def build_paths(
    names: Sequence[str],
    model_dir: Path,
    *,
    threads: int,
    calibration: Sequence[Tensor],
    probe: Tensor,
    work_dir: Path | None = None,
) -> dict[str, PathRunner]:
    """Build the paths ``names`` for the model directory ``model_dir``.

    Args:
        names: :data:`PATHS` entries.
        model_dir: an audiogan model directory (``audiogan import`` / ``export`` output).
        threads: intra-op threads for ONNX Runtime (torch's are set by the caller).
        calibration: ``(1, n_mels, frames)`` mels for ``ort_int8``'s calibration.
        probe: a ``(1, n_mels, frames)`` mel every built path is called on once (warm-up;
            ``compile`` compiles here).
        work_dir: where the ONNX files go (default: a temporary directory kept for the process).

    Returns:
        name -> :class:`PathRunner` (skipped ones with ``fn=None`` and ``skip`` set).
    """
    from audiogan import Vocoder

    work = Path(tempfile.mkdtemp(prefix="cpu_paths_")) if work_dir is None else work_dir
    reference = Vocoder.load(model_dir, dtype="float32")  # fp32 eager, whatever the policy
    runners: dict[str, PathRunner] = {}
    onnx_path: Path | None = None
    for name in names:
        runner = PathRunner(name)
        started = time.perf_counter()
        try:
            if name == "fp32":
                runner.fn = _eager(reference.module)
            elif name == "bf16_weights":
                runner.fn = _eager(Vocoder.load(model_dir, dtype="bfloat16").module)
            elif name == "auto":
                chosen = Vocoder.load(model_dir)
                runner.notes["path_info"] = str(getattr(chosen, "path_info", "no path_info"))
                runner.fn = _eager(chosen.module)
            elif name in ("bf16_tail1", "bf16_tail2"):
                tail = Vocoder.load(model_dir, dtype="bfloat16")
                runner.fn = _eager(bf16_tail_module(tail, int(name[-1])))
            elif name == "bf16_autocast":
                runner.fn = _eager(reference.module, autocast=True)
            elif name == "channels_last":
                module, count = channels_last_copy(reference.module)
                runner.fn, runner.notes["conv_layers_rewritten"] = _eager(module), count
            elif name == "compile":
                runner.skip = compiler_status()
                if runner.skip is None:
                    compiled = torch.compile(copy.deepcopy(reference.module), backend="inductor")
                    runner.fn = _eager(compiled)
            elif name in ("ort_fp32", "ort_int8"):
                if onnx_path is None:
                    onnx_path = export_onnx(model_dir, work)
                path = onnx_path
                if name == "ort_int8":
                    path = work / "generator_int8.onnx"
                    runner.notes.update(quantize_int8(onnx_path, calibration, path))
                runner.fn = _ort_synth(ort_session(path, threads))
            else:
                raise SystemExit(f"unknown path {name!r}; valid: {', '.join(PATHS)}")
        except SystemExit:
            raise
        except Exception as exc:  # a path that cannot be built here is reported, not fatal
            runner.fn = None
            first = str(exc).splitlines()[0] if str(exc) else ""
            runner.skip = f"build failed ({type(exc).__name__}: {first})"
        runner.setup_s = time.perf_counter() - started
        if runner.fn is not None:
            _timed_first_call(runner, probe)
        runners[name] = runner
    return runners
