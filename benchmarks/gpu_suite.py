"""The one GPU run: correctness checks first, then inference and training timings (< 6 min).

Sections, in order (each timed section is skipped with a note once ``--budget-s`` is spent):

1. checks: log-mel features on the GPU equal the CPU's for every profile (max |diff| of the log
   values); every generator's GPU output matches its CPU output in fp32 and stays close and
   finite under bf16 autocast; two training steps of ``recipes/tiny/hifigan.yaml`` through the
   real loader in fp32 and in bf16 give finite losses;
2. inference real-time factor of every generator (10 s of audio, batch 1 and 16, fp32 and
   bf16 autocast, models interleaved, median of ``--repeats``), via ``inference_rtf.measure``;
3. training throughput of full-size HiFi-GAN V1 with the full HiFi-GAN discriminator, batch 16
   x 8192 samples, fp32 vs bf16 (synthetic device tensors, interleaved blocks), then the same
   fp32 trainer with the real loader (loader overhead, target < 5%);
4. peers (``peers.py``'s inference and training comparisons on the GPU), only where
   ``parallel_wavegan`` / ``vocos`` import; otherwise a skip line.

Writes ``gpu_suite.json`` (and ``gpu_suite.md``, the final table) under ``$OUT`` (or
``--out``), prints the short table last, exits 1 if a check failed.

On the GPU machine (no librosa/soundfile there: carry the wheels, see benchmarks/README.md)::

    python3 benchmarks/gpu_suite.py

Here, on CPU with tiny sizes (what tests/test_benchmarks.py runs)::

    python benchmarks/gpu_suite.py --dry-run --out /tmp/gpu_suite
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import bench_common as bc
import torch

FEATURE_TOLERANCE = 1e-3  # max |log-mel difference| CPU vs GPU (fp32; TF32 matmuls off)
FP32_TOLERANCE = 1e-2  # relative L2 error of a generator's GPU fp32 output (cuDNN TF32 convs)
BF16_TOLERANCE = 0.1  # relative L2 error under bf16 autocast


class Suite:
    """Collects results, keeps time and survives a failing section."""

    def __init__(self, device: torch.device, budget_s: float, dry_run: bool) -> None:
        self.device = device
        self.budget_s = budget_s
        self.dry_run = dry_run
        self.start = time.perf_counter()
        self.results: dict[str, Any] = {"machine": bc.machine_info(device), "dry_run": dry_run,
                                        "checks": [], "notes": []}

    def elapsed(self) -> float:
        """Seconds since the suite started."""
        return time.perf_counter() - self.start

    def note(self, text: str) -> None:
        """Print and record a note."""
        print(text, flush=True)
        self.results["notes"].append(text)

    def check(self, name: str, passed: bool, detail: str, **values: Any) -> None:
        """Record one correctness check."""
        status = "PASS" if passed else "FAIL"
        self.results["checks"].append({"check": name, "status": status, "detail": detail,
                                       **values})
        print(f"[{status}] {name}: {detail}", flush=True)

    @contextlib.contextmanager
    def section(self, name: str, *, timed: bool = True) -> Iterator[bool]:
        """Run a section unless the time budget is spent; record errors instead of dying.

        Yields:
            False when the section must be skipped (budget), else True.
        """
        if timed and self.elapsed() > self.budget_s:
            self.note(f"SKIP {name}: time budget of {self.budget_s:.0f} s spent")
            yield False
            return
        print(f"\n== {name} (t = {self.elapsed():.0f} s, load {bc.load_string()})", flush=True)
        try:
            yield True
        except Exception as exc:
            self.results.setdefault("errors", []).append(
                {"section": name, "error": f"{type(exc).__name__}: {exc}",
                 "traceback": traceback.format_exc()})
            self.check(f"{name} ran", False, f"{type(exc).__name__}: {exc}")


# --------------------------------------------------------------------------- checks


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
        values = [value for step in stats for key, value in step.items()  # type: ignore[union-attr]
                  if key.endswith("loss")]
        finite = all(math.isfinite(v) for v in values) and not any(
            step["nonfinite"] for step in stats)  # type: ignore[index]
        losses = ", ".join(f"{k} {v:.3f}" for k, v in stats[-1].items()  # type: ignore[union-attr]
                           if k in ("g_loss", "d_loss"))
        suite.check(f"training 2 steps {precision} (tiny hifigan, real loader)", finite,
                    f"finite {finite}; last step {losses}")
        del trainer, calls


# --------------------------------------------------------------------------- timings


def time_inference(suite: Suite, args: argparse.Namespace) -> None:
    """All generators, batch 1 and 16, fp32 and bf16 autocast, interleaved."""
    import inference_rtf

    rows = inference_rtf.measure(
        list(bc.MODEL_SPECS), suite.device, batch_sizes=args.batch_sizes,
        dtypes=["fp32", "bf16"], seconds=args.seconds, repeats=args.repeats, warmup=2,
        tiny=args.dry_run, progress=None)
    suite.results["inference"] = rows
    print(bc.format_table(rows, inference_rtf.COLUMNS), flush=True)


def full_v1_config(dry_run: bool) -> tuple[dict[str, Any], int, int]:
    """(config mapping, batch, segment): HiFi-GAN V1 + full discriminator, 16 x 8192."""
    import peers

    batch, segment = (2, 2048) if dry_run else (16, 8192)
    return peers.ours_train_config(tiny=dry_run, batch=batch, segment=segment), batch, segment


def time_training(suite: Suite, args: argparse.Namespace, work: Path) -> None:
    """fp32 vs bf16 training steps (synthetic tensors, interleaved), then the loader overhead."""
    import train_throughput

    config, batch, segment = full_v1_config(args.dry_run)
    workers = "training.num_workers=4" if suite.device.type == "cuda" else "training.num_workers=0"
    trainers = {
        precision: train_throughput.build_trainer(
            config, device=str(suite.device), run_dir=work / f"train_{precision}",
            corpus_dir=work / "corpus", utterances=args.utterances,
            overrides=[f"training.precision={precision}", workers])
        for precision in ("fp32", "bf16")
    }
    steps: dict[str, Callable[[], object]] = {}
    for precision, trainer in trainers.items():
        steps[precision] = train_throughput.step_callables(trainer)["synthetic"]
    for name, step in steps.items():
        for _ in range(args.train_warmup):
            bc.time_call(step, suite.device)
        print(f"warm-up done: {name}", flush=True)
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(args.train_blocks):
        for name, step in steps.items():
            times[name] += [bc.time_call(step, suite.device) for _ in range(args.train_steps)]
    audio = batch * segment / 22050
    rows = []
    for name, values in times.items():
        med = bc.median(values)
        rows.append({"precision": name, "batch": batch, "segment": segment,
                     "median_step_s": med, "steps_per_s": 1 / med, "audio_s_per_s": audio / med,
                     "steps": len(values), "times_s": values})
    if suite.device.type == "cuda":
        for row, trainer in zip(rows, trainers.values()):
            row["max_memory_GiB"] = torch.cuda.max_memory_allocated(trainer.device) / 2**30
    suite.results["training"] = rows
    suite.results["training_bf16_speedup"] = rows[0]["median_step_s"] / rows[1]["median_step_s"]
    print(bc.format_table(rows, ("precision", "batch", "segment", "median_step_s",
                                 "steps_per_s", "audio_s_per_s", "steps")), flush=True)
    del trainers["bf16"], steps
    if suite.elapsed() > suite.budget_s:
        suite.note("SKIP loader overhead: time budget spent")
        return
    loader_rows = train_throughput.measure(trainers["fp32"], steps=args.train_steps,
                                           blocks=args.train_blocks, warmup=1)
    suite.results["loader"] = loader_rows
    suite.results["loader_overhead_pct"] = train_throughput.loader_overhead_pct(loader_rows)
    print(bc.format_table(loader_rows, train_throughput.COLUMNS), flush=True)


def time_peers(suite: Suite, args: argparse.Namespace) -> None:
    """peers.py's inference and training comparisons on this device, where peers import."""
    import peers

    status = peers.peer_status()
    keys = [key for key, (_pair, _side, package) in peers.MODELS.items()
            if package is None or status[package] is None]
    for package, why in status.items():
        if why:
            suite.note(f"SKIP peer {package}: not importable ({why})")
    if len(keys) == 2:  # ours only: nothing to compare
        return
    inference = peers.inference_rows(keys, suite.device, batch_sizes=args.batch_sizes,
                                     seconds=args.seconds,
                                     repeats=[args.repeats] * len(args.batch_sizes),
                                     warmup_seconds=None, tiny=args.dry_run, progress=None)
    training: list[dict[str, Any]] = []
    if status["parallel_wavegan"] is None and suite.elapsed() < suite.budget_s:
        _, batch, segment = full_v1_config(args.dry_run)
        training = peers.train_rows(suite.device, peer=True, tiny=args.dry_run, batch=batch,
                                    segment=segment, repeats=args.train_steps,
                                    warmup=args.train_warmup, progress=None)
    ratios = peers.ratio_rows(inference, training)
    suite.results["peers"] = {"inference": inference, "training": training, "ratios": ratios}
    print(bc.format_table(ratios, peers.RATIO_COLUMNS), flush=True)


# --------------------------------------------------------------------------- summary


def summary_table(results: dict[str, Any]) -> str:
    """The short Markdown table printed last (and saved as gpu_suite.md)."""
    machine = results["machine"]
    checks = results["checks"]
    failed = [c["check"] for c in checks if c["status"] == "FAIL"]
    lines = [f"# gpu_suite on {machine.get('gpu', machine['cpu'])}, torch {machine['torch']}"
             f" (CUDA {machine.get('cuda', '-')}), {machine['date']}",
             "", f"checks: {len(checks) - len(failed)}/{len(checks)} passed"
             + (f"; FAILED: {', '.join(failed)}" if failed else ""), ""]
    inference = results.get("inference", [])
    if inference:
        lines += ["| model | batch | fp32 RTF | bf16 RTF | fp32 × RT | bf16 × RT |",
                  "|---|---|---|---|---|---|"]
        by_key = {(r["model"], r["batch"], r["dtype"]): r for r in inference}
        for model, batch in dict.fromkeys((r["model"], r["batch"]) for r in inference):
            fp32, bf16 = by_key.get((model, batch, "fp32")), by_key.get((model, batch, "bf16"))
            lines.append(
                f"| {model} | {batch} | {fp32['rtf']:.2e} | {bf16['rtf']:.2e} | "
                f"{fp32['x_realtime']:.0f} | {bf16['x_realtime']:.0f} |" if fp32 and bf16 else
                f"| {model} | {batch} | - | - | - | - |")
        lines.append("")
    label = "tiny hifigan_v1 + tiny D" if results["dry_run"] else "hifigan_v1 + full D"
    for row in results.get("training", []):
        lines.append(f"training {label}, {row['precision']}, batch {row['batch']} x "
                     f"{row['segment']}: {row['median_step_s']:.3f} s/step, "
                     f"{row['audio_s_per_s']:.1f} audio-s/s")
    if "training_bf16_speedup" in results:
        lines.append(f"bf16 training speed-up: {results['training_bf16_speedup']:.2f}x")
    if "loader_overhead_pct" in results:
        lines.append(f"loader overhead (fp32, real loader): {results['loader_overhead_pct']:+.1f}%"
                     " (target < 5%)")
    if results["dry_run"] and results.get("peers", {}).get("ratios"):
        lines.append("(dry run: tiny models, so the peer ratios below mean nothing)")
    for ratio in results.get("peers", {}).get("ratios", []):
        lines.append(f"{ratio['comparison']} (batch {ratio['batch']}): "
                     f"{ratio['speed_ratio']:.2f}x ({ratio['target']}: {ratio['status']})")
    lines.append(f"total {results['total_s']:.0f} s")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true",
                        help="CPU, tiny models and sizes, one repeat: exercises every section")
    parser.add_argument("--device", default=None, help="default cuda (cpu with --dry-run)")
    parser.add_argument("--out", type=Path, default=None,
                        help="output directory (default $OUT, else benchmarks/results/gpu)")
    parser.add_argument("--budget-s", type=float, default=None,
                        help="skip timed sections started after this many seconds (default "
                        "300; no limit with --dry-run)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default 1 with --dry-run: tiny ops on a busy "
                        "shared CPU crawl with more)")
    parser.add_argument("--skip-peers", action="store_true")
    args = parser.parse_args(argv)
    if args.budget_s is None:
        args.budget_s = math.inf if args.dry_run else 300.0
    if args.dry_run:
        args.threads = args.threads or 1
        args.device = args.device or "cpu"
        args.seconds, args.batch_sizes, args.repeats = 0.25, [2], 1
        args.train_steps, args.train_blocks, args.train_warmup = 1, 1, 1
        args.utterances = 6
    else:
        args.device = args.device or "cuda"
        args.seconds, args.batch_sizes, args.repeats = 10.0, [1, 16], 10
        args.train_steps, args.train_blocks, args.train_warmup = 5, 3, 3
        args.utterances = 120
    if args.out is None:
        env = os.environ.get("OUT")
        args.out = Path(env) if env else Path(__file__).resolve().parent / "results" / "gpu"
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run every section; write JSON and the summary; exit 1 when a check failed."""
    args = parse_args(argv)
    device = bc.resolve_device(args.device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    bc.set_threads(args.threads)
    suite = Suite(device, args.budget_s, args.dry_run)
    machine = suite.results["machine"]
    print(f"# gpu_suite on {machine.get('gpu', machine['cpu'])}, torch {machine['torch']}, "
          f"dry run {args.dry_run}", flush=True)
    with tempfile.TemporaryDirectory(prefix="audiogan_gpu_suite_") as tmp:
        work = Path(tmp)
        with suite.section("checks: features", timed=False) as go:
            if go:
                check_features(suite)
        with suite.section("checks: generators", timed=False) as go:
            if go:
                check_generators(suite, tiny=args.dry_run)
        with suite.section("checks: training steps", timed=False) as go:
            if go:
                check_training(suite, work)
        with suite.section("inference RTF") as go:
            if go:
                time_inference(suite, args)
        with suite.section("training throughput") as go:
            if go:
                time_training(suite, args, work)
        if not args.skip_peers:
            with suite.section("peers") as go:
                if go:
                    time_peers(suite, args)
    suite.results["total_s"] = suite.elapsed()
    suite.results["machine"]["load_average_end"] = list(bc.load_average())
    table = summary_table(suite.results)
    args.out.mkdir(parents=True, exist_ok=True)
    bc.write_json(args.out / "gpu_suite.json", suite.results)
    (args.out / "gpu_suite.md").write_text(table + "\n", encoding="utf-8")
    print(f"\nwrote {args.out / 'gpu_suite.json'}\n")
    print(table, flush=True)
    return 1 if any(c["status"] == "FAIL" for c in suite.results["checks"]) else 0


if __name__ == "__main__":
    sys.exit(main())
