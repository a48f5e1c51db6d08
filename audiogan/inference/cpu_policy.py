"""Which path a model runs on the CPU: the per-generator policy table and CPU feature detection.

``Vocoder.load(path)`` with neither ``backend=`` nor ``dtype=`` given (``backend="auto"``) and on
the CPU (the default device) asks :func:`choose_path`: the first :data:`POLICY` entry whose
generator matches, if this CPU has a feature it needs (detected at run time,
:func:`cpu_features`), gives the backend, dtype and piece plan (:mod:`audiogan.inference.pieces`);
every other generator, or a CPU without the feature, runs PyTorch float32 in whole calls. An
explicit ``backend=`` or ``dtype=``, or a device other than the CPU, always wins: the policy is
not consulted.

A reduced-precision path enters :data:`POLICY` only when it was measured on real weights against
the float32 eager output and passed the quality rule (log-mel L1 up by <= 0.5 %, PESQ down by
<= 0.02) and was faster; an exact one (float32, a piece plan: the same audio to float rounding)
when it was faster (``benchmarks/cpu_plans.py``). Each entry names the results file under
``benchmarks/results/`` it comes from (see :data:`POLICY`).

:class:`PathInfo` (``Vocoder.path_info``) says which path was taken and why; ``audiogan
synthesize`` prints it, ``audiogan info`` prints what the policy would pick on this machine.
"""

from __future__ import annotations

import functools
import platform
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from audiogan.inference.pieces import PiecePlan

__all__ = [
    "POLICY",
    "CpuFeatures",
    "PathInfo",
    "PolicyEntry",
    "choose_path",
    "cpu_features",
    "hifigan_shape",
]

#: CPU features a policy entry may require (names as in Linux's /proc/cpuinfo flags).
KNOWN_FEATURES: tuple[str, ...] = ("avx512_bf16", "amx_bf16")


@dataclass(frozen=True)
class CpuFeatures:
    """The CPU features relevant to the policy.

    Attributes:
        flags: the :data:`KNOWN_FEATURES` this CPU has.
        source: where they were read (``/proc/cpuinfo`` or ``torch``).
    """

    flags: frozenset[str]
    source: str

    def has_any(self, names: tuple[str, ...]) -> str | None:
        """The first of ``names`` this CPU has, or None."""
        return next((name for name in names if name in self.flags), None)


def _from_proc_cpuinfo(path: Path = Path("/proc/cpuinfo")) -> frozenset[str] | None:
    """The known flags of the first processor in ``/proc/cpuinfo`` (None: not readable)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split()) & frozenset(KNOWN_FEATURES)
    return None


def _from_torch() -> frozenset[str]:
    """What torch's CPU probes report (private helpers; missing ones count as absent)."""
    probes = {"avx512_bf16": "_is_avx512_bf16_supported", "amx_bf16": "_is_amx_tile_supported"}
    found = set()
    for flag, name in probes.items():
        probe: Callable[[], bool] | None = getattr(torch.cpu, name, None)
        try:
            if probe is not None and probe():
                found.add(flag)
        except Exception:  # a probe that fails says nothing
            continue
    return frozenset(found)


@functools.lru_cache(maxsize=1)
def cpu_features() -> CpuFeatures:
    """This machine's :class:`CpuFeatures`, read once: ``/proc/cpuinfo`` on Linux, else what
    torch reports."""
    if platform.system() == "Linux":
        flags = _from_proc_cpuinfo()
        if flags is not None:
            return CpuFeatures(flags, "/proc/cpuinfo")
    return CpuFeatures(_from_torch(), "torch")


@dataclass(frozen=True)
class PolicyEntry:
    """One measured faster path for one generator shape.

    Attributes:
        label: the generator shape in words (e.g. ``"HiFi-GAN V1, 80 mels"``).
        matches: ``matches(generator) -> bool``: whether a generator has this shape.
        requires: CPU features, any one of which the path needs (:data:`KNOWN_FEATURES`).
        backend: ``"torch"`` or ``"onnxruntime"``.
        dtype: the generator's dtype on that path.
        evidence: the results file under ``benchmarks/results/`` with the measurement.
        float32_stages: mixed precision: the last upsampling stages kept in float32 (the
            generator's ``keep_float32_tail``); 0: ``dtype`` everywhere.
        plan: how calls are cut into pieces (:class:`~audiogan.inference.pieces.PiecePlan`;
            same output to float rounding); the default cuts nothing.
    """

    label: str
    matches: Callable[[nn.Module], bool]
    requires: tuple[str, ...]
    backend: str
    dtype: torch.dtype
    evidence: str
    float32_stages: int = 0
    plan: PiecePlan = PiecePlan()


def hifigan_shape(preset: str, n_mels: int = 80) -> Callable[[nn.Module], bool]:
    """A :attr:`PolicyEntry.matches` for HiFi-GAN generators of exactly the shape of ``preset``
    (``"v1"``, ``"v2"``, ``"v3"``: every field of :data:`~audiogan.models.hifigan.HIFIGAN_PRESETS`)
    taking ``n_mels`` mel channels, whatever their weights (trained here or imported)."""
    from audiogan.models.hifigan import HIFIGAN_PRESETS, HiFiGANGenerator

    shape = HIFIGAN_PRESETS[preset]

    def matches(generator: nn.Module) -> bool:
        return (isinstance(generator, HiFiGANGenerator) and generator.config == shape
                and int(generator.in_channels) == n_mels)

    return matches


def generator_type(name: str) -> Callable[[nn.Module], bool]:
    """A :attr:`PolicyEntry.matches` for every generator registered as ``name`` (any shape:
    for exact paths, whose output does not depend on the shape)."""
    from audiogan.models import GENERATORS

    cls = GENERATORS.get(name)
    return lambda generator: isinstance(generator, cls)


_PLANS = "benchmarks/results/cpu_plans.md"
POLICY: tuple[PolicyEntry, ...] = (
    PolicyEntry("HiFi-GAN V1, 80 mels", hifigan_shape("v1"), ("avx512_bf16", "amx_bf16"),
                "torch", torch.bfloat16, "benchmarks/results/cpu_paths_quality_bf16_tail.md and "
                + _PLANS, float32_stages=1, plan=PiecePlan(batch_items=1, parallel=True)),
    PolicyEntry("MelGAN", generator_type("melgan"), (), "torch", torch.float32, _PLANS,
                plan=PiecePlan(piece_frames=256, batch_items=1)),
    PolicyEntry("multi-band MelGAN", generator_type("multiband_melgan"), (), "torch",
                torch.float32, _PLANS, plan=PiecePlan(batch_items=2)),
)
"""The measured CPU paths, first match wins.

- HiFi-GAN V1 (80 mels): bfloat16 with the last upsampling stage and ``conv_post`` in float32
  on CPUs with bf16 instructions. On jik876's LJSpeech and universal V1 weights, 10 dev clips:
  log-mel L1 +0.28 % / +0.11 %, PESQ +0.009 / -0.009 against float32 eager (the rule allows
  +0.5 % / -0.02); ~1.6x float32's speed at batch 1 and 16 (2 threads, Zen 4). bfloat16
  everywhere fails the rule (+7.5 % / +4.1 %); ONNX Runtime float32 passes but is ~1.1x at
  batch 1 and keeps the PyTorch weights in memory beside its session. Batch items run on
  worker threads (1.8x at batch 16 x 2 s).
- MelGAN: float32 (exact: the same audio, <= 1e-4), in pieces of 256 frames (1.3x whole calls
  for a 10 s clip: activations stay cache-sized) and one batch item per call (1.75x at batch 16
  x 2 s; ``cpu_plans.md``, "With the inference forwards"). Worker threads for batch items won
  before the channels-last inference forward (:mod:`audiogan.models.melgan_inference`); with it,
  sequential calls are faster.
- Multi-band MelGAN: float32, two batch items per call (1.5-1.6x at batch 16 x 2 s; a clip
  gains nothing from time pieces).

Every other generator runs PyTorch float32 in whole calls (``istft`` base: its inference
forward, :mod:`audiogan.models.istft_inference`, is as fast whole as in any plan measured)."""


@dataclass(frozen=True)
class PathInfo:
    """The path a model runs on and why (``Vocoder.path_info``).

    Attributes:
        backend: ``"torch"`` or ``"onnxruntime"``.
        dtype: the generator's dtype.
        device: where it runs.
        reason: why this path (the explicit argument, the policy entry and its evidence, or
            why the policy kept float32).
        float32_stages: the last upsampling stages kept in float32 (0: none).
        plan: how calls are cut (:class:`~audiogan.inference.pieces.PiecePlan`).
    """

    backend: str
    dtype: torch.dtype
    device: torch.device
    reason: str
    float32_stages: int = 0
    plan: PiecePlan = PiecePlan()

    def __str__(self) -> str:
        dtype = str(self.dtype).removeprefix("torch.")
        if self.float32_stages:
            dtype += f" (last {self.float32_stages} upsampling stage(s) float32)"
        if self.plan.cuts:
            dtype += f", {self.plan}"
        return f"{self.backend} {dtype} on {self.device} ({self.reason})"


def choose_path(
    generator: nn.Module,
    device: torch.device | None = None,
    dtype: torch.dtype | None = None,
    backend: str = "auto",
    has_onnx: bool = False,
    features: CpuFeatures | None = None,
    policy: tuple[PolicyEntry, ...] | None = None,
) -> PathInfo:
    """The backend and dtype to run ``generator`` with.

    Args:
        generator: the generator (matched against the policy's entries).
        device: the device asked for (None: CPU).
        dtype: the dtype asked for (None: not given).
        backend: ``auto``, ``torch`` or ``onnxruntime`` (already checked).
        has_onnx: whether the model directory holds ``generator.onnx`` and onnxruntime is
            installed.
        features: the CPU's features (default: :func:`cpu_features`).
        policy: the table (default: :data:`POLICY`).

    Returns:
        The :class:`PathInfo`; explicit ``backend`` / ``dtype`` and non-CPU devices bypass the
        policy.
    """
    where = device if device is not None else torch.device("cpu")
    if backend == "onnxruntime":
        return PathInfo("onnxruntime", torch.float32, where, "backend='onnxruntime' given")
    if dtype is not None or backend == "torch":
        given = [f"backend={backend!r}"] if backend == "torch" else []
        given += [f"dtype={str(dtype).removeprefix('torch.')}"] if dtype is not None else []
        return PathInfo("torch", dtype or torch.float32, where, " and ".join(given) + " given")
    if where.type != "cpu":
        return PathInfo("torch", torch.float32, where, "not the CPU: the CPU policy does not "
                        "apply")
    features = features if features is not None else cpu_features()
    name = type(generator).__name__
    for entry in POLICY if policy is None else policy:
        if not entry.matches(generator):
            continue
        feature = features.has_any(entry.requires) if entry.requires else "any features"
        if feature is None:
            return PathInfo("torch", torch.float32, where, f"policy: {entry.label} runs float32 "
                            f"here (its faster path needs {' or '.join(entry.requires)}, which "
                            f"{features.source} does not list)")
        if entry.backend == "onnxruntime" and not has_onnx:
            return PathInfo("torch", torch.float32, where, f"policy: {entry.label} would run "
                            "onnxruntime, but the model has no generator.onnx or onnxruntime is "
                            "not installed")
        dtype_name = str(entry.dtype).removeprefix("torch.")
        if entry.float32_stages:
            dtype_name += f" with a float32 tail of {entry.float32_stages} stage(s)"
        where_text = f" on a CPU with {feature}" if entry.requires else ""
        return PathInfo(entry.backend, entry.dtype, where,
                        f"policy: {entry.label} runs {entry.backend} {dtype_name}{where_text}, "
                        f"measured in {entry.evidence}", entry.float32_stages, entry.plan)
    return PathInfo("torch", torch.float32, where,
                    f"policy: no faster path measured for {name}; float32")
