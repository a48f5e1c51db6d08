"""Training throughput of a recipe: steps/s and audio-seconds/s, synthetic tensors vs the loader.

Builds a :class:`~audiogan.training.trainer.Trainer` for ``--config`` (its data paths replaced by
a synthetic corpus from :func:`audiogan.data.build_synthetic_corpus`, so no download is needed)
and times one training step (``trainer.stepper.run``, as ``Trainer.fit`` runs it) two ways, in
alternating blocks of ``--steps`` steps:

- ``synthetic``: a fixed random batch already on the device (no loader at all);
- ``loader``: batches from the trainer's own data path (``SegmentDataset`` + ``DataLoader`` +
  host-to-device copy: exactly what ``Trainer.fit`` iterates).

The loader overhead is ``median(loader step) / median(synthetic step) - 1`` (target: < 5%,
issue 4). By default the discriminator runs from step 0 (``--generator-only`` keeps the recipe's
``discriminator_start_step``), so a step is the full G + D update. Example::

    python benchmarks/train_throughput.py --config recipes/tiny/hifigan.yaml --device cpu \\
        --threads 2 --json benchmarks/results/cpu_train_tiny_hifigan.json
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import bench_common as bc
import torch
from torch import Tensor

COLUMNS: tuple[str, ...] = (
    "mode", "batch", "segment", "median_step_s", "steps_per_s", "audio_s_per_s", "min_step_s",
    "max_step_s", "steps", "load",
)
TINY_OVERRIDES: tuple[str, ...] = (
    "training.batch_size=2", "training.segment_length=2048",
)


def build_trainer(
    config_source: str | Path | Mapping[str, Any],
    *,
    device: str,
    run_dir: Path,
    corpus_dir: Path,
    overrides: Sequence[str] = (),
    utterances: int = 120,
    duration_range: tuple[float, float] = (1.0, 3.0),
    discriminator_from_start: bool = True,
) -> Any:
    """A Trainer for ``config_source`` over a synthetic corpus in ``corpus_dir``.

    Args:
        config_source: recipe YAML path, or the recipe as a mapping (``config_from_dict``).
        device: ``cpu`` / ``cuda``.
        run_dir: the trainer's run directory (nothing is written by ``train_step``).
        corpus_dir: where the synthetic corpus is built (reused when already there).
        overrides: ``key=value`` config overrides, applied before the data paths.
        utterances: corpus size.
        duration_range: utterance lengths in seconds.
        discriminator_from_start: set ``training.discriminator_start_step=0``.

    Returns:
        The :class:`~audiogan.training.trainer.Trainer`.
    """
    from audiogan.config import config_from_dict, load_config
    from audiogan.data import build_synthetic_corpus
    from audiogan.training.trainer import Trainer

    def load(extra: Sequence[str]) -> Any:
        if isinstance(config_source, Mapping):
            return config_from_dict(config_source, overrides=extra)
        return load_config(config_source, extra)

    config = load(overrides)
    manifests = build_synthetic_corpus(
        corpus_dir, sample_rate=config.sample_rate, num_utterances=utterances,
        duration_range=duration_range, valid_fraction=0.1,
    )
    extra = [*overrides, f"data.train={manifests['train']}",
             f"data.valid={manifests.get('valid', manifests['train'])}"]
    if discriminator_from_start:
        extra.append("training.discriminator_start_step=0")
    config = load(extra)
    return Trainer(config, run_dir, device=device, console=False)


def synthetic_batch(trainer: Any, seed: int = 0) -> dict[str, Tensor]:
    """A device-resident batch shaped like the loader's (speech-level noise in [-1, 1])."""
    t = trainer.config.training
    generator = torch.Generator().manual_seed(seed)
    wave = (0.1 * torch.randn(trainer.local_batch, 1, t.segment_length, generator=generator))
    return {"wave": wave.clamp(-1, 1).to(trainer.device),
            "index": torch.arange(trainer.local_batch).to(trainer.device)}


def critic_count(trainer: Any) -> int:
    """Batches one step consumes (``n_critic`` once the discriminator is active, else 1)."""
    return trainer.config.training.n_critic if trainer.discriminator_active() else 1


def step_callables(trainer: Any) -> dict[str, Callable[[], object]]:
    """``{"synthetic": ..., "loader": ...}``: each call runs one full training step and returns
    its stats as device tensors (read nothing on the host)."""
    fixed = synthetic_batch(trainer)
    batches: Iterator[dict[str, Tensor]] = trainer.batches()  # the trainer's own data path

    # GANStep.run, as Trainer.fit calls it: the stats stay 0-d device tensors (train_step
    # would read them on the host, a synchronisation per step that fit does not make)
    def synthetic() -> object:
        stats = trainer.stepper.run([fixed] * critic_count(trainer), trainer.step)
        trainer.step += 1
        return stats

    def loader() -> object:
        group = [next(batches) for _ in range(critic_count(trainer))]
        stats = trainer.stepper.run(group, trainer.step)
        trainer.step += 1
        return stats

    return {"synthetic": synthetic, "loader": loader}


def measure(
    trainer: Any,
    *,
    steps: int = 5,
    blocks: int = 3,
    warmup: int = 2,
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Time alternating blocks of ``steps`` synthetic and ``steps`` loader steps.

    Returns:
        One row per mode (:data:`COLUMNS` keys plus ``times_s``).
    """
    device = trainer.device
    calls = step_callables(trainer)
    trainer.generator.train()
    trainer.discriminator.train()
    for name, call in calls.items():
        for _ in range(warmup):
            bc.time_call(call, device)
        if progress is not None:
            progress(f"warm-up done: {name} (load {bc.load_string()})")
    times: dict[str, list[float]] = {name: [] for name in calls}
    for block in range(blocks):
        for name, call in calls.items():
            block_times = [bc.time_call(call, device) for _ in range(steps)]
            times[name] += block_times
            if progress is not None:
                progress(f"  block {block + 1}/{blocks} {name}: median "
                         f"{bc.median(block_times):.4f} s/step (load {bc.load_string()})")
    t = trainer.config.training
    audio_per_step = t.batch_size * t.segment_length / trainer.config.sample_rate
    load = bc.load_string()
    rows = []
    for name, values in times.items():
        med = bc.median(values)
        rows.append({
            "mode": name, "batch": t.batch_size, "segment": t.segment_length,
            "median_step_s": med, "steps_per_s": 1.0 / med,
            "audio_s_per_s": audio_per_step / med, "min_step_s": min(values),
            "max_step_s": max(values), "steps": len(values), "load": load, "times_s": values,
        })
    return rows


def loader_overhead_pct(rows: Sequence[dict[str, Any]]) -> float:
    """``100 * (loader median / synthetic median - 1)``."""
    by_mode = {row["mode"]: row["median_step_s"] for row in rows}
    return 100.0 * (by_mode["loader"] / by_mode["synthetic"] - 1.0)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=Path("recipes/tiny/hifigan.yaml"),
                        help="recipe YAML (default recipes/tiny/hifigan.yaml)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="config override (repeatable)")
    parser.add_argument("--num-workers", type=int, default=None,
                        help="override training.num_workers")
    parser.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default=None,
                        help="override training.precision")
    parser.add_argument("--steps", type=int, default=5, help="steps per block (default 5)")
    parser.add_argument("--blocks", type=int, default=3, help="alternating blocks (default 3)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per mode first")
    parser.add_argument("--utterances", type=int, default=120, help="synthetic corpus size")
    parser.add_argument("--corpus", type=Path, default=None,
                        help="synthetic corpus directory (default: a temporary one)")
    parser.add_argument("--generator-only", action="store_true",
                        help="keep the recipe's discriminator_start_step")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--tiny", action="store_true",
                        help="smoke run: batch 2, segment 2048, 8 utterances, 1 step x 1 block")
    parser.add_argument("--json", type=Path, default=None, help="write rows + machine info")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    args = parser.parse_args(argv)
    if args.tiny:
        args.overrides = [*TINY_OVERRIDES, *args.overrides]
        args.utterances = min(args.utterances, 8)
        args.steps, args.blocks, args.warmup = 1, 1, 1
    if args.num_workers is not None:
        args.overrides.append(f"training.num_workers={args.num_workers}")
    if args.precision is not None:
        args.overrides.append(f"training.precision={args.precision}")
    if args.steps < 1 or args.blocks < 1 or args.warmup < 0:
        parser.error("need --steps >= 1, --blocks >= 1, --warmup >= 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the table and the loader overhead."""
    args = parse_args(argv)
    bc.set_threads(args.threads)
    device = bc.resolve_device(args.device)
    if device.type == "cuda":
        torch.cuda.set_device(device)

    def progress(line: str) -> None:
        if not args.quiet:
            print(line, flush=True)

    with tempfile.TemporaryDirectory(prefix="audiogan_train_bench_") as tmp:
        corpus = args.corpus or Path(tmp) / "corpus"
        duration = (0.5, 1.0) if args.tiny else (1.0, 3.0)
        trainer = build_trainer(
            args.config, device=args.device, run_dir=Path(tmp) / "run", corpus_dir=corpus,
            overrides=args.overrides, utterances=args.utterances, duration_range=duration,
            discriminator_from_start=not args.generator_only,
        )
        info = bc.machine_info(device)
        t = trainer.config.training
        print(f"# train throughput: {args.config} ({trainer.config.generator.name} + "
              f"{trainer.config.discriminator.name}), batch {t.batch_size} x "
              f"{t.segment_length} samples, {t.precision}, num_workers {t.num_workers}, on "
              f"{info.get('gpu', info['cpu'])}, torch {info['torch']}, "
              f"{info['torch_threads']} threads, load {bc.load_string()}", flush=True)
        rows = measure(trainer, steps=args.steps, blocks=args.blocks, warmup=args.warmup,
                       progress=progress)
    overhead = loader_overhead_pct(rows)
    info["load_average_end"] = list(bc.load_average())
    if args.json is not None:
        bc.write_json(args.json, {
            "benchmark": "train_throughput", "machine": info,
            "config": str(args.config), "overrides": args.overrides,
            "precision": t.precision, "num_workers": t.num_workers,
            "loader_overhead_pct": overhead, "rows": rows,
        })
    print()
    print(bc.format_table(rows, COLUMNS))
    verdict = "meets" if overhead < 5.0 else "MISSES"
    print(f"\nloader overhead: {overhead:+.1f}% ({verdict} the < 5% target)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
