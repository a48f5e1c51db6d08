"""benchmarks/variable_length.py (issue 17's GPU hook) on the CPU with a tiny model: the three
modes' rows, the bounded shapes of fixed-shape synthesis, the same audio, the skipped graphs row.

No timing assertions (docs/architecture.md, 'Benchmarks'): only that times were taken."""

from __future__ import annotations

import importlib
import json
import math
import sys
from pathlib import Path
from types import ModuleType

import pytest

from audiogan.inference.fixed_shapes import window_ladder

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _script() -> ModuleType:
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    return importlib.import_module("variable_length")


def test_variable_length_rows_on_cpu() -> None:
    lengths = [0.3, 0.45, 0.61, 0.77, 0.9, 1.2]  # 26 ... 104 frames: all different
    rows = _script().variable_length_rows("cpu", lengths, model="hifigan_v1", tiny=True,
                                          repeats=1, core_frames=24)
    assert [row["mode"] for row in rows] == ["eager", "fixed", "graphs"]
    eager, fixed, graphs = rows
    assert eager["shapes"] == len(lengths)  # one shape per length
    # V1's halo 13, core 24: one size, S = 50; 26 and 39 frames are below it and run as they are
    assert window_ladder(13, 24) == (50,)
    assert fixed["shapes"] == 3
    assert fixed["max_diff"] <= 1e-4 and eager["max_diff"] == 0.0
    for row in (eager, fixed):
        assert row["calls"] == len(lengths) and row["skipped"] == ""
        assert row["first_call_ms"] > 0 and row["steady_ms"] > 0 and row["x_realtime"] > 0
        assert math.isclose(row["audio_s"], sum(math.ceil(s * 22050 / 256) * 256 / 22050
                                                for s in lengths))
        assert row["graphs"] == 0
    assert graphs["skipped"] == "cuda_graphs needs CUDA, not cpu" and "steady_ms" not in graphs


def test_variable_length_script_writes_json(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "vl.json"
    assert _script().main(["--device", "cpu", "--tiny", "--model", "melgan", "--lengths", "0.2",
                           "0.5", "--repeats", "1", "--threads", "1", "--json", str(out)]) == 0
    header = capsys.readouterr().out.splitlines()[0].split()
    assert header[:4] == ["model", "device", "mode", "batch"]
    payload = json.loads(out.read_text())
    assert payload["lengths_s"] == [0.2, 0.5] and len(payload["rows"]) == 3


def test_variable_length_rows_from_a_model_dir(tmp_path: Path) -> None:
    from _inference_runs import tiny_config, tiny_generator

    from audiogan.inference.export import export_model
    from audiogan.inference.model_dir import LoadedModel

    model = tmp_path / "tiny_melgan"
    export_model(LoadedModel(tiny_generator("melgan"), tiny_config("melgan")), model)
    rows = _script().variable_length_rows("cpu", [0.3, 0.5], model_dir=model, repeats=1,
                                          core_frames=20)
    assert [row["model"] for row in rows] == ["tiny_melgan"] * 3
    eager, fixed, _ = rows
    assert eager["shapes"] == 2 and fixed["max_diff"] <= 1e-4  # 26 and 44 frames
