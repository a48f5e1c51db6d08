"""The training-step comparison of ``peers.py``: HiFi-GAN V1 with the full HiFi-GAN
discriminator, ours (``Trainer.train_step``) vs the same step around ParallelWaveGAN's modules
(:class:`PWGTrainStep`), timed interleaved; and issue 17's anchor (:func:`anchor_step`: that
step with jik876's losses and optimiser, fused AdamW, ``cudnn.benchmark``; fp32 or bf16
autocast), which ``gpu_training.py`` times against ours.

The reference package needs shims on a bare Python 3.12 image (the GPU machine):
:func:`install_reference_shims` adds them before anything imports ``parallel_wavegan``."""

from __future__ import annotations

import contextlib
import math
import sys
import tempfile
import types
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import bench_common as bc
import torch
from peer_models import HOP, N_MELS, SAMPLE_RATE, _hifigan_shape
from torch import Tensor, nn


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
        fused: fused optimiser kernels (``fused=True``; CUDA only).
        include_final_outputs: feature matching over the scores too (jik876's ``fmap`` lists
            every layer's output, ``conv_post`` included); default PWG's recipe (without).
        amp_dtype: autocast dtype of the generator and discriminator calls (None: fp32); the
            losses are computed in float32 on float32 copies of the outputs.
        tensor_stats: return the losses as detached device tensors (no host sync per step).
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
        fused: bool = False,
        include_final_outputs: bool = False,
        amp_dtype: torch.dtype | None = None,
        tensor_stats: bool = False,
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

        from audiogan.features.mel import MelSpectrogram

        self.device = device
        self.weights = weights
        self.amp_dtype = amp_dtype
        self.tensor_stats = tensor_stats
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
                                        include_final_outputs=include_final_outputs)
        self.g_adv = GeneratorAdversarialLoss(average_by_discriminators=False, loss_type="mse")
        self.d_adv = DiscriminatorAdversarialLoss(average_by_discriminators=False,
                                                  loss_type="mse")
        name, lr, betas, weight_decay = optimizer
        opt_class = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[name]
        extra: dict[str, Any] = {"fused": True} if fused else {}
        self.opt_g = opt_class(self.generator.parameters(), lr=lr, betas=betas,
                               weight_decay=weight_decay, **extra)
        self.opt_d = opt_class(self.discriminator.parameters(), lr=lr, betas=betas,
                               weight_decay=weight_decay, **extra)
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

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def __call__(self, real: Tensor | None = None, *,
                 train_discriminator: bool = True) -> dict[str, Any]:
        """One update on ``real`` (B, 1, T) (default: the fixed batch); returns the losses
        (floats, or detached device tensors with ``tensor_stats``)."""
        w_adv, w_fm, w_mel = self.weights
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PWG's stft(return_complex=False) warns
            real = self.real if real is None else real
            mel = self.features(real.squeeze(1))[..., : real.shape[-1] // self.hop]
            with self._autocast():
                fake = self.generator(mel)
            stats: dict[str, Tensor] = {}
            if train_discriminator:
                with self._autocast():
                    real_loss, fake_loss = self.d_adv(self.discriminator(fake.detach()),
                                                      self.discriminator(real))
                d_loss = real_loss.float() + fake_loss.float()
                self.opt_d.zero_grad(set_to_none=True)
                d_loss.backward()
                self.opt_d.step()
                stats["d_loss"] = d_loss.detach()
                for p in self.discriminator.parameters():
                    p.requires_grad_(False)
                with self._autocast():
                    p_fake = self.discriminator(fake)
                    with torch.no_grad():
                        p_real = self.discriminator(real)
                adv = self.g_adv(_float(p_fake))
                fm = self.fm_loss(_float(p_fake), _float(p_real))
                g_loss = w_adv * adv + w_fm * fm + w_mel * self.mel_loss(fake.float(), real)
            else:
                g_loss = w_mel * self.mel_loss(fake.float(), real)
            self.opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            self.opt_g.step()
            for p in self.discriminator.parameters():
                p.requires_grad_(True)
        stats["g_loss"] = g_loss.detach()
        if self.tensor_stats:
            return dict(stats)
        return {key: float(value) for key, value in stats.items()}


def _float(outputs: Any) -> Any:
    """A discriminator's nested lists of outputs, each as float32 (losses in float32)."""
    if isinstance(outputs, (list, tuple)):
        return [_float(item) for item in outputs]
    return outputs.float()


def anchor_step(device: torch.device, *, tiny: bool, batch: int, segment: int,
                precision: str = "fp32") -> PWGTrainStep:
    """Issue 17's anchor: ParallelWaveGAN's ``HiFiGANGenerator`` (V1) +
    ``HiFiGANMultiScaleMultiPeriodDiscriminator`` with jik876's losses (LSGAN, 2 x feature
    matching over every layer output including the scores, 45 x mel L1 from 0 Hz to sr/2),
    jik876's AdamW (2e-4, betas 0.8/0.99, weight decay 0.01), fused on CUDA, the mel computed on
    the device, ``cudnn.benchmark`` on; ``precision`` ``fp32`` or ``bf16`` (autocast around the
    model calls, losses in float32). Losses come back as device tensors (no sync per step).
    """
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"anchor precision must be fp32 or bf16, not {precision!r}")
    install_reference_shims()
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    return PWGTrainStep(device, tiny=tiny, batch=batch, segment=segment,
                        optimizer=("adamw", 2e-4, (0.8, 0.99), 0.01),
                        fused=device.type == "cuda", include_final_outputs=True,
                        amp_dtype=torch.bfloat16 if precision == "bf16" else None,
                        tensor_stats=True)


def _no_hub(*_args: Any, **_kwargs: Any) -> None:
    raise RuntimeError("huggingface_hub is stubbed here (benchmarks/peer_training.py)")


def install_reference_shims() -> list[str]:
    """Let ``parallel_wavegan`` 0.6.1 (as ``benchmarks/install_refs.sh`` unpacks it) and
    ``vocos`` import where their unused imports are missing: ``scipy.signal.kaiser`` aliased to
    ``scipy.signal.windows.kaiser``; stub modules for ``h5py``, ``kaldiio`` and ``filelock``
    (PWG's I/O helpers) and ``huggingface_hub`` (vocos' hub download), never called by the
    models and losses used here, only when the real package is absent. Returns the names
    stubbed."""
    import scipy.signal
    import scipy.signal.windows

    if not hasattr(scipy.signal, "kaiser"):
        scipy.signal.kaiser = scipy.signal.windows.kaiser  # type: ignore[attr-defined]
    stubbed = []
    for name in ("h5py", "kaldiio", "filelock", "huggingface_hub"):
        if name in sys.modules:
            continue
        try:
            __import__(name)
        except ImportError:
            module = types.ModuleType(name)
            module.__doc__ = "stub (benchmarks/peer_training.py): unused by the models timed"
            if name == "filelock":
                module.FileLock = contextlib.nullcontext  # type: ignore[attr-defined]
            if name == "huggingface_hub":
                module.hf_hub_download = _no_hub  # type: ignore[attr-defined]
            sys.modules[name] = module
            stubbed.append(name)
    return stubbed


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
