"""The GPU suite's bookkeeping: :class:`Suite` (results, time budget, sections that survive an
error, incremental writes) and the Markdown summary written as ``gpu_suite.md``."""

from __future__ import annotations

import contextlib
import math
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bench_common as bc
import torch


class Suite:
    """Collects results, keeps time, survives a failing section and saves after each one.

    Args:
        device: where the suite runs.
        budget_s: timed sections starting after this many seconds are skipped.
        dry_run: tiny sizes on CPU.
        out: where ``gpu_suite.json`` / ``gpu_suite.md`` go (rewritten after every section, so a
            run killed by the device's time limit still leaves what it measured).
    """

    def __init__(self, device: torch.device, budget_s: float, dry_run: bool,
                 out: Path | None = None) -> None:
        self.device = device
        self.budget_s = budget_s
        self.dry_run = dry_run
        self.out = out
        self.start = time.perf_counter()
        self.results: dict[str, Any] = {"machine": bc.machine_info(device), "dry_run": dry_run,
                                        "checks": [], "notes": []}

    def elapsed(self) -> float:
        """Seconds since the suite started."""
        return time.perf_counter() - self.start

    def over_budget(self, reserve_s: float = 0.0) -> bool:
        """True once ``elapsed() + reserve_s`` exceeds the budget."""
        return self.elapsed() + reserve_s > self.budget_s

    def note(self, text: str) -> None:
        """Print and record a note."""
        print(text, flush=True)
        self.results["notes"].append(text)

    def check(self, name: str, passed: bool, detail: str, **values: Any) -> None:
        """Record one correctness check (a FAIL makes the suite exit 1)."""
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
        if timed and self.over_budget():
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
        finally:
            self.results.setdefault("section_end_s", {})[name] = self.elapsed()
            self.save()

    def save(self) -> str:
        """Write ``gpu_suite.json`` and ``gpu_suite.md`` under :attr:`out`; returns the table."""
        self.results["total_s"] = self.elapsed()
        table = summary_table(self.results)
        if self.out is not None:
            self.out.mkdir(parents=True, exist_ok=True)
            bc.write_json(self.out / "gpu_suite.json", self.results)
            (self.out / "gpu_suite.md").write_text(table + "\n", encoding="utf-8")
        return table

    def failed(self) -> bool:
        """Whether any check failed."""
        return any(c["status"] == "FAIL" for c in self.results["checks"])


def _fmt(value: Any, spec: str = ".3f") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, spec) if isinstance(value, (int, float)) else str(value)


def _checks_lines(results: dict[str, Any]) -> list[str]:
    checks = results["checks"]
    failed = [c["check"] for c in checks if c["status"] == "FAIL"]
    lines = [f"checks: {len(checks) - len(failed)}/{len(checks)} passed"
             + (f"; FAILED: {', '.join(failed)}" if failed else ""), ""]
    arithmetic = [c for c in checks if c["check"].startswith(("same arithmetic", "precision"))]
    if arithmetic:
        lines += ["| same-arithmetic check | status | detail |", "|---|---|---|"]
        lines += [f"| {c['check']} | {c['status']} | {c['detail']} |" for c in arithmetic]
        lines.append("")
    return lines


def _arithmetic_lines(results: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    trajectory = results.get("trajectory")
    if trajectory:
        lines += [f"| loss ({trajectory['steps']} steps) | step 0 rel diff | max rel diff | "
                  "control max | limit | pass |", "|---|---|---|---|---|---|"]
        lines += [f"| {r['loss']} | {r['step0_rel_diff']:.1e} | {r['max_rel_diff']:.1e} | "
                  f"{r['control_max_rel_diff']:.1e} | {r['limit']:.1e} | {r['pass']} |"
                  for r in trajectory["rows"]]
        lines.append("")
    finetune = results.get("precision_finetune")
    if finetune:
        lines += [f"| fine-tune ({finetune['clips_held_back']} held-back clips) | log-mel L1 dB |"
                  " vs fp32 | PESQ-WB | verdict |", "|---|---|---|---|---|"]
        lines += [f"| {r['precision']} | {r['log_mel_l1_db']:.3f} | {r['l1_rise_pct']:+.2f}% | "
                  f"{_fmt(r['pesq_wb'])} | {r.get('verdict', '')} |" for r in finetune["rows"]]
        lines.append("")
    return lines


def _synthesis_lines(results: dict[str, Any]) -> list[str]:
    rows = results.get("synthesis", [])
    lines: list[str] = []
    if rows:
        lines += ["| synthesis (anchor: V1 PWG's generator; istft: Vocos) | batch | median ms |"
                  " × real time | vs anchor | target |", "|---|---|---|---|---|---|"]
        lines += [f"| {r['variant']} | {r['batch']} | {1000 * r['median_s']:.2f} | "
                  f"{r['x_realtime']:.0f} | {_fmt(r.get('ratio'), '.2f')}"
                  f"{'' if r.get('ratio') is None else '×'} | {r.get('target', '')} |"
                  for r in rows]
        lines.append("")
    for row in results.get("variable_length", []):
        lines.append("variable length: " + ", ".join(f"{k} {_fmt(v, '.4g')}"
                                                     for k, v in row.items()
                                                     if not isinstance(v, (list, dict))))
    return lines


def _training_lines(results: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for group in results.get("training_groups", []):
        label = group["label"]
        lines += [f"| training, {label} | s/step | audio-s/s | vs anchor fp32 | compile s |"
                  " host syncs | step GiB | target |", "|---|---|---|---|---|---|---|---|"]
        for r in group["rows"]:
            lines.append(f"| {r['variant']} | {r['median_step_s']:.4f} | "
                         f"{r['audio_s_per_s']:.1f} | {_fmt(r.get('ratio'), '.2f')}× | "
                         f"{_fmt(r.get('compile_s'), '.0f')} | "
                         f"{_fmt(r.get('host_syncs_per_step'), 'd')} | "
                         f"{_fmt(r.get('step_memory_GiB'), '.1f')} | {r.get('target', '')} |")
        lines.append("")
    if "loader_overhead_pct" in results:
        lines.append(f"loader overhead ({results.get('loader_variant', 'fp32')}, real files): "
                     f"{results['loader_overhead_pct']:+.1f}% (target < 5%)")
    return lines


def _inference_lines(results: dict[str, Any]) -> list[str]:
    inference = results.get("inference", [])
    if not inference:
        return []
    lines = ["", "| model | batch | fp32 RTF | bf16 RTF | fp32 × RT | bf16 × RT |",
             "|---|---|---|---|---|---|"]
    by_key = {(r["model"], r["batch"], r["dtype"]): r for r in inference}
    for model, batch in dict.fromkeys((r["model"], r["batch"]) for r in inference):
        fp32, bf16 = by_key.get((model, batch, "fp32")), by_key.get((model, batch, "bf16"))
        lines.append(
            f"| {model} | {batch} | {fp32['rtf']:.2e} | {bf16['rtf']:.2e} | "
            f"{fp32['x_realtime']:.0f} | {bf16['x_realtime']:.0f} |" if fp32 and bf16 else
            f"| {model} | {batch} | - | - | - | - |")
    return lines


def summary_table(results: dict[str, Any]) -> str:
    """The Markdown summary printed last (and saved as ``gpu_suite.md``)."""
    machine = results["machine"]
    lines = [f"# gpu_suite on {machine.get('gpu', machine['cpu'])}, torch {machine['torch']}"
             f" (CUDA {machine.get('cuda', '-')}), {machine['date']}", ""]
    if results["dry_run"]:
        lines += ["(dry run: tiny models on the CPU; the ratios mean nothing)", ""]
    lines += _checks_lines(results)
    lines += _arithmetic_lines(results)
    lines += _synthesis_lines(results)
    lines += [""] + _training_lines(results)
    lines += _inference_lines(results)
    skips = [n for n in results.get("notes", []) if n.startswith("SKIP")]
    if skips:
        lines += ["", "skipped:"] + [f"- {n}" for n in skips]
    lines.append(f"\ntotal {results.get('total_s', 0.0):.0f} s")
    return "\n".join(lines)
