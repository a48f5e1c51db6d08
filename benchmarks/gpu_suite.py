"""The one GPU run of issue 17: checks, then synthesis and training timings (<= 10 min on an
H200), every ratio against the anchor measured in the same run.

Sections, in order (each timed section is skipped with a note once ``--budget-s`` is spent;
``gpu_suite.json`` / ``gpu_suite.md`` are rewritten after every section, so a run cut short
still leaves what it measured):

1. checks (``gpu_checks.py``): features CPU vs device, every generator fp32 / bf16 vs CPU,
   two real-loader training steps fp32 / bf16; the reduced-precision fine-tune of an imported
   HiFi-GAN V1 (``gpu_arithmetic.finetune_check``: bf16 and TF32 matmuls vs fp32 on held-back
   clips);
2. synthesis (``gpu_synthesis.py``): HiFi-GAN V1 vs ParallelWaveGAN's generator (batch 1 >= 2x,
   16 >= 1.5x), ours through ``Vocoder.load`` with the synthesis levers, istft base vs Vocos
   (>= 1.3x), the variable-length rows;
3. training (``gpu_training.py``): group A, anchor fp32 / bf16 vs ours eager, each uncompiled
   lever alone, all exact levers, bf16 + levers (>= 1.5x, goal 2x), with the same-arithmetic
   trajectory check (``gpu_arithmetic.trajectory_check``) before its timings; the loader
   overhead (< 5%); group B, compilation alone and CUDA graphs alone (budget permitting);
4. inference RTF of every generator (fp32 and bf16, batch 1 and 16), while time is left.

Exit code 1 when a check failed. On the GPU machine: ``bash benchmarks/gpu_run.sh`` (see
benchmarks/README.md, "GPU suite": the carried wheels, references, model and clips). Here, on
CPU with tiny sizes (what tests/test_benchmarks.py runs)::

    python benchmarks/gpu_suite.py --dry-run --out /tmp/gpu_suite
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import bench_common as bc
import torch
from gpu_report import Suite

ROOT = Path(__file__).resolve().parents[1]


def time_inference(suite: Suite, args: argparse.Namespace) -> None:
    """All generators, batch 1 and 16, fp32 and bf16 autocast, interleaved."""
    import inference_rtf

    torch.backends.cudnn.benchmark = False  # as Vocoder runs (shapes vary), the old table's
    rows = inference_rtf.measure(
        list(bc.MODEL_SPECS), suite.device, batch_sizes=args.batch_sizes,
        dtypes=["fp32", "bf16"], seconds=args.seconds, repeats=args.repeats, warmup=2,
        tiny=args.dry_run, progress=None)
    suite.results["inference"] = rows
    print(bc.format_table(rows, inference_rtf.COLUMNS), flush=True)


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
                        "480; no limit with --dry-run)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default 1 with --dry-run)")
    parser.add_argument("--refs", type=Path, default=ROOT / ".refs",
                        help="reference packages (benchmarks/install_refs.sh; default .refs)")
    parser.add_argument("--v1-model", type=Path, default=None,
                        help="model dir of an imported HiFi-GAN V1 (float16 weights are "
                        "upcast): the precision fine-tune and the Vocoder.load rows")
    parser.add_argument("--clips", type=Path, default=None,
                        help="real speech wavs for the precision fine-tune (sorted by name; "
                        "the last --held-back are held back)")
    parser.add_argument("--held-back", type=int, default=None, help="default 4 (dry run 2)")
    parser.add_argument("--finetune-steps", type=int, default=None, help="default 120")
    parser.add_argument("--finetune-batch", type=int, default=16)
    parser.add_argument("--trajectory-steps", type=int, default=None, help="default 200")
    parser.add_argument("--dry-run-compile", action="store_true",
                        help="compile in a dry run too (inductor on the CPU: minutes per "
                        "compiled variant; by default a dry run drops training.compile)")
    parser.add_argument("--pesq-from", type=Path, default=None, metavar="NPZ",
                        help="only print PESQ-WB per precision from the precision_clips.npz "
                        "of a run (where pesq imports) and exit")
    parser.add_argument("--skip-all-generators", action="store_true",
                        help="leave out the last section (RTF of every generator)")
    args = parser.parse_args(argv)
    dry = args.dry_run
    if args.budget_s is None:
        args.budget_s = math.inf if dry else 480.0
    args.held_back = args.held_back or (2 if dry else 4)
    args.finetune_steps = args.finetune_steps or (2 if dry else 120)
    args.trajectory_steps = args.trajectory_steps or (3 if dry else 200)
    args.trajectory_batches = 2 if dry else 8
    args.compile_ok = not dry or args.dry_run_compile
    if dry:
        args.threads = args.threads or 1
        args.device = args.device or "cpu"
        args.seconds, args.batch_sizes, args.repeats = 0.25, [1, 2], 1
        args.lengths_s = [0.2, 0.35]
        args.train_warmup, args.train_repeats, args.train_steps, args.train_blocks = 1, 1, 1, 1
        args.utterances = 6
        args.compile_reserve_s = args.group_b_reserve_s = args.trajectory_reserve_s = 0.0
    else:
        args.device = args.device or "cuda"
        args.seconds, args.batch_sizes, args.repeats = 10.0, [1, 16], 10
        args.lengths_s = [1.0, 2.3, 3.7, 5.1, 7.9, 10.0]
        args.train_warmup, args.train_repeats, args.train_steps, args.train_blocks = 3, 15, 5, 3
        args.utterances = 64
        args.compile_reserve_s, args.group_b_reserve_s = 120.0, 120.0
        args.trajectory_reserve_s = -60.0  # runs up to 60 s past the budget (a check)
    if args.out is None:
        env = os.environ.get("OUT")
        args.out = Path(env) if env else Path(__file__).resolve().parent / "results" / "gpu"
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run every section; write JSON and the summary; exit 1 when a check failed."""
    import gpu_arithmetic
    import gpu_checks
    import gpu_synthesis
    import gpu_training

    args = parse_args(argv)
    if args.pesq_from is not None:
        rows = gpu_arithmetic.pesq_from(args.pesq_from)
        print(bc.format_table(rows, ("precision", "clips", "pesq_wb", "pesq_delta",
                                     "pesq_verdict")))
        return 0
    refs = args.refs.resolve()
    if refs.is_dir() and str(refs) not in sys.path:
        sys.path.append(str(refs))
    device = bc.resolve_device(args.device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    bc.set_threads(args.threads)
    suite = Suite(device, args.budget_s, args.dry_run, args.out)
    machine = suite.results["machine"]
    suite.results["settings"] = {k: (str(v) if isinstance(v, Path) else v)
                                 for k, v in vars(args).items()}
    print(f"# gpu_suite on {machine.get('gpu', machine['cpu'])}, torch {machine['torch']}, "
          f"dry run {args.dry_run}", flush=True)
    with tempfile.TemporaryDirectory(prefix="audiogan_gpu_suite_") as tmp:
        work = Path(tmp)
        with suite.section("checks: features", timed=False) as go:
            if go:
                gpu_checks.check_features(suite)
        with suite.section("checks: generators", timed=False) as go:
            if go:
                gpu_checks.check_generators(suite, tiny=args.dry_run)
        with suite.section("checks: training steps", timed=False) as go:
            if go:
                gpu_checks.check_training(suite, work)
        with suite.section("checks: precision fine-tune", timed=False) as go:
            if go:
                gpu_arithmetic.finetune_check(suite, args, work)
        with suite.section("synthesis") as go:
            if go:
                model_dir = gpu_arithmetic.v1_model_dir(suite, args, work)
                gpu_synthesis.run_synthesis(suite, args, model_dir)
        with suite.section("training") as go:
            if go:
                gpu_training.run_training(suite, args, work)
        if not args.skip_all_generators:
            with suite.section("inference RTF, every generator") as go:
                if go:
                    time_inference(suite, args)
    suite.results["machine"]["load_average_end"] = list(bc.load_average())
    table = suite.save()
    print(f"\nwrote {args.out / 'gpu_suite.json'}\n")
    print(table, flush=True)
    return 1 if suite.failed() else 0


if __name__ == "__main__":
    sys.exit(main())
