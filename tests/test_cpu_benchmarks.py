"""Smoke tests of the CPU-path benchmarks (issue 16): cpu_plans.py and cpu_memory.py with tiny
models. No timing assertions: that the plans give the audio of whole calls, the rows and files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from bench_helpers import BENCHMARKS, ROOT
from bench_helpers import bench_script as _script
from bench_helpers import header_columns as _header_columns


def test_cpu_plans_times_every_plan_with_the_audio_of_whole_calls(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cpu_plans = _script("cpu_plans")
    out = tmp_path / "plans.json"
    assert cpu_plans.main(["--tiny", "--models", "melgan", "istft_base", "--seconds", "0.5",
                           "--batch-sizes", "3", "--repeats", "1", "--threads", "1",
                           "--plans", "f8", "i1p", "i2f16", "--json", str(out)]) == 0
    assert "speedup_median" in _header_columns(capsys.readouterr().out, "model")
    rows = json.loads(out.read_text())["rows"]
    assert [(row["model"], row["plan"]) for row in rows] == [
        (model, plan) for model in ("melgan", "istft_base")
        for plan in ("whole", "f8", "i1p", "i2f16")]
    assert all(row["max_abs_diff"] <= 1e-4 and row["median_s"] > 0 for row in rows)
    assert all(row["speedup_median"] == 1.0 for row in rows if row["plan"] == "whole")
    with pytest.raises(SystemExit, match="bad plan"):
        cpu_plans.parse_plan("f8x")


def test_cpu_memory_measures_each_path_in_its_own_process(tmp_path: Path) -> None:
    out = tmp_path / "memory.json"
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "cpu_memory.py"), "--tiny", "--minutes", "0.05",
         "--models", "melgan", "--threads", "1", "--json", str(out)],
        capture_output=True, text=True, cwd=tmp_path, timeout=300, check=False,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])},
    )
    assert done.returncode == 0, done.stderr
    rows = json.loads(out.read_text())["rows"]
    assert [(row["model"], row["path"]) for row in rows] == [("melgan", "float32"),
                                                            ("melgan", "policy")]
    assert rows[1]["plan"] == "256-frame pieces, 1 item(s) per call"
    assert all(row["peak_delta_MiB"] >= 0 and row["audio_s"] > 2.9 for row in rows)


def test_cpu_memory_counts_distinct_lengths_and_each_path(tmp_path: Path) -> None:
    out = tmp_path / "lengths.json"
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "cpu_memory.py"), "--tiny", "--minutes", "0.02",
         "--lengths", "3", "--models", "istft_base", "--paths", "reference", "fixed_shapes",
         "--threads", "1", "--json", str(out)],
        capture_output=True, text=True, cwd=tmp_path, timeout=300, check=False,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])},
    )
    assert done.returncode == 0, done.stderr
    rows = json.loads(out.read_text())["rows"]
    assert [row["path"] for row in rows] == ["reference", "fixed_shapes"]
    frames = round(0.02 * 60 * 22050 / 256)  # 103, then 96 and 89
    for row in rows:
        assert row["lengths"] == 3
        assert abs(row["audio_s"] - (3 * frames - 21) * 256 / 22050) < 1e-9
        assert row["peak_delta_MiB"] >= row["kept_MiB"] >= 0
