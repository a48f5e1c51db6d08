"""How a CPU synthesis call is cut into generator calls: pieces of batch items and frames.

A vocoder's output sample depends only on the mel frames within ``receptive_field_frames`` of it,
so a call can be computed as several smaller generator calls — a few batch items and a window of
frames each, with that many frames of context either side that are computed and dropped — and
the result equals one call to float rounding (<= 1e-4; the tests check it for every generator).

Why cut at all: on a CPU, a whole 10-second clip (or a batch of 16) makes every activation of a
conv vocoder tens to hundreds of megabytes, far beyond the caches, and the network then runs at
memory speed. Pieces of a few hundred frames keep the activations cache-sized; with
:attr:`PiecePlan.parallel`, pieces also run side by side on worker threads, each with its share
of torch's threads, which small convolutions use better than one call spread over all threads.
Which generator gets which plan is measured, per generator, in
:mod:`audiogan.inference.cpu_policy`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

import torch

__all__ = ["Piece", "PiecePlan", "cut", "run_pieces"]

_T = TypeVar("_T")


@dataclass(frozen=True)
class PiecePlan:
    """How calls are cut (the default cuts nothing: one generator call per span).

    Attributes:
        piece_frames: frames per piece (plus context either side); 0: the whole span.
        batch_items: batch items per piece; 0: the whole batch.
        parallel: run different batch items' pieces on worker threads, as many as torch's
            threads of the calling thread (at most one per group of items), sharing those
            threads between them; the pieces of one item always run in order in one thread
            (measured: time pieces of one clip gain nothing from it, batch items do).
    """

    piece_frames: int = 0
    batch_items: int = 0
    parallel: bool = False

    def __post_init__(self) -> None:
        if self.piece_frames < 0 or self.batch_items < 0:
            raise ValueError(f"PiecePlan sizes must be >= 0, got {self}")

    @property
    def cuts(self) -> bool:
        """Whether this plan cuts anything."""
        return bool(self.piece_frames or self.batch_items)

    def __str__(self) -> str:
        parts = []
        if self.piece_frames:
            parts.append(f"{self.piece_frames}-frame pieces")
        if self.batch_items:
            parts.append(f"{self.batch_items} item(s) per call")
        if self.parallel:
            parts.append("items on worker threads")
        return ", ".join(parts) if parts else "whole calls"


class Piece(NamedTuple):
    """One generator call: batch items ``[item, item_end)``, output frames ``[first, last)``,
    computed from input frames ``[low, high)`` (``first``/``last`` plus context, clipped to the
    signal)."""

    item: int
    item_end: int
    first: int
    last: int
    low: int
    high: int


def cut(batch: int, start: int, end: int, frames: int, context: int, step: int,
        plan: PiecePlan) -> list[Piece]:
    """The pieces of output frames ``[start, end)`` of a ``batch`` x ``frames`` mel.

    Args:
        batch: batch size.
        start, end: the output frames wanted (``0 <= start < end <= frames``).
        frames: the input's frames (its edges are the signal's edges).
        context: frames of context either side (the generator's receptive field).
        step: frames per piece without a plan (the caller's chunking of long spans).
        plan: the :class:`PiecePlan`; its ``piece_frames`` replaces ``step`` when smaller.

    Returns:
        Pieces in batch-major, then time order, covering every item and frame once.
    """
    if plan.piece_frames:
        step = min(step, plan.piece_frames)
    items = plan.batch_items or batch
    pieces = []
    for item in range(0, batch, items):
        for first in range(start, end, max(1, step)):
            last = min(first + step, end)
            pieces.append(Piece(item, min(item + items, batch), first, last,
                                max(0, first - context), min(frames, last + context)))
    return pieces


_EXECUTOR: tuple[int, ThreadPoolExecutor] | None = None
_EXECUTOR_LOCK = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    """The worker pool of this process (a forked child makes its own: threads do not survive
    a fork)."""
    global _EXECUTOR
    with _EXECUTOR_LOCK:
        if _EXECUTOR is None or _EXECUTOR[0] != os.getpid():
            pool = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2),
                                      thread_name_prefix="audiogan-piece")
            _EXECUTOR = (os.getpid(), pool)
        return _EXECUTOR[1]


def run_pieces(pieces: Sequence[Piece], run: Callable[[Piece], _T], parallel: bool
               ) -> list[_T]:
    """``[run(piece) for piece in pieces]``, batch items on worker threads when ``parallel``.

    With ``parallel`` and pieces of more than one group of batch items,
    ``min(groups, torch.get_num_threads())`` workers run them, item groups dealt round-robin,
    each worker with an equal share of the calling thread's torch threads (torch's thread count
    is per thread under OpenMP: the caller's own setting is untouched; the process default that
    new threads start with is left at the caller's count) and the caller's grad and inference
    mode. An exception in a piece is raised here, after the other workers have finished.

    Args:
        pieces: what to run (as :func:`cut` orders them: batch-major, then time).
        run: computes one piece (it must not depend on which thread runs it).
        parallel: whether to use worker threads.

    Returns:
        The results, in the order of ``pieces``.
    """
    starts = sorted({piece.item for piece in pieces})
    threads = torch.get_num_threads()
    workers = min(len(starts), threads) if parallel else 1
    if workers <= 1:
        return [run(piece) for piece in pieces]
    share = max(1, threads // workers)
    rank = {start: index % workers for index, start in enumerate(starts)}
    groups: list[list[int]] = [[] for _ in range(workers)]
    for index, piece in enumerate(pieces):
        groups[rank[piece.item]].append(index)

    # grad and inference mode are per thread: the workers take the caller's (a caller inside
    # torch.inference_mode() hands them inference tensors to write into)
    inference, grad = torch.is_inference_mode_enabled(), torch.is_grad_enabled()

    def work(group: list[int]) -> list[_T]:
        torch.set_num_threads(share)
        try:
            with torch.inference_mode(inference), torch.set_grad_enabled(grad):
                return [run(pieces[index]) for index in group]
        finally:
            # set_num_threads also sets the process default (what a new thread starts with):
            # leave it at the caller's count, not at this worker's own (stale) one
            torch.set_num_threads(threads)

    futures = [_executor().submit(work, group) for group in groups]
    wait(futures)
    results: dict[int, _T] = {}
    for group, future in zip(groups, futures):
        results.update(zip(group, future.result()))  # raises a piece's exception
    return [results[index] for index in range(len(pieces))]
