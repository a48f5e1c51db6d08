"""The GPU suite's first checks: features, generators and two real-loader training steps.

1. features: log-mel on the device equals the CPU's for every profile (max |diff| of the logs);
2. generators: every generator's device fp32 output matches its CPU output, and stays close and
   finite under bf16 autocast;
3. training: two steps of ``recipes/tiny/hifigan.yaml`` through the real loader, fp32 and bf16,
   give finite losses.
"""

from __future__ import annotations

import math
from pathlib import Path

import bench_common as bc
import torch
from gpu_report import Suite

FEATURE_TOLERANCE = 1e-3  # max |log-mel difference| CPU vs GPU (fp32; TF32 matmuls off)
FP32_TOLERANCE = 1e-2  # relative L2 error of a generator's GPU fp32 output (cuDNN TF32 convs)
BF16_TOLERANCE = 0.1  # relative L2 error under bf16 autocast


def check_features(suite: Suite) -> None:
    """Every feature profile: GPU log-mel equals CPU log-mel (synthetic speech + quiet noise)."""
    from audiogan.data.synthetic import synthesize_utterance
    from audiogan.features.mel import PROFILES, MelSpectrogram

    for profile in PROFILES:
        mel_cpu = MelSpectrogram(profile)
        rate = mel_cpu.spec.sample_rate
        wave = torch.from_numpy(synthesize_utterance(3, sample_rate=rate, duration=1.5))
        wave = (wave + 1e-3 * torch.randn(wave.shape, generator=torch.Generator().manual_seed(0)))
        batch = torch.stack([wave, 0.5 * wave.flip(0)])
        with torch.no_grad():
            reference = mel_cpu(batch)
            on_device = MelSpectrogram(profile).to(suite.device)(batch.to(suite.device)).cpu()
        diff = float((reference - on_device).abs().max())
        suite.check(f"features {profile} CPU vs {suite.device.type}", diff <= FEATURE_TOLERANCE,
                    f"max |diff| {diff:.2e} (<= {FEATURE_TOLERANCE:g})", max_abs_diff=diff)


def _relative_error(reference: torch.Tensor, other: torch.Tensor) -> float:
    reference, other = reference.double(), other.double()
    return float((reference - other).norm() / reference.norm().clamp_min(1e-12))


def check_generators(suite: Suite, tiny: bool) -> None:
    """Every generator: GPU fp32 output vs CPU fp32, and bf16 autocast output vs CPU fp32."""
    import inference_rtf

    for name in bc.MODEL_SPECS:
        torch.manual_seed(0)
        model = bc.prepare_for_inference(bc.build_model(name, tiny=tiny), torch.device("cpu"))
        rate = bc.MODEL_SPECS[name].sample_rate
        model_input = inference_rtf.make_input(model, 0.75, 2, torch.device("cpu"), rate,
                                               torch.Generator().manual_seed(0))
        if getattr(model, "input_kind", "mel") == "mel":
            model_input = model_input + 3.0  # louder mels: outputs well above tanh's zero
        with torch.inference_mode():
            reference = model(model_input)
        model.to(suite.device)
        on_device = inference_rtf.synthesis_call(model, model_input.to(suite.device),
                                                 suite.device, None)().float().cpu()
        low = inference_rtf.synthesis_call(model, model_input.to(suite.device), suite.device,
                                           torch.bfloat16)().float().cpu()
        fp32_err = _relative_error(reference, on_device)
        bf16_err = _relative_error(reference, low)
        finite = bool(torch.isfinite(low).all() and torch.isfinite(on_device).all())
        suite.check(f"generator {name} fp32 CPU vs {suite.device.type}",
                    finite and fp32_err <= FP32_TOLERANCE,
                    f"relative error {fp32_err:.2e} (<= {FP32_TOLERANCE:g})",
                    relative_error=fp32_err)
        suite.check(f"generator {name} bf16 autocast vs CPU fp32",
                    finite and bf16_err <= BF16_TOLERANCE,
                    f"relative error {bf16_err:.2e} (<= {BF16_TOLERANCE:g}), finite {finite}",
                    relative_error=bf16_err)
        model.cpu()


def check_training(suite: Suite, work: Path) -> None:
    """Two steps of recipes/tiny/hifigan.yaml through the real loader, fp32 and bf16."""
    import train_throughput

    config = Path(__file__).resolve().parents[1] / "recipes" / "tiny" / "hifigan.yaml"
    overrides = ["training.num_workers=2"] if suite.device.type == "cuda" else []
    if suite.dry_run:
        overrides += list(train_throughput.TINY_OVERRIDES)
    for precision in ("fp32", "bf16"):
        trainer = train_throughput.build_trainer(
            config, device=str(suite.device), run_dir=work / f"check_{precision}",
            corpus_dir=work / "corpus_small", utterances=8, duration_range=(0.5, 1.0),
            overrides=[*overrides, f"training.precision={precision}"],
        )
        calls = train_throughput.step_callables(trainer)
        stats = [calls["loader"]() for _ in range(2)]
        values = [float(value) for step in stats  # (floats, or device tensors)
                  for key, value in step.items() if key.endswith("loss")]  # type: ignore[attr-defined]
        finite = all(math.isfinite(v) for v in values) and not any(
            float(step["nonfinite"]) for step in stats)  # type: ignore[index]
        losses = ", ".join(f"{k} {float(v):.3f}" for k, v in stats[-1].items()  # type: ignore[attr-defined]
                           if k in ("g_loss", "d_loss"))
        suite.check(f"training 2 steps {precision} (tiny hifigan, real loader)", finite,
                    f"finite {finite}; last step {losses}")
        del trainer, calls
