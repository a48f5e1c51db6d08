"""Training section of the GPU suite (issue 17): the anchor vs ours and each lever, one run.

Every row is one full training step of HiFi-GAN V1 with the full HiFi-GAN discriminator (MPD
2, 3, 5, 7, 11 + 3-scale MSD, LSGAN + 2 x feature matching + 45 x mel L1) at batch 16 x 8192 on
a fixed device batch, timed interleaved (round-robin, alternating order) after warm-up steps.

- anchor (``peer_training.anchor_step``): ParallelWaveGAN's modules with jik876's losses,
  fused AdamW, mel on the device, ``cudnn.benchmark``; fp32 and bf16 autocast;
- ours (``GANStep.run`` as ``Trainer.fit`` calls it: stats on the device), every lever off
  (``eager``), each lever alone, all the exact levers together (``exact``: compile + CUDA graphs
  through ``compile_mode: reduce-overhead``, fused optimiser, one discriminator call on real +
  generated, channels-last MPD), and bf16 autocast with those levers.

Group A (anchor fp32 / bf16, ours eager, each uncompiled lever alone, eager bf16, exact, exact
bf16) runs first; group B (compilation alone and CUDA graphs alone, again against anchor fp32
and ours eager) only while the time budget lasts. Ratios are
anchor fp32 time / variant time (> 1: ours faster); target >= 1.5x, goal 2x. A lever whose
config key the toolkit does not accept yet is skipped with the reason (config validation). The
compile time of a variant is its warm-up time minus as many steady steps; the break-even step
count is that over the time it saves per step against ours eager.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bench_common as bc
import torch
from gpu_report import Suite

SAMPLE_RATE = 22050
TARGET = 1.5  # issue 17: ours >= 1.5x the anchor's training step (goal 2x)
GOAL = 2.0

#: The lever keys (``training.<key>``) with their "off" values.
LEVERS_OFF: dict[str, str] = {"compile": "false", "compile_mode": "default",
                              "fused_optimizer": "false", "joint_discriminator": "false",
                              "channels_last": "false"}
#: The exact levers (same arithmetic as eager fp32) all on.
EXACT: dict[str, str] = {"compile": "true", "compile_mode": "reduce-overhead",
                         "fused_optimizer": "true", "joint_discriminator": "true",
                         "channels_last": "true"}


@dataclass(frozen=True)
class Variant:
    """One timed training step: the anchor (``anchor``) or ours with ``levers`` on."""

    name: str
    precision: str = "fp32"
    levers: dict[str, str] = field(default_factory=dict)
    anchor: bool = False
    target: bool = False  # judged against TARGET / GOAL

    @property
    def compiled(self) -> bool:
        """Whether the variant compiles (minutes on a GPU; dropped in dry runs)."""
        return self.levers.get("compile") == "true"


ANCHOR_FP32 = Variant("anchor_fp32", anchor=True)
OURS_EAGER = Variant("ours_eager_fp32", target=True)
GROUP_A: tuple[Variant, ...] = (
    ANCHOR_FP32, Variant("anchor_bf16", "bf16", anchor=True), OURS_EAGER,
    Variant("ours_fused", levers={"fused_optimizer": "true"}),
    Variant("ours_joint_d", levers={"joint_discriminator": "true"}),
    Variant("ours_channels_last", levers={"channels_last": "true"}),
    Variant("ours_eager_bf16", "bf16"),
    Variant("ours_exact_fp32", levers=EXACT, target=True),
    Variant("ours_exact_bf16", "bf16", levers=EXACT, target=True),
)
#: The compiled levers alone (a compile each: only while the budget lasts).
GROUP_B: tuple[Variant, ...] = (
    ANCHOR_FP32, OURS_EAGER,
    Variant("ours_compile", levers={"compile": "true"}),
    Variant("ours_cuda_graphs", levers={"compile": "true", "compile_mode": "reduce-overhead"}),
)


def sizes(dry_run: bool) -> tuple[int, int]:
    """(batch, segment): 16 x 8192, or 2 x 2048 in a dry run."""
    return (2, 2048) if dry_run else (16, 8192)


def base_config(dry_run: bool) -> dict[str, Any]:
    """Our HiFi-GAN V1 + full discriminator recipe at :func:`sizes` (tiny in a dry run)."""
    import peer_training

    batch, segment = sizes(dry_run)
    return peer_training.ours_train_config(tiny=dry_run, batch=batch, segment=segment)


def lever_support(config: dict[str, Any]) -> dict[str, str | None]:
    """``{lever key: None}`` where the toolkit's config accepts it, else the one-line reason."""
    from audiogan.config import config_from_dict

    support: dict[str, str | None] = {}
    for key, value in {**LEVERS_OFF, **EXACT}.items():
        if key in support and support[key] is not None:
            continue
        try:
            config_from_dict(config, overrides=[f"training.{key}={value}"])
            support[key] = None
        except Exception as exc:  # ConfigError (unknown key / value), or anything else
            support[key] = f"training.{key}={value}: {exc}"
    return support


def overrides_for(variant: Variant, support: dict[str, str | None], device: torch.device,
                  compile_ok: bool = True) -> tuple[list[str], str | None]:
    """(config overrides, None) for ``variant``, or ([], reason) when a lever it needs is not
    accepted. Levers the toolkit lacks are simply absent from the "off" base. Off CUDA, CUDA
    graphs (``compile_mode: reduce-overhead``) become plain ``default`` compilation, except in
    the variant that is about CUDA graphs alone (skipped); without ``compile_ok`` (a dry run:
    inductor takes minutes per variant on a small CPU) compilation is dropped, except in the
    variant about compilation alone (skipped)."""
    for key in variant.levers:
        if support.get(key) is not None:
            return [], f"{variant.name}: {support[key]}"
    values = {key: value for key, value in LEVERS_OFF.items() if support.get(key) is None}
    values.update(variant.levers)
    if device.type != "cuda" and values.get("compile_mode") == "reduce-overhead":
        if variant.name == "ours_cuda_graphs":
            return [], f"{variant.name}: CUDA graphs need a CUDA device"
        values["compile_mode"] = "default"
    if not compile_ok and values.get("compile") == "true":
        if variant.name == "ours_compile":
            return [], f"{variant.name}: dry run without --dry-run-compile"
        values["compile"] = "false"
        values.pop("compile_mode", None)
    return ([f"training.{key}={value}" for key, value in values.items()]
            + [f"training.precision={variant.precision}"]), None


def build_step(variant: Variant, suite: Suite, work: Path, support: dict[str, str | None],
               *, utterances: int, compile_ok: bool = True, tag: str = ""
               ) -> tuple[Callable[[], object] | None, Any, str | None]:
    """(one-step callable, the trainer or anchor, None) or (None, None, reason to skip);
    ``tag`` names a second trainer of the same variant (its own run directory)."""
    import peer_training
    import train_throughput

    batch, segment = sizes(suite.dry_run)
    if variant.anchor:
        status = peer_status()
        if status is not None:
            return None, None, f"{variant.name}: parallel_wavegan does not import ({status})"
        anchor = peer_training.anchor_step(suite.device, tiny=suite.dry_run, batch=batch,
                                           segment=segment, precision=variant.precision)
        return anchor, anchor, None
    overrides, why = overrides_for(variant, support, suite.device, compile_ok)
    if why is not None:
        return None, None, why
    workers = 4 if suite.device.type == "cuda" else 0
    trainer = train_throughput.build_trainer(
        base_config(suite.dry_run), device=str(suite.device),
        run_dir=work / f"run_{variant.name}{tag}", corpus_dir=work / "corpus",
        utterances=utterances,
        duration_range=(0.5, 1.0) if suite.dry_run else (1.0, 3.0),
        overrides=[*overrides, f"training.num_workers={workers}"])
    trainer.generator.train()
    trainer.discriminator.train()
    return train_throughput.step_callables(trainer)["synthetic"], trainer, None


def peer_status() -> str | None:
    """None when ``parallel_wavegan`` imports (with the shims), else why not."""
    import peer_training

    peer_training.install_reference_shims()
    try:
        import parallel_wavegan.losses
        import parallel_wavegan.models  # noqa: F401
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def warm_up(step: Callable[[], object], device: torch.device, steps: int) -> dict[str, Any]:
    """Run ``steps`` untimed-for-the-table steps: their times (compile and autotuning land
    here); on CUDA also the peak memory above what was allocated before and the host
    synchronisations of one more step (``torch.cuda.set_sync_debug_mode``; issue 17: none)."""
    before = 0
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
    times = [bc.time_call(step, device) for _ in range(steps)]
    info: dict[str, Any] = {"warmup_s": times}
    if device.type == "cuda":  # above what the other variants already hold
        info["step_memory_GiB"] = (torch.cuda.max_memory_allocated(device) - before) / 2**30
        info["host_syncs_per_step"] = host_syncs(step)
    return info


def host_syncs(step: Callable[[], object]) -> int:
    """How many calls of one ``step()`` synchronise with the host (CUDA sync debug warnings)."""
    import warnings

    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            step()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught)


def time_group(suite: Suite, label: str, variants: Sequence[Variant], work: Path,
               args: Any, *, keep: Sequence[str] = (),
               on_built: Callable[[str, Any], None] | None = None,
               on_warm: Callable[[str, dict[str, Any]], None] | None = None,
               ) -> dict[str, Any]:
    """Build, warm up and time ``variants`` interleaved; returns the group's record (rows
    with ratios against ``anchor_fp32``) and puts the objects named in ``keep`` in
    ``record["kept"]`` (not serialised). ``on_built(name, object)`` runs before a variant's
    warm-up, ``on_warm(name, objects so far)`` after it (and once more with ``""`` before the
    timing)."""
    support = lever_support(base_config(suite.dry_run))
    steps: dict[str, Callable[[], object]] = {}
    objects: dict[str, Any] = {}
    warm: dict[str, dict[str, Any]] = {}
    for variant in variants:
        if variant.compiled and suite.over_budget(args.compile_reserve_s):
            suite.note(f"SKIP {variant.name}: budget; compiling needs ~{args.compile_reserve_s:.0f}"
                       " s")
            continue
        try:
            step, obj, why = build_step(variant, suite, work, support,
                                        utterances=args.utterances,
                                        compile_ok=args.compile_ok)
        except Exception as exc:
            suite.check(f"training variant {variant.name} builds", False,
                        f"{type(exc).__name__}: {exc}")
            continue
        if step is None:
            suite.note(f"SKIP {why}")
            continue
        if on_built is not None:
            on_built(variant.name, obj)
        try:
            warm[variant.name] = warm_up(step, suite.device, args.train_warmup)
        except Exception as exc:
            suite.check(f"training variant {variant.name} runs", False,
                        f"{type(exc).__name__}: {exc}")
            del step, obj
            _free(suite.device)
            continue
        steps[variant.name], objects[variant.name] = step, obj
        progress = suite.results.setdefault("training_warmups", {})
        progress[variant.name] = {"warmup_s": warm[variant.name]["warmup_s"],
                                  "at_s": suite.elapsed()}
        suite.save()  # a run cut short keeps the compile times measured so far
        if not variant.anchor:  # the levers as the trainer took them (a dry run drops compile)
            t = obj.config.training
            warm[variant.name]["applied"] = {key: getattr(t, key) for key in
                                             (*LEVERS_OFF, "precision") if hasattr(t, key)}
        print(f"warm-up done: {variant.name} ({sum(warm[variant.name]['warmup_s']):.1f} s)",
              flush=True)
        if on_warm is not None:
            on_warm(variant.name, objects)
    if on_warm is not None:
        on_warm("", objects)
    times = bc.interleaved(steps, suite.device, repeats=args.train_repeats, warmup=0)
    record = {"label": label, "rows": _rows(variants, times, warm, suite.dry_run),
              "lever_support": support, "kept": {k: objects[k] for k in keep if k in objects}}
    print(bc.format_table(record["rows"], ("variant", "median_step_s", "audio_s_per_s", "ratio",
                                           "paired_ratio", "compile_s", "target")), flush=True)
    return record


def _rows(variants: Sequence[Variant], times: dict[str, list[float]],
          warm: dict[str, dict[str, Any]], dry_run: bool) -> list[dict[str, Any]]:
    batch, segment = sizes(dry_run)
    anchor = times.get(ANCHOR_FP32.name)
    eager = times.get(OURS_EAGER.name)
    rows = []
    for variant in variants:
        values = times.get(variant.name)
        if not values:
            continue
        med = bc.median(values)
        info = warm[variant.name]
        compiled = info.get("applied", {}).get("compile") is True
        compile_s = max(0.0, sum(info["warmup_s"]) - len(info["warmup_s"]) * med)
        row: dict[str, Any] = {
            "variant": variant.name, "precision": variant.precision, "levers": variant.levers,
            "batch": batch, "segment": segment, "median_step_s": med, "min_step_s": min(values),
            "audio_s_per_s": batch * segment / SAMPLE_RATE / med, "steps": len(values),
            "compile_s": compile_s if compiled else None, "times_s": values, **info,
        }
        if anchor:
            row["ratio"] = bc.median(anchor) / med
            row["paired_ratio"] = bc.paired_ratio(anchor, values)
        if compiled:  # amortised: the share of a 100k-step run spent compiling
            row["compile_pct_of_100k_steps"] = 100 * compile_s / (compile_s + 1e5 * med)
        if eager and compiled and bc.median(eager) > med:
            row["break_even_steps"] = math.ceil(compile_s / (bc.median(eager) - med))
        if variant.target and "ratio" in row:
            ratio = row["ratio"]
            row["target"] = (f">= {TARGET}x: " + ("met" if ratio >= TARGET else "MISSED")
                             + (", goal 2x met" if ratio >= GOAL else ""))
        rows.append(row)
    return rows


def _free(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def release(record: dict[str, Any], device: torch.device) -> None:
    """Drop the group's kept objects and compiled graphs (frees CUDA graph pools)."""
    record.pop("kept", None)
    torch._dynamo.reset()
    _free(device)


def loader_overhead(suite: Suite, trainer: Any, name: str, args: Any) -> None:
    """The real loader (synthetic corpus files, the trainer's DataLoader, 4 workers on CUDA)
    against a fixed device batch on the same trainer (target < 5%)."""
    import train_throughput

    rows = train_throughput.measure(trainer, steps=args.train_steps, blocks=args.train_blocks,
                                    warmup=1)
    suite.results["loader"] = rows
    suite.results["loader_variant"] = name
    suite.results["loader_overhead_pct"] = train_throughput.loader_overhead_pct(rows)
    print(bc.format_table(rows, train_throughput.COLUMNS), flush=True)


def run_training(suite: Suite, args: Any, work: Path) -> None:
    """Group A (with the same-arithmetic trajectory check before its timings), the loader
    overhead on ours' fastest fp32 trainer, then group B while the budget lasts."""
    import gpu_arithmetic

    initial: dict[str, list[torch.Tensor]] = {}

    def built(name: str, obj: Any) -> None:
        if name == OURS_EAGER.name:
            initial["weights"] = gpu_arithmetic.snapshot(obj)

    done: list[bool] = []

    def trajectory(name: str, objects: dict[str, Any]) -> None:
        """Right after ours exact fp32 is warm (before exact bf16 compiles), else before the
        timing: the check matters more than any one timing."""
        if done or name not in ("ours_exact_fp32", ""):
            return
        done.append(True)
        if suite.over_budget(args.trajectory_reserve_s):
            suite.note("SKIP same arithmetic (exact levers): budget")
            return
        gpu_arithmetic.trajectory_check(
            suite, objects.get(OURS_EAGER.name), objects.get("ours_exact_fp32"),
            initial.pop("weights", None), work, args)
        suite.save()

    keep = ("ours_exact_fp32", OURS_EAGER.name)
    group = time_group(suite, "A: anchor vs ours", GROUP_A, work, args, keep=keep,
                       on_built=built, on_warm=trajectory)
    kept = group.pop("kept")
    suite.results.setdefault("training_groups", []).append(group)
    suite.save()
    name = next((k for k in keep if k in kept), None)
    if name is None:
        suite.note("SKIP loader overhead: no trainer of ours ran")
    elif suite.over_budget():
        suite.note("SKIP loader overhead: time budget spent")
    else:
        loader_overhead(suite, kept[name], name, args)
    kept.clear()
    release(group, suite.device)
    suite.save()
    if suite.over_budget(args.group_b_reserve_s):
        suite.note(f"SKIP training group B (compiled levers alone): budget (needs "
                   f"~{args.group_b_reserve_s:.0f} s)")
        return
    group = time_group(suite, "B: compiled levers alone", GROUP_B, work, args)
    group.pop("kept")
    suite.results["training_groups"].append(group)
    release(group, suite.device)
