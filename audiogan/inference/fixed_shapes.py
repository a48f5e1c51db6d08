"""Fixed-shape synthesis: a :class:`~audiogan.inference.vocoder.Vocoder` runs its generator over
equal-size windows, so a device sees a bounded set of input shapes whatever the input lengths.

Why: with ``torch.backends.cudnn.benchmark`` on, cuDNN autotunes every convolution once per new
input shape, and a CUDA graph is captured per shape; with one shape per input length both cost
more than they save. With fixed shapes the generator only ever sees the sizes of a short
*ladder* (:func:`window_ladder`), for every input length.

How (:func:`plan_windows`): the frames to compute, widened by ``halo`` (the generator's
``receptive_field_frames``) either side, are covered by windows of one size ``S``: the first at
the region's start, each next one starting ``halo`` frames before the last exact frame of the
one before, the last ending exactly at the region's end (so it too has size ``S``). From each
window only the frames it computes exactly are kept: all but ``halo`` frames at a window edge
that is not an edge of the signal. So the result equals one plain call (to float rounding,
<= 1e-4 in float32), and Parallel WaveGAN's noise, keyed by absolute sample index, lines up.

Sizes: ``S = core + 2 * halo`` with ``core`` = :data:`WINDOW_CORE_FRAMES` (512 frames, 5.9 s at
22.05 kHz / hop 256). A region shorter than ``S`` uses the largest rung not above its length
(powers of two from the smallest one >= ``max(4 * halo, 32)``); one shorter than the smallest
rung runs in one call of its own length. Cost: the recomputed halos and the overlap of the last
window, e.g. 2 windows (1076 frames) for 862 frames of HiFi-GAN V1 (halo 13): +25%; about
``2 * halo / core`` (+5%) on long inputs.

:class:`FixedShapes` is the :class:`~audiogan.inference.vocoder.Vocoder` side: the
``fixed_shapes`` / ``cuda_graphs`` options and the windowed loop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import torch
from torch import Tensor

from audiogan.core.errors import AudioganError
from audiogan.inference.cuda_graphs import GraphCache

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "WINDOW_CORE_FRAMES",
    "FixedShapes",
    "ShapeOptionError",
    "Window",
    "check_shape_options",
    "plan_windows",
    "window_ladder",
]

#: Frames a full-size window computes exactly (its size is this plus twice the halo).
WINDOW_CORE_FRAMES = 512
#: The smallest rung is the smallest power of two >= max(4 * halo, this).
_MIN_RUNG = 32


class ShapeOptionError(AudioganError, ValueError):
    """``fixed_shapes`` / ``cuda_graphs`` asked for where they cannot run (one line)."""


class Window(NamedTuple):
    """One generator call of a plan: frames ``[start, start + size)`` of the input, of which
    frames ``[keep_from, keep_to)`` (absolute, exact) go to the output."""

    start: int
    size: int
    keep_from: int
    keep_to: int


def window_ladder(halo: int, core: int = WINDOW_CORE_FRAMES) -> tuple[int, ...]:
    """The window sizes, ascending: powers of two from the smallest one >= ``max(4 * halo,
    32)`` below ``core + 2 * halo``, then ``core + 2 * halo`` (the full size ``S``).

    Raises:
        ValueError: ``halo < 0`` or ``core < 1``.
    """
    if halo < 0 or core < 1:
        raise ValueError(f"window_ladder needs halo >= 0 and core >= 1, got {halo}, {core}")
    full = core + 2 * halo
    rung = 1 << max(0, (max(4 * halo, _MIN_RUNG) - 1).bit_length())
    rungs = []
    while rung < full:
        rungs.append(rung)
        rung *= 2
    return (*rungs, full)


def _size_for(length: int, ladder: tuple[int, ...]) -> int | None:
    """The largest rung <= ``length`` (None below the smallest)."""
    fitting = [rung for rung in ladder if rung <= length]
    return fitting[-1] if fitting else None


def plan_windows(frames: int, start: int, end: int, halo: int,
                 ladder: tuple[int, ...]) -> list[Window]:
    """The windows that compute frames ``[start, end)`` of a ``frames``-frame input exactly.

    Args:
        frames: frames of the input (its edges are the signal's edges).
        start, end: the frames wanted, ``0 <= start < end <= frames``.
        halo: the generator's ``receptive_field_frames``.
        ladder: from :func:`window_ladder` (every rung > ``2 * halo``).

    Returns:
        Windows in order; their ``[keep_from, keep_to)`` tile ``[start, end)``. All have one
        size (a rung), except one window of its own size for a region below the smallest rung.
    """
    if not 0 <= start < end <= frames:
        raise ValueError(f"plan_windows needs 0 <= start < end <= frames, got {start}, {end}, "
                         f"{frames}")
    low, high = max(0, start - halo), min(frames, end + halo)
    size = _size_for(high - low, ladder)
    if size is None:
        return [Window(low, high - low, start, end)]
    if size <= 2 * halo:
        raise ValueError(f"window size {size} must exceed twice the halo ({halo})")
    windows: list[Window] = []
    covered, first = start, low
    while covered < end:
        first = max(low, min(first, high - size))  # the last one ends exactly at `high`
        exact_to = first + size if first + size == frames else first + size - halo
        keep_to = min(exact_to, end)
        windows.append(Window(first, size, covered, keep_to))
        covered, first = keep_to, keep_to - halo
    return windows


def check_shape_options(device: torch.device, fixed_shapes: bool | None, cuda_graphs: bool,
                        backend: str = "torch") -> None:
    """Raise :class:`ShapeOptionError` (one line) when the options cannot run on ``device``:
    ``cuda_graphs`` off CUDA, without fixed shapes or with ONNX Runtime."""
    if not cuda_graphs:
        return
    if device.type != "cuda":
        raise ShapeOptionError(f"cuda_graphs=True (--cuda-graphs) needs a CUDA device, not "
                               f"{device}; use device='cuda' or drop cuda_graphs")
    if fixed_shapes is False:
        raise ShapeOptionError("cuda_graphs=True (--cuda-graphs) needs fixed shapes; drop "
                               "fixed_shapes=False (--no-fixed-shapes)")
    if backend == "onnxruntime":
        raise ShapeOptionError("cuda_graphs=True (--cuda-graphs) runs the torch backend only; "
                               "drop it with backend='onnxruntime'")


class FixedShapes:
    """The :class:`~audiogan.inference.vocoder.Vocoder` side of fixed shapes and CUDA graphs.

    A subclass provides ``device``, ``backend``, ``hop_length``, ``receptive_field_frames``,
    ``_span(mel, start, end, seed=)`` and ``_run(mel, first, seed, fixed)``.
    """

    #: ``fixed_shapes`` as asked: None = on for CUDA devices, off elsewhere.
    _fixed_shapes: bool | None = None
    #: The captured graphs when ``cuda_graphs=True``, else None.
    _graphs: GraphCache | None = None
    #: Frames a full window computes exactly (see :data:`WINDOW_CORE_FRAMES`).
    window_core_frames: int = WINDOW_CORE_FRAMES

    if TYPE_CHECKING:  # what the subclass provides (declarations for the type checker)
        @property
        def device(self) -> torch.device: ...
        @property
        def backend(self) -> str: ...
        @property
        def hop_length(self) -> int: ...
        @property
        def receptive_field_frames(self) -> int: ...
        def _run(self, mel: Tensor, first: int, seed: int, fixed: bool = False) -> Tensor: ...
        def _span(self, mel: Tensor, start: int, end: int, origin: int = 0,
                  seed: int = 0) -> Tensor: ...

    def set_shape_options(self, fixed_shapes: bool | None = None,
                          cuda_graphs: bool = False) -> None:
        """Set the options (see :meth:`~audiogan.inference.vocoder.Vocoder.load`).

        Raises:
            ShapeOptionError: ``cuda_graphs`` off CUDA, with ``fixed_shapes=False`` or with
                ONNX Runtime.
        """
        check_shape_options(self.device, fixed_shapes, bool(cuda_graphs), self.backend)
        self._fixed_shapes = None if fixed_shapes is None else bool(fixed_shapes)
        self._graphs = GraphCache() if cuda_graphs else None

    @property
    def fixed_shapes(self) -> bool:
        """Whether calls run over the windows of :attr:`window_ladder` (the option; None
        resolves to whether the model is on a CUDA device)."""
        if self._fixed_shapes is None:
            return self.device.type == "cuda"
        return self._fixed_shapes

    @property
    def cuda_graphs(self) -> bool:
        """Whether fixed-shape windows replay captured CUDA graphs."""
        return self._graphs is not None

    @property
    def graph_cache(self) -> GraphCache | None:
        """The captured graphs (``cuda_graphs=True``), else None."""
        return self._graphs

    @property
    def window_ladder(self) -> tuple[int, ...]:
        """The window sizes fixed-shape synthesis uses (see :func:`window_ladder`)."""
        return window_ladder(self.receptive_field_frames, self.window_core_frames)

    def _moved(self) -> None:
        """Drop captured graphs (after a device move or a cast: they hold old tensors)."""
        if self._graphs is not None:
            self._graphs.clear()

    def _whole(self, mel: Tensor, start: int, end: int, seed: int) -> Tensor:
        """``_span(mel, start, end)`` (origin 0), over fixed-shape windows when
        :attr:`fixed_shapes` is on."""
        if self.fixed_shapes:
            return self._fixed_span(mel, start, end, seed)
        return self._span(mel, start, end, seed=seed)

    def _fixed_span(self, mel: Tensor, start: int, end: int, seed: int) -> Tensor:
        """Frames ``[start, end)`` of ``mel`` (B, n_mels, F) -> (B, (end - start) * hop),
        computed over the windows of :func:`plan_windows`."""
        hop = self.hop_length
        pieces = []
        plan = plan_windows(mel.shape[-1], start, end, self.receptive_field_frames,
                            self.window_ladder)
        for window in plan:
            wave = self._run(mel[..., window.start : window.start + window.size], window.start,
                             seed, True)
            pieces.append(wave[:, (window.keep_from - window.start) * hop
                               : (window.keep_to - window.start) * hop])
        return pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=-1)

    def _call_module(self, run: Callable[..., Tensor], inputs: tuple[Tensor, ...],
                     fixed: bool) -> Tensor:
        """``run(*inputs)``, replayed from a captured graph for fixed-shape windows when
        ``cuda_graphs`` is on."""
        if self._graphs is None:
            return run(*inputs)
        if self.device.type != "cuda":
            raise ShapeOptionError(f"cuda_graphs=True needs a CUDA device, but the model is on "
                                   f"{self.device}; move it back or load without cuda_graphs")
        return self._graphs.run(run, inputs) if fixed else run(*inputs)
