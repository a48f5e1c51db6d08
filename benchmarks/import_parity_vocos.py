"""Parity of ``audiogan import --format vocos`` with the ``vocos`` 0.1.0 package (the reference).

No Vocos weights are reachable here, so each case builds the reference's own model
(``vocos.Vocos.from_hparams`` on a ``config.yaml`` in the Hub layout: ``feature_extractor`` /
``backbone`` / ``head`` with ``class_path`` / ``init_args``) with its random initialisation plus
seeded noise on every parameter (so LayerNorm weights, biases and layer scales are not their
trivial init values), saves it as the Hub release does (``pytorch_model.bin`` = the plain
``state_dict()``, ``config.yaml``), imports it with ``audiogan.inference.imports.import_model``
into a
temporary model directory and compares, on ``--clips`` dev LJSpeech clips resampled to 24 kHz
(the same samples for both):

- ``mel_max_abs_diff``: the reference's mel (its own ``MelSpectrogramFeatures``) through
  ``Vocos.decode`` and through ``audiogan.Vocoder.load(model_dir)``, on the common samples
  (target <= 1e-4, fp32, CPU). Output lengths: with ``padding: center`` (the release's) Vocos
  returns ``(T - 1) * hop`` samples for T frames and audiogan ``T * hop``; ``ref_len`` and
  ``our_len`` show both, and the first ``(T - 1) * hop`` are compared. With ``padding: same``
  both return ``T * hop``.
- ``direct_max_abs_diff``: the same with ``Vocoder.load`` given the Vocos directory itself
  (converted in memory, nothing written).
- ``feature_max_abs_diff``: our ``vocos``-profile log-mel of the clip against the reference's
  (float32 both), and ``e2e_max_abs_diff``: our waveform from our features against
  ``Vocos.forward(audio)``, on the common samples (the features' float32 tolerance amplified by
  the generator), reported separately.

Run with the reference importable (``benchmarks/install_refs.sh`` puts it in ``.refs``), e.g.
``PYTHONPATH=.refs python benchmarks/import_parity_vocos.py --threads 2 --json OUT``; without it
the script says so and exits 0.
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
import soundfile as sf
import torch
import yaml

# The LJSpeech clips committed with the tests; pass --data for others (e.g. LJSpeech-1.1/wavs).
TARGET = 1e-4
RATE = 24000


def hub_config(padding: str) -> dict[str, Any]:
    """charactr/vocos-mel-24khz's config.yaml, with the head's ``padding`` as given."""
    return {
        "feature_extractor": {
            "class_path": "vocos.feature_extractors.MelSpectrogramFeatures",
            "init_args": {"sample_rate": RATE, "n_fft": 1024, "hop_length": 256,
                          "n_mels": 100, "padding": "center"}},
        "backbone": {
            "class_path": "vocos.models.VocosBackbone",
            "init_args": {"input_channels": 100, "dim": 512, "intermediate_dim": 1536,
                          "num_layers": 8}},
        "head": {
            "class_path": "vocos.heads.ISTFTHead",
            "init_args": {"dim": 512, "n_fft": 1024, "hop_length": 256, "padding": padding}},
    }


CASES = {"mel-24khz (head padding center, the release)": "center",
         "mel-24khz, head padding same": "same"}


def reference_status() -> str | None:
    """None when the vocos package (and torchaudio, which its features need) imports."""
    try:
        import vocos  # noqa: F401
        from vocos.pretrained import Vocos  # noqa: F401
    except Exception as exc:  # any import failure means: no reference here
        return f"vocos not importable ({type(exc).__name__}: {exc})"
    return None


def write_release(folder: Path, padding: str, seed: int) -> Any:
    """A random reference model saved as the Hub release; returns the reference model."""
    from vocos.pretrained import Vocos

    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(hub_config(padding), sort_keys=False))
    torch.manual_seed(seed)
    model = Vocos.from_hparams(str(folder / "config.yaml")).eval()
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.02 * torch.randn(parameter.shape, generator=gen))
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    return model


def _diff(ours: torch.Tensor, reference: torch.Tensor) -> float:
    ours, reference = ours.reshape(-1), reference.reshape(-1)
    common = min(ours.numel(), reference.numel())
    return float((ours[:common] - reference[:common]).abs().max())


def run(clips: list[Path], max_seconds: float | None) -> list[dict[str, Any]]:
    import torchaudio.functional as AF

    from audiogan import Vocoder
    from audiogan.inference.imports import import_model

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for index, (case, padding) in enumerate(CASES.items()):
            source = Path(tmp) / f"release{index}"
            reference = write_release(source, padding, seed=index)
            started = time.perf_counter()
            import_model(source, Path(tmp) / f"model{index}")
            import_s = time.perf_counter() - started
            ours = Vocoder.load(Path(tmp) / f"model{index}")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                direct = Vocoder.load(source)
            for clip in clips:
                data, rate = sf.read(clip, dtype="float32")
                wave = AF.resample(torch.from_numpy(data)[None], rate, RATE)
                if max_seconds is not None:
                    wave = wave[:, : int(max_seconds * RATE)]
                with torch.inference_mode(), warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # FeatureRangeWarning on random models
                    mel = reference.feature_extractor(wave)
                    ref_wave = reference.decode(mel)
                    our_wave = ours(mel)
                    direct_wave = direct(mel)
                    our_mel = ours.features(wave[0])
                    e2e_ours = ours(our_mel)
                    e2e_ref = reference(wave)
                rows.append({
                    "case": case, "clip": clip.name, "frames": int(mel.shape[-1]),
                    "ref_len": int(ref_wave.numel()), "our_len": int(our_wave.numel()),
                    "ref_peak": float(ref_wave.abs().max()),
                    "mel_max_abs_diff": _diff(our_wave, ref_wave),
                    "direct_max_abs_diff": _diff(direct_wave, ref_wave),
                    "feature_frames_equal": bool(our_mel.shape[-1] == mel.shape[-1]),
                    "feature_max_abs_diff": float(
                        (our_mel.reshape(mel.shape) - mel).abs().max()),
                    "e2e_max_abs_diff": _diff(e2e_ours, e2e_ref),
                    "import_s": import_s,
                })
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    bc.add_parity_arguments(parser)
    parser.add_argument("--max-seconds", type=float, default=None,
                        help="Cut every clip to this many seconds (smoke runs).")
    args = parser.parse_args(argv)
    clips = bc.parity_clips(args, "vocos import parity", reference_status())
    if not clips:
        return 0
    rows = run(clips, args.max_seconds)
    columns = ["case", "clip", "frames", "ref_len", "our_len", "ref_peak", "mel_max_abs_diff",
               "direct_max_abs_diff", "feature_max_abs_diff", "e2e_max_abs_diff"]
    bc.print_parity_table(rows, columns)
    worst = max(max(row["mel_max_abs_diff"], row["direct_max_abs_diff"]) for row in rows)
    lengths = all(row["our_len"] - row["ref_len"] == (256 if "center" in row["case"] else 0)
                  for row in rows)
    ok = worst <= TARGET and lengths
    return bc.finish_parity(args, ok, f"worst mel -> wave max |diff| on the common samples "
                            f"{worst:.3g} (target <= {TARGET:g}); lengths as documented: "
                            f"{lengths}", TARGET, rows)


if __name__ == "__main__":
    sys.exit(main())
