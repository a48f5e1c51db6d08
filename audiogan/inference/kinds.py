"""One object per model kind: what a vocoder (mel -> waveform) and an unconditional generator
(latent -> clip) each need from training, validation, export and inference.

A generator says which kind it is with its ``input_kind`` class attribute (``"mel"`` or
``"latent"``); :func:`model_kind` turns that (or a config, a loaded model, a generator) into the
kind object, and every decision that depends on the kind is a method here:

- the training data: which dataset a run reads (:meth:`ModelKind.training_dataset`);
- the generator inputs: how a batch becomes the generator's input
  (:meth:`ModelKind.generator_inputs`, :meth:`ModelKind.generate`), noise included for
  noise-driven vocoders (``Generator.noise_channels > 0``, drawn by
  :mod:`audiogan.inference.synthesis`);
- validation during training (:meth:`ModelKind.validate`): copy synthesis with log-mel L1 and
  MR-STFT for vocoders, sample clips otherwise;
- export example inputs and input names (:meth:`ModelKind.example_inputs`,
  :meth:`ModelKind.input_names`: ``mel`` [+ ``noise``], or ``z`` [+ ``labels``]);
- the inference wrapper (:meth:`ModelKind.module`: ``VocoderModule`` (``NoiseVocoderModule``) /
  ``WaveGeneratorModule``;
  :meth:`ModelKind.wrap`: ``Vocoder`` / ``WaveGenerator``);
- what ``audiogan info`` says about a model (:attr:`ModelKind.title`,
  :meth:`ModelKind.info_lines`).

Copy synthesis (features of a clip, then the generator), :func:`copy_synthesis`, lives in
:mod:`audiogan.inference.synthesis` and is re-exported here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import torch
from torch import Tensor, nn

from audiogan.audio.io import load_audio, peak_normalize, save_audio
from audiogan.config import Config
from audiogan.inference.model_dir import LoadedModel, VocoderModule, WaveGeneratorModule
from audiogan.inference.modules import vocoder_module
from audiogan.inference.synthesis import (
    CopySynthesis,
    GeneratorInputs,
    copy_synthesis,
    noise_channels,
    synthesize,
    training_noise,
)
from audiogan.models.base import Generator
from audiogan.models.randomness import keyed_latents, sample_key

if TYPE_CHECKING:  # the data package is imported where used: inference alone needs none of it
    from audiogan.data.manifest import ManifestEntry
    from audiogan.inference.vocoder import Vocoder
    from audiogan.inference.wave_generator import WaveGenerator

__all__ = [
    "KINDS",
    "UNCONDITIONAL",
    "VOCODER",
    "CopySynthesis",
    "GeneratorInputs",
    "ModelKind",
    "UnconditionalKind",
    "ValidationRun",
    "VocoderKind",
    "copy_synthesis",
    "model_kind",
]


# --------------------------------------------------------------------------------------------
# Validation context
# --------------------------------------------------------------------------------------------


class ValidationMonitor(Protocol):
    """Where validation logs clips and spectrograms (the training monitor)."""

    def audio(self, step: int, tag: str, wave: Tensor, sample_rate: int) -> None: ...

    def image(self, step: int, tag: str, mel: Tensor) -> None: ...


@dataclass(frozen=True)
class ValidationRun:
    """What one validation pass of a training run sees.

    Attributes:
        config: the run's recipe.
        features: the run's features (``(1, T)`` -> ``(1, n_mels, frames)``).
        mel_metric: the loss's mel term ``(fake, real) -> scalar`` or None.
        stft_metric: the multi-resolution STFT distance ``(fake, real) -> scalar``.
        device: where the model runs.
        sample_dir: where sample clips are written.
        monitor: where clips and spectrograms are logged.
        step: the training step.
        classes: class names of the training data (label index -> name), or None.
    """

    config: Config
    features: nn.Module
    mel_metric: nn.Module | None
    stft_metric: nn.Module
    device: torch.device
    sample_dir: Path
    monitor: ValidationMonitor
    step: int
    classes: Sequence[str] | None = None


# --------------------------------------------------------------------------------------------
# The kinds
# --------------------------------------------------------------------------------------------


class ModelKind:
    """What one kind of model does in training, validation, export and inference.

    A new kind subclasses this in this module, sets :attr:`name` (the ``input_kind`` its
    generators declare), :attr:`label` and the flags below, implements every method below,
    and adds its instance to :data:`KINDS`; nothing else in the package branches on the kind.
    """

    #: The generators' ``input_kind``.
    name: str = ""
    #: How reports and logs call it.
    label: str = ""
    #: The ``kind:`` line of ``audiogan info``.
    title: str = ""
    #: Whether the generator reconstructs a target waveform (spectral losses, feature
    #: statistics, reuse of G's output between the D and G updates).
    reconstructs: bool = False
    #: Whether training data carries class labels.
    labelled: bool = False
    #: Whether a manifest may pair each clip with a mel file (``mel_path`` column).
    mel_pairs: bool = False

    def training_dataset(
        self, config: Config, entries: list[ManifestEntry], hop_length: int
    ) -> torch.utils.data.Dataset:
        """The dataset a run trains on; its items are dicts with ``wave`` ``(1, T)``,
        ``index`` and, by kind, ``mel`` ``(n_mels, frames)`` or ``label``."""
        raise NotImplementedError

    def valid_entries(self, config: Config) -> int:
        """How many ``data.valid`` entries validation reads (at least the preflight probe)."""
        raise NotImplementedError

    def generator_inputs(
        self, micro: dict[str, Tensor], *, generator: Generator, features: nn.Module,
        keys: Callable[[], list[int]], device: torch.device,
    ) -> GeneratorInputs:
        """The generator's input for one micro-batch (``micro["wave"]`` is ``(B, 1, T)``):
        mel ``(B, n_mels, T // hop)`` (with noise drawn with ``keys()`` for noise-driven
        generators: ``(mel, noise)``) or latents ``(B, latent_dim)`` drawn with ``keys()``."""
        raise NotImplementedError

    def generate(self, model: nn.Module, inputs: GeneratorInputs, labels: Tensor | None
                 ) -> Tensor:
        """``model``'s waveform ``(B, 1, T)`` for ``inputs`` [and ``labels``]."""
        raise NotImplementedError

    def validate(self, model: Generator, run: ValidationRun) -> dict[str, float]:
        """One validation pass of the eval-mode ``model``; returns the metrics to log."""
        raise NotImplementedError

    def example_inputs(
        self, module: VocoderModule | WaveGeneratorModule, seed: int = 0
    ) -> list[tuple[Tensor, ...]]:
        """Inputs of several batch sizes / lengths for the deployable ``module`` (export)."""
        raise NotImplementedError

    def input_names(self, example: tuple[Tensor, ...]) -> list[str]:
        """Names of ``example``'s tensors in exported graphs."""
        raise NotImplementedError

    def dynamic_axes(self, example: tuple[Tensor, ...]) -> dict[str, dict[int, str]]:
        """ONNX dynamic axes of ``example``'s inputs besides the batch."""
        raise NotImplementedError

    def module(self, loaded: LoadedModel) -> VocoderModule | WaveGeneratorModule:
        """The deployable ``nn.Module`` of ``loaded``."""
        raise NotImplementedError

    def wrap(self, loaded: LoadedModel) -> Vocoder | WaveGenerator:
        """The inference API object of ``loaded`` (CPU, float32)."""
        raise NotImplementedError

    def info_lines(self, loaded: LoadedModel) -> list[str]:
        """The kind's own lines of ``audiogan info`` about ``loaded`` (after the sample rate)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class VocoderKind(ModelKind):
    """Mel features -> waveform."""

    name = "mel"
    label = "vocoder"
    title = "vocoder (mel -> wave)"
    reconstructs = True
    mel_pairs = True

    def training_dataset(
        self, config: Config, entries: list[ManifestEntry], hop_length: int
    ) -> torch.utils.data.Dataset:
        """Waveform segments of ``training.segment_length`` samples, or (mel, wave) pairs
        when the manifest has a ``mel_path`` column."""
        from audiogan.data.datasets import SegmentDataset
        from audiogan.data.pairs import MelWavePairDataset

        c, t = config, config.training
        if any(e.mel_path for e in entries):
            # Fine-tuning on (mel from a TTS model, ground-truth wave) pairs.
            return MelWavePairDataset(
                entries, segment_frames=t.segment_length // hop_length,
                hop_length=hop_length, n_mels=c.feature_spec().n_mels,
                sample_rate=c.sample_rate, short=c.data.short_clips,
                normalize=c.data.normalize, cache=c.data.cache, seed=t.seed,
            )
        return SegmentDataset(
            entries, segment_length=t.segment_length, sample_rate=c.sample_rate,
            normalize=c.data.normalize, short=c.data.short_clips, cache=c.data.cache,
            seed=t.seed,
        )

    def valid_entries(self, config: Config) -> int:
        return int(config.training.valid_clips)

    def generator_inputs(
        self, micro: dict[str, Tensor], *, generator: Generator, features: nn.Module,
        keys: Callable[[], list[int]], device: torch.device,
    ) -> GeneratorInputs:
        """The mel (given with the data, else the features of ``micro["wave"]``); for a
        noise-driven generator ``(mel, noise)``, item i's noise keyed by ``keys()[i]``."""
        if "mel" in micro:  # ground-truth-aligned mels given with the data
            mel = micro["mel"]
        else:
            real = micro["wave"]
            mel = features(real.squeeze(1))[..., : real.shape[-1] // generator.hop_length]
        if not noise_channels(generator):
            return mel
        return mel, training_noise(generator, keys(), mel.shape[-1] * generator.hop_length,
                                   device)

    def generate(self, model: nn.Module, inputs: GeneratorInputs, labels: Tensor | None
                 ) -> Tensor:
        return model(*inputs) if isinstance(inputs, tuple) else model(inputs)

    @torch.no_grad()
    def validate(self, model: Generator, run: ValidationRun) -> dict[str, float]:
        """Copy-synthesise up to ``training.valid_clips`` clips of ``data.valid``.

        Returns:
            ``{"mr_stft": mean multi-resolution STFT distance, "mel_l1": mean loss-mel L1}``
            (``mel_l1`` only when the recipe has a mel loss); empty without a valid manifest.
            The first ``training.num_samples`` clips are written to ``sample_dir`` and logged.
        """
        from audiogan.data.manifest import read_manifest

        config, t = run.config, run.config.training
        if not config.data.valid:
            return {}
        hop_length = config.feature_spec().hop_length
        mel_l1, stft = [], []
        for i, entry in enumerate(read_manifest(config.data.valid)[: t.valid_clips]):
            wave, _ = load_audio(entry.path, sample_rate=config.sample_rate)
            if config.data.normalize == "peak":
                wave = peak_normalize(wave)
            if wave.shape[-1] < hop_length:
                continue
            real, _, fake = copy_synthesis(lambda mel: synthesize(model, mel), run.features,
                                           wave.to(run.device), hop_length=hop_length)
            fake, real = fake.float(), real.unsqueeze(0)
            if run.mel_metric is not None:
                mel_l1.append(float(run.mel_metric(fake, real)))
            stft.append(float(run.stft_metric(fake, real)))
            if i < t.num_samples:
                save_audio(run.sample_dir / f"{Path(entry.path).stem}.wav", fake[0, 0].cpu(),
                           config.sample_rate)
                run.monitor.audio(run.step, f"valid/{i}", fake[0, 0], config.sample_rate)
                run.monitor.image(run.step, f"valid_mel/{i}", run.features(fake[0])[0])
        out = {"mr_stft": sum(stft) / max(len(stft), 1)}
        if mel_l1:
            out["mel_l1"] = sum(mel_l1) / len(mel_l1)
        return out

    def example_inputs(
        self, module: VocoderModule | WaveGeneratorModule, seed: int = 0
    ) -> list[tuple[Tensor, ...]]:
        """Mels ``(B, n_mels, frames)`` around the statistics' mean (or -4), three lengths;
        with standard normal noise ``(B, noise_channels, frames * hop)`` for noise models."""
        gen = torch.Generator().manual_seed(seed)
        generator = module.generator
        context = max(int(generator.receptive_field_frames), 4)
        low = -4.0
        if isinstance(module, VocoderModule) and module.normalize:
            low = float(module.mean.mean())
        shapes = [(1, 2 * context + 24), (2, 2 * context + 57), (3, context + 7)]
        out: list[tuple[Tensor, ...]] = []
        for batch, frames in shapes:
            mel = low + 2.0 * torch.randn(batch, generator.in_channels, frames, generator=gen)
            channels, samples = noise_channels(generator), frames * generator.hop_length
            out.append((mel, torch.randn(batch, channels, samples, generator=gen))
                       if channels else (mel,))
        return out

    def input_names(self, example: tuple[Tensor, ...]) -> list[str]:
        return ["mel", "noise"][: len(example)]

    def dynamic_axes(self, example: tuple[Tensor, ...]) -> dict[str, dict[int, str]]:
        """``mel``'s frames (and, for noise models, ``noise``'s samples)."""
        axes = {"mel": {2: "frames"}, "noise": {2: "samples"}}
        return {name: axes[name] for name in self.input_names(example)}

    def module(self, loaded: LoadedModel) -> VocoderModule | WaveGeneratorModule:
        return vocoder_module(loaded.generator, loaded.mean, loaded.scale)

    def wrap(self, loaded: LoadedModel) -> Vocoder:
        from audiogan.inference.vocoder import Vocoder

        return Vocoder.from_loaded(loaded)

    def info_lines(self, loaded: LoadedModel) -> list[str]:
        """Feature profile and sizes, whether statistics are inside, the receptive field, the
        noise input (noise-driven generators)."""
        spec = loaded.config.feature_spec()
        stats = "yes (z-normalised inside)" if loaded.mean is not None else "no"
        lines = [f"profile: {spec.profile} ({spec.summary()})", f"feature statistics: {stats}",
                 f"receptive field: +-{loaded.generator.receptive_field_frames} frames"]
        channels = noise_channels(loaded.generator)
        if channels:
            lines.append(f"noise input: {channels} channel(s) of Gaussian noise keyed by a seed "
                         "(synthesize --seed)")
        return lines


class UnconditionalKind(ModelKind):
    """Latent vector [+ class label] -> fixed-length clip."""

    name = "latent"
    label = "unconditional"
    title = "unconditional"
    labelled = True

    def training_dataset(
        self, config: Config, entries: list[ManifestEntry], hop_length: int
    ) -> torch.utils.data.Dataset:
        """Whole clips of ``hop_length`` (the generator's clip length) samples, labelled by
        the manifest's ``label`` column (``data.labels`` fixes the class order)."""
        from audiogan.data.datasets import ClipDataset

        return ClipDataset(
            entries, clip_length=hop_length, sample_rate=config.sample_rate,
            labels=list(config.data.labels) if config.data.labels else None,
        )

    def valid_entries(self, config: Config) -> int:
        return 0

    def generator_inputs(
        self, micro: dict[str, Tensor], *, generator: Generator, features: nn.Module,
        keys: Callable[[], list[int]], device: torch.device,
    ) -> Tensor:
        return keyed_latents(generator, keys(), device)

    def generate(self, model: nn.Module, inputs: GeneratorInputs, labels: Tensor | None
                 ) -> Tensor:
        return model(inputs, labels)

    @torch.no_grad()
    def validate(self, model: Generator, run: ValidationRun) -> dict[str, float]:
        """Generate ``training.num_samples`` clips from fixed latents (cycling through classes).

        Files are ``{class}_{i:05d}.wav`` (``any`` when unconditional). Returns the clips' RMS
        and whether all samples are finite.
        """
        config, t = run.config, run.config.training
        n = t.num_samples
        z = keyed_latents(model, [sample_key(t.seed, 0, 7, i) for i in range(n)], run.device)
        labels = None
        if model.num_classes:
            labels = torch.arange(n, device=run.device) % model.num_classes
        clips = model(z, labels).float().cpu()
        for i, clip in enumerate(clips):
            name = run.classes[int(labels[i])] if labels is not None and run.classes else "any"
            save_audio(run.sample_dir / f"{name}_{i:05d}.wav", clip[0], config.sample_rate)
            run.monitor.audio(run.step, f"sample/{i}", clip[0], config.sample_rate)
        return {"sample_rms": float(clips.pow(2).mean().sqrt()),
                "sample_finite": float(torch.isfinite(clips).all())}

    def example_inputs(
        self, module: VocoderModule | WaveGeneratorModule, seed: int = 0
    ) -> list[tuple[Tensor, ...]]:
        """Latents ``(B, latent_dim)`` [and labels ``(B,)``] for batches of 2, 1 and 3."""
        gen = torch.Generator().manual_seed(seed)
        generator = module.generator
        out: list[tuple[Tensor, ...]] = []
        for batch in (2, 1, 3):
            z = torch.randn(batch, generator.latent_dim, generator=gen)
            if generator.num_classes:
                labels = torch.randint(0, generator.num_classes, (batch,), generator=gen)
                out.append((z, labels))
            else:
                out.append((z,))
        return out

    def input_names(self, example: tuple[Tensor, ...]) -> list[str]:
        return ["z", "labels"][: len(example)]

    def dynamic_axes(self, example: tuple[Tensor, ...]) -> dict[str, dict[int, str]]:
        return {}

    def module(self, loaded: LoadedModel) -> VocoderModule | WaveGeneratorModule:
        return WaveGeneratorModule(loaded.generator)

    def wrap(self, loaded: LoadedModel) -> WaveGenerator:
        from audiogan.inference.wave_generator import WaveGenerator

        return WaveGenerator.from_loaded(loaded)

    def info_lines(self, loaded: LoadedModel) -> list[str]:
        """Clip length (samples and seconds), latent size, the classes."""
        generator, rate = loaded.generator, loaded.config.sample_rate
        classes = ", ".join(loaded.classes) if loaded.classes else generator.num_classes
        return [f"clip length: {generator.hop_length} samples "
                f"({generator.hop_length / rate:.3f} s); latent size {generator.latent_dim}",
                f"classes: {classes}"]


VOCODER = VocoderKind()
UNCONDITIONAL = UnconditionalKind()

#: ``input_kind`` -> kind object.
KINDS: dict[str, ModelKind] = {kind.name: kind for kind in (VOCODER, UNCONDITIONAL)}


def model_kind(source: Any) -> ModelKind:
    """The kind of ``source``: an ``input_kind`` string, a :class:`Config`, a
    :class:`LoadedModel`, a generator (anything with ``input_kind``) or a deployable module
    (anything with ``generator``).

    Raises:
        ValueError: ``source`` names no known kind.
    """
    if isinstance(source, str):
        name = source
    elif isinstance(source, Config):
        name = source.input_kind
    elif isinstance(source, LoadedModel):
        name = source.input_kind
    elif hasattr(source, "input_kind"):
        name = str(source.input_kind)
    elif hasattr(source, "generator"):
        name = str(source.generator.input_kind)
    else:
        raise ValueError(f"{type(source).__name__} has no model kind")
    if name not in KINDS:
        raise ValueError(f"unknown model kind {name!r}; known: {', '.join(sorted(KINDS))}")
    return KINDS[name]

