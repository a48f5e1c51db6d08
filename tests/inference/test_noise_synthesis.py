"""Noise-driven vocoders (Parallel WaveGAN: ``noise_channels > 0``) wherever one runs: the noise
is keyed by seed and absolute sample index (audiogan.inference.synthesis), so one seed gives the
same audio, a clip does not depend on its batch, and chunked / streamed synthesis, exports and
the model kind's training inputs all see the noise one call would."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from _inference_runs import tiny_config, tiny_generator

from audiogan import Vocoder
from audiogan.config import config_from_dict
from audiogan.features.mel import MelSpectrogram
from audiogan.inference.export import export_model
from audiogan.inference.kinds import VOCODER, model_kind
from audiogan.inference.model_dir import LoadedModel, load_model
from audiogan.inference.modules import NoiseVocoderModule, VocoderModule
from audiogan.inference.synthesis import synthesis_noise, synthesize, training_noise
from audiogan.models import build_generator
from audiogan.models.base import Generator
from audiogan.models.randomness import keyed_noise

#: a small Parallel WaveGAN: 4 layers in 2 stacks, 8 residual channels, hop 256
SMALL_PWG = {"layers": 4, "stacks": 2, "residual_channels": 8, "gate_channels": 16,
             "skip_channels": 8}


def _pwg() -> Generator:
    torch.manual_seed(0)
    return build_generator("parallel_wavegan", in_channels=80, **SMALL_PWG).eval()


def _config():
    return config_from_dict({
        "features": {"profile": "pwg"},
        "generator": {"name": "parallel_wavegan", "params": dict(SMALL_PWG)},
        "discriminator": {"name": "parallel_wavegan", "params": {"layers": 3, "channels": 8}},
    })


@pytest.fixture(scope="module")
def voc() -> Vocoder:
    return Vocoder(_pwg(), MelSpectrogram("pwg"))


def _mel(voc: Vocoder, frames: int, seed: int = 0, batch: int | None = None) -> torch.Tensor:
    """Features of a noisy chirp: values the profile really produces."""
    gen = torch.Generator().manual_seed(seed)
    n = frames * voc.hop_length
    t = torch.arange(n) / voc.sample_rate
    wave = 0.3 * torch.sin(2 * torch.pi * (150 + 60 * t) * t)
    shape = (batch, n) if batch else (n,)
    wave = wave + 0.02 * torch.randn(shape, generator=gen)
    return voc.features(wave)[..., :frames]


class _NoiseDouble(Generator):
    """A stand-in noise-driven generator: each output sample is its frame's mean plus its noise
    sample, so a test sees exactly which noise reached which sample."""

    noise_channels = 1

    def __init__(self, hop: int = 4, n_mels: int = 3) -> None:
        super().__init__()
        self.hop_length, self.in_channels = hop, n_mels

    def forward(self, mel: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return mel.mean(1, keepdim=True).repeat_interleave(self.hop_length, -1) + noise


# ------------------------------------------------------------------------- the noise itself


def test_synthesis_noise_is_keyed_by_seed_and_absolute_sample() -> None:
    double = _NoiseDouble()
    whole = synthesis_noise(double, 3, 0, 100, seed=7)
    assert whole is not None and whole.shape == (3, 1, 100)
    assert torch.equal(whole[0], keyed_noise(7, 0, 100)) and torch.equal(whole[2], whole[0])
    piece = synthesis_noise(double, 1, 40, 25, seed=7)
    assert piece is not None and torch.equal(piece[0], whole[0, :, 40:65])
    assert synthesis_noise(tiny_generator("hifigan"), 2, 0, 10) is None  # no noise input


def test_training_noise_is_one_keyed_signal_per_item() -> None:
    noise = training_noise(_NoiseDouble(), [11, 12, 11], 50, "cpu")
    assert noise.shape == (3, 1, 50)
    assert torch.equal(noise[0], keyed_noise(11, 0, 50)) and torch.equal(noise[2], noise[0])
    assert not torch.equal(noise[0], noise[1])
    assert training_noise(_NoiseDouble(), [], 50, "cpu").shape == (0, 1, 50)


def test_vocoder_kind_gives_noise_models_mel_and_keyed_noise() -> None:
    double = _NoiseDouble(hop=4, n_mels=3)
    wave = torch.randn(2, 1, 40)
    features = _FrameFeatures(hop=4, n_mels=3)
    inputs = VOCODER.generator_inputs({"wave": wave}, generator=double, features=features,
                                      keys=lambda: [5, 9], device=torch.device("cpu"))
    assert isinstance(inputs, tuple) and len(inputs) == 2
    mel, noise = inputs
    assert mel.shape == (2, 3, 10) and noise.shape == (2, 1, 40)
    assert torch.equal(noise[0], keyed_noise(5, 0, 40)) and torch.equal(noise[1],
                                                                        keyed_noise(9, 0, 40))
    fake = VOCODER.generate(double, inputs, None)
    assert torch.equal(fake, double(mel, noise))
    # ground-truth-aligned mels given with the data get noise of their length too
    given = torch.zeros(2, 3, 6)
    mel, noise = VOCODER.generator_inputs({"wave": wave, "mel": given}, generator=double,
                                          features=features, keys=lambda: [1, 2],
                                          device=torch.device("cpu"))
    assert mel is given and noise.shape == (2, 1, 24)


class _FrameFeatures(torch.nn.Module):
    """(B, T) -> (B, n_mels, T // hop + 1): each frame's mean, repeated over channels."""

    def __init__(self, hop: int, n_mels: int) -> None:
        super().__init__()
        self.hop, self.n_mels = hop, n_mels

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        padded = torch.nn.functional.pad(wave, (0, self.hop))
        frames = padded[..., : (wave.shape[-1] // self.hop + 1) * self.hop]
        means = frames.unflatten(-1, (-1, self.hop)).mean(-1)
        return means.unsqueeze(-2).expand(-1, self.n_mels, -1)


# ------------------------------------------------------------------------- Vocoder


def test_one_seed_one_output_and_seeds_differ(voc: Vocoder) -> None:
    mel = _mel(voc, 30)
    first = voc(mel, seed=3)
    assert torch.equal(first, voc(mel, seed=3))
    assert (first - voc(mel, seed=4)).abs().max() > 1e-3
    assert torch.equal(voc(mel), voc(mel, seed=0))  # the default seed is 0
    # the noise is keyed_noise(seed, first sample, ...): what a user can draw themselves
    noise = keyed_noise(3, 0, 30 * 256).expand(1, 1, -1)
    with torch.inference_mode():
        direct = voc.module(mel[None], noise)[0, 0]
    assert (first - direct).abs().max() <= 1e-6
    assert isinstance(voc.module, NoiseVocoderModule) and voc.noise_channels == 1


def test_a_clip_does_not_depend_on_its_batch(voc: Vocoder) -> None:
    mels = _mel(voc, 24, seed=1, batch=3)
    batch = voc(mels, seed=2)
    for i in range(3):
        assert (batch[i] - voc(mels[i], seed=2)).abs().max() <= 1e-5
    # a padded batch with lengths: each item equals itself alone
    outs = voc(mels, lengths=[24, 10, 17], seed=2)
    for i, length in enumerate((24, 10, 17)):
        assert (outs[i] - voc(mels[i, :, :length], seed=2)).abs().max() <= 1e-4


@pytest.mark.parametrize("seed", [0, 5])
def test_stream_streamer_and_chunks_equal_one_shot(voc: Vocoder, seed: int) -> None:
    mel = _mel(voc, 70, seed=4)
    whole = voc(mel, seed=seed)
    pulled = list(voc.stream(mel, chunk_frames=16, seed=seed))
    assert (torch.cat(pulled) - whole).abs().max() <= 1e-4
    streamer = voc.streamer(seed=seed)
    parts = [streamer.push(mel[:, i : i + 11]) for i in range(0, 70, 11)]
    parts.append(streamer.flush())
    assert (torch.cat(parts) - whole).abs().max() <= 1e-4
    # a second utterance through the same streamer starts at sample 0 again
    again = [streamer.push(mel[:, :40]), streamer.push(mel[:, 40:]), streamer.flush()]
    assert (torch.cat(again) - whole).abs().max() <= 1e-4
    chunked = Vocoder(_pwg(), MelSpectrogram("pwg"))
    chunked.max_frames, chunked.chunk_frames = 20, 16  # chunks cross 4096-sample noise blocks
    assert (chunked(mel, seed=seed) - whole).abs().max() <= 1e-4


def test_resynthesis_takes_the_seed(voc: Vocoder) -> None:
    wave = 0.2 * torch.randn(5000, generator=torch.Generator().manual_seed(1))
    a = voc.resynthesize(wave, seed=1)
    assert a.shape == (5000,) and torch.equal(a, voc.resynthesize(wave, seed=1))
    assert not torch.equal(a, voc.resynthesize(wave, seed=2))


def test_vocoders_without_noise_ignore_the_seed() -> None:
    voc = Vocoder(tiny_generator("hifigan"), MelSpectrogram())
    mel = _mel(voc, 12)
    assert torch.equal(voc(mel, seed=1), voc(mel, seed=2))
    assert type(voc.module) is VocoderModule and voc.noise_channels == 0


def test_synthesize_passes_noise_only_to_noise_models() -> None:
    generator = _pwg()
    mel = torch.randn(2, 80, 6)
    with torch.no_grad():
        out = synthesize(generator, mel, seed=4)
        expected = generator(mel, keyed_noise(4, 0, 6 * 256).expand(2, 1, -1))
        assert torch.equal(out, expected)
        hifigan = tiny_generator("hifigan")
        assert torch.equal(synthesize(hifigan, mel, seed=4), hifigan(mel))


# ------------------------------------------------------------------------- export and info


def test_export_takes_mel_and_noise_and_loads_back(tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime not installed (extra 'onnx')")
    loaded = LoadedModel(_pwg(), _config())
    module = model_kind(loaded).module(loaded)
    examples = VOCODER.example_inputs(module)
    assert [tuple(t.shape for t in ex) for ex in examples][0] == ((1, 80, 32), (1, 1, 32 * 256))
    assert VOCODER.input_names(examples[0]) == ["mel", "noise"]
    assert VOCODER.dynamic_axes(examples[0]) == {"mel": {2: "frames"},
                                                 "noise": {2: "samples"}}
    result = export_model(loaded, tmp_path / "model", formats=["onnx", "torchscript"])
    assert result.max_abs_error["onnx"] <= 1e-4 and result.max_abs_error["torchscript"] <= 1e-4
    # the exported graph, given the Vocoder's noise, gives the Vocoder's audio
    voc = Vocoder.load(tmp_path / "model")
    mel = _mel(voc, 20)
    expected = voc(mel, seed=9).numpy()
    session = ort.InferenceSession(str(result.files["onnx"]), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["mel", "noise"]
    noise = keyed_noise(9, 0, 20 * 256)[None].numpy()
    wave = session.run(["wave"], {"mel": mel[None].numpy(), "noise": noise})[0]
    assert abs(wave[0, 0] - expected).max() <= 1e-4
    scripted = torch.jit.load(str(result.files["torchscript"]))
    ts = scripted(mel[None], torch.from_numpy(noise))[0, 0]
    assert (ts - torch.from_numpy(expected)).abs().max() <= 1e-4
    assert load_model(tmp_path / "model").generator.noise_channels == 1


def test_info_says_the_model_takes_noise() -> None:
    loaded = LoadedModel(_pwg(), _config())
    lines = VOCODER.info_lines(loaded)
    assert lines[-1] == ("noise input: 1 channel(s) of Gaussian noise keyed by a seed "
                         "(synthesize --seed)")
    plain = LoadedModel(tiny_generator("hifigan"), tiny_config("hifigan"))
    assert not any(line.startswith("noise input") for line in VOCODER.info_lines(plain))
