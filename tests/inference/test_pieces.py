"""Cutting CPU synthesis into pieces (audiogan.inference.pieces): the cut covers every item and
frame once, pieces run in order on worker threads without touching the caller's thread count,
and a Vocoder with any plan gives the audio of whole calls (<= 1e-4) for every generator."""

from __future__ import annotations

import os
import threading

import pytest
import torch
from _inference_runs import tiny_generator

from audiogan import Vocoder
from audiogan.features.mel import MelSpectrogram
from audiogan.inference import pieces
from audiogan.inference.pieces import Piece, PiecePlan, cut, run_pieces

GENERATORS = ("hifigan", "melgan", "multiband_melgan", "istft", "bigvgan", "parallel_wavegan")
PLANS = (PiecePlan(piece_frames=7), PiecePlan(batch_items=1),
         PiecePlan(piece_frames=5, batch_items=2, parallel=True),
         PiecePlan(piece_frames=16, parallel=True), PiecePlan(batch_items=1, parallel=True))


def _covered(found: list[Piece], batch: int, start: int, end: int) -> list[tuple[int, int]]:
    return sorted((item, frame) for piece in found for item in range(piece.item, piece.item_end)
                  for frame in range(piece.first, piece.last))


@pytest.mark.parametrize("plan", (PiecePlan(), *PLANS))
@pytest.mark.parametrize(("batch", "start", "end", "frames"),
                         ((1, 0, 50, 50), (3, 0, 23, 23), (5, 4, 31, 40), (2, 0, 1, 1)))
def test_cut_covers_every_item_and_frame_once(plan: PiecePlan, batch: int, start: int,
                                              end: int, frames: int) -> None:
    found = cut(batch, start, end, frames, context=3, step=1000, plan=plan)
    wanted = sorted((item, frame) for item in range(batch) for frame in range(start, end))
    assert _covered(found, batch, start, end) == wanted
    for piece in found:
        assert piece.low == max(0, piece.first - 3)
        assert piece.high == min(frames, piece.last + 3)
        if plan.piece_frames:
            assert piece.last - piece.first <= plan.piece_frames
        if plan.batch_items:
            assert piece.item_end - piece.item <= plan.batch_items
    if not plan.cuts:
        assert len(found) == 1


def test_cut_keeps_the_callers_step_when_smaller() -> None:
    found = cut(1, 0, 100, 100, context=0, step=10, plan=PiecePlan(piece_frames=40))
    assert [(p.first, p.last) for p in found] == [(f, f + 10) for f in range(0, 100, 10)]


def test_plan_validation_and_text() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        PiecePlan(piece_frames=-1)
    assert str(PiecePlan()) == "whole calls"
    assert str(PiecePlan(256, 1, True)) == ("256-frame pieces, 1 item(s) per call, items on "
                                            "worker threads")
    assert not PiecePlan().cuts and PiecePlan(batch_items=1).cuts


def test_run_pieces_keeps_order_and_the_callers_threads() -> None:
    found = cut(3, 0, 40, 40, context=2, step=1000, plan=PiecePlan(6, 1))
    before = torch.get_num_threads()
    seen: dict[int, int] = {}
    together = threading.Barrier(2, timeout=30)  # breaks unless two pieces run at once

    def run(piece: Piece) -> torch.Tensor:
        seen[threading.get_ident()] = torch.get_num_threads()
        if piece.first == 0 and piece.item in (0, 1):  # items 0 and 1: one per worker
            together.wait()
        return torch.tensor([piece.item, piece.first])

    torch.set_num_threads(2)
    try:
        results = run_pieces(found, run, parallel=True)
        assert torch.get_num_threads() == 2  # the caller's setting is untouched
    finally:
        torch.set_num_threads(before)
    assert [tuple(r.tolist()) for r in results] == [(p.item, p.first) for p in found]
    assert len(seen) == 2 and set(seen.values()) == {1}  # two workers, one torch thread each
    assert threading.get_ident() not in seen


def _new_thread_count() -> int:
    """torch's thread count in a thread started now (it starts from the process default)."""
    out: list[int] = []
    thread = threading.Thread(target=lambda: out.append(torch.get_num_threads()))
    thread.start()
    thread.join()
    return out[0]


def test_run_pieces_leaves_the_process_default_thread_count() -> None:
    # the workers' set_num_threads also writes torch's process-wide default (the count a new
    # thread starts with): after the call it must be the caller's, even when the caller changed
    # its count since the workers last ran (they used to restore their own stale count)
    found = cut(4, 0, 8, 8, context=0, step=1000, plan=PiecePlan(batch_items=1))
    before = torch.get_num_threads()
    try:
        for count in (2, 3, 2):
            torch.set_num_threads(count)
            run_pieces(found, lambda piece: torch.zeros(1), parallel=True)
            assert torch.get_num_threads() == count
            assert _new_thread_count() == count
    finally:
        torch.set_num_threads(before)


def test_run_pieces_in_the_calling_thread_without_parallel_or_threads() -> None:
    found = cut(2, 0, 10, 10, context=0, step=1000, plan=PiecePlan(batch_items=1))
    callers: set[int] = set()

    def run(piece: Piece) -> torch.Tensor:
        callers.add(threading.get_ident())
        return torch.zeros(1)

    run_pieces(found, run, parallel=False)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run_pieces(found, run, parallel=True)  # one torch thread: no workers
    finally:
        torch.set_num_threads(before)
    torch.set_num_threads(2)
    try:  # the time pieces of one item: in order, in the caller's thread
        one_item = cut(1, 0, 30, 30, context=2, step=1000, plan=PiecePlan(5, 1, True))
        run_pieces(one_item, run, parallel=True)
    finally:
        torch.set_num_threads(before)
    assert callers == {threading.get_ident()}


def test_a_failing_piece_raises_after_the_others_finish() -> None:
    found = cut(4, 0, 8, 8, context=0, step=1000, plan=PiecePlan(batch_items=1))
    finished: list[int] = []

    def run(piece: Piece) -> torch.Tensor:
        if piece.item == 0:
            raise RuntimeError("piece 0 broke")
        finished.append(piece.item)
        return torch.zeros(1)

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with pytest.raises(RuntimeError, match="piece 0 broke"):
            run_pieces(found, run, parallel=True)
    finally:
        torch.set_num_threads(before)
    assert sorted(finished) == [1, 3]  # worker 1's group ran; worker 0 stopped at its error


def test_a_forked_child_gets_its_own_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    pool = pieces._executor()
    assert pieces._executor() is pool
    monkeypatch.setattr(pieces, "_EXECUTOR", pieces._EXECUTOR)  # restored afterwards
    pid = os.getpid()
    monkeypatch.setattr(pieces.os, "getpid", lambda: pid + 1)
    child = pieces._executor()
    assert child is not pool and pieces._executor() is child
    child.shutdown()


def _vocoder(name: str) -> Vocoder:
    return Vocoder(tiny_generator(name).eval(), MelSpectrogram("hifigan"))


CASES = [(name, PLANS[2]) for name in GENERATORS] + [("melgan", plan) for plan in PLANS
                                                       if plan != PLANS[2]]


@pytest.mark.parametrize(("name", "plan"), CASES)
def test_every_plan_gives_the_audio_of_whole_calls(name: str, plan: PiecePlan) -> None:
    voc = _vocoder(name)
    mel = torch.randn(3, 80, 37, generator=torch.Generator().manual_seed(1)) - 5
    lengths = [37, 20, 9]
    whole = voc(mel, check_range=False, seed=3)
    items = voc(mel, lengths, check_range=False, seed=3)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        voc._plan = plan
        cut_wave = voc(mel, check_range=False, seed=3)
        assert cut_wave.shape == whole.shape
        assert (cut_wave - whole).abs().max() <= 1e-4
        for got, want in zip(voc(mel, lengths, check_range=False, seed=3), items):
            assert got.shape == want.shape and (got - want).abs().max() <= 1e-4
        streamed = torch.cat(list(voc.stream(mel, chunk_frames=19, seed=3)), dim=-1)
        assert (streamed - whole).abs().max() <= 1e-4
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("mode", ["inference_mode", "no_grad", "enable_grad"])
def test_workers_take_the_callers_grad_and_inference_mode(mode: str) -> None:
    """A caller inside torch.inference_mode() (the usual way to call a model) used to get
    "Inplace update to inference tensor outside InferenceMode" from a parallel plan: the
    workers wrote the pieces into its inference-mode output outside that mode."""
    voc = _vocoder("melgan")
    mel = torch.randn(3, 80, 21, generator=torch.Generator().manual_seed(1)) - 5
    whole = voc(mel, check_range=False)
    context = {"inference_mode": torch.inference_mode, "no_grad": torch.no_grad,
               "enable_grad": torch.enable_grad}[mode]
    seen: list[tuple[bool, bool]] = []
    run = voc._run

    def spy(*args: object, **kwargs: object) -> torch.Tensor:
        seen.append((torch.is_inference_mode_enabled(), torch.is_grad_enabled()))
        return run(*args, **kwargs)  # type: ignore[arg-type]

    voc._run = spy  # type: ignore[method-assign]
    voc._plan = PiecePlan(piece_frames=8, batch_items=1, parallel=True)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with context():
            expected = (torch.is_inference_mode_enabled(), torch.is_grad_enabled())
            cut_wave = voc(mel, check_range=False)
    finally:
        torch.set_num_threads(before)
    assert (cut_wave - whole).abs().max() <= 1e-4
    assert len(seen) == 9 and set(seen) == {expected}


def test_a_plan_is_dropped_when_the_model_is_moved_or_cast() -> None:
    voc = _vocoder("melgan")
    voc._plan = PiecePlan(piece_frames=8)
    assert "8-frame pieces" in str(voc.path_info)
    voc.to("cpu")
    assert voc.path_info.plan == PiecePlan()
