"""Side by side with the peers: our generators vs the same architectures in other packages.

Pairs (random weights, identical shapes, weight norm folded on both sides, ``eval()``,
``torch.inference_mode()``):

- ``hifigan``: our ``hifigan`` preset V1 vs ``parallel_wavegan.models.HiFiGANGenerator``
  (kan-bayashi/ParallelWaveGAN, package ``parallel-wavegan``) with V1's shape;
- ``istft``: our ``istft`` preset ``base`` vs the ``vocos`` package's mel model architecture
  (``VocosBackbone(dim 512, intermediate 1536, 8 layers)`` + ``ISTFTHead(n_fft 1024, hop 256,
  padding "same")`` inside ``vocos.Vocos``, timed through ``Vocos.decode``), both on 80 mels.
  Built directly: no hub download.

Measured, in one run and on one device:

1. inference time on ``--seconds`` of audio (default 10 s at 22.05 kHz) at each batch size, all
   four models interleaved round-robin after a warm-up, median of ``--repeats``;
2. peak memory of one inference call: on CPU each measurement runs in its own subprocess (peak
   RSS never falls) and reports the peak-RSS increase over the RSS just before the call; on CUDA
   ``torch.cuda.max_memory_allocated`` above the memory allocated before the call;
3. training step time of HiFi-GAN V1 (batch 16, 8192-sample segments by default) with the full
   HiFi-GAN discriminator (MPD periods 2, 3, 5, 7, 11 + 3-scale MSD) and LSGAN + feature
   matching (2) + mel L1 (45): ours is :meth:`Trainer.train_step` on a fixed device batch; the
   peer is the same step written here around ParallelWaveGAN's modules
   (``HiFiGANMultiScaleMultiPeriodDiscriminator``, ``MelSpectrogramLoss``, ``FeatureMatchLoss``,
   ``GeneratorAdversarialLoss``, ``DiscriminatorAdversarialLoss``, Adam), interleaved.

Ratios are printed as ours/peer *speed* (peer time / our time; > 1 means ours is faster) with
the targets of issue 5: HiFi-GAN V1 >= 0.95x ParallelWaveGAN, istft base >= 0.95x vocos and
>= 10x our HiFi-GAN V1.

The peers are not dependencies: install them in a separate virtual environment (see
benchmarks/README.md) and run this script from it with audiogan on ``PYTHONPATH``::

    PYTHONPATH=/path/to/audiogan /work/peers/venv/bin/python benchmarks/peers.py --threads 2

Where a peer cannot be imported, its rows are skipped with a message saying why.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import bench_common as bc
import torch
from torch import Tensor, nn

SAMPLE_RATE = 22050
HOP = 256
N_MELS = 80
MEMORY_TAG = "PEERS_MEMORY_JSON "

#: model key -> (pair, side, peer package or None)
MODELS: dict[str, tuple[str, str, str | None]] = {
    "ours_hifigan_v1": ("hifigan", "ours", None),
    "pwg_hifigan_v1": ("hifigan", "peer", "parallel_wavegan"),
    "ours_istft_base": ("istft", "ours", None),
    "vocos_mel": ("istft", "peer", "vocos"),
}
INFERENCE_COLUMNS = ("model", "batch", "audio_s", "median_s", "rtf", "x_realtime", "min_s",
                     "max_s", "repeats", "load")
MEMORY_COLUMNS = ("model", "batch", "audio_s", "peak_delta_MiB", "method")
TRAIN_COLUMNS = ("model", "batch", "segment", "median_step_s", "min_step_s", "max_step_s",
                 "steps", "load")
RATIO_COLUMNS = ("comparison", "batch", "ours_s", "other_s", "speed_ratio", "paired_ratio",
                 "min_ratio", "target", "status")


# --------------------------------------------------------------------------- peers


def peer_status() -> dict[str, str | None]:
    """``{package: None}`` when importable, else ``{package: "why not"}``."""
    status: dict[str, str | None] = {}
    for package in ("parallel_wavegan", "vocos"):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                __import__(package)
            status[package] = None
        except Exception as exc:
            status[package] = f"{type(exc).__name__}: {exc}"
    return status


def _hifigan_shape(tiny: bool) -> dict[str, Any]:
    return {"channels": 16 if tiny else 512, "upsample_scales": (8, 8, 2, 2),
            "upsample_kernel_sizes": (16, 16, 4, 4), "resblock_kernel_sizes": (3, 7, 11),
            "resblock_dilations": [(1, 3, 5)] * 3}


def _istft_shape(tiny: bool) -> dict[str, int]:
    if tiny:
        return {"dim": 32, "intermediate_dim": 64, "num_layers": 2}
    return {"dim": 512, "intermediate_dim": 1536, "num_layers": 8}


def build_pair_model(key: str, *, tiny: bool = False, weight_norm: bool = True) -> nn.Module:
    """Build model ``key`` of :data:`MODELS` with random weights (weight norm as built).

    Every returned module maps mel (B, 80, frames) to a waveform of frames * 256 samples
    ((B, 1, T) or (B, T)).
    """
    from audiogan.models import build_generator

    torch.manual_seed(0)
    if key == "ours_hifigan_v1":
        shape = _hifigan_shape(tiny)
        return build_generator("hifigan", preset="v1", in_channels=N_MELS,
                               upsample_initial_channel=shape["channels"],
                               weight_norm=weight_norm)
    if key == "pwg_hifigan_v1":
        from parallel_wavegan.models import HiFiGANGenerator

        return HiFiGANGenerator(in_channels=N_MELS, out_channels=1, kernel_size=7,
                                use_additional_convs=True, use_weight_norm=weight_norm,
                                **_hifigan_shape(tiny))
    if key == "ours_istft_base":
        return build_generator("istft", preset="base", in_channels=N_MELS, **_istft_shape(tiny))
    if key == "vocos_mel":
        from vocos import Vocos
        from vocos.feature_extractors import MelSpectrogramFeatures
        from vocos.heads import ISTFTHead
        from vocos.models import VocosBackbone

        shape = _istft_shape(tiny)
        return Vocos(
            feature_extractor=MelSpectrogramFeatures(sample_rate=SAMPLE_RATE, n_fft=1024,
                                                     hop_length=HOP, n_mels=N_MELS),
            backbone=VocosBackbone(input_channels=N_MELS, **shape),
            head=ISTFTHead(dim=shape["dim"], n_fft=1024, hop_length=HOP, padding="same"),
        )
    raise SystemExit(f"unknown model {key!r}; valid: {', '.join(MODELS)}")


def inference_module(key: str, device: torch.device, *, tiny: bool) -> Callable[[Tensor], Tensor]:
    """Model ``key`` ready for inference (weight norm folded, eval, frozen) as ``mel -> wave``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PWG's torch.nn.utils.weight_norm is deprecated
        model = build_pair_model(key, tiny=tiny)
        bc.prepare_for_inference(model, device)
    if key == "vocos_mel":
        return model.decode  # type: ignore[no-any-return]  # Vocos' own inference path
    return model


def mel_input(batch: int, seconds: float, device: torch.device) -> Tensor:
    """Random log-mel-like input of ``ceil(seconds * 22050 / 256)`` frames."""
    frames = max(1, math.ceil(seconds * SAMPLE_RATE / HOP))
    generator = torch.Generator().manual_seed(1234)
    return (torch.randn(batch, N_MELS, frames, generator=generator) - 5.0).to(device)


def _infer(model: Callable[[Tensor], Tensor], mel: Tensor) -> Callable[[], Tensor]:
    def run() -> Tensor:
        with torch.inference_mode():
            return model(mel)

    return run


# --------------------------------------------------------------------------- inference


def inference_rows(keys: Sequence[str], device: torch.device, *, batch_sizes: Sequence[int],
                   seconds: float, repeats: Sequence[int], warmup_seconds: float | None,
                   tiny: bool, progress: Callable[[str], None] | None) -> list[dict[str, Any]]:
    """Interleaved inference timing of ``keys`` per batch size (``repeats[i]`` for batch i)."""
    models = {key: inference_module(key, device, tiny=tiny) for key in keys}
    rows: list[dict[str, Any]] = []
    for batch, count in zip(batch_sizes, repeats):
        mel = mel_input(batch, seconds, device)
        warm = mel_input(batch, warmup_seconds, device) if warmup_seconds else mel
        audio = batch * mel.shape[-1] * HOP / SAMPLE_RATE
        out_lengths = {key: _infer(model, mel)().shape[-1] for key, model in models.items()}
        if len(set(out_lengths.values())) != 1:
            raise RuntimeError(f"output lengths differ between models: {out_lengths}")
        if progress is not None:
            progress(f"inference, batch {batch}: {', '.join(keys)} (load {bc.load_string()})")
        times = bc.interleaved({k: _infer(m, mel) for k, m in models.items()}, device,
                               repeats=count, warmup=1,
                               warmup_fns={k: _infer(m, warm) for k, m in models.items()},
                               progress=progress)
        load = bc.load_string()
        for key in keys:
            med = bc.median(times[key])
            rows.append({"model": key, "batch": batch, "audio_s": audio, "median_s": med,
                         "rtf": med / audio, "x_realtime": audio / med,
                         "min_s": min(times[key]), "max_s": max(times[key]),
                         "repeats": count, "load": load, "times_s": times[key]})
    return rows


# --------------------------------------------------------------------------- memory


def _vm_hwm_bytes() -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (Linux >= 4.0: ``echo 5 > /proc/self/clear_refs``)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def measure_memory_here(key: str, batch: int, seconds: float, device: torch.device,
                        tiny: bool) -> dict[str, Any]:
    """Peak memory of one inference call of ``key`` in this process.

    CPU: peak RSS after the call minus the RSS just before it (the peak mark is reset first
    where Linux allows, so construction transients do not hide the call's peak). CUDA: peak
    allocated bytes during the call minus the bytes allocated before it.
    """
    model = inference_module(key, device, tiny=tiny)
    mel = mel_input(batch, seconds, device)
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        _infer(model, mel)()
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device)
        method = "cuda max_memory_allocated"
    else:
        before = bc.current_rss_bytes()
        reset = _reset_peak_rss()
        _infer(model, mel)()
        hwm = _vm_hwm_bytes() if reset else None
        peak = hwm if hwm is not None else bc.peak_rss_bytes()
        method = "peak RSS (VmHWM reset)" if hwm is not None else "peak RSS (ru_maxrss)"
    return {"model": key, "batch": batch, "audio_s": batch * mel.shape[-1] * HOP / SAMPLE_RATE,
            "peak_delta_MiB": max(0, peak - before) / 2**20, "method": method}


def memory_rows(keys: Sequence[str], device: torch.device, *, batch_sizes: Sequence[int],
                seconds: float, tiny: bool, threads: int | None,
                progress: Callable[[str], None] | None) -> list[dict[str, Any]]:
    """One measurement per (model, batch): a fresh subprocess each on CPU, in-process on CUDA."""
    rows = []
    for batch in batch_sizes:
        for key in keys:
            if device.type == "cuda":
                gc.collect()
                torch.cuda.empty_cache()
                row = measure_memory_here(key, batch, seconds, device, tiny)
            else:
                command = [sys.executable, str(Path(__file__).resolve()), "--child-memory", key,
                           "--batch-sizes", str(batch), "--seconds", str(seconds),
                           "--device", str(device)]
                command += ["--tiny"] if tiny else []
                command += ["--threads", str(threads)] if threads else []
                done = subprocess.run(command, capture_output=True, text=True, check=False)
                found = [line for line in done.stdout.splitlines()
                         if line.startswith(MEMORY_TAG)]
                if done.returncode != 0 or not found:
                    raise RuntimeError(f"memory subprocess for {key} failed:\n{done.stderr}")
                row = json.loads(found[-1][len(MEMORY_TAG):])
            if progress is not None:
                progress(f"  memory {key} batch {batch}: +{row['peak_delta_MiB']:.0f} MiB")
            rows.append(row)
    return rows


# --------------------------------------------------------------------------- training


def ours_train_config(*, tiny: bool, batch: int, segment: int) -> dict[str, Any]:
    """HiFi-GAN V1 + the HiFi-GAN discriminator with the published loss weights (a mapping)."""
    generator: dict[str, Any] = {"preset": "v1"}
    discriminator: dict[str, Any] = {"periods": [2, 3, 5, 7, 11], "scales": 3}
    if tiny:
        generator["upsample_initial_channel"] = 16
        discriminator = {"periods": [2, 3], "scales": 1,
                         "mpd_params": {"channels": [4, 16, 16, 16, 16]},
                         "msd_params": {"channels": [16, 16, 16, 16, 16, 16, 16]}}
    return {
        "sample_rate": SAMPLE_RATE,
        "features": {"profile": "hifigan"},
        "generator": {"name": "hifigan", "params": generator},
        "discriminator": {"name": "combined", "params": discriminator},
        "loss": {"adversarial": "lsgan",
                 "weights": {"adversarial": 1.0, "feature_matching": 2.0, "mel": 45.0},
                 "mel": {"f_max": None}},
        "training": {"batch_size": batch, "segment_length": segment, "num_workers": 0,
                     "discriminator_start_step": 0, "seed": 1234},
    }


def pwg_generator_kwargs(*, tiny: bool = False, preset: Any = None) -> dict[str, Any]:
    """ParallelWaveGAN ``HiFiGANGenerator`` arguments: V1 (or tiny), or our resolved ``preset``
    (an :class:`audiogan.models.hifigan.HiFiGANPreset`) translated field by field."""
    if preset is None:
        return {"in_channels": N_MELS, "out_channels": 1, "kernel_size": 7,
                "use_additional_convs": True, **_hifigan_shape(tiny)}
    return {"in_channels": N_MELS, "out_channels": 1, "kernel_size": 7,
            "channels": preset.upsample_initial_channel,
            "upsample_scales": tuple(preset.upsample_rates),
            "upsample_kernel_sizes": tuple(preset.upsample_kernel_sizes),
            "resblock_kernel_sizes": tuple(preset.resblock_kernel_sizes),
            "resblock_dilations": [tuple(d) for d in preset.resblock_dilation_sizes],
            "use_additional_convs": preset.resblock == "1"}


def pwg_discriminator_kwargs(*, periods: Sequence[int] = (2, 3, 5, 7, 11), scales: int = 3,
                             period_channels: int = 32, period_max_channels: int = 1024,
                             scale_channels: int = 128,
                             scale_max_channels: int = 1024) -> dict[str, Any]:
    """``HiFiGANMultiScaleMultiPeriodDiscriminator`` arguments (defaults: HiFi-GAN's own)."""
    act = {"nonlinear_activation": "LeakyReLU",
           "nonlinear_activation_params": {"negative_slope": 0.1}}
    return {
        "scales": scales, "periods": list(periods),
        "scale_discriminator_params": {
            "in_channels": 1, "out_channels": 1, "kernel_sizes": [15, 41, 5, 3],
            "channels": scale_channels, "max_downsample_channels": scale_max_channels,
            "max_groups": 16, "bias": True, "downsample_scales": [2, 2, 4, 4, 1], **act},
        "period_discriminator_params": {
            "in_channels": 1, "out_channels": 1, "kernel_sizes": [5, 3],
            "channels": period_channels, "downsample_scales": [3, 3, 3, 3, 1],
            "max_downsample_channels": period_max_channels, "bias": True,
            "use_weight_norm": True, "use_spectral_norm": False, **act},
    }


TINY_PWG_DISCRIMINATOR: dict[str, Any] = {"periods": (2, 3), "scales": 1, "period_channels": 4,
                                          "period_max_channels": 16, "scale_channels": 16,
                                          "scale_max_channels": 16}


class PWGTrainStep:
    """One HiFi-GAN training step built from ParallelWaveGAN's modules, shaped like ours.

    The order and the work match :meth:`audiogan.training.trainer.Trainer.train_step`: input
    mel from the real segment (our ``hifigan`` features, as our step computes them), one
    generator forward kept for both updates, discriminator update on the detached fake, then
    the generator update with LSGAN + 2 x feature matching (real features under no_grad) +
    45 x mel L1 (PWG's ``MelSpectrogramLoss``, 0 Hz to sr/2, ln), PWG's HiFi-GAN recipe's Adam.

    Args:
        device: where to train.
        tiny: tiny generator and discriminator (smoke runs).
        batch: batch of the fixed synthetic segment used when ``__call__`` gets none.
        segment: samples per segment of that batch.
        generator_kwargs: ``HiFiGANGenerator`` arguments (default V1, see
            :func:`pwg_generator_kwargs`).
        discriminator_kwargs: ``HiFiGANMultiScaleMultiPeriodDiscriminator`` arguments
            (default HiFi-GAN's; see :func:`pwg_discriminator_kwargs`).
        optimizer: ``(name, lr, betas, weight_decay)`` for both optimisers, name ``adam`` or
            ``adamw`` (default PWG's HiFi-GAN recipe: Adam 2e-4, (0.5, 0.9), 0).
        weights: loss weights ``(adversarial, feature_matching, mel)``.
    """

    def __init__(
        self,
        device: torch.device,
        *,
        tiny: bool = False,
        batch: int = 16,
        segment: int = 8192,
        generator_kwargs: dict[str, Any] | None = None,
        discriminator_kwargs: dict[str, Any] | None = None,
        optimizer: tuple[str, float, tuple[float, float], float] = ("adam", 2e-4, (0.5, 0.9),
                                                                    0.0),
        weights: tuple[float, float, float] = (1.0, 2.0, 45.0),
    ) -> None:
        from parallel_wavegan.losses import (
            DiscriminatorAdversarialLoss,
            FeatureMatchLoss,
            GeneratorAdversarialLoss,
            MelSpectrogramLoss,
        )
        from parallel_wavegan.models import (
            HiFiGANGenerator,
            HiFiGANMultiScaleMultiPeriodDiscriminator,
        )

        from audiogan.features import MelSpectrogram

        self.device = device
        self.weights = weights
        torch.manual_seed(0)
        if discriminator_kwargs is None:
            discriminator_kwargs = pwg_discriminator_kwargs(
                **(TINY_PWG_DISCRIMINATOR if tiny else {}))
        self.generator_kwargs = generator_kwargs or pwg_generator_kwargs(tiny=tiny)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.nn.utils.weight_norm is deprecated
            self.generator = HiFiGANGenerator(**self.generator_kwargs)
            self.discriminator = HiFiGANMultiScaleMultiPeriodDiscriminator(**discriminator_kwargs)
        self.generator.to(device).train()
        self.discriminator.to(device).train()
        self.hop = math.prod(self.generator_kwargs_scales(self.generator))
        self.features = MelSpectrogram("hifigan", sample_rate=SAMPLE_RATE).to(device)
        self.mel_loss = MelSpectrogramLoss(fs=SAMPLE_RATE, fft_size=1024, hop_size=HOP,
                                           win_length=1024, num_mels=N_MELS, fmin=0,
                                           fmax=SAMPLE_RATE / 2, log_base=None).to(device)
        self.fm_loss = FeatureMatchLoss(average_by_layers=False, average_by_discriminators=False,
                                        include_final_outputs=False)
        self.g_adv = GeneratorAdversarialLoss(average_by_discriminators=False, loss_type="mse")
        self.d_adv = DiscriminatorAdversarialLoss(average_by_discriminators=False,
                                                  loss_type="mse")
        name, lr, betas, weight_decay = optimizer
        opt_class = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[name]
        self.opt_g = opt_class(self.generator.parameters(), lr=lr, betas=betas,
                               weight_decay=weight_decay)
        self.opt_d = opt_class(self.discriminator.parameters(), lr=lr, betas=betas,
                               weight_decay=weight_decay)
        generator = torch.Generator().manual_seed(0)
        self.real = (0.1 * torch.randn(batch, 1, segment, generator=generator)).clamp(-1, 1)
        self.real = self.real.to(device)

    def inference_generator(self) -> nn.Module:
        """A copy of the generator with weight norm folded, in eval mode, on the same device.

        (``copy.deepcopy`` fails on modules with the deprecated ``torch.nn.utils.weight_norm``
        once they have run, so the copy is rebuilt and loaded from the state dict.)
        """
        from parallel_wavegan.models import HiFiGANGenerator

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = HiFiGANGenerator(**self.generator_kwargs)
            model.load_state_dict(self.generator.state_dict())
            model.remove_weight_norm()
        return model.to(self.device).eval()

    @staticmethod
    def generator_kwargs_scales(generator: nn.Module) -> list[int]:
        """The upsampling factors of a PWG HiFiGANGenerator (read from its layers)."""
        return [int(up[-1].stride[0]) for up in generator.upsamples]

    def __call__(self, real: Tensor | None = None, *,
                 train_discriminator: bool = True) -> dict[str, float]:
        """One update on ``real`` (B, 1, T) (default: the fixed batch); returns the losses."""
        w_adv, w_fm, w_mel = self.weights
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PWG's stft(return_complex=False) warns
            real = self.real if real is None else real
            mel = self.features(real.squeeze(1))[..., : real.shape[-1] // self.hop]
            fake = self.generator(mel)
            stats: dict[str, float] = {}
            if train_discriminator:
                real_loss, fake_loss = self.d_adv(self.discriminator(fake.detach()),
                                                  self.discriminator(real))
                d_loss = real_loss + fake_loss
                self.opt_d.zero_grad(set_to_none=True)
                d_loss.backward()
                self.opt_d.step()
                stats["d_loss"] = float(d_loss.detach())
                for p in self.discriminator.parameters():
                    p.requires_grad_(False)
                p_fake = self.discriminator(fake)
                with torch.no_grad():
                    p_real = self.discriminator(real)
                g_loss = (w_adv * self.g_adv(p_fake) + w_fm * self.fm_loss(p_fake, p_real)
                          + w_mel * self.mel_loss(fake, real))
            else:
                g_loss = w_mel * self.mel_loss(fake, real)
            self.opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            self.opt_g.step()
            for p in self.discriminator.parameters():
                p.requires_grad_(True)
        stats["g_loss"] = float(g_loss.detach())
        return stats


@contextlib.contextmanager
def _ours_train_step(device: torch.device, *, tiny: bool, batch: int,
                     segment: int) -> Iterator[Callable[[], object]]:
    import train_throughput

    with tempfile.TemporaryDirectory(prefix="audiogan_peers_") as tmp:
        trainer = train_throughput.build_trainer(
            ours_train_config(tiny=tiny, batch=batch, segment=segment), device=str(device),
            run_dir=Path(tmp) / "run", corpus_dir=Path(tmp) / "corpus",
            utterances=2 * batch + 2, duration_range=(0.5, 1.0),  # the trainer needs >= batch
        )
        trainer.generator.train()
        trainer.discriminator.train()
        fixed = train_throughput.synthetic_batch(trainer)

        def step() -> object:
            stats = trainer.train_step([fixed])
            trainer.step += 1
            return stats

        yield step


def train_rows(device: torch.device, *, peer: bool, tiny: bool, batch: int, segment: int,
               repeats: int, warmup: int,
               progress: Callable[[str], None] | None) -> list[dict[str, Any]]:
    """Interleaved training-step times: ours (Trainer.train_step) and, if ``peer``, PWG's."""
    with _ours_train_step(device, tiny=tiny, batch=batch, segment=segment) as ours:
        steps: dict[str, Callable[[], object]] = {"ours_hifigan_v1": ours}
        if peer:
            steps["pwg_hifigan_v1"] = PWGTrainStep(device, tiny=tiny, batch=batch,
                                                   segment=segment)
        if progress is not None:
            progress(f"training step, batch {batch} x {segment}: {', '.join(steps)} "
                     f"(load {bc.load_string()})")
        times = bc.interleaved(steps, device, repeats=repeats, warmup=warmup, progress=progress)
    load = bc.load_string()
    return [{"model": key, "batch": batch, "segment": segment,
             "median_step_s": bc.median(values), "min_step_s": min(values),
             "max_step_s": max(values), "steps": len(values), "load": load, "times_s": values}
            for key, values in times.items()]


# --------------------------------------------------------------------------- ratios


def ratio_rows(inference: Sequence[dict[str, Any]],
               training: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """ours/other speed ratios with the issue-5 targets.

    ``speed_ratio`` is other median / our median (the headline, judged against the target);
    ``paired_ratio`` the median of the per-round ratios (steadier under changing load);
    ``min_ratio`` the ratio of the fastest calls (the least disturbed ones).
    """
    by_key = {(row["model"], row["batch"]): row for row in inference}
    comparisons = [
        ("hifigan_v1: ours vs ParallelWaveGAN", "ours_hifigan_v1", "pwg_hifigan_v1", 0.95),
        ("istft_base: ours vs vocos", "ours_istft_base", "vocos_mel", 0.95),
        ("istft_base vs our hifigan_v1", "ours_istft_base", "ours_hifigan_v1", 10.0),
    ]
    batches = sorted({row["batch"] for row in inference})
    rows = []
    for label, ours_key, other_key, target in comparisons:
        for batch in batches:
            ours, other = by_key.get((ours_key, batch)), by_key.get((other_key, batch))
            if ours is None or other is None:
                continue
            ratio = other["median_s"] / ours["median_s"]
            rows.append({
                "comparison": f"inference {label}", "batch": batch, "ours_s": ours["median_s"],
                "other_s": other["median_s"], "speed_ratio": ratio,
                "paired_ratio": bc.paired_ratio(other.get("times_s", []),
                                                ours.get("times_s", [])),
                "min_ratio": (min(other["times_s"]) / min(ours["times_s"])
                              if ours.get("times_s") and other.get("times_s") else math.nan),
                "target": f">= {target:g}x", "status": "met" if ratio >= target else "MISSED"})
    train = {row["model"]: row for row in training}
    if "ours_hifigan_v1" in train and "pwg_hifigan_v1" in train:
        ours, other = train["ours_hifigan_v1"], train["pwg_hifigan_v1"]
        rows.append({"comparison": "training step hifigan_v1: ours vs ParallelWaveGAN",
                     "batch": ours["batch"], "ours_s": ours["median_step_s"],
                     "other_s": other["median_step_s"],
                     "speed_ratio": other["median_step_s"] / ours["median_step_s"],
                     "paired_ratio": bc.paired_ratio(other["times_s"], ours["times_s"]),
                     "min_ratio": other["min_step_s"] / ours["min_step_s"], "target": "-",
                     "status": "-"})
    return rows


# --------------------------------------------------------------------------- CLI


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--pairs", nargs="+", choices=["hifigan", "istft"],
                        default=["hifigan", "istft"], help="which pairs (default both)")
    parser.add_argument("--parts", nargs="+", choices=["inference", "memory", "training"],
                        default=["inference", "memory", "training"])
    parser.add_argument("--seconds", type=float, default=10.0, help="audio per item (10)")
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 16])
    parser.add_argument("--repeats", nargs="+", type=int, default=[5],
                        help="timed rounds per batch size (one value, or one per batch size)")
    parser.add_argument("--warmup-seconds", type=float, default=None,
                        help="audio per item of the warm-up call (default --seconds)")
    parser.add_argument("--train-batch", type=int, default=16)
    parser.add_argument("--train-segment", type=int, default=8192)
    parser.add_argument("--train-repeats", type=int, default=None,
                        help="timed steps per side (default 10 on CUDA, 3 on CPU)")
    parser.add_argument("--train-warmup", type=int, default=1)
    parser.add_argument("--tiny", action="store_true",
                        help="tiny shapes (smoke tests; ratios meaningless)")
    parser.add_argument("--json", type=Path, default=None, help="write all rows + machine info")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.add_argument("--child-memory", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if len(args.repeats) == 1:
        args.repeats = args.repeats * len(args.batch_sizes)
    if len(args.repeats) != len(args.batch_sizes) or min(args.repeats) < 1:
        parser.error("--repeats: one value >= 1, or one per batch size")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the comparisons that the installed peers allow; print tables and ratios."""
    args = parse_args(argv)
    bc.set_threads(args.threads)
    device = bc.resolve_device(args.device)
    if args.child_memory:  # one isolated memory measurement (see memory_rows)
        row = measure_memory_here(args.child_memory, args.batch_sizes[0], args.seconds, device,
                                  args.tiny)
        print(MEMORY_TAG + json.dumps(row), flush=True)
        return 0

    def progress(line: str) -> None:
        if not args.quiet:
            print(line, flush=True)

    status = peer_status()
    info = bc.machine_info(device)
    print(f"# peers on {info.get('gpu', info['cpu'])}, torch {info['torch']}, "
          f"{info['torch_threads']} threads, load {bc.load_string()}", flush=True)
    keys: list[str] = []
    for key, (pair, _side, package) in MODELS.items():
        if pair not in args.pairs:
            continue
        if package is not None and status[package] is not None:
            print(f"SKIP {key}: {package} is not importable ({status[package]}). Install it in "
                  "a separate venv (benchmarks/README.md) and run this script from there with "
                  "audiogan on PYTHONPATH.", flush=True)
            continue
        keys.append(key)
    results: dict[str, Any] = {"benchmark": "peers", "machine": info, "peers": {
        package: (None if why else _version(package)) for package, why in status.items()},
        "skipped": {p: why for p, why in status.items() if why}, "settings": {
            k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}}

    inference: list[dict[str, Any]] = []
    memory: list[dict[str, Any]] = []
    training: list[dict[str, Any]] = []

    def save() -> list[dict[str, Any]]:
        # After every part, so a later failure never loses the minutes already measured.
        ratios = ratio_rows(inference, training)
        info["load_average_end"] = list(bc.load_average())
        results.update({"inference": inference, "memory": memory, "training": training,
                        "ratios": ratios})
        if args.json is not None:
            bc.write_json(args.json, results)
        return ratios

    if "inference" in args.parts and keys:
        inference = inference_rows(keys, device, batch_sizes=args.batch_sizes,
                                   seconds=args.seconds, repeats=args.repeats,
                                   warmup_seconds=args.warmup_seconds, tiny=args.tiny,
                                   progress=progress)
        save()
    if "memory" in args.parts and keys:
        memory = memory_rows(keys, device, batch_sizes=args.batch_sizes, seconds=args.seconds,
                             tiny=args.tiny, threads=args.threads, progress=progress)
        save()
    if "training" in args.parts and "hifigan" in args.pairs:
        repeats = args.train_repeats or (10 if device.type == "cuda" else 3)
        training = train_rows(device, peer=status["parallel_wavegan"] is None, tiny=args.tiny,
                              batch=args.train_batch, segment=args.train_segment,
                              repeats=repeats, warmup=args.train_warmup, progress=progress)
    ratios = save()
    for title, rows, columns in (("inference", inference, INFERENCE_COLUMNS),
                                 ("peak memory of one inference call", memory, MEMORY_COLUMNS),
                                 ("training step", training, TRAIN_COLUMNS),
                                 ("ratios (ours/other speed; > 1: ours faster)", ratios,
                                  RATIO_COLUMNS)):
        if rows:
            print(f"\n## {title}\n{bc.format_table(rows, columns)}")
    if not ratios:
        print("\nno ratios: no peer is importable (see SKIP lines above)")
    return 0


def _version(package: str) -> str:
    from importlib import metadata

    name = {"parallel_wavegan": "parallel-wavegan"}.get(package, package)
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
