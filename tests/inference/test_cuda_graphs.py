"""CUDA graphs for fixed-shape synthesis (issue 17): the cache's keying, bounds and fallback on
any device (with a recording capture function), and on CUDA the replayed graphs against eager
synthesis (marked gpu: skipped without CUDA)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from _inference_runs import tiny_generator
from torch import Tensor

from audiogan import Vocoder
from audiogan.features.mel import MelSpectrogram
from audiogan.inference.cuda_graphs import GraphCache, Replay, signature
from audiogan.inference.fixed_shapes import ShapeOptionError


class _Recorder:
    """A capture function that records what it captured and replays eagerly."""

    def __init__(self, fail_on: tuple[int, ...] = ()) -> None:
        self.captured: list[tuple[tuple[int, ...], ...]] = []
        self.fail_on = fail_on

    def __call__(self, run: Callable[..., Tensor], inputs: tuple[Tensor, ...]) -> Replay:
        shapes = tuple(tuple(x.shape) for x in inputs)
        if inputs[0].shape[-1] in self.fail_on:
            raise RuntimeError("operation not permitted when stream is capturing")
        self.captured.append(shapes)
        return lambda new: run(*new) + 1000.0  # marks replayed outputs


def _double(x: Tensor, noise: Tensor | None = None) -> Tensor:
    return 2 * x if noise is None else 2 * x + noise


def test_signature_keys_shapes_dtypes_and_device() -> None:
    a = torch.zeros(1, 80, 64)
    assert signature((a,)) == signature((torch.ones(1, 80, 64),))
    assert signature((a,)) != signature((torch.zeros(2, 80, 64),))  # batch size
    assert signature((a,)) != signature((torch.zeros(1, 80, 128),))  # window size
    assert signature((a,)) != signature((a.double(),))
    assert signature((a,)) != signature((a, torch.zeros(1, 64, 64 * 256)))  # with noise


def test_cache_captures_once_per_signature_and_replays() -> None:
    recorder = _Recorder()
    cache = GraphCache(capacity=3, capture=recorder)
    x = torch.ones(1, 2, 8)
    first = cache.run(_double, (x,))
    second = cache.run(_double, (3 * x,))
    assert torch.equal(first, 2 * x + 1000) and torch.equal(second, 6 * x + 1000)
    assert recorder.captured == [((1, 2, 8),)] and cache.captures == 1 and cache.replays == 2
    noise = torch.full((1, 2, 8), 0.5)
    assert torch.equal(cache.run(_double, (x, noise)), 2 * x + noise + 1000)
    assert len(cache) == 2 and cache.captures == 2


def test_cache_is_a_bounded_lru() -> None:
    recorder = _Recorder()
    cache = GraphCache(capacity=2, capture=recorder)
    for size in (8, 16, 8, 32):  # 8 used again before 32 arrives: 16 is dropped
        cache.run(_double, (torch.ones(1, 1, size),))
    assert [key.shapes for key in cache.keys()] == [((1, 1, 8),), ((1, 1, 32),)]  # type: ignore[attr-defined]
    cache.run(_double, (torch.ones(1, 1, 16),))
    assert len(cache) == 2 and cache.captures == 4  # 16 captured again
    cache.clear()
    assert len(cache) == 0
    with pytest.raises(ValueError, match="capacity must be >= 1"):
        GraphCache(capacity=0)


def test_failed_capture_runs_eagerly_from_then_on(caplog: pytest.LogCaptureFixture) -> None:
    recorder = _Recorder(fail_on=(16,))
    cache = GraphCache(capture=recorder)
    x = torch.ones(1, 1, 16)
    assert torch.equal(cache.run(_double, (x,)), 2 * x)  # eager, same output
    assert torch.equal(cache.run(_double, (x,)), 2 * x)
    assert len(cache.failures) == 1 and cache.captures == 0 and len(cache) == 0
    assert "stream is capturing" in next(iter(cache.failures.values()))
    assert "CUDA graph capture failed" in caplog.text


def test_a_graphed_vocoder_moved_off_cuda_says_so() -> None:
    voc = Vocoder(tiny_generator("hifigan"), MelSpectrogram("hifigan"), fixed_shapes=True)
    voc._graphs = GraphCache(capture=_Recorder())  # as if loaded on CUDA, then moved
    with pytest.raises(ShapeOptionError, match="cuda_graphs=True needs a CUDA device, but the "
                       "model is on cpu"):
        voc(torch.full((80, 40), -5.0))


# ------------------------------------------------------------------------------ on CUDA


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["hifigan", "parallel_wavegan", "istft", "bigvgan"])
def test_cuda_graphs_equal_eager_synthesis(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # fp32 arithmetic on both sides (TF32 convolutions would round differently per algorithm)
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    device = torch.device("cuda")
    graphed = Vocoder(tiny_generator(name), MelSpectrogram("hifigan"), cuda_graphs=False)
    graphed.to(device)
    graphed.set_shape_options(None, cuda_graphs=True)  # fixed shapes: on by default on CUDA
    graphed.window_core_frames = 64
    eager = Vocoder(tiny_generator(name), MelSpectrogram("hifigan"), fixed_shapes=False)
    eager.to(device)
    cache = graphed.graph_cache
    assert cache is not None and graphed.fixed_shapes and graphed.cuda_graphs
    gen = torch.Generator().manual_seed(0)
    for frames in (7, 40, 97, 300, 97, 1000):
        for batch in (1, 3):
            mel = (torch.rand(batch, 80, frames, generator=gen) * 8 - 9).to(device)
            out = graphed(mel, seed=1)
            expected = eager(mel, seed=1)
            assert out.shape == expected.shape == (batch, frames * 256)
            assert (out - expected).abs().max().item() <= 1e-4, (name, frames, batch)
    assert len(cache) <= cache.capacity
    if name != "istft":  # torch.istft may synchronise (its window check): eager fallback
        assert cache.captures >= 2 and cache.replays > cache.captures and not cache.failures
    graphed.to("cpu")
    with pytest.raises(ShapeOptionError, match="cuda_graphs"):
        graphed(torch.full((80, 40), -5.0))


def _static_capture(run: Callable[..., Tensor], inputs: tuple[Tensor, ...]) -> Replay:
    """A capture with a real graph's state: one static input buffer and one static output per
    graph, filled by each replay (a pause between the copy and the replay widens the race)."""
    import time

    static_in = inputs[0].clone()
    static_out = run(static_in)

    def replay(new: tuple[Tensor, ...]) -> Tensor:
        static_in.copy_(new[0])
        time.sleep(0.02)
        static_out.copy_(run(static_in))
        return static_out.clone()

    return replay


def test_one_cache_used_from_several_threads_gives_each_caller_its_own_output() -> None:
    # a Vocoder called from several threads shares its graphs, and a graph has one set of
    # static buffers: two replays at once overwrote each other's inputs (wrong audio)
    from concurrent.futures import ThreadPoolExecutor

    cache = GraphCache(capture=_static_capture)
    cache.run(_double, (torch.zeros(1, 2, 8),))  # captured before the threads start
    values = [float(v) for v in range(1, 9)]

    def call(value: float) -> Tensor:
        return cache.run(_double, (torch.full((1, 2, 8), value),))

    with ThreadPoolExecutor(max_workers=4) as pool:
        outputs = list(pool.map(call, values))
    for value, output in zip(values, outputs):
        assert torch.equal(output, torch.full((1, 2, 8), 2 * value))
    assert cache.captures == 1 and cache.replays == 1 + len(values)
