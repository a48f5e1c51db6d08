"""Fixed-shape synthesis (issue 17): the window plan, equality with one plain call for every
architecture, the bounded set of generator input shapes, streaming untouched, the options."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from _inference_runs import tiny_config, tiny_generator
from click.testing import CliRunner

from audiogan import Vocoder
from audiogan.cli.main import cli
from audiogan.features.mel import MelSpectrogram
from audiogan.inference.export import export_model
from audiogan.inference.fixed_shapes import (
    WINDOW_CORE_FRAMES,
    ShapeOptionError,
    check_shape_options,
    plan_windows,
    window_ladder,
)
from audiogan.inference.model_dir import LoadedModel

MODELS = ("hifigan", "melgan", "multiband_melgan", "istft", "parallel_wavegan", "bigvgan")
CORE = 48  # a small full window keeps the tests fast and exercises several windows


def _vocoder(name: str, fixed: bool | None = True) -> Vocoder:
    voc = Vocoder(tiny_generator(name), MelSpectrogram("hifigan"), fixed_shapes=fixed)
    voc.window_core_frames = CORE
    return voc


def _mel(frames: int, batch: int = 1, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 80, frames, generator=gen) * 8.0 - 9.0


@contextmanager
def _shapes_seen(voc: Vocoder) -> Iterator[list[tuple[int, ...]]]:
    """The input shapes of every generator call inside the block."""
    seen: list[tuple[int, ...]] = []
    handle = voc.generator.register_forward_pre_hook(
        lambda _module, args: seen.append(tuple(args[0].shape)))
    try:
        yield seen
    finally:
        handle.remove()


# ------------------------------------------------------------------------------ the plan


def test_window_ladder() -> None:
    assert window_ladder(13) == (64, 128, 256, 512, 538)  # HiFi-GAN V1: S = 512 + 2 * 13
    assert window_ladder(0) == (32, 64, 128, 256, 512)
    assert window_ladder(18, core=48) == (84,)  # 4 * halo = 72 -> 128 >= S: S alone
    assert window_ladder(5, core=48) == (32, 58)
    assert WINDOW_CORE_FRAMES == 512
    for halo in range(0, 40):
        ladder = window_ladder(halo)
        assert ladder[0] > 2 * halo and list(ladder) == sorted(set(ladder))
    with pytest.raises(ValueError, match="halo >= 0"):
        window_ladder(-1)


@pytest.mark.parametrize("halo", [0, 3, 11])
def test_plan_tiles_the_span_with_exact_windows_of_one_size(halo: int) -> None:
    ladder = window_ladder(halo, core=40)
    rng = random.Random(halo)
    cases = [(frames, 0, frames) for frames in range(1, 200)]
    cases += [(f, s, rng.randint(s + 1, f)) for f in range(2, 200, 7)
              for s in sorted(rng.sample(range(f), min(f, 4)))]
    for frames, start, end in cases:
        plan = plan_windows(frames, start, end, halo, ladder)
        region = min(frames, end + halo) - max(0, start - halo)
        sizes = {window.size for window in plan}
        assert len(sizes) == 1
        size = sizes.pop()
        if region >= ladder[0]:
            assert size in ladder and size <= region
            assert size == max(rung for rung in ladder if rung <= region)
        else:
            assert len(plan) == 1 and size == region
        assert plan[0].keep_from == start and plan[-1].keep_to == end
        for before, after in zip(plan, plan[1:]):
            assert before.keep_to == after.keep_from
        for window in plan:
            assert 0 <= window.start and window.start + window.size <= frames
            assert window.keep_from < window.keep_to
            # kept frames are exact: halo frames from any window edge that is not the signal's
            left = 0 if window.start == 0 else halo
            right = 0 if window.start + window.size == frames else halo
            assert window.start + left <= window.keep_from
            assert window.keep_to <= window.start + window.size - right


def test_plan_first_window_at_the_start_last_ending_at_the_end() -> None:
    plan = plan_windows(862, 0, 862, 13, window_ladder(13))  # 10 s of HiFi-GAN V1
    assert [(w.start, w.size) for w in plan] == [(0, 538), (324, 538)]
    assert [(w.keep_from, w.keep_to) for w in plan] == [(0, 525), (525, 862)]
    with pytest.raises(ValueError, match="0 <= start < end"):
        plan_windows(10, 5, 5, 1, (32,))


# --------------------------------------------------------------- equality with one call


@pytest.mark.parametrize("name", MODELS)
def test_fixed_shapes_equal_one_plain_call(name: str) -> None:
    voc = _vocoder(name)
    plain = _vocoder(name, fixed=False)
    plain.max_frames = 10**6  # one generator call, whatever the length
    ladder = voc.window_ladder
    lengths = {1, 3, ladder[0] - 1, 2 * CORE + 37, 5 * CORE + 11}
    for rung in ladder:
        lengths |= {rung, rung + 1}
    for frames in sorted(lengths):
        mel = _mel(frames, batch=2, seed=frames)
        with _shapes_seen(voc) as seen:
            out = voc(mel, seed=7)
        expected = plain(mel, seed=7)
        assert out.shape == expected.shape == (2, frames * 256)
        assert (out - expected).abs().max() <= 1e-4, (name, frames)
        region_sizes = {shape[-1] for shape in seen}
        assert region_sizes <= set(ladder) or region_sizes == {frames}, (frames, region_sizes)


@pytest.mark.parametrize("name", ["hifigan", "parallel_wavegan"])
def test_fixed_shapes_with_lengths_equal_each_item_alone(name: str) -> None:
    voc = _vocoder(name)
    plain = _vocoder(name, fixed=False)
    lengths = [150, 61, 7, 149]
    mel = _mel(150, batch=4, seed=3)
    outputs = voc(mel, lengths=lengths, seed=2)
    for index, length in enumerate(lengths):
        alone = plain(mel[index, :, :length], seed=2)
        assert outputs[index].shape == (length * 256,)
        assert (outputs[index] - alone).abs().max() <= 1e-4


def test_noise_stays_keyed_by_sample_index() -> None:
    voc = _vocoder("parallel_wavegan")
    plain = _vocoder("parallel_wavegan", fixed=False)
    mel = _mel(200)
    assert (voc(mel, seed=5) - plain(mel, seed=5)).abs().max() <= 1e-4
    assert (voc(mel, seed=5) - voc(mel, seed=6)).abs().max() > 1e-3  # the seed still matters


def test_input_shapes_are_bounded_over_random_lengths() -> None:
    voc = _vocoder("hifigan")
    ladder = voc.window_ladder
    rng = random.Random(0)
    long_shapes: set[tuple[int, ...]] = set()
    all_shapes: set[tuple[int, ...]] = set()
    for _ in range(50):
        frames = rng.randint(ladder[0], 8 * ladder[-1])
        with _shapes_seen(voc) as seen:
            voc(_mel(frames, seed=frames))
        all_shapes |= set(seen)
        if frames >= ladder[-1]:
            long_shapes |= set(seen)
    assert len(all_shapes) <= len(ladder) + 1
    assert long_shapes == {(1, 80, ladder[-1])}
    # without fixed shapes every length is a new shape
    plain = _vocoder("hifigan", fixed=False)
    with _shapes_seen(plain) as seen:
        for frames in range(60, 70):
            plain(_mel(frames))
    assert len(set(seen)) == 10


def test_streaming_is_unaffected() -> None:
    voc = _vocoder("hifigan")
    mel = _mel(170)
    whole = voc(mel[0])
    with _shapes_seen(voc) as seen:
        pulled = torch.cat(list(voc.stream(mel[0], chunk_frames=64)))
    assert {shape[-1] for shape in seen} == {64 + 5, 64 + 10, 42 + 5}  # chunks + context
    streamer = voc.streamer()
    pushed = torch.cat([streamer.push(mel[0, :, i : i + 30]) for i in range(0, 170, 30)]
                       + [streamer.flush()])
    assert (pulled - whole).abs().max() <= 1e-4 and (pushed - whole).abs().max() <= 1e-4


# ----------------------------------------------------------------------------- options


def test_fixed_shapes_option_resolves_by_device() -> None:
    assert _vocoder("hifigan", fixed=None).fixed_shapes is False  # CPU: off by default
    assert _vocoder("hifigan", fixed=True).fixed_shapes is True
    voc = _vocoder("hifigan", fixed=True)
    assert voc.cuda_graphs is False and voc.graph_cache is None
    voc.set_shape_options(False)
    assert voc.fixed_shapes is False


def test_cuda_graphs_need_cuda_and_fixed_shapes() -> None:
    cuda = torch.device("cuda")
    check_shape_options(cuda, None, True)
    check_shape_options(cuda, True, True)
    check_shape_options(torch.device("cpu"), True, False)
    with pytest.raises(ShapeOptionError, match=r"^cuda_graphs=True \(--cuda-graphs\) needs a "
                       r"CUDA device, not cpu"):
        check_shape_options(torch.device("cpu"), None, True)
    with pytest.raises(ShapeOptionError, match="needs fixed shapes; drop fixed_shapes=False"):
        check_shape_options(cuda, False, True)
    with pytest.raises(ShapeOptionError, match="torch backend only"):
        check_shape_options(cuda, None, True, "onnxruntime")
    with pytest.raises(ShapeOptionError, match="cuda_graphs"):
        _vocoder("hifigan").set_shape_options(True, cuda_graphs=True)


def test_load_checks_cuda_graphs_before_reading(tmp_path: Path) -> None:
    with pytest.raises(ShapeOptionError, match="cuda_graphs"):
        Vocoder.load(tmp_path / "missing", cuda_graphs=True)  # no file error: checked first


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model directory of the tiny untrained HiFi-GAN."""
    out = tmp_path_factory.mktemp("fixed_shapes") / "model"
    export_model(LoadedModel(tiny_generator("hifigan"), tiny_config("hifigan")), out)
    return out


def test_load_and_cli_options(model_dir: Path, tmp_path: Path) -> None:
    fixed = Vocoder.load(model_dir, fixed_shapes=True)
    assert fixed.fixed_shapes and not Vocoder.load(model_dir).fixed_shapes
    fixed.window_core_frames = CORE
    mel = _mel(230, seed=1)[0]
    np.save(tmp_path / "clip.npy", mel.numpy())
    outputs = {}
    for flag in ("--fixed-shapes", "--no-fixed-shapes"):
        out = tmp_path / flag
        result = CliRunner().invoke(cli, ["synthesize", str(model_dir),
                                          str(tmp_path / "clip.npy"), "-o", str(out), flag])
        assert result.exit_code == 0, result.output
        outputs[flag], _ = sf.read(out / "clip.wav", dtype="float32")
    assert outputs["--fixed-shapes"].shape == (230 * 256,)
    # the CLI's windows use the default size (one window here); the API's smaller ones too
    assert abs(outputs["--fixed-shapes"] - outputs["--no-fixed-shapes"]).max() <= 1e-4
    assert (fixed(mel) - torch.from_numpy(outputs["--no-fixed-shapes"])).abs().max() <= 1e-4
    result = CliRunner().invoke(cli, ["synthesize", str(model_dir), str(tmp_path / "clip.npy"),
                                      "-o", str(tmp_path / "g"), "--cuda-graphs",
                                      "--device", "cpu"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1].startswith(
        "error: cuda_graphs=True (--cuda-graphs) needs a CUDA device, not cpu")
    assert not (tmp_path / "g").exists()


def test_overlapping_calls_from_two_threads_leave_cudnn_benchmark_as_it_was() -> None:
    # two threads synthesising at once (fixed shapes on CUDA turn cudnn.benchmark on for their
    # calls): each saved the flag on entry and restored it on exit, so the thread that entered
    # second and left last restored the first one's "on", leaving it on for the whole process
    import threading

    from audiogan.inference.model_dir import inference_context

    cuda = torch.device("cuda")  # only the flag is touched: no CUDA work is done
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    inside: list[bool] = []

    def first() -> None:
        with inference_context(cuda, benchmark=True):
            first_in.set()
            second_in.wait(10)
            inside.append(torch.backends.cudnn.benchmark)
        first_out.set()

    def second() -> None:
        first_in.wait(10)
        with inference_context(cuda, benchmark=True):
            second_in.set()
            first_out.wait(10)
            inside.append(torch.backends.cudnn.benchmark)

    saved = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = False
    try:
        threads = [threading.Thread(target=first), threading.Thread(target=second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)
        assert inside == [True, True]  # on for both calls while they run
        assert torch.backends.cudnn.benchmark is False  # and off again once both are done
    finally:
        torch.backends.cudnn.benchmark = saved


def test_a_cpu_call_leaves_cudnn_benchmark_alone() -> None:
    # a CPU synthesis never touches the flag: a training thread turning it on meanwhile keeps it
    from audiogan.inference.model_dir import inference_context

    saved = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = False
    try:
        with inference_context(torch.device("cpu")):
            torch.backends.cudnn.benchmark = True  # another thread's setting, mid-call
        assert torch.backends.cudnn.benchmark is True
    finally:
        torch.backends.cudnn.benchmark = saved
