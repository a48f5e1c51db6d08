"""Host -> device copies of training batches, the next one issued before the current is used.

The loader pins its batches on CUDA (``pin_memory=True``); :func:`prefetch` then copies batch
``n + 1`` with ``non_blocking=True`` on a side stream before it hands batch ``n`` to the step, so
the copy overlaps the step's kernels. The step's stream waits on an event recorded after each
batch's copies, and every copied tensor is marked as used on the step's stream (its memory is
not reused before the step is done with it). On any other device the batches are moved one at a
time when handed out, as before.

The ``"index"`` entry (dataset indices, from which the step derives per-sample keys on the host)
stays on the host: the step reads it every step, and a device copy would be read back.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch import Tensor

__all__ = ["HOST_KEYS", "prefetch", "to_device"]

HOST_KEYS = frozenset({"index"})
"""Batch entries that stay on the host."""

Batch = dict[str, Any]


def to_device(batch: Batch, device: torch.device, *, non_blocking: bool = False) -> Batch:
    """``batch`` with every tensor but :data:`HOST_KEYS` on ``device``."""
    return {k: v.to(device, non_blocking=non_blocking)
            if isinstance(v, Tensor) and k not in HOST_KEYS else v
            for k, v in batch.items()}


def prefetch(batches: Iterable[Batch], device: torch.device) -> Iterator[Batch]:
    """``batches`` on ``device`` in their order; on CUDA each next batch's copy is issued (side
    stream, non-blocking) before the current one is yielded.

    Args:
        batches: dicts of host tensors (pinned for overlap on CUDA) and other values.
        device: where the step runs.
    """
    if device.type != "cuda":
        for batch in batches:
            yield to_device(batch, device, non_blocking=True)
        return
    stream = torch.cuda.Stream(device)
    pending: tuple[Batch, torch.cuda.Event] | None = None
    for batch in batches:
        with torch.cuda.stream(stream):
            moved = to_device(batch, device, non_blocking=True)
            ready = torch.cuda.Event()
            ready.record(stream)
        if pending is not None:
            yield _handed_out(*pending, device)
        pending = (moved, ready)
    if pending is not None:
        yield _handed_out(*pending, device)


def _handed_out(batch: Batch, ready: torch.cuda.Event, device: torch.device) -> Batch:
    """``batch`` made safe for the current stream: it waits for the copy, and the copied
    tensors' memory is kept until the current stream has used them."""
    current = torch.cuda.current_stream(device)
    current.wait_event(ready)
    for key, value in batch.items():
        if isinstance(value, Tensor) and key not in HOST_KEYS:
            value.record_stream(current)
    return batch
