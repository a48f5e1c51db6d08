"""Parity of ``audiogan import --format pwg`` with kan-bayashi/ParallelWaveGAN 0.6.1.

No public pretrained ParallelWaveGAN weights are reachable here, so each case builds the
reference package's own generator class (``parallel_wavegan.models.ParallelWaveGANGenerator``
/ ``HiFiGANGenerator`` / ``MelGANGenerator``; release-size shapes: Parallel WaveGAN v1, HiFi-GAN
V1, MelGAN, multi-band MelGAN) with random weights, saves it in the toolkit's exact layout
(``checkpoint-<N>steps.pkl`` = ``{"model": {"generator", "discriminator"}, "optimizer",
"scheduler", "steps", "epochs"}``, ``config.yml`` dumped as the toolkit dumps it, ``stats.h5``
written with h5py or ``stats.npy``), imports it with
``audiogan.inference.imports.import_model`` into a temporary model directory and runs both on the
same raw log-mels of ``--clips`` dev LJSpeech clips (our ``pwg`` profile: 22.05 kHz, 80 mels,
80-7600 Hz; the statistics are those clips' mean and standard deviation): the reference through
``parallel_wavegan.utils.load_model`` (which also builds the multi-band model's PQMF from the
config, its version rule included) and ``inference(c, normalize_before=True)``, ours through
``audiogan.Vocoder.load``; Parallel WaveGAN, which shapes noise, gets the same noise on both sides:
ours ``Vocoder(mel, seed=clip index)``, the reference ``inference(c, x=keyed_noise(clip index, 0,
frames * hop))``. ``max_abs_diff`` is the largest difference of the waveforms (target
<= 1e-4, fp32, CPU); both have ``frames * hop`` samples. Reported separately:
``feature_max_abs_diff``, our ``pwg`` log-mel against the reference's own
``logmelfilterbank`` (librosa) on the same audio, and ``e2e_max_abs_diff``, our waveform from our
features against the reference generator on its own features (the features' float32 tolerance
amplified by the generator). The checkpoint's (random) discriminator comes along:
``MelGANMultiScaleDiscriminator`` as ``melgan_msd``, ``HiFiGANMultiScaleMultiPeriodDiscriminator``
as ``combined`` (MPD output kernel 2), ``ParallelWaveGANDiscriminator`` (a
``ParallelWaveGANGenerator`` case's, or any case's ``discriminator_type`` extra) as
``parallel_wavegan``, ``ResidualParallelWaveGANDiscriminator`` as ``residual_parallel_wavegan``:
``disc_max_abs_diff`` is the largest difference of every sub-discriminator's feature maps and
scores (Parallel WaveGAN's: of the per-sample scores) on the clip's audio (target <= 1e-4 too).

The reference imports ``scipy.signal.kaiser`` (now ``scipy.signal.windows.kaiser``): this script
adds that alias first, and an empty ``kaldiio`` module (imported by ``preprocess.py``'s datasets,
unused by ``logmelfilterbank``). Run with the reference importable (``benchmarks/install_refs.sh``
puts it in ``.refs``), e.g.
``PYTHONPATH=.refs python benchmarks/import_parity_pwg.py --clips 5 --threads 2 --json OUT``;
without it the script says so and exits 0.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import bench_common as bc
import numpy as np
import soundfile as sf
import torch
import yaml

# The LJSpeech clips committed with the tests; pass --data for others (e.g. LJSpeech-1.1/wavs).
TARGET = 1e-4
FEATURES = {"sampling_rate": 22050, "fft_size": 1024, "hop_size": 256, "win_length": None,
            "window": "hann", "num_mels": 80, "fmin": 80, "fmax": 7600}

#: (case name, generator_type, generator_params, config extras, stats file format)
CASES: list[tuple[str, str, dict[str, Any], dict[str, Any], str]] = [
    ("parallel_wavegan_v1", "ParallelWaveGANGenerator", {}, {"version": "0.6.1"}, "hdf5"),
    ("hifigan_v1", "HiFiGANGenerator", {}, {"version": "0.5.3"}, "hdf5"),
    ("hifigan_no_additional_convs_odd_scale", "HiFiGANGenerator",
     {"upsample_scales": [8, 5, 3, 2], "upsample_kernel_sizes": [16, 10, 6, 4],
      "channels": 128, "resblock_kernel_sizes": [3, 5], "resblock_dilations": [[1, 2], [2, 6]],
      "use_additional_convs": False}, {"version": "0.6.1", "hop_size": 240}, "npy"),
    ("melgan", "MelGANGenerator", {}, {"version": "0.4.1"}, "hdf5"),
    ("multiband_melgan_v0.5", "MelGANGenerator",
     {"out_channels": 4, "channels": 384, "upsample_scales": [8, 4, 2], "stacks": 4},
     {"version": "0.5.0"}, "hdf5"),
    ("multiband_melgan_v0.4.2_cutoff_0.15", "MelGANGenerator",
     {"out_channels": 4, "channels": 384, "upsample_scales": [8, 4, 2], "stacks": 4},
     {"version": "0.4.2"}, "npy"),
    ("multiband_melgan_pqmf_params", "MelGANGenerator",
     {"out_channels": 4, "channels": 384, "upsample_scales": [8, 4, 2], "stacks": 4},
     {"version": "0.6.1", "pqmf_params": {"taps": 48, "cutoff_ratio": 0.16, "beta": 8.0}},
     "hdf5"),
]


def reference_status() -> str | None:
    """None when parallel_wavegan and h5py import, else why not."""
    try:
        import scipy.signal
        import scipy.signal.windows
        if not hasattr(scipy.signal, "kaiser"):
            scipy.signal.kaiser = scipy.signal.windows.kaiser  # the reference's old import
        import h5py  # noqa: F401
        import parallel_wavegan.models
        import parallel_wavegan.utils  # noqa: F401
    except Exception as exc:  # any import failure means: no reference here
        return f"parallel_wavegan not importable ({type(exc).__name__}: {exc})"
    return None


def _randomise(model: torch.nn.Module, seed: int) -> None:
    """Random weights well away from the reference's init (so every layer matters)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith("weight_g"):
                tensor.copy_(0.5 + torch.rand(tensor.shape, generator=gen))
            elif name.endswith(("weight_v", "bias")):
                tensor.copy_(torch.randn(tensor.shape, generator=gen) * (
                    0.1 if name.endswith("bias") else 1.0))


def write_source(folder: Path, kind: str, params: dict[str, Any], extras: dict[str, Any],
                 stats_format: str, seed: int, mean: np.ndarray, scale: np.ndarray) -> Path:
    """A reference-layout checkpoint directory; returns its checkpoint."""
    import h5py
    import parallel_wavegan.models as models

    generator = getattr(models, kind)(**params)
    _randomise(generator, seed)
    chosen = extras.get("discriminator_type")
    if chosen is not None or kind == "ParallelWaveGANGenerator":  # a Parallel WaveGAN one
        disc_params = extras.get("discriminator_params", {})
        discriminator = getattr(models, chosen or "ParallelWaveGANDiscriminator")(**disc_params)
        _randomise(discriminator, seed + 50)
        extras = {**extras, "discriminator_params": disc_params}
    elif kind == "MelGANGenerator":
        disc_params = {} if params.get("out_channels", 1) == 1 else {
            "downsample_scales": [4, 4, 4], "max_downsample_channels": 512}  # the MB releases'
        discriminator = models.MelGANMultiScaleDiscriminator(**disc_params)
        _randomise(discriminator, seed + 50)
        extras = {**extras, "discriminator_params": disc_params}
    else:
        discriminator = models.HiFiGANMultiScaleMultiPeriodDiscriminator()
        _randomise(discriminator, seed + 50)
        extras = {**extras, "discriminator_params": {}}
    config = {**FEATURES, **extras, "format": stats_format, "generator_type": kind,
              "generator_params": {"out_channels": 1, **params}, "batch_max_steps": 8192,
              "batch_size": 16,
              "discriminator_type": type(discriminator).__name__}
    folder.mkdir(parents=True)
    (folder / "config.yml").write_text(yaml.dump(config, Dumper=yaml.Dumper))
    state = {"model": {"generator": generator.state_dict(),
                       "discriminator": discriminator.state_dict()},
             "optimizer": {"generator": {}, "discriminator": {}},
             "scheduler": {"generator": {}, "discriminator": {}}, "steps": 1000, "epochs": 3}
    checkpoint = folder / "checkpoint-1000steps.pkl"
    torch.save(state, checkpoint)
    if stats_format == "hdf5":
        with h5py.File(folder / "stats.h5", "w") as f:
            f["mean"], f["scale"] = mean, scale
    else:
        np.save(folder / "stats.npy", np.stack([mean, scale]))
    return checkpoint


def _discriminators(checkpoint: Path, model_dir: Path) -> tuple[Any, Any] | None:
    """(reference, ours) discriminators when the import brought one along, else None."""
    import parallel_wavegan.models as models
    from safetensors.torch import load_file

    from audiogan.config.build import discriminator_from_config
    from audiogan.inference.model_dir import load_model

    if not (model_dir / "discriminator.safetensors").is_file():
        return None
    config = yaml.safe_load((checkpoint.parent / "config.yml").read_text())
    reference = getattr(models, config["discriminator_type"])(
        **config.get("discriminator_params", {})).eval()
    reference.load_state_dict(torch.load(checkpoint, weights_only=False)["model"]["discriminator"])
    ours = discriminator_from_config(load_model(model_dir).config).eval()
    ours.load_state_dict(load_file(model_dir / "discriminator.safetensors"))
    return reference, ours


def _disc_diff(pair: tuple[Any, Any] | None, clip: Path, samples: int) -> float | None:
    """Largest difference of every scale's feature maps and logits on the clip's audio."""
    if pair is None:
        return None
    data, _ = sf.read(clip, dtype="float32")
    wave = torch.from_numpy(data[:samples])[None, None]
    with torch.no_grad():
        theirs, ours = pair[0](wave), pair[1](wave)
    if isinstance(theirs, torch.Tensor):  # Parallel WaveGAN's: one score per sample
        return float((theirs - ours.logits[0]).abs().max())
    if hasattr(pair[0], "mpd"):  # the toolkit returns MSD then MPD outputs, audiogan MPD first
        scales = len(pair[0].msd.discriminators)
        theirs = theirs[scales:] + theirs[:scales]
    assert len(theirs) == len(ours.features)
    return max(float((a.flatten(1) - b.flatten(1)).abs().max())
               for their_part, our_part in zip(theirs, ours.features)
               for a, b in zip(their_part, our_part, strict=True))


def clip_mels(clips: list[Path], max_frames: int | None
              ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Raw log-mels (80, frames) of the clips: ours (``pwg`` profile) and the reference's
    (``parallel_wavegan.bin.preprocess.logmelfilterbank``, librosa, float32 audio)."""
    import types

    # preprocess.py imports its Kaldi-scp dataset (kaldiio), which logmelfilterbank never uses
    sys.modules.setdefault("kaldiio", types.ModuleType("kaldiio"))
    from parallel_wavegan.bin.preprocess import logmelfilterbank

    from audiogan.features.mel import MelSpectrogram

    logmel = MelSpectrogram("pwg", sample_rate=22050, n_fft=1024, hop_length=256,
                            win_length=1024, n_mels=80, f_min=80.0, f_max=7600.0)
    mels, ref_mels = [], []
    for clip in clips:
        data, rate = sf.read(clip, dtype="float32")
        if rate != 22050:
            raise SystemExit(f"{clip}: {rate} Hz; the dev LJSpeech clips are 22.05 kHz")
        with torch.no_grad():
            mel = logmel(torch.from_numpy(data)[None])[0]  # (80, frames), centred frames
        ref = torch.from_numpy(logmelfilterbank(data, 22050, 1024, 256, None, "hann", 80, 80,
                                                 7600).T.astype(np.float32))
        mels.append(mel[:, :max_frames] if max_frames else mel)
        ref_mels.append(ref[:, :max_frames] if max_frames else ref)
    return mels, ref_mels


def _cut(noise: dict[str, torch.Tensor], samples: int) -> dict[str, torch.Tensor]:
    """The reference's ``x`` noise (samples, 1) cut to ``samples``, or nothing."""
    return {key: value[:samples] for key, value in noise.items()}


def run(clips: list[Path], max_frames: int | None,
        cases: list[str] | None = None) -> list[dict[str, Any]]:
    from parallel_wavegan.utils import load_model

    from audiogan import Vocoder
    from audiogan.inference.imports import import_model
    from audiogan.models.randomness import keyed_noise

    mels, ref_mels = clip_mels(clips, max_frames)
    every = torch.cat(mels, dim=1).double()
    mean = every.mean(dim=1).float().numpy()
    scale = every.std(dim=1).float().numpy()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for index, (name, kind, params, extras, stats_format) in enumerate(CASES):
            if cases is not None and name not in cases:
                continue
            checkpoint = write_source(Path(tmp) / name, kind, params, extras, stats_format,
                                      index, mean, scale)
            started = time.perf_counter()
            result = import_model(checkpoint, Path(tmp) / f"{name}_model")
            import_s = time.perf_counter() - started
            reference = load_model(str(checkpoint)).eval()
            reference.remove_weight_norm()
            ours = Vocoder.load(result.out_dir)
            discriminators = _discriminators(checkpoint, result.out_dir)
            for seed, (clip, mel, ref_mel) in enumerate(zip(clips, mels, ref_mels)):
                noise: dict[str, torch.Tensor] = {}
                if ours.noise_channels:  # the same keyed noise for both
                    length = max(mel.shape[1], ref_mel.shape[1]) * ours.hop_length
                    noise["x"] = keyed_noise(seed, 0, length).T
                with torch.no_grad():
                    ref = reference.inference(mel.T.contiguous(), normalize_before=True,
                                              **_cut(noise, mel.shape[1] * ours.hop_length))
                    out = ours(mel[None], check_range=False, seed=seed)
                    e2e = reference.inference(ref_mel.T.contiguous(), normalize_before=True,
                                              **_cut(noise, ref_mel.shape[1] * ours.hop_length))
                ref, out, e2e = ref.reshape(-1), out.reshape(-1), e2e.reshape(-1)
                common = min(len(e2e), len(out))
                frames = min(mel.shape[1], ref_mel.shape[1])
                rows.append({"case": name, "generator_type": kind, "clip": clip.name,
                             "frames": int(mel.shape[1]),
                             "same_length": len(ref) == len(out) == mel.shape[1] * ours.hop_length,
                             "max_abs_diff": float((ref - out).abs().max()),
                             "feature_max_abs_diff": float(
                                 (mel[:, :frames] - ref_mel[:, :frames]).abs().max()),
                             "e2e_max_abs_diff": float((e2e[:common] - out[:common]).abs().max()),
                             "disc_max_abs_diff": _disc_diff(discriminators, clip,
                                                             mel.shape[1] * 256),
                             "import_s": round(import_s, 2)})
            print(f"{name}: worst {max(r['max_abs_diff'] for r in rows if r['case'] == name):.2e}"
                  f" ({'; '.join(result.notes)})", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    bc.add_parity_arguments(parser)
    parser.add_argument("--max-frames", type=int, default=None,
                        help="Cut every clip to this many frames (smoke runs).")
    parser.add_argument("--cases", nargs="+", default=None, choices=[c[0] for c in CASES],
                        help="Run only these cases (default: all).")
    args = parser.parse_args(argv)
    clips = bc.parity_clips(args, "pwg import parity", reference_status())
    if not clips:
        return 0
    import parallel_wavegan

    rows = run(clips, args.max_frames, args.cases)
    columns = ["case", "clip", "frames", "same_length", "max_abs_diff", "feature_max_abs_diff",
               "e2e_max_abs_diff", "disc_max_abs_diff"]
    bc.print_parity_table(rows, columns)
    worst = max(max(row["max_abs_diff"], row["disc_max_abs_diff"] or 0.0) for row in rows)
    ok = worst <= TARGET and all(row["same_length"] for row in rows)
    return bc.finish_parity(
        args, ok, f"worst mel -> wave / discriminator max |diff| {worst:.3g} (target <= "
        f"{TARGET:g})", TARGET, rows,
        reference=f"parallel_wavegan {parallel_wavegan.__version__}", dtype="float32")


if __name__ == "__main__":
    sys.exit(main())
