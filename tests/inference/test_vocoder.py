"""Vocoder / WaveGenerator: loading (EMA, best.pt), round trip, validation, streaming, seeds."""

from __future__ import annotations

import math
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from _inference_runs import Run, tiny_generator, vocoder_run, wavegan_run

from audiogan import Vocoder, WaveGenerator
from audiogan.features.mel import MelSpectrogram
from audiogan.inference.export import export_model
from audiogan.inference.model_dir import load_model
from audiogan.inference.vocoder import FeatureRangeWarning, MelInputError, Streamer
from audiogan.training import checkpoint as ckpt

MODELS = ("hifigan", "melgan", "multiband_melgan", "istft", "bigvgan", "parallel_wavegan")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return vocoder_run(tmp_path_factory)


@pytest.fixture(scope="module")
def voc(run: Run) -> Vocoder:
    return Vocoder.load(run.run_dir)


def test_settings_come_from_the_feature_spec(voc: Vocoder, run: Run) -> None:
    spec = voc.spec
    assert spec == run.trainer.config.feature_spec() == run.trainer.features.spec
    assert (voc.profile, voc.sample_rate, voc.hop_length, voc.n_mels, voc.n_fft,
            voc.win_length) == (spec.profile, spec.sample_rate, spec.hop_length, spec.n_mels,
                                spec.n_fft, spec.win_length)
    frames = voc.features(torch.zeros(4096)).shape[-1]
    assert voc.frames_for(4096) == spec.frames_for(4096) == frames


@pytest.fixture(scope="module")
def speech_mel(voc: Vocoder, run: Run) -> torch.Tensor:
    """(80, frames) real features of a training clip."""
    return voc.features(run.wave)


def _untrained(name: str, profile: str = "hifigan") -> Vocoder:
    return Vocoder(tiny_generator(name), MelSpectrogram(profile))


def _mel_like(voc: Vocoder, frames: int, seed: int = 0, batch: int | None = None) -> torch.Tensor:
    """Random values inside the profile's range (no range warning)."""
    gen = torch.Generator().manual_seed(seed)
    shape = (voc.n_mels, frames) if batch is None else (batch, voc.n_mels, frames)
    low = voc.spec.log_min
    return (low + (1.0 - low) * torch.rand(shape, generator=gen)).float()


# --------------------------------------------------------------------------- loading


def test_round_trip_equals_training_time_generator(run: Run, voc: Vocoder, tmp_path: Path):
    # EMA weights are preferred: output equals the trainer's eval (EMA) generator exactly.
    trainer = run.trainer
    mel = trainer.features(run.wave[None])[..., : run.wave.shape[-1] // voc.hop_length]
    with torch.no_grad():
        expected = trainer.eval_generator()(mel)[0, 0]
        raw = trainer.generator(mel)[0, 0]
    assert voc.ema and voc.step == 2
    assert (voc(mel[0]) - expected).abs().max() <= 1e-5
    assert (raw - expected).abs().max() > 1e-4  # EMA really differs from the raw weights
    # wrapping a deep copy of the live (weight-normed) generator folds the copy only
    wrapped = Vocoder(trainer.eval_generator(), trainer.features)
    assert (wrapped(mel[0]) - expected).abs().max() <= 1e-5
    with torch.no_grad():
        assert torch.equal(trainer.generator(mel)[0, 0], raw)
    # exported model dir -> same output
    export_model(run.run_dir, tmp_path / "model")
    again = Vocoder.load(tmp_path / "model")
    assert again.ema and again.step == 2
    assert (again(mel[0]) - expected).abs().max() <= 1e-5
    assert (again.sample_rate, again.hop_length, again.n_mels, again.profile) == (
        22050, 256, 80, "hifigan")


def test_run_dir_prefers_best_then_latest(run: Run, tmp_path: Path, caplog) -> None:
    copy = tmp_path / "run"
    shutil.copytree(run.run_dir, copy)
    best = copy / "checkpoints" / "best.pt"
    state = ckpt.load_checkpoint(best)
    state["step"] = 999
    ckpt.save_checkpoint(state, best)
    assert load_model(copy).step == 999
    best.write_bytes(b"not a checkpoint")  # broken best.pt: newest step checkpoint instead
    assert load_model(copy).step == 2 and "newest step checkpoint" in caplog.text
    best.unlink()
    (copy / "checkpoints" / "step_00000002.pt").write_bytes(b"truncated")
    assert load_model(copy).step == 1
    assert load_model(copy / "checkpoints" / "step_00000001.pt").step == 1


def test_ema_preferred_and_raw_weights_without_it(run: Run, tmp_path: Path) -> None:
    state = ckpt.load_checkpoint(run.run_dir / "checkpoints" / "step_00000002.pt")
    del state["generator_ema"]
    ckpt.save_checkpoint(state, tmp_path / "raw.pt")
    raw = Vocoder.load(tmp_path / "raw.pt")
    assert not raw.ema
    mel = run.trainer.features(run.wave[None])
    with torch.no_grad():
        expected = run.trainer.generator(mel)[0, 0]
    assert (raw(mel[0]) - expected).abs().max() <= 1e-5


def test_load_errors_are_clear(run: Run, tmp_path: Path) -> None:
    with pytest.raises(ckpt.CheckpointError, match="no such checkpoint"):
        Vocoder.load(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ckpt.CheckpointError, match="no model here"):
        Vocoder.load(tmp_path / "empty")
    with pytest.raises(ValueError, match="WaveGenerator"):
        Vocoder.load(_export_untrained_wavegan(tmp_path))
    with pytest.raises(ValueError, match="Vocoder.load"):
        WaveGenerator.load(run.run_dir)


def _export_untrained_wavegan(tmp_path: Path) -> Path:
    from audiogan.config import config_from_dict
    from audiogan.config.build import generator_from_config
    from audiogan.inference.model_dir import LoadedModel

    config = config_from_dict({
        "sample_rate": 16000, "features": {"f_max": None}, "training": {"segment_length": 16384},
        "generator": {"name": "wavegan", "params": {"model_size": 2}},
        "discriminator": {"name": "wavegan", "params": {"model_size": 2}},
        "loss": {"adversarial": "wgan_gp", "weights": {"adversarial": 1.0}},
    })
    loaded = LoadedModel(generator_from_config(config).eval(), config)
    return export_model(loaded, tmp_path / "wavegan_model").out_dir


# --------------------------------------------------------------------------- calling


def test_shapes_numpy_batch_and_device(voc: Vocoder, speech_mel: torch.Tensor) -> None:
    one = voc(speech_mel)
    assert one.shape == (speech_mel.shape[-1] * 256,) and one.dtype == torch.float32
    from_numpy = voc(speech_mel.numpy())
    assert torch.equal(one, from_numpy)
    batch = voc(torch.stack([speech_mel, speech_mel]))
    assert batch.shape == (2, one.shape[0])
    assert (batch[1] - one).abs().max() <= 1e-5
    assert voc.device.type == "cpu" and voc.dtype == torch.float32


def test_padded_batch_with_lengths_equals_items_alone(voc: Vocoder) -> None:
    long, short = _mel_like(voc, 40, seed=1), _mel_like(voc, 23, seed=2)
    padded = torch.full((2, 80, 40), voc.spec.log_min)
    padded[0], padded[1, :, :23] = long, short[:, :23]
    outs = voc(padded, lengths=torch.tensor([40, 23]))
    assert [o.shape[0] for o in outs] == [40 * 256, 23 * 256]
    assert (outs[0] - voc(long)).abs().max() <= 1e-4
    assert (outs[1] - voc(short)).abs().max() <= 1e-4
    with pytest.raises(MelInputError, match="lengths"):
        voc(padded, lengths=[40])
    with pytest.raises(MelInputError, match=r"lengths must lie in \[1, 40\]"):
        voc(padded, lengths=[41, 3])


@pytest.mark.parametrize(
    ("mel", "message"),
    [
        (np.zeros((100, 20), np.float32) - 5, "100 channels but this model expects n_mels=80"),
        (np.zeros((20, 80), np.float32) - 5, "swapped; transpose it"),
        (np.zeros((2, 20, 80), np.float32) - 5, "swapped; transpose it"),
        (np.zeros((80, 0), np.float32), "empty"),
        (np.zeros((0, 80, 5), np.float32), "empty"),
        (np.zeros((80,), np.float32), r"\(n_mels, frames\) or \(B, n_mels, frames\)"),
        (np.zeros((1, 1, 80, 5), np.float32), r"\(n_mels, frames\) or \(B, n_mels, frames\)"),
        (np.zeros((80, 5), np.int64), "floating point"),
        ([[0.0] * 5] * 80, "numpy array or a torch tensor"),
    ],
)
def test_input_validation_errors(voc: Vocoder, mel, message: str) -> None:
    with pytest.raises(MelInputError, match=message):
        voc(mel)


def test_non_finite_input_is_an_error(voc: Vocoder) -> None:
    mel = _mel_like(voc, 10)
    mel[3, 4], mel[0, 0] = float("nan"), float("inf")
    with pytest.raises(MelInputError, match="2 non-finite"):
        voc(mel)
    with pytest.raises(MelInputError, match="non-finite"):
        voc.features(torch.tensor([0.0, float("nan")] * 600))


def test_range_warnings_for_the_wrong_log_base(voc: Vocoder, run: Run) -> None:
    silence = torch.zeros(4000)
    speech_mel = voc.features(torch.cat([silence, run.wave * 2, silence, run.wave * 2]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        voc(speech_mel)  # features of the model's profile: no warning
    with pytest.warns(FeatureRangeWarning, match="log10 mels given to a natural-log model"):
        voc(speech_mel / math.log(10))
    with pytest.warns(FeatureRangeWarning, match="linear magnitudes"):
        voc(speech_mel.exp())
    log10_model = _untrained("hifigan", profile="melgan")
    with pytest.warns(FeatureRangeWarning, match="natural-log mels given to a log10 model"):
        log10_model(speech_mel)


def test_features_and_resynthesis(voc: Vocoder, run: Run) -> None:
    reference = MelSpectrogram("hifigan")(run.wave)
    assert torch.equal(voc.features(run.wave), reference)
    assert voc.features(run.wave[None, None]).shape == (1, 80, reference.shape[-1])
    out = voc.resynthesize(run.wave)
    assert out.shape == (run.wave.shape[0] // 256 * 256,)
    assert (out - voc(reference)).abs().max() == 0
    # 16 kHz input is resampled to the model's 22.05 kHz first
    from audiogan.audio.io import resample

    low = resample(run.wave[None], 22050, 16000)[0]
    out16 = voc.resynthesize(low.numpy(), sample_rate=16000)
    assert abs(out16.shape[0] - run.wave.shape[0]) <= 256


def test_module_is_differentiable_and_dtype_casts(voc: Vocoder, speech_mel: torch.Tensor):
    mel = speech_mel[None, :, :20].clone().requires_grad_(True)
    voc.module(mel).square().mean().backward()
    assert mel.grad is not None and mel.grad.abs().sum() > 0
    assert all(p.grad is not None for p in voc.module.parameters())
    voc.module.zero_grad(set_to_none=True)
    half = Vocoder.load(Path(voc.source), dtype="bfloat16")
    assert half.dtype == torch.bfloat16 and half.module.mean.dtype == torch.float32
    assert half._features.mel_basis.dtype == torch.float64  # features untouched
    out = half(speech_mel)
    assert out.dtype == torch.float32
    assert (out - voc(speech_mel)).abs().max() < 0.05
    assert half.to(torch.float32).dtype == torch.float32


def test_pwg_statistics_are_applied_inside() -> None:
    mean, scale = torch.linspace(-6, -3, 80), torch.linspace(0.5, 2.0, 80)
    generator = tiny_generator("hifigan")
    voc = Vocoder(generator, MelSpectrogram("pwg", mean=mean, scale=scale))
    raw = _mel_like(voc, 30, seed=3)
    with torch.no_grad():
        expected = generator(((raw - mean[:, None]) / scale[:, None])[None])[0, 0]
    assert (voc(raw) - expected).abs().max() <= 1e-6
    wave = torch.randn(8000) * 0.1
    assert torch.allclose(voc.features(wave), MelSpectrogram("pwg")(wave))  # raw features


# --------------------------------------------------------------------------- streaming


@pytest.mark.parametrize("name", MODELS)
def test_stream_and_streamer_equal_one_shot(name: str) -> None:
    voc = _untrained(name)
    mel = _mel_like(voc, 100, seed=4)
    whole = voc(mel)
    pulled = list(voc.stream(mel, chunk_frames=16))
    assert [p.shape[0] for p in pulled[:-1]] == [16 * 256] * (len(pulled) - 1)
    assert (torch.cat(pulled) - whole).abs().max() <= 1e-4
    streamer = voc.streamer()
    parts = [streamer.push(mel[:, i : i + 11]) for i in range(0, 100, 11)]
    parts.append(streamer.flush())
    assert sum(p.shape[0] for p in parts[:-1]) > 0  # samples come out before the end
    assert (torch.cat(parts) - whole).abs().max() <= 1e-4
    # long input: automatic chunking gives the same result
    voc.max_frames, voc.chunk_frames = 40, 30
    assert (voc(mel) - whole).abs().max() <= 1e-4


def test_streamer_edge_cases(voc: Vocoder) -> None:
    mel = _mel_like(voc, 30, seed=5, batch=2)
    whole = voc(mel)
    streamer: Streamer = voc.streamer()
    parts = [streamer.push(mel[..., i : i + 1]) for i in range(30)]  # one frame at a time
    parts.append(streamer.push(mel[..., :0]))  # an empty push is fine
    parts.append(streamer.flush())
    assert all(p.shape[0] == 2 for p in parts)
    assert (torch.cat(parts, dim=-1) - whole).abs().max() <= 1e-4
    assert streamer.frames_received == 0 and streamer.flush().numel() == 0  # reset
    streamer.push(mel[0, :, :3])
    with pytest.raises(MelInputError, match="does not continue"):
        streamer.push(mel[..., 3:5])


def test_long_input_runs_in_bounded_chunks(run: Run) -> None:
    voc = Vocoder.load(run.run_dir)
    voc.max_frames, voc.chunk_frames = 300, 128  # the defaults are 2048 and 1024
    frames = 3 * voc.max_frames + 17
    seen: list[int] = []
    hook = voc.generator.register_forward_pre_hook(lambda _, args: seen.append(args[0].shape[-1]))
    try:
        mel = _mel_like(voc, frames, seed=6)
        out = voc(mel)
    finally:
        hook.remove()
    assert out.shape == (frames * 256,)
    assert len(seen) > 1 and max(seen) <= voc.chunk_frames + 2 * voc.receptive_field_frames
    voc.max_frames = frames  # one piece
    assert (out - voc(mel)).abs().max() <= 1e-4


@pytest.mark.slow
def test_ten_minute_mel() -> None:
    voc = _untrained("istft")  # the cheapest generator; chunking does not depend on it
    frames = 10 * 60 * 22050 // 256
    mel = _mel_like(voc, frames, seed=7)
    seen: list[int] = []
    hook = voc.generator.register_forward_pre_hook(lambda _, args: seen.append(args[0].shape[-1]))
    try:
        out = voc(mel)
    finally:
        hook.remove()
    assert out.shape == (frames * 256,) and torch.isfinite(out).all()
    assert max(seen) <= voc.chunk_frames + 2 * voc.receptive_field_frames


# --------------------------------------------------------------------------- WaveGenerator


@pytest.fixture(scope="module")
def wg_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return wavegan_run(tmp_path_factory)


@pytest.fixture(scope="module")
def wavegen(wg_run: Run) -> WaveGenerator:
    return WaveGenerator.load(wg_run.run_dir)


def test_wave_generator_seeds_are_reproducible(wavegen: WaveGenerator) -> None:
    assert wavegen.classes == ("a", "b") and wavegen.sample_rate == 16000
    clips = wavegen.sample(5, seed=10, labels="b", batch_size=2)
    assert clips.shape == (5, 16384) and clips.dtype == torch.float32
    alone = wavegen.sample(1, seed=13, labels=["b"])
    assert (alone[0] - clips[3]).abs().max() <= 1e-5
    assert (wavegen.sample(5, seed=10, labels=1) - clips).abs().max() <= 1e-5  # index == name
    assert (clips[0] - clips[1]).abs().max() > 1e-4  # different seeds differ


def test_wave_generator_labels(wavegen: WaveGenerator, wg_run: Run) -> None:
    assert wavegen.label_ids(None, 3).tolist() == [0, 1, 0]
    assert wavegen.label_ids(["b", "0", 1], 3).tolist() == [1, 0, 1]
    with pytest.raises(ValueError, match="unknown class 'c'; classes: a, b"):
        wavegen.sample(1, labels="c")
    with pytest.raises(ValueError, match=r"out of range \[0, 2\)"):
        wavegen.sample(1, labels=2)
    with pytest.raises(ValueError, match="2 labels for 3 clips"):
        wavegen.sample(3, labels=["a", "b"])
    # the training-time generator (EMA off here) gives the same clips
    trainer = wg_run.trainer
    z = wavegen.latents(2, seed=4)
    with torch.no_grad():
        expected = trainer.generator(z, torch.tensor([0, 1]))[:, 0]
    assert (wavegen.sample(2, seed=4, labels=["a", "b"]) - expected).abs().max() <= 1e-5


def test_unconditional_generator_rejects_labels(tmp_path: Path) -> None:
    gen = WaveGenerator.load(_export_untrained_wavegan(tmp_path))
    assert gen.num_classes == 0 and gen.label_ids(None, 2) is None
    assert gen.sample(2, seed=1).shape == (2, 16384)
    with pytest.raises(ValueError, match="unconditional"):
        gen.sample(1, labels="a")
