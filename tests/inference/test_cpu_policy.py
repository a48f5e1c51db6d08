"""The CPU policy: feature detection, the per-generator table, explicit arguments winning, and
what Vocoder.load / audiogan info report."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from _inference_runs import tiny_config, tiny_generator
from click.testing import CliRunner

from audiogan import Vocoder
from audiogan.cli.main import cli
from audiogan.inference import cpu_policy
from audiogan.inference.cpu_policy import (
    POLICY,
    CpuFeatures,
    PolicyEntry,
    choose_path,
    hifigan_shape,
)
from audiogan.inference.export import export_model
from audiogan.inference.model_dir import LoadedModel
from audiogan.inference.pieces import PiecePlan
from audiogan.models.hifigan import HiFiGANGenerator

REPO = Path(__file__).resolve().parents[2]
BF16 = CpuFeatures(frozenset({"avx512_bf16"}), "test")
PLAIN = CpuFeatures(frozenset(), "test")


def _is_tiny_hifigan(generator: torch.nn.Module) -> bool:
    return (isinstance(generator, HiFiGANGenerator)
            and generator.config.upsample_initial_channel == 16)


TABLE = (PolicyEntry("tiny HiFi-GAN", _is_tiny_hifigan, ("avx512_bf16", "amx_bf16"), "torch",
                     torch.bfloat16, "benchmarks/results/example.md"),)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    generator = tiny_generator("hifigan").eval()
    generator.remove_weight_norm()
    root = tmp_path_factory.mktemp("policy")
    return export_model(LoadedModel(generator, tiny_config("hifigan")), root / "m").out_dir


def test_features_from_proc_cpuinfo(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx512f avx512_bf16 amx_tile\n\n"
                    "processor\t: 1\nflags\t\t: fpu sse avx512f avx512_bf16 amx_tile\n")
    assert cpu_policy._from_proc_cpuinfo(info) == frozenset({"avx512_bf16"})
    info.write_text("processor\t: 0\nflags\t\t: fpu avx2 amx_bf16 amx_tile\n")
    assert cpu_policy._from_proc_cpuinfo(info) == frozenset({"amx_bf16"})
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx2\n")
    assert cpu_policy._from_proc_cpuinfo(info) == frozenset()
    assert cpu_policy._from_proc_cpuinfo(tmp_path / "missing") is None


def test_features_from_torch_when_cpuinfo_is_unreadable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpu_policy, "_from_proc_cpuinfo", lambda: None)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    cpu_policy.cpu_features.cache_clear()
    try:
        features = cpu_policy.cpu_features()
    finally:
        cpu_policy.cpu_features.cache_clear()
    assert features.flags == frozenset({"avx512_bf16"}) and features.source == "torch"


def test_a_listed_generator_on_a_bf16_cpu_takes_the_tables_path() -> None:
    path = choose_path(tiny_generator("hifigan"), features=BF16, policy=TABLE)
    assert (path.backend, path.dtype, path.device.type) == ("torch", torch.bfloat16, "cpu")
    assert "tiny HiFi-GAN" in path.reason and "avx512_bf16" in path.reason
    assert "benchmarks/results/example.md" in path.reason


def test_fp32_without_the_feature_or_for_unlisted_generators() -> None:
    lacking = choose_path(tiny_generator("hifigan"), features=PLAIN, policy=TABLE)
    assert lacking.dtype == torch.float32 and "avx512_bf16 or amx_bf16" in lacking.reason
    amx = CpuFeatures(frozenset({"amx_bf16"}), "test")
    assert choose_path(tiny_generator("hifigan"), features=amx, policy=TABLE).dtype == \
        torch.bfloat16
    unlisted = choose_path(tiny_generator("melgan"), features=BF16, policy=TABLE)
    assert (unlisted.backend, unlisted.dtype) == ("torch", torch.float32)
    assert "no faster path measured for MelGANGenerator" in unlisted.reason


def test_explicit_arguments_and_other_devices_bypass_the_policy() -> None:
    gen = tiny_generator("hifigan")
    given = choose_path(gen, dtype=torch.float32, features=BF16, policy=TABLE)
    assert given.dtype == torch.float32 and given.reason == "dtype=float32 given"
    torch_given = choose_path(gen, backend="torch", features=BF16, policy=TABLE)
    assert torch_given.dtype == torch.float32 and torch_given.reason == "backend='torch' given"
    ort = choose_path(gen, backend="onnxruntime", features=BF16, policy=TABLE)
    assert (ort.backend, ort.dtype) == ("onnxruntime", torch.float32)
    cuda = choose_path(gen, device=torch.device("cuda"), features=BF16, policy=TABLE)
    assert cuda.dtype == torch.float32 and "not the CPU" in cuda.reason


def test_an_onnxruntime_entry_needs_generator_onnx() -> None:
    table = (PolicyEntry("tiny HiFi-GAN", _is_tiny_hifigan, (), "onnxruntime", torch.float32,
                         "benchmarks/results/example.md"),)
    gen = tiny_generator("hifigan")
    assert choose_path(gen, has_onnx=True, features=PLAIN, policy=table).backend == "onnxruntime"
    missing = choose_path(gen, has_onnx=False, features=PLAIN, policy=table)
    assert missing.backend == "torch" and "no generator.onnx" in missing.reason


def test_vocoder_load_takes_an_onnxruntime_entry_only_when_it_can_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("onnxruntime", reason="onnxruntime not installed (extra 'onnx')")
    import sys

    generator = tiny_generator("hifigan").eval()
    generator.remove_weight_norm()
    model = export_model(LoadedModel(generator, tiny_config("hifigan")), tmp_path / "m",
                         ["onnx"]).out_dir
    table = (PolicyEntry("tiny HiFi-GAN", _is_tiny_hifigan, (), "onnxruntime", torch.float32,
                         "benchmarks/results/example.md"),)
    monkeypatch.setattr(cpu_policy, "POLICY", table)
    assert Vocoder.load(model).backend == "onnxruntime"
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if not installed
    fallback = Vocoder.load(model)
    assert fallback.backend == "torch" and "onnxruntime is not installed" in \
        fallback.path_info.reason


def test_hifigan_shape_matches_the_preset_exactly() -> None:
    v1 = hifigan_shape("v1")
    assert v1(HiFiGANGenerator(preset="v1"))
    assert not v1(HiFiGANGenerator(preset="v2"))
    assert not v1(tiny_generator("hifigan"))  # v1 with fewer channels
    assert not v1(HiFiGANGenerator(preset="v1", in_channels=100))
    assert not v1(tiny_generator("melgan"))


def test_vocoder_load_follows_the_policy_and_explicit_arguments_win(
        model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpu_policy, "POLICY", TABLE)
    monkeypatch.setattr(cpu_policy, "cpu_features", lambda: BF16)
    auto = Vocoder.load(model_dir)
    assert auto.dtype == torch.bfloat16 and auto.path_info.dtype == torch.bfloat16
    assert auto.path_info.reason.startswith("policy: tiny HiFi-GAN runs torch bfloat16")
    assert "torch bfloat16 on cpu (policy:" in str(auto.path_info)
    assert Vocoder.load(model_dir, dtype="float32").dtype == torch.float32
    assert Vocoder.load(model_dir, backend="torch").dtype == torch.float32
    monkeypatch.setattr(cpu_policy, "cpu_features", lambda: PLAIN)
    assert Vocoder.load(model_dir).dtype == torch.float32
    moved = Vocoder.load(model_dir).to(torch.bfloat16)
    assert moved.path_info.reason == "set with .to()"


def test_cli_prints_the_policys_choice(model_dir: Path, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    monkeypatch.setattr(cpu_policy, "POLICY", TABLE)
    monkeypatch.setattr(cpu_policy, "cpu_features", lambda: BF16)
    info = CliRunner().invoke(cli, ["info", str(model_dir)])
    assert info.exit_code == 0
    assert "CPU path (default on this machine): torch bfloat16 on cpu (policy: tiny" in \
        info.output
    mel = tmp_path / "m.npy"
    np.save(mel, (-5.0 + np.random.default_rng(0).standard_normal((80, 20))).astype(np.float32))
    result = CliRunner().invoke(cli, ["synthesize", str(model_dir), str(mel), "-o",
                                      str(tmp_path / "out")])
    assert result.exit_code == 0 and "path: torch bfloat16 on cpu (policy:" in result.output
    forced = CliRunner().invoke(cli, ["synthesize", str(model_dir), str(mel), "-o",
                                      str(tmp_path / "out32"), "--dtype", "float32"])
    assert forced.exit_code == 0 and "path: torch float32 on cpu (dtype=float32 given)" in \
        forced.output


@pytest.mark.parametrize("entry", POLICY, ids=lambda entry: entry.label)
def test_every_policy_entry_cites_a_results_file(entry: PolicyEntry) -> None:
    for evidence in entry.evidence.split(" and "):
        assert evidence.startswith("benchmarks/results/") and (REPO / evidence).is_file()
    assert entry.backend in ("torch", "onnxruntime") and entry.requires is not None


MIXED = (PolicyEntry("tiny HiFi-GAN", _is_tiny_hifigan, ("avx512_bf16",), "torch",
                     torch.bfloat16, "benchmarks/results/example.md", float32_stages=1),)


def test_keep_float32_tail_runs_the_last_stage_and_conv_post_in_float32() -> None:
    generator = tiny_generator("hifigan").eval()
    generator.remove_weight_norm()
    mel = torch.randn(2, generator.in_channels, 12)
    with torch.inference_mode():
        reference = generator(mel)
        generator.to(torch.bfloat16)
        everywhere = generator(mel.bfloat16()).float()
        generator.keep_float32_tail(1)
        mixed = generator(mel.bfloat16())
    last = len(generator.upsamples) - 1
    assert generator.float32_from == last
    assert generator.conv_pre.weight.dtype == torch.bfloat16
    assert all(p.dtype == torch.float32 for p in generator.mrfs[last].parameters())
    assert generator.conv_post.weight.dtype == torch.float32
    assert mixed.dtype == torch.float32 and mixed.shape == reference.shape
    # closer to float32 than bfloat16 everywhere, and close in absolute terms
    assert float((mixed - reference).abs().mean()) < float((everywhere - reference).abs().mean())
    assert float((mixed - reference).abs().max()) < 0.05
    for stages in (0, len(generator.upsamples) + 1):
        with pytest.raises(ValueError, match="keep_float32_tail needs 1"):
            generator.keep_float32_tail(stages)


def test_a_mixed_precision_entry_loads_with_its_float32_tail(
        model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpu_policy, "POLICY", MIXED)
    monkeypatch.setattr(cpu_policy, "cpu_features", lambda: BF16)
    auto = Vocoder.load(model_dir)
    generator = auto.generator
    last = len(generator.upsamples) - 1
    assert auto.dtype == torch.bfloat16 and generator.float32_from == last
    assert generator.conv_post.weight.dtype == torch.float32
    assert auto.path_info.float32_stages == 1
    assert "float32 tail of 1 stage(s)" in auto.path_info.reason
    assert "(last 1 upsampling stage(s) float32)" in str(auto.path_info)
    mel = torch.randn(generator.in_channels, 20)
    fp32 = Vocoder.load(model_dir, dtype="float32")
    out, ref = auto(mel, check_range=False), fp32(mel, check_range=False)
    assert out.dtype == torch.float32 and out.shape == ref.shape
    assert float((out - ref).abs().max()) < 0.05
    # one dtype set afterwards applies everywhere (no tail left behind)
    auto.to(torch.bfloat16)
    assert auto.generator.float32_from == -1 and auto.path_info.float32_stages == 0
    assert auto(mel, check_range=False).dtype == torch.float32


def test_the_shipped_table_gives_hifigan_v1_its_mixed_path_on_bf16_cpus() -> None:
    v1 = HiFiGANGenerator(preset="v1")
    chosen = choose_path(v1, features=BF16)
    assert (chosen.backend, chosen.dtype, chosen.float32_stages) == ("torch", torch.bfloat16, 1)
    plain = choose_path(v1, features=PLAIN)
    assert (plain.dtype, plain.float32_stages) == (torch.float32, 0)
    assert choose_path(HiFiGANGenerator(preset="v2"), features=BF16).dtype == torch.float32


def test_a_cast_of_the_whole_module_ends_the_float32_tail_and_a_move_keeps_it(
        model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpu_policy, "POLICY", MIXED)
    monkeypatch.setattr(cpu_policy, "cpu_features", lambda: BF16)
    mel = torch.randn(1, 80, 20)
    moved = Vocoder.load(model_dir)
    last = len(moved.generator.upsamples) - 1
    moved.module.to("cpu")  # nn.Module's move: the mixed precision stays
    assert moved.generator.float32_from == last
    assert moved.generator.conv_post.weight.dtype == torch.float32
    assert moved.path_info.float32_stages == 1
    cast = Vocoder.load(model_dir)
    cast.module.to(torch.bfloat16)  # nn.Module's cast (not Vocoder.to): bfloat16 everywhere
    assert cast.generator.float32_from == -1 and cast.path_info.float32_stages == 0
    with torch.inference_mode():  # the tail's float32 input used to meet bfloat16 weights
        assert cast.module(mel).dtype == torch.bfloat16
    cast.generator.float()
    assert cast.generator.float32_from == -1 and cast.path_info.float32_stages == 0
    with torch.inference_mode():
        assert cast.module.generator(mel).dtype == torch.float32


def test_evaluate_and_export_keep_float32_whatever_the_policy(
        model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from safetensors.torch import load_file

    from audiogan.evaluation.models import load_models

    monkeypatch.setattr(cpu_policy, "POLICY", MIXED)
    monkeypatch.setattr(cpu_policy, "cpu_features", lambda: BF16)
    assert Vocoder.load(model_dir).dtype == torch.bfloat16  # the policy applies here
    # metrics measure the model itself: evaluate runs float32 even where the policy is bf16
    (evaluated,) = load_models([model_dir], torch.device("cpu"))
    assert evaluated.runner.dtype == torch.float32
    assert evaluated.runner.generator.float32_from == -1
    exported = export_model(model_dir, tmp_path / "again", ["onnx"])
    weights = load_file(str(exported.files["safetensors"]))
    assert {tensor.dtype for tensor in weights.values()} == {torch.float32}
    assert exported.files["onnx"].is_file()


@pytest.mark.parametrize(("name", "plan"), [
    ("melgan", PiecePlan(piece_frames=256, batch_items=1)),
    ("multiband_melgan", PiecePlan(batch_items=2)),
])
def test_the_shipped_table_cuts_melgans_into_pieces_on_any_cpu(
    name: str, plan: PiecePlan, tmp_path: Path
) -> None:
    generator = tiny_generator(name).eval()
    path = choose_path(generator, features=PLAIN)
    assert (path.backend, path.dtype, path.plan) == ("torch", torch.float32, plan)
    assert "cpu_plans.md" in path.reason and "CPU with" not in path.reason
    assert choose_path(generator, dtype=torch.float32).plan == PiecePlan()  # explicit: none
    assert choose_path(generator, device=torch.device("cuda")).plan == PiecePlan()
    out = export_model(LoadedModel(generator, tiny_config(name)), tmp_path / "m").out_dir
    voc, plain = Vocoder.load(out), Vocoder.load(out, dtype="float32")
    assert voc.path_info.plan == plan and plain.path_info.plan == PiecePlan()
    assert str(plan) in str(voc.path_info)
    mel = torch.randn(3, 80, 300, generator=torch.Generator().manual_seed(2)) - 5
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert (voc(mel, check_range=False) - plain(mel, check_range=False)).abs().max() <= 1e-4
    finally:
        torch.set_num_threads(before)


def test_the_shipped_table_runs_hifigan_v1_items_on_worker_threads_with_bf16_only() -> None:
    v1 = HiFiGANGenerator(preset="v1")
    assert choose_path(v1, features=BF16).plan == PiecePlan(batch_items=1, parallel=True)
    assert choose_path(v1, features=PLAIN).plan == PiecePlan()  # its fp32 fallback: unmeasured
    assert choose_path(tiny_generator("istft"), features=BF16).plan == PiecePlan()
