"""CUDA graphs for fixed-shape synthesis: :class:`GraphCache` captures one
``torch.cuda.CUDAGraph`` per input signature (shapes, dtypes, device: a window size and a batch
size) and replays it for every window of that signature.

Capture follows torch's recipe (``torch.cuda.graphs``): static input buffers, a few warm-up
calls on a side stream (which also lets ``cudnn.benchmark`` pick its algorithms), then the
capture on that same stream into a static output; a replay copies the inputs into the static
buffers, replays and returns a clone of the static output (the next replay overwrites it). The
cache is a bounded LRU (:data:`DEFAULT_CAPACITY` graphs; each holds its own memory pool). A
signature whose capture fails (an op that synchronises with the host cannot be captured) is
logged once and runs eagerly from then on: the output is the same, only slower. A graph's
static buffers are shared by every caller, so the cache captures and replays one call at a time
(a model used from several threads gets each caller's own output).

Used by :class:`~audiogan.inference.fixed_shapes.FixedShapes` (``cuda_graphs=True``); the
keying and bounds work on any device (a ``capture`` function can be given), the default
capture needs CUDA.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import NamedTuple

import torch
from torch import Tensor

__all__ = ["DEFAULT_CAPACITY", "GraphCache", "Replay", "capture_graph", "signature"]

log = logging.getLogger(__name__)

#: Graphs kept at most (the ladder of a typical vocoder has 5-6 window sizes).
DEFAULT_CAPACITY = 8
#: Warm-up calls on the side stream before a capture.
WARMUP_CALLS = 3

Replay = Callable[[tuple[Tensor, ...]], Tensor]
"""A captured call: the inputs (same signature as at capture) -> a fresh output tensor."""


class _Key(NamedTuple):
    shapes: tuple[tuple[int, ...], ...]
    dtypes: tuple[torch.dtype, ...]
    device: str


def signature(inputs: tuple[Tensor, ...]) -> Hashable:
    """The cache key of a call: the inputs' shapes, dtypes and device."""
    return _Key(tuple(tuple(x.shape) for x in inputs), tuple(x.dtype for x in inputs),
                str(inputs[0].device) if inputs else "")


def capture_graph(run: Callable[..., Tensor], inputs: tuple[Tensor, ...]) -> Replay:
    """Capture ``run(*inputs)`` in a CUDA graph -> a replay function.

    Args:
        run: the module call (its parameters must stay where they are: a move or a cast needs
            a new capture).
        inputs: example inputs on one CUDA device; later calls must match their shapes and
            dtypes.

    Raises:
        RuntimeError: the call cannot be captured (e.g. it synchronises with the host).
    """
    static = tuple(x.detach().clone().contiguous() for x in inputs)
    side = torch.cuda.Stream(device=static[0].device)
    side.wait_stream(torch.cuda.current_stream(static[0].device))
    with torch.cuda.stream(side):
        for _ in range(WARMUP_CALLS):
            run(*static)
    torch.cuda.current_stream(static[0].device).wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph, stream=side):  # the warm-up's stream (its library handles)
        output = run(*static)

    def replay(new: tuple[Tensor, ...]) -> Tensor:
        for buffer, value in zip(static, new):
            buffer.copy_(value)
        graph.replay()
        return output.clone()

    replay.graph = graph  # type: ignore[attr-defined]  # keeps the graph (and its pool) alive
    return replay


class GraphCache:
    """A bounded LRU of captured calls, keyed by :func:`signature`.

    Args:
        capacity: graphs kept at most (>= 1); the least recently used is dropped first.
        capture: ``(run, inputs) -> replay``; default :func:`capture_graph` (CUDA).

    Attributes:
        captures: captures made so far; ``replays``: calls served by a captured graph;
        ``failures``: signature -> why its capture failed (those calls run eagerly).
    """

    def __init__(self, capacity: int = DEFAULT_CAPACITY,
                 capture: Callable[[Callable[..., Tensor], tuple[Tensor, ...]], Replay]
                 = capture_graph) -> None:
        if int(capacity) < 1:
            raise ValueError(f"GraphCache capacity must be >= 1, got {capacity}")
        self.capacity = int(capacity)
        self._capture = capture
        self._graphs: OrderedDict[Hashable, Replay] = OrderedDict()
        self.failures: dict[Hashable, str] = {}
        self.captures = 0
        self.replays = 0
        self._lock = threading.Lock()  # one capture or replay at a time (shared buffers)

    def __len__(self) -> int:
        return len(self._graphs)

    def keys(self) -> list[Hashable]:
        """The signatures held, least recently used first."""
        return list(self._graphs)

    def clear(self) -> None:
        """Drop every graph (needed after the module's parameters move or change dtype)."""
        with self._lock:
            self._graphs.clear()
            self.failures.clear()

    def run(self, run: Callable[..., Tensor], inputs: tuple[Tensor, ...]) -> Tensor:
        """``run(*inputs)``, from the graph of this signature (captured on first use); one
        capture or replay at a time across threads."""
        key = signature(inputs)
        with self._lock:
            if key not in self.failures:
                return self._replay(key, run, inputs)
        return run(*inputs)

    def _replay(self, key: Hashable, run: Callable[..., Tensor], inputs: tuple[Tensor, ...]
                ) -> Tensor:
        """The graph of ``key`` (captured now if new) replayed on ``inputs`` (lock held)."""
        replay = self._graphs.get(key)
        if replay is None:
            try:
                replay = self._capture(run, inputs)
            except RuntimeError as exc:
                reason = " ".join(str(exc).split())[:200]
                log.warning("CUDA graph capture failed for %s, running it eagerly: %s", key,
                            reason)
                self.failures[key] = reason
                return run(*inputs)
            self.captures += 1
            self._graphs[key] = replay
            while len(self._graphs) > self.capacity:
                self._graphs.popitem(last=False)
        else:
            self._graphs.move_to_end(key)
        self.replays += 1
        return replay(inputs)
