"""Model kinds (audiogan.inference.kinds): the one copy-synthesis function and its trimming
rules, the kind lookup, and what each kind decides (dataset, generator inputs, export inputs,
deployable module, inference wrapper, `audiogan info` lines)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from _inference_runs import tiny_config, tiny_generator, wavegan_config, write_corpus

from audiogan import Vocoder, WaveGenerator
from audiogan.data.datasets import ClipDataset, SegmentDataset
from audiogan.data.manifest import read_manifest
from audiogan.features.mel import MelSpectrogram
from audiogan.inference.kinds import (
    KINDS,
    UNCONDITIONAL,
    VOCODER,
    copy_synthesis,
    model_kind,
)
from audiogan.inference.model_dir import (
    LoadedModel,
    ModelFileError,
    VocoderModule,
    WaveGeneratorModule,
)
from audiogan.models import build_generator
from audiogan.models.randomness import keyed_latents


def _frame_means(hop: int):
    """A stand-in generator: (B, n_mels, F) -> (B, 1, F * hop), each frame's mean repeated."""
    def generate(mel: torch.Tensor) -> torch.Tensor:
        return mel.mean(-2, keepdim=True).repeat_interleave(hop, dim=-1)
    return generate


def _wave(samples: int, seed: int = 0) -> torch.Tensor:
    return 0.3 * torch.randn(1, samples, generator=torch.Generator().manual_seed(seed))


def _wavegan() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_generator("wavegan", model_size=4, num_classes=2)


# ------------------------------------------------------------------------- copy synthesis


@pytest.mark.parametrize("profile", ["hifigan", "tacotron2"])
@pytest.mark.parametrize(("hop", "samples"), [(64, 1000), (128, 1024), (256, 5000), (256, 257)])
def test_whole_hops_cuts_clip_features_and_output_alike(profile: str, hop: int, samples: int):
    features = MelSpectrogram(profile, hop_length=hop, n_fft=4 * hop, win_length=4 * hop,
                               n_mels=40)
    wave = _wave(samples)
    out = copy_synthesis(_frame_means(hop), features, wave, hop_length=hop)
    frames = samples // hop
    assert out.wave.shape == (1, frames * hop)
    assert torch.equal(out.wave, wave[:, : frames * hop])
    assert out.mel.shape == (1, features.n_mels, frames)  # centred profiles: last frame dropped
    assert out.fake.shape == (1, 1, frames * hop)
    assert torch.equal(out.mel, features(wave[:, : frames * hop])[..., :frames])


@pytest.mark.parametrize("profile", ["hifigan", "tacotron2"])
@pytest.mark.parametrize(("hop", "samples"), [(64, 1000), (128, 1024), (256, 5000)])
def test_whole_clip_synthesises_every_frame_and_cuts_to_the_clip(profile: str, hop: int,
                                                                 samples: int):
    features = MelSpectrogram(profile, hop_length=hop, n_fft=4 * hop, win_length=4 * hop,
                               n_mels=40)
    wave = _wave(samples)
    out = copy_synthesis(_frame_means(hop), features, wave, hop_length=hop, whole_hops=False)
    frames = features.frames_for(samples)
    assert out.wave is wave
    assert out.mel.shape == (1, features.n_mels, frames)
    assert out.fake.shape == (1, 1, min(samples, frames * hop))


def test_shorter_than_one_hop_is_refused():
    with pytest.raises(ValueError, match="shorter than one hop"):
        copy_synthesis(_frame_means(256), MelSpectrogram(), _wave(200), hop_length=256)


def test_copy_synthesis_equals_the_generator_on_the_clips_mel():
    generator = tiny_generator("hifigan").eval()
    features = MelSpectrogram("tacotron2")
    wave = _wave(3000, seed=1)
    with torch.no_grad():
        cut = copy_synthesis(generator, features, wave, hop_length=256)
        whole = copy_synthesis(generator, features, wave, hop_length=256, whole_hops=False)
        cut_ref = generator(features(wave[:, :2816])[..., :11])
        whole_ref = generator(features(wave))[..., :3000]
    assert torch.equal(cut.fake, cut_ref)
    assert torch.equal(whole.fake, whole_ref)
    assert whole.fake.shape[-1] == 3000  # 12 centred frames give 3072 samples, cut to the clip


def test_vocoder_resynthesize_is_whole_clip_copy_synthesis():
    voc = Vocoder(tiny_generator("hifigan"), MelSpectrogram("tacotron2"))
    wave = _wave(3000, seed=2)[0]
    out = voc.resynthesize(wave)
    assert out.shape == (3000,)
    # every frame of the whole clip is synthesised (12 centred frames), then cut to the clip
    with torch.no_grad():
        expected = voc.generator(voc.features(wave[None]))[0, 0, :3000]
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)


# ------------------------------------------------------------------------- lookup


def test_model_kind_of_names_configs_generators_and_loaded_models(tmp_path: Path):
    assert set(KINDS) == {"mel", "latent"}
    assert model_kind("mel") is VOCODER and model_kind("latent") is UNCONDITIONAL
    assert model_kind(tiny_config("hifigan")) is VOCODER
    assert model_kind(wavegan_config(tmp_path)) is UNCONDITIONAL
    generator = tiny_generator("melgan")
    assert model_kind(generator) is VOCODER
    assert model_kind(LoadedModel(generator, tiny_config("melgan"))) is VOCODER
    assert model_kind(VocoderModule(generator)) is VOCODER
    assert model_kind(_wavegan()) is UNCONDITIONAL
    assert (VOCODER.label, UNCONDITIONAL.label) == ("vocoder", "unconditional")
    with pytest.raises(ValueError, match="unknown model kind 'text'; known: latent, mel"):
        model_kind("text")
    with pytest.raises(ValueError, match="object has no model kind"):
        model_kind(object())


# ------------------------------------------------------------------------- what a kind decides


def test_training_dataset_is_the_kinds_choice(tmp_path: Path):
    data = write_corpus(tmp_path / "c", n=2, seconds=0.5, sr=16000, labels=True)
    entries = read_manifest(data / "train.tsv")
    config = wavegan_config(data)
    segments = VOCODER.training_dataset(config, entries, 256)
    clips = UNCONDITIONAL.training_dataset(config, entries, 16384)
    assert isinstance(segments, SegmentDataset) and not isinstance(segments, ClipDataset)
    assert isinstance(clips, ClipDataset)
    assert clips.classes == ["a", "b"]
    assert clips[0]["wave"].shape == (1, 16384)
    assert segments[0]["wave"].shape == (1, config.training.segment_length)


def test_generator_inputs_per_kind():
    features = MelSpectrogram()
    generator = tiny_generator("hifigan")
    wave = _wave(2 * 1000).reshape(2, 1, 1000)
    mel = VOCODER.generator_inputs({"wave": wave}, generator=generator, features=features,
                                   keys=lambda: pytest.fail("a vocoder draws no latents"),
                                   device=torch.device("cpu"))
    assert torch.equal(mel, features(wave.squeeze(1))[..., :3])
    given = torch.zeros(2, 80, 3)
    assert VOCODER.generator_inputs({"wave": wave, "mel": given}, generator=generator,
                                    features=features, keys=list,
                                    device=torch.device("cpu")) is given
    wavegan = _wavegan()
    z = UNCONDITIONAL.generator_inputs({"wave": wave}, generator=wavegan, features=features,
                                       keys=lambda: [5, 9], device=torch.device("cpu"))
    assert torch.equal(z, keyed_latents(wavegan, [5, 9], "cpu"))
    labels = torch.tensor([0, 1])
    assert UNCONDITIONAL.generate(wavegan, z, labels).shape == (2, 1, wavegan.hop_length)
    assert VOCODER.generate(generator, mel, None).shape == (2, 1, 3 * 256)


def test_export_inputs_module_and_wrapper_per_kind(tmp_path: Path):
    loaded = LoadedModel(tiny_generator("hifigan"), tiny_config("hifigan"))
    module = VOCODER.module(loaded)
    assert isinstance(module, VocoderModule)
    examples = VOCODER.example_inputs(module)
    assert [ex[0].shape[:2] for ex in examples] == [(1, 80), (2, 80), (3, 80)]
    assert VOCODER.input_names(examples[0]) == ["mel"]
    assert VOCODER.dynamic_axes(examples[0]) == {"mel": {2: "frames"}}
    assert isinstance(VOCODER.wrap(loaded), Vocoder)

    latent = LoadedModel(_wavegan(), wavegan_config(tmp_path), classes=("a", "b"))
    module = UNCONDITIONAL.module(latent)
    assert isinstance(module, WaveGeneratorModule)
    examples = UNCONDITIONAL.example_inputs(module)
    assert [tuple(t.shape for t in ex) for ex in examples] == [
        ((2, 100), (2,)), ((1, 100), (1,)), ((3, 100), (3,))]
    assert UNCONDITIONAL.input_names(examples[0]) == ["z", "labels"]
    wrapped = UNCONDITIONAL.wrap(latent)
    assert isinstance(wrapped, WaveGenerator) and wrapped.classes == ("a", "b")


def test_wrappers_refuse_the_other_kind_in_one_line(tmp_path: Path):
    with pytest.raises(ModelFileError, match=r"^this is an unconditional \(latent\) generator, "
                                             r"not a vocoder: use audiogan.WaveGenerator.load$"):
        Vocoder(_wavegan(), MelSpectrogram())
    loaded = LoadedModel(tiny_generator("hifigan"), tiny_config("hifigan"),
                         source=tmp_path / "m")
    with pytest.raises(ModelFileError, match=r"/m: a vocoder \(mel input\), not an "
                                             r"unconditional generator: use audiogan.Vocoder"):
        WaveGenerator.from_loaded(loaded)


def test_info_lines_per_kind(tmp_path: Path):
    generator = tiny_generator("hifigan")
    loaded = LoadedModel(generator, tiny_config("hifigan"))
    assert VOCODER.title == "vocoder (mel -> wave)"
    assert VOCODER.info_lines(loaded) == [
        "profile: hifigan (n_fft 1024, hop 256, win 1024, 80 mels, 0-8000 Hz)",
        "feature statistics: no",
        f"receptive field: +-{generator.receptive_field_frames} frames",
    ]
    normalised = LoadedModel(generator, tiny_config("hifigan"), mean=torch.zeros(80),
                             scale=torch.ones(80))
    assert VOCODER.info_lines(normalised)[1] == "feature statistics: yes (z-normalised inside)"

    assert UNCONDITIONAL.title == "unconditional"
    named = LoadedModel(_wavegan(), wavegan_config(tmp_path), classes=("a", "b"))
    assert UNCONDITIONAL.info_lines(named) == [
        "clip length: 16384 samples (1.024 s); latent size 100", "classes: a, b"]
    unnamed = LoadedModel(_wavegan(), wavegan_config(tmp_path))
    assert UNCONDITIONAL.info_lines(unnamed)[1] == "classes: 2"
