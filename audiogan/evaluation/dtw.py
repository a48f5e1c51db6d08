"""Dynamic time warping inside a band: memory grows with N x band, not with N x M.

:func:`banded_dtw` pairs the frames of two feature sequences ``x`` ``(N, D)`` and ``y``
``(M, D)`` along the path of minimum total Euclidean distance, with steps (1, 1), (1, 0) and
(0, 1) from ``(0, 0)`` to ``(N - 1, M - 1)`` — the recurrence of ``librosa.sequence.dtw`` with
its default steps, ``D[i, j] = C[i, j] + min(D[i-1, j-1], D[i-1, j], D[i, j-1])``.

The band (Sakoe-Chiba, slanted): the longer sequence indexes the rows; row ``i`` may pair with
the frames ``j`` of the shorter one within ``w`` frames of the straight line from the first to
the last frame pair, ``|j - i (M' - 1) / (N' - 1)| <= w``. So the length difference is taken up by
the line itself and ``w`` is the margin for local timing differences. The default half-width
(:func:`band_half_width`) is ``w = min(max(200, ceil(0.1 * N')), 1000)`` frames: all frames of
clips up to 200 frames (one second of 5 ms frames: then the result is exactly the full DTW), at
least ±10 % of the longer sequence, at most ±1000 frames (±5 s of 5 ms frames).

Memory: one byte of back-pointer per band cell (``N' (2w + 1)`` bytes: 24 MB for a 60 s clip of
5 ms frames) plus the local distances of a block of rows; the full ``N x M`` matrix is never
built (``librosa.sequence.dtw`` builds it even with a band). Each row is one vectorised min-plus
scan: ``D[i, j] = P_j + min_{k <= j} (a_k - P_{k-1})`` with ``P`` the running sum of the row's
local distances and ``a_k = min(D[i-1, k-1], D[i-1, k])``.

Ties prefer the diagonal step, then the step along the rows, then along the columns. The
orientation is canonical (longer sequence as rows; equal lengths ordered by content), so
``banded_dtw(x, y)`` and ``banded_dtw(y, x)`` find the same pairs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Alignment", "band_half_width", "banded_dtw"]

MIN_BAND = 200
"""Smallest default half-width of the band, frames."""

BAND_FRACTION = 0.1
"""Default half-width as a share of the longer sequence."""

MAX_BAND = 1000
"""Largest default half-width, frames (bounds the memory of very long clips)."""

_BLOCK_CELLS = 1 << 20  # distances computed at once: block rows x (band + block) at most

_DIAG, _UP, _LEFT = 0, 1, 2


@dataclass(frozen=True)
class Alignment:
    """The minimum-cost path of :func:`banded_dtw`.

    Attributes:
        path: ``(L, 2)`` int64 pairs ``(i, j)`` (frame of ``x``, frame of ``y``), from
            ``(0, 0)`` to ``(N - 1, M - 1)``, each index non-decreasing.
        costs: ``(L,)`` float64 Euclidean distance of each pair.
        band: The half-width ``w`` used, in frames of the shorter sequence.
    """

    path: np.ndarray
    costs: np.ndarray
    band: int

    @property
    def mean_cost(self) -> float:
        """Mean distance along the path."""
        return float(np.mean(self.costs))

    @property
    def total_cost(self) -> float:
        """Sum of the distances along the path (what the path minimises)."""
        return float(np.sum(self.costs))


def band_half_width(longer: int) -> int:
    """Default band half-width ``w`` for a longer sequence of ``longer`` frames.

    ``min(max(MIN_BAND, ceil(BAND_FRACTION * longer)), MAX_BAND)``.
    """
    return min(max(MIN_BAND, math.ceil(BAND_FRACTION * longer)), MAX_BAND)


def banded_dtw(x: np.ndarray, y: np.ndarray, *, band: int | None = None) -> Alignment:
    """Align ``x`` ``(N, D)`` and ``y`` ``(M, D)`` by DTW within a band (see the module doc).

    Args:
        x: ``(N, D)`` frames, N >= 1.
        y: ``(M, D)`` frames, M >= 1, same D.
        band: Half-width ``w`` in frames (>= 1); None: :func:`band_half_width`. It is raised
            to the slope of the band's line when smaller, so that a path always exists.

    Returns:
        The :class:`Alignment`; equal to the unconstrained DTW whenever that path lies
        inside the band (always when ``w`` reaches every frame).

    Raises:
        ValueError: Empty or mismatched inputs, or ``band < 1`` (a programming error: callers
            check their frames first).
    """
    a = np.asarray(x, dtype=np.float64)
    b = np.asarray(y, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or not len(a) or not len(b):
        raise ValueError(f"DTW needs (N, D) and (M, D) frames, got {a.shape} and {b.shape}")
    if band is not None and band < 1:
        raise ValueError(f"band must be >= 1 frame, got {band}")
    swap = len(a) < len(b) or (len(a) == len(b) and _content_key(a) < _content_key(b))
    rows, cols = (b, a) if swap else (a, b)
    n, m = len(rows), len(cols)
    w = band_half_width(n) if band is None else int(band)
    w = max(w, 1, -(-(m - 1) // max(n - 1, 1)))
    lo, hi = _band_limits(n, m, w)
    back = _forward(rows, cols, lo, hi, 2 * w + 1)
    path = _backtrack(back, lo, m)
    costs = np.sqrt(np.sum((rows[path[:, 0]] - cols[path[:, 1]]) ** 2, axis=1))
    if swap:
        path = path[:, ::-1].copy()
    return Alignment(path=path, costs=costs, band=w)


def _content_key(frames: np.ndarray) -> tuple[float, bytes]:
    """An order between equal-length inputs: the orientation ignores the argument order."""
    return float(np.sum(frames)), frames.tobytes()[:64]


def _band_limits(n: int, m: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """First and last column of each row: ``|j - i (m-1)/(n-1)| <= w``, exact integer maths."""
    i = np.arange(n, dtype=np.int64)
    den = max(n - 1, 1)
    num = i * (m - 1)
    lo = np.maximum(0, -((w * den - num) // den))  # ceil((num - w den) / den)
    hi = np.minimum(m - 1, (num + w * den) // den)
    return lo, hi


def _forward(
    rows: np.ndarray, cols: np.ndarray, lo: np.ndarray, hi: np.ndarray, width: int
) -> np.ndarray:
    """Accumulate the costs row by row; returns ``(n, width)`` int8 back-pointers."""
    n = len(rows)
    back = np.zeros((n, width), dtype=np.int8)
    block = max(1, _BLOCK_CELLS // (2 * width))
    offsets = np.arange(width)
    row_norms = np.sum(rows**2, axis=1)
    col_norms = np.sum(cols**2, axis=1)
    prev: np.ndarray = np.zeros(0)
    prev_lo = 0
    for start in range(0, n, block):
        stop = min(n, start + block)
        local = _block_distances(rows, cols, row_norms, col_norms, lo, hi, start, stop, offsets)
        for i in range(start, stop):
            first, count = int(lo[i]), int(hi[i] - lo[i] + 1)
            cost = local[i - start, :count]
            if i == 0:
                entry = np.full(count, np.inf)
                entry[0] = 0.0
                step = np.full(count, _DIAG, dtype=np.int8)
            else:
                entry, step = _entries(prev, prev_lo, first, count)
            total = np.cumsum(cost)
            before = entry - (total - cost)
            best = np.minimum.accumulate(before)
            row = total + best
            left = np.zeros(count, dtype=bool)
            left[1:] = best[:-1] < before[1:]
            step[left] = _LEFT
            back[i, :count] = step
            prev, prev_lo = row, first
    return back


def _block_distances(
    rows: np.ndarray,
    cols: np.ndarray,
    row_norms: np.ndarray,
    col_norms: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    start: int,
    stop: int,
    offsets: np.ndarray,
) -> np.ndarray:
    """``(stop - start, width)`` distances of the band cells of rows ``start..stop-1``.

    ``|a - b|^2 = |a|^2 + |b|^2 - 2 a.b`` over the block's column span (one matrix product),
    then the band cells are gathered. The rounding of this form (about 1e-16 of the squared
    norms) only steers the path; :func:`banded_dtw` recomputes the distances along it exactly.
    """
    first, last = int(lo[start]), int(hi[stop - 1])
    span = cols[first : last + 1]
    squared = row_norms[start:stop, None] + col_norms[None, first : last + 1]
    squared -= 2.0 * (rows[start:stop] @ span.T)
    index = np.minimum(lo[start:stop, None] + offsets[None, :], last) - first
    picked = np.take_along_axis(squared, index, axis=1)
    return np.sqrt(np.maximum(picked, 0.0))


def _entries(
    prev: np.ndarray, prev_lo: int, first: int, count: int
) -> tuple[np.ndarray, np.ndarray]:
    """``min(D[i-1, j-1], D[i-1, j])`` for the row's columns and which of the two it was."""
    j = np.arange(first, first + count)
    up = _take(prev, j - prev_lo)
    diag = _take(prev, j - 1 - prev_lo)
    use_diag = diag <= up
    entry = np.where(use_diag, diag, up)
    step = np.where(use_diag, _DIAG, _UP).astype(np.int8)
    return entry, step


def _take(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``values[index]`` with infinity outside the array."""
    inside = (index >= 0) & (index < len(values))
    out = np.full(index.shape, np.inf)
    out[inside] = values[index[inside]]
    return out


def _backtrack(back: np.ndarray, lo: np.ndarray, m: int) -> np.ndarray:
    """The path from ``(n - 1, m - 1)`` back to ``(0, 0)``, returned in forward order."""
    i, j = len(back) - 1, m - 1
    pairs = [(i, j)]
    while i > 0 or j > 0:
        step = back[i, j - lo[i]]
        if step == _DIAG:
            i, j = i - 1, j - 1
        elif step == _UP:
            i -= 1
        else:
            j -= 1
        pairs.append((i, j))
    return np.array(pairs[::-1], dtype=np.int64)
