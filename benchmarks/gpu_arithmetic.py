"""Same-arithmetic evidence of the GPU suite (issue 17).

1. Exact levers (:func:`trajectory_check`): ours eager fp32 and ours with every exact lever
   (group A's ``ours_exact_fp32``: compile, CUDA graphs, fused optimiser, joint discriminator
   call, channels-last) are reset to the same initial weights and fresh optimiser moments, then
   trained ``--trajectory-steps`` steps on the same batches (real-file batches from the loader,
   cycled). A control, ours eager with every weight scaled by ``1 +- 2**-11`` (random signs:
   one TF32 rounding step, the size of the rounding cuDNN's default TF32 convolutions apply to
   every input, so the size of what a change of convolution algorithm can do), shows how far a
   pure rounding difference carries through that many GAN steps. PASS, per logged loss: the
   first step's values agree within ``STEP0_TOL`` (same weights, same batch: only float
   reassociation and TF32 rounding differ) and the largest relative difference over the
   trajectory is at most ``CONTROL_FACTOR`` x the control's (floor ``FLOOR``).
2. Reduced precision (:func:`finetune_check`): an imported HiFi-GAN V1 (``--v1-model``; jik876's
   LJSpeech generator) fine-tuned ``--finetune-steps`` steps on real clips (``--clips``; the
   last ``--held-back`` by name kept out) with ``recipes/finetune/hifigan_v1_universal.yaml``
   (adversarial terms from half-way), once each in fp32, bf16 autocast and fp32 with TF32
   matmuls, plus a second fp32 run (its distance from the first is the noise floor: cuDNN
   picks non-deterministic kernels); every fine-tuned generator then copy-synthesises the
   held-back clips in fp32. Verdict per reduced precision (the CPU paths' rule): log-mel L1 at
   most +0.5 % and PESQ-WB (when ``pesq`` imports) at most 0.02 below the fp32 fine-tune's;
   "inconclusive" when the fp32 repeat alone moves L1 by more than 0.5 %.
"""

from __future__ import annotations

import contextlib
import math
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from gpu_report import Suite

STEP0_TOL = 2e-3  # two TF32 roundings (2 x 2**-11 ~ 1e-3) with margin
CONTROL_FACTOR = 2.0
FLOOR = 1e-4
PERTURBATION = 2.0**-11
L1_RISE_LIMIT_PCT = 0.5
PESQ_FALL_LIMIT = 0.02
WAVES_NAME = "precision_clips.npz"
FINETUNE_RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "finetune" / \
    "hifigan_v1_universal.yaml"


# --------------------------------------------------------------------------- trajectory


def snapshot(trainer: Any) -> list[torch.Tensor]:
    """Copies of the generator's and discriminator's parameters and buffers (the initial
    state; buffers: e.g. spectral norm's power-iteration vectors, updated by every call)."""
    return [p.detach().clone() for p in _parameters(trainer)]


def _parameters(trainer: Any) -> list[torch.Tensor]:
    return [*trainer.generator.parameters(), *trainer.discriminator.parameters(),
            *trainer.generator.buffers(), *trainer.discriminator.buffers()]


def reset(trainer: Any, weights: list[torch.Tensor], *, perturb_seed: int | None = None) -> None:
    """Weights and buffers from ``weights`` (in place: CUDA graphs keep their addresses),
    fresh Adam moments (state zeroed in place = a new optimiser), step 0; optionally every
    weight scaled by ``1 +- PERTURBATION`` with seeded random signs."""
    generator = torch.Generator().manual_seed(perturb_seed or 0)
    with torch.no_grad():
        for param, value in zip(_parameters(trainer), weights, strict=True):
            param.copy_(value)
            if not isinstance(param, torch.nn.Parameter):
                continue  # a buffer
            param.grad = None
            if perturb_seed is not None:
                sign = torch.randint(0, 2, param.shape, generator=generator) * 2 - 1
                param.mul_(1 + PERTURBATION * sign.to(param.device, param.dtype))
        for opt in (trainer.opt_g, trainer.opt_d):
            for state in opt.state.values():
                for value in state.values():
                    if torch.is_tensor(value):
                        value.zero_()
    trainer.step = 0


def run_trajectory(trainer: Any, batches: list[dict[str, torch.Tensor]], steps: int
                   ) -> dict[str, list[float]]:
    """``steps`` training steps on ``batches`` (cycled); each logged loss per step."""
    raw: list[dict[str, Any]] = []
    for i in range(steps):
        stats = trainer.train_step([batches[i % len(batches)]])
        trainer.step += 1  # (device tensors cloned: CUDA graphs reuse their outputs)
        raw.append({k: v.detach().clone() if torch.is_tensor(v) else v for k, v in stats.items()
                    if "loss" in k or (k.startswith("g_") and "grad_norm" not in k)})
    return {key: [float(step[key]) for step in raw] for key in raw[0]}


def relative_differences(a: dict[str, list[float]], b: dict[str, list[float]]
                         ) -> dict[str, tuple[float, float]]:
    """Per loss: (first step's, largest) ``|a - b| / max(|a|, |b|, 1e-12)``."""
    out = {}
    for key in a.keys() & b.keys():
        rel = [abs(x - y) / max(abs(x), abs(y), 1e-12) for x, y in zip(a[key], b[key])]
        out[key] = (rel[0], max(rel))
    return out


def trajectory_check(suite: Suite, eager: Any, exact: Any, weights: list[torch.Tensor] | None,
                     work: Path, args: Any) -> None:
    """The exact-levers check (module docstring): group A's two trainers of ours, reset to
    ``weights`` (ours eager's initial weights, taken before its warm-up)."""
    import gpu_training

    if eager is None or exact is None or weights is None:
        suite.note("SKIP same arithmetic (exact levers): ours eager or exact did not run")
        return
    step, control, why = gpu_training.build_step(
        gpu_training.OURS_EAGER, suite, work, gpu_training.lever_support(
            gpu_training.base_config(suite.dry_run)), utterances=args.utterances,
        compile_ok=args.compile_ok, tag="_control")
    if control is None:
        suite.note(f"SKIP same arithmetic control: {why}")
        return
    source = eager.batches()
    batches = [next(source) for _ in range(args.trajectory_batches)]
    runs = {}
    for name, trainer, seed in (("eager", eager, None), ("exact", exact, None),
                                ("control", control, 1)):
        reset(trainer, weights, perturb_seed=seed)
        runs[name] = run_trajectory(trainer, batches, args.trajectory_steps)
    del control, step, source
    levers = relative_differences(runs["eager"], runs["exact"])
    noise = relative_differences(runs["eager"], runs["control"])
    rows: list[dict[str, Any]] = []
    if not levers:
        suite.check("same arithmetic: exact levers vs eager fp32", False,
                    f"no logged loss in common: {sorted(runs['eager'])} / {sorted(runs['exact'])}")
        return
    for key in sorted(levers):
        first, worst = levers[key]
        limit = max(CONTROL_FACTOR * noise[key][1], FLOOR)
        rows.append({"loss": key, "step0_rel_diff": first, "max_rel_diff": worst,
                     "control_max_rel_diff": noise[key][1], "limit": limit,
                     "pass": first <= STEP0_TOL and worst <= limit})
    suite.results["trajectory"] = {"steps": args.trajectory_steps, "rows": rows,
                                   "losses": runs, "rule": {
                                       "step0_tol": STEP0_TOL, "control_factor": CONTROL_FACTOR,
                                       "floor": FLOOR, "perturbation": PERTURBATION}}
    worst_row = max(rows, key=lambda r: r["max_rel_diff"] / r["limit"])
    suite.check(
        f"same arithmetic: exact levers vs eager fp32, {args.trajectory_steps} steps",
        all(r["pass"] for r in rows),
        f"worst {worst_row['loss']}: max rel diff {worst_row['max_rel_diff']:.1e} "
        f"(control {worst_row['control_max_rel_diff']:.1e}, limit {worst_row['limit']:.1e}); "
        f"step 0 max {max(r['step0_rel_diff'] for r in rows):.1e} (<= {STEP0_TOL:g})")


# --------------------------------------------------------------------------- fine-tune


def upcast_model_dir(source: Path, target: Path) -> Path:
    """A copy of model directory ``source`` with float32 weights (a carried directory may hold
    them in float16 to fit the device's carry limit)."""
    from safetensors.torch import load_file, save_file

    shutil.copytree(source, target)
    for path in target.glob("*.safetensors"):
        tensors = load_file(str(path))
        save_file({k: v.float() if v.is_floating_point() else v for k, v in tensors.items()},
                  str(path))
    return target


@contextlib.contextmanager
def tf32_matmuls(on: bool) -> Iterator[None]:
    """TF32 matmuls on (``allow_tf32``) inside the block; restored after."""
    before = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = on
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before


#: Dry-run overrides of the fine-tune recipe (tiny generator and discriminator, small batches).
TINY_FINETUNE: tuple[str, ...] = (
    "generator.params.upsample_initial_channel=16",
    "discriminator.params={periods: [2, 3], scales: 1, mpd_params: {channels: [4, 16, 16, 16, "
    "16]}, msd_params: {channels: [16, 16, 16, 16, 16, 16, 16]}}",
    "training.batch_size=2", "training.segment_length=2048",
)


def random_model_dir(suite: Suite, work: Path) -> tuple[Path, list[Path]]:
    """A V1-shaped model directory with random weights (tiny in a dry run; exported from an
    untrained trainer of the fine-tune recipe) and the synthetic corpus' wav files (stand-ins
    for real clips in a dry run)."""
    from audiogan.config import load_config
    from audiogan.data import build_synthetic_corpus
    from audiogan.inference.export import export_model
    from audiogan.training.trainer import Trainer

    model_dir = work / "random_model"
    corpus = work / "ft_corpus"
    clips = sorted(corpus.rglob("*.wav"))
    if model_dir.is_dir():
        return model_dir, clips
    manifests = build_synthetic_corpus(corpus, sample_rate=22050, num_utterances=8,
                                       duration_range=(0.6, 1.0), valid_fraction=0.1)
    tiny = list(TINY_FINETUNE) if suite.dry_run else []
    config = load_config(FINETUNE_RECIPE, [*tiny, "training.init_from=null",
                                           f"data.train={manifests['train']}",
                                           f"data.valid={manifests['train']}"])
    trainer = Trainer(config, work / "random_source", device=str(suite.device), console=False)
    checkpoint = trainer.save()
    trainer.rundir.close()
    export_model(checkpoint, model_dir)
    return model_dir, sorted(corpus.rglob("*.wav"))


def v1_model_dir(suite: Suite, args: Any, work: Path) -> Path:
    """The float32 copy of ``--v1-model`` (made once), else :func:`random_model_dir`'s."""
    if args.v1_model is None:
        return random_model_dir(suite, work)[0]
    target = work / "v1_fp32"
    return target if target.is_dir() else upcast_model_dir(args.v1_model, target)


def finetune_inputs(suite: Suite, args: Any, work: Path
                    ) -> tuple[Path, list[Path], list[Path], list[str]] | None:
    """(float32 model dir, training clips, held-back clips, extra overrides), or None (skip)."""
    if args.v1_model is not None and args.clips is not None:
        model_dir = v1_model_dir(suite, args, work)
        clips = sorted(Path(args.clips).glob("*.wav"))
        extra = [f"training.batch_size={args.finetune_batch}"]
    elif suite.dry_run:
        model_dir, clips = random_model_dir(suite, work)
        extra = list(TINY_FINETUNE)
    else:
        suite.note("SKIP precision fine-tune: give --v1-model DIR (audiogan import of jik876's "
                   "LJSpeech V1) and --clips DIR (real speech wavs)")
        return None
    held = clips[-args.held_back:]
    train = clips[: -args.held_back]
    if len(train) < 2:
        suite.note(f"SKIP precision fine-tune: {len(clips)} clips, need > {args.held_back + 1}")
        return None
    return model_dir, train, held, extra


def _evaluate(trainer: Any, held: list[Path], keep: dict[str, Any] | None = None,
              label: str = "") -> dict[str, float]:
    """Copy synthesis of ``held`` in fp32 (peak 0.95, as the recipe trains): mean log-mel L1
    (dB) and PESQ-WB (NaN without ``pesq``); the waves go into ``keep`` (``ref_<i>`` and
    ``<label>_<i>``) when given."""
    import numpy as np

    from audiogan.audio.io import load_audio
    from audiogan.evaluation import metrics

    rate = trainer.config.sample_rate
    have_pesq = metrics.optional_metrics_status()["pesq_wb"] is None
    l1, pesq = [], []
    trainer.generator.eval()
    with torch.inference_mode(), tf32_matmuls(False):
        for path in held:
            wave, _ = load_audio(path, rate)
            wave = 0.95 * wave / wave.abs().max().clamp_min(1e-8)
            mel = trainer.features(wave.to(trainer.device))
            out = trainer.generator(mel).float().reshape(-1).cpu().numpy()
            ref = wave.reshape(-1).numpy()[: out.size]
            if keep is not None:
                keep[f"ref_{len(l1)}"] = ref
                keep[f"{label}_{len(l1)}"] = out[: ref.size]
            l1.append(metrics.log_mel_distance(ref, out[: ref.size], rate))
            if have_pesq:
                pesq.append(metrics.pesq_wb(ref, out[: ref.size], rate))
    trainer.generator.train()
    return {"log_mel_l1_db": float(np.mean(l1)),
            "pesq_wb": float(np.nanmean(pesq)) if pesq else math.nan}


def finetune_check(suite: Suite, args: Any, work: Path) -> None:
    """The reduced-precision check (module docstring)."""
    from audiogan.config import load_config
    from audiogan.data import build_manifest_from_audio
    from audiogan.training.trainer import Trainer

    inputs = finetune_inputs(suite, args, work)
    if inputs is None:
        return
    model_dir, train, held, extra = inputs
    manifest = work / "ft_train.tsv"
    build_manifest_from_audio(train, manifest)
    steps = args.finetune_steps
    common = [*extra, f"training.init_from={model_dir}", f"data.train={manifest}",
              f"data.valid={manifest}", f"training.adversarial_start_step={steps // 2}",
              f"training.num_workers={4 if suite.device.type == 'cuda' else 0}"]
    rows: list[dict[str, Any]] = []
    waves: dict[str, Any] = {}
    nonfinite = 0
    for precision in ("fp32", "fp32_repeat", "bf16", "tf32"):
        config = load_config(FINETUNE_RECIPE, [*common, "training.precision="
                                               + ("bf16" if precision == "bf16" else "fp32")])
        trainer = Trainer(config, work / f"ft_{precision}", device=str(suite.device),
                          console=False)
        if precision == "fp32":
            rows.append({"precision": "imported (step 0)",
                         **_evaluate(trainer, held, waves, "imported")})
        with tf32_matmuls(precision == "tf32"):
            batches = trainer.batches()
            for _ in range(steps):
                stats = trainer.train_step([next(batches)])
                nonfinite += int(float(stats["nonfinite"]))
                trainer.step += 1
        rows.append({"precision": precision, "steps": steps,
                     **_evaluate(trainer, held, waves, precision)})
        trainer.rundir.close()
        del trainer, batches
        if suite.device.type == "cuda":
            torch.cuda.empty_cache()
    _verdicts(suite, rows, len(held), nonfinite)
    if suite.out is not None:  # PESQ afterwards where ``pesq`` imports: --pesq-from
        import numpy as np

        suite.out.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(suite.out / WAVES_NAME, sample_rate=22050, **waves)


def pesq_from(path: Path) -> list[dict[str, Any]]:
    """PESQ-WB per precision from a ``precision_clips.npz`` the suite wrote (the GPU image has
    no ``pesq``), with the PESQ part of the verdict (at most ``PESQ_FALL_LIMIT`` below fp32)."""
    import numpy as np

    from audiogan.evaluation import metrics

    data = np.load(path)
    rate = int(data["sample_rate"])
    count = len([k for k in data.files if k.startswith("ref_")])
    rows = []
    for label in ("imported", "fp32", "fp32_repeat", "bf16", "tf32"):
        values = [metrics.pesq_wb(data[f"ref_{i}"], data[f"{label}_{i}"], rate)
                  for i in range(count) if f"{label}_{i}" in data.files]
        rows.append({"precision": label, "clips": len(values),
                     "pesq_wb": float(np.nanmean(values))})
    base = next(r["pesq_wb"] for r in rows if r["precision"] == "fp32")
    for row in rows:
        row["pesq_delta"] = row["pesq_wb"] - base
        row["pesq_verdict"] = ("ok" if row["pesq_delta"] >= -PESQ_FALL_LIMIT else "differs")
    return rows


def _verdicts(suite: Suite, rows: list[dict[str, Any]], clips: int, nonfinite: int) -> None:
    base = next(r for r in rows if r["precision"] == "fp32")
    for row in rows:
        row["l1_rise_pct"] = 100 * (row["log_mel_l1_db"] / base["log_mel_l1_db"] - 1)
        row["pesq_delta"] = row["pesq_wb"] - base["pesq_wb"]
    repeat = next((r for r in rows if r["precision"] == "fp32_repeat"), None)
    noise = abs(repeat["l1_rise_pct"]) if repeat is not None else 0.0
    for row in rows:
        if row["precision"] in ("bf16", "tf32") and noise > L1_RISE_LIMIT_PCT:
            row["verdict"] = (f"inconclusive: fp32 itself repeats only within {noise:.2f}% "
                              f"(rule {L1_RISE_LIMIT_PCT}%)")
        elif row["precision"] in ("bf16", "tf32"):
            fail = [f"L1 {row['l1_rise_pct']:+.2f}% > +{L1_RISE_LIMIT_PCT}%"] \
                if not row["l1_rise_pct"] <= L1_RISE_LIMIT_PCT else []
            if not math.isnan(row["pesq_delta"]) and row["pesq_delta"] < -PESQ_FALL_LIMIT:
                fail.append(f"PESQ {row['pesq_delta']:+.3f} < -{PESQ_FALL_LIMIT}")
            row["verdict"] = "matches fp32" if not fail else "differs: " + "; ".join(fail)
    suite.results["precision_finetune"] = {"clips_held_back": clips, "rows": rows, "rule": {
        "l1_rise_pct_max": L1_RISE_LIMIT_PCT, "pesq_fall_max": PESQ_FALL_LIMIT}}
    finite = nonfinite == 0 and all(math.isfinite(r["log_mel_l1_db"]) for r in rows)
    suite.check("precision fine-tunes ran (fp32, bf16, TF32 matmuls)", finite,
                f"{clips} held-back clips; non-finite steps {nonfinite}; " + "; ".join(
                    f"{r['precision']} L1 {r['log_mel_l1_db']:.3f} dB"
                    + (f" PESQ {r['pesq_wb']:.3f}" if math.isfinite(r["pesq_wb"]) else "")
                    + (f" -> {r['verdict']}" if "verdict" in r else "") for r in rows))
