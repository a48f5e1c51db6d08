"""Parity of ``audiogan import --format bigvgan`` with the ``bigvgan`` 2.4.1 package (the
reference, its torch activation path: ``use_cuda_kernel=False``).

No BigVGAN weights are reachable here, so each case builds the reference's own generator
(``bigvgan.bigvgan.BigVGAN``) for a published configuration - the generator shape and features
of NVIDIA's ``configs/bigvgan_<name>.json``, restated below; ``--width`` narrows
``upsample_initial_channel`` for quick runs - with its random initialisation plus seeded noise
on the Snake / SnakeBeta parameters, saves it as the releases are saved (``bigvgan_generator.pt``
= ``{"generator": state_dict()}``, ``config.json``), once with weight norm (``weight_g`` /
``weight_v``) and once folded by the package's ``remove_weight_norm``, imports it with
``audiogan.inference.imports.import_model`` into a temporary model directory and compares, on
``--clips`` dev LJSpeech clips resampled to the preset's rate:

- ``max_abs_diff``: the reference's mel (its ``meldataset.mel_spectrogram``) through the
  package's forward and through ``audiogan.Vocoder.load(model_dir)`` (target <= 1e-4, fp32,
  CPU; both return ``frames * hop`` samples);
- ``direct_max_abs_diff``: the same with ``Vocoder.load`` given the release folder itself
  (converted in memory, nothing written);
- ``feature_max_abs_diff``: our log-mel of the clip (``hifigan`` profile, the preset's
  :data:`~audiogan.features.spec.BIGVGAN_FEATURES`) against the reference's, float32 both.

Run with the reference importable (``benchmarks/install_refs.sh`` puts it in ``.refs``), e.g.
``PYTHONPATH=.refs python benchmarks/import_parity_bigvgan.py --threads 2 --json OUT``; without
it the script says so and exits 0.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import bench_common as bc
import soundfile as sf
import torch

TARGET = 1e-4

_AMP = {"resblock": "1", "resblock_kernel_sizes": [3, 7, 11],
        "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
        "activation": "snakebeta", "snake_logscale": True}
_LARGE = {"upsample_rates": [4, 4, 2, 2, 2, 2], "upsample_kernel_sizes": [8, 8, 4, 4, 4, 4],
          "upsample_initial_channel": 1536}
_BASE = {"upsample_rates": [8, 8, 2, 2], "upsample_kernel_sizes": [16, 16, 4, 4],
         "upsample_initial_channel": 512}
_V2 = {"use_tanh_at_final": False, "use_bias_at_final": False}

#: Generator shape of each published configuration (v1 configs have no use_*_at_final keys:
#: the package defaults them to True).
PRESETS: dict[str, dict[str, Any]] = {
    "22khz_80band_256x": {**_LARGE, **_V2},
    "22khz_80band_fmax8k_256x": {**_LARGE, **_V2},
    "24khz_100band_256x": {**_LARGE, **_V2},
    "44khz_128band_256x": {**_LARGE, **_V2},
    "44khz_128band_512x": {**_LARGE, **_V2, "upsample_rates": [8, 4, 2, 2, 2, 2],
                           "upsample_kernel_sizes": [16, 8, 4, 4, 4, 4]},
    "22khz_80band": dict(_LARGE),
    "24khz_100band": dict(_LARGE),
    "base_22khz_80band": dict(_BASE),
    "base_24khz_100band": dict(_BASE),
}
DEFAULT_PRESETS = ["44khz_128band_512x", "44khz_128band_256x", "24khz_100band_256x",
                   "22khz_80band_fmax8k_256x", "base_22khz_80band"]


def reference_status() -> str | None:
    """None when the bigvgan package imports."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            import bigvgan.bigvgan
            import bigvgan.meldataset  # noqa: F401
    except Exception as exc:  # any import failure means: no reference here
        return f"bigvgan not importable ({type(exc).__name__}: {exc})"
    return None


def hparams_for(name: str, width: int | None) -> dict[str, Any]:
    """The config.json of preset ``name`` (generator and features), narrowed to ``width``."""
    from audiogan.features.spec import BIGVGAN_FEATURES

    spec = BIGVGAN_FEATURES[name]
    hparams = {**_AMP, **PRESETS[name], "num_mels": spec.n_mels, "n_fft": spec.n_fft,
               "hop_size": spec.hop_length, "win_size": spec.win_length,
               "sampling_rate": spec.sample_rate, "fmin": 0, "fmax": spec.f_max,
               "segment_size": 65536 if "x" in name else 8192}
    if width is not None:
        hparams["upsample_initial_channel"] = width
    return hparams


def write_release(folder: Path, hparams: dict[str, Any], seed: int, folded: bool) -> Any:
    """A random reference generator saved as the releases are; returns it (eval mode)."""
    import json

    from bigvgan.bigvgan import BigVGAN
    from bigvgan.env import AttrDict

    folder.mkdir(parents=True)
    torch.manual_seed(seed)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")  # torch.nn.utils.weight_norm's deprecation
        model = BigVGAN(AttrDict(dict(hparams)), use_cuda_kernel=False).eval()
        gen = torch.Generator().manual_seed(seed + 1)
        with torch.no_grad():
            for name, parameter in model.named_parameters():
                if name.endswith((".alpha", ".beta")):
                    parameter.add_(0.1 * torch.randn(parameter.shape, generator=gen))
        if folded:
            model.remove_weight_norm()
    torch.save({"generator": model.state_dict()}, folder / "bigvgan_generator.pt")
    (folder / "config.json").write_text(json.dumps(hparams, indent=4))
    return model


def run(presets: list[str], clips: list[Path], width: int | None,
        frames: int | None) -> list[dict[str, Any]]:
    from bigvgan.meldataset import mel_spectrogram

    from audiogan import Vocoder
    from audiogan.audio import resample
    from audiogan.inference.imports import import_model

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for index, name in enumerate(presets):
            hparams = hparams_for(name, width)
            rate, hop = hparams["sampling_rate"], hparams["hop_size"]
            for folded in (False, True):
                case = f"{index}{'f' if folded else 'w'}"
                source = Path(tmp) / f"release{case}"
                reference = write_release(source, hparams, seed=index, folded=folded)
                started = time.perf_counter()
                import_model(source, Path(tmp) / f"model{case}")
                import_s = time.perf_counter() - started
                ours = Vocoder.load(Path(tmp) / f"model{case}")
                direct = Vocoder.load(source)
                for clip in clips:
                    data, sr = sf.read(clip, dtype="float32")
                    wave = resample(torch.from_numpy(data), sr, rate).clamp(-1, 1)[None]
                    if frames is not None:
                        wave = wave[:, : frames * hop]
                    with torch.inference_mode():
                        mel = mel_spectrogram(wave, hparams["n_fft"], hparams["num_mels"], rate,
                                              hop, hparams["win_size"], 0, hparams["fmax"])
                        ref_wave = reference(mel)
                        our_wave = ours(mel)
                        direct_wave = direct(mel)
                        our_mel = ours.features(wave[0])
                    rows.append({
                        "preset": name, "weight_norm": "folded" if folded else "weight_g/v",
                        "width": hparams["upsample_initial_channel"], "clip": clip.name,
                        "frames": int(mel.shape[-1]), "ref_len": int(ref_wave.numel()),
                        "our_len": int(our_wave.numel()),
                        "ref_peak": float(ref_wave.abs().max()),
                        "max_abs_diff": float((our_wave.reshape(-1)
                                               - ref_wave.reshape(-1)).abs().max()),
                        "direct_max_abs_diff": float((direct_wave.reshape(-1)
                                                      - ref_wave.reshape(-1)).abs().max()),
                        "feature_max_abs_diff": float(
                            (our_mel.reshape(mel.shape) - mel).abs().max()),
                        "import_s": import_s,
                    })
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    bc.add_parity_arguments(parser)
    parser.add_argument("--presets", nargs="+", choices=sorted(PRESETS), default=DEFAULT_PRESETS,
                        help="Published configurations to rebuild (default: %(default)s).")
    parser.add_argument("--width", type=int, default=None,
                        help="upsample_initial_channel instead of the preset's (quick runs).")
    parser.add_argument("--frames", type=int, default=None,
                        help="Cut every clip to this many mel frames (quick runs).")
    args = parser.parse_args(argv)
    clips = bc.parity_clips(args, "bigvgan import parity", reference_status())
    if not clips:
        return 0
    rows = run(args.presets, clips, args.width, args.frames)
    columns = ["preset", "weight_norm", "width", "clip", "frames", "ref_len", "our_len",
               "ref_peak", "max_abs_diff", "direct_max_abs_diff", "feature_max_abs_diff"]
    bc.print_parity_table(rows, columns)
    for preset in args.presets:
        worst_preset = max(max(row["max_abs_diff"], row["direct_max_abs_diff"])
                           for row in rows if row["preset"] == preset)
        print(f"{preset}: max |diff| {worst_preset:.3g}")
    worst = max(max(row["max_abs_diff"], row["direct_max_abs_diff"]) for row in rows)
    lengths = all(row["our_len"] == row["ref_len"] for row in rows)
    ok = worst <= TARGET and lengths
    return bc.finish_parity(args, ok, f"worst mel -> wave max |diff| {worst:.3g} (target <= "
                            f"{TARGET:g}); equal lengths: {lengths}", TARGET, rows)


if __name__ == "__main__":
    sys.exit(main())
