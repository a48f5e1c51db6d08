"""The training step's speed levers (issue 17): their start-up checks (one line naming the key),
and each one's arithmetic equal to the plain step: fused optimisers, channels-last period
discriminators, the joint discriminator call (with MSD's spectral norm), all together, and a
resume of a run with them."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from training_helpers import assert_resume_is_exact, vocoder_config

from audiogan.config import ConfigError
from audiogan.models import build_discriminator
from audiogan.training import levers
from audiogan.training.levers import (
    check_levers,
    cxx_compiler,
    match_state_layout,
    to_channels_last,
    use_fused,
)
from audiogan.training.trainer import Trainer

CPU = torch.device("cpu")


def test_new_keys_default_to_the_plain_step(corpus: Path) -> None:
    t = vocoder_config(corpus).training
    assert (t.compile, t.compile_mode, t.fused_optimizer, t.joint_discriminator,
            t.channels_last) == (False, "default", None, False, False)


@pytest.mark.parametrize("override, key", [
    ("training.compile_mode=fast", "training.compile_mode"),
    ("training.fused_optimizer=sometimes", "training.fused_optimizer"),
    ("training.joint_discriminator=2", "training.joint_discriminator"),
    ("training.channels_last=yes please", "training.channels_last"),
])
def test_bad_lever_values_are_one_line(corpus: Path, override: str, key: str) -> None:
    with pytest.raises(ConfigError, match=key) as info:
        vocoder_config(corpus, override)
    assert "\n" not in str(info.value)


def test_compile_without_a_cxx_compiler_stops_naming_the_key(
        corpus: Path, tmp_path: Path, monkeypatch) -> None:
    assert cxx_compiler() is not None  # this machine has one (the compile tests need it)
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no compiler on PATH
    assert cxx_compiler() is None
    config = vocoder_config(corpus, compile=True)
    with pytest.raises(ConfigError, match="training.compile: true needs a C.. compiler") as info:
        check_levers(config, CPU)
    assert "\n" not in str(info.value) and "g++" in str(info.value)
    with pytest.raises(ConfigError, match="training.compile"):  # the trainer: before any write
        Trainer(config, tmp_path / "run", device="cpu", console=False)
    assert not (tmp_path / "run").exists()
    check_levers(vocoder_config(corpus), CPU)  # compile off: no compiler needed


def test_cuda_graphs_mode_needs_cuda(corpus: Path) -> None:
    config = vocoder_config(corpus, compile=True, compile_mode="reduce-overhead")
    with pytest.raises(ConfigError, match="training.compile_mode: reduce-overhead .* on cpu"):
        check_levers(config, CPU)
    check_levers(vocoder_config(corpus, compile=True, compile_mode="max-autotune-no-cudagraphs"),
                 CPU)


def test_fused_optimizer_checks_and_auto(corpus: Path) -> None:
    check_levers(vocoder_config(corpus, fused_optimizer=True), CPU)  # torch fuses AdamW on CPU
    radam = vocoder_config(corpus, "optim.discriminator.name=radam", fused_optimizer=True)
    with pytest.raises(ConfigError, match="training.fused_optimizer: .*optim.discriminator.name"
                                          "=radam has no fused kernel"):
        check_levers(radam, CPU)
    check_levers(vocoder_config(corpus, "optim.discriminator.name=radam"), CPU)  # auto: fine
    t, opt = vocoder_config(corpus).training, vocoder_config(corpus).optim.generator
    assert not use_fused(opt, t, CPU) and use_fused(opt, t, torch.device("cuda"))
    on = vocoder_config(corpus, fused_optimizer=True)
    assert use_fused(on.optim.generator, on.training, CPU)
    off = vocoder_config(corpus, fused_optimizer=False)
    assert not use_fused(off.optim.generator, off.training, torch.device("cuda"))


def _combined() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_discriminator("combined", periods=[2, 3], scales=2,
                               mpd_params={"channels": [4, 8, 16, 16, 16]},
                               msd_params={"channels": [16, 16, 32, 32, 32, 32, 32]})


def test_channels_last_period_discriminator_equals_contiguous() -> None:
    plain = _combined()
    last = copy.deepcopy(plain)
    assert to_channels_last(last) == 12 and to_channels_last(last) == 12  # 2 x 6 Conv2d, once
    assert to_channels_last(build_discriminator("msd", scales=1)) == 0  # Conv1d only
    wave = 0.3 * torch.randn(3, 1, 3001, generator=torch.Generator().manual_seed(1))
    a, b = plain(wave), last(wave)
    for maps in b.features[:2]:  # the period discriminators: after the first conv (C_in 1)
        assert all(f.dim() == 4 and f.is_contiguous(memory_format=torch.channels_last)
                   and not f.is_contiguous() for f in maps[1:-1])
    for x, y in zip([*a.logits, *sum(a.features, [])], [*b.logits, *sum(b.features, [])],
                    strict=True):
        assert torch.allclose(x, y, rtol=1e-5, atol=1e-6)
    sum(t.square().mean() for t in a.logits).backward()
    sum(t.square().mean() for t in b.logits).backward()
    for p, q in zip(plain.parameters(), last.parameters(), strict=True):
        assert p.grad is not None and q.grad is not None
        assert torch.allclose(p.grad, q.grad, rtol=1e-5, atol=1e-7)


def test_restored_optimiser_state_takes_the_parameter_layout() -> None:
    model = _combined()
    opt = torch.optim.AdamW(model.parameters(), fused=True)
    sum(t.mean() for t in model(torch.randn(2, 1, 2048)).logits).backward()
    opt.step()
    saved = copy.deepcopy(opt.state_dict())
    to_channels_last(model)
    opt.load_state_dict(saved)
    match_state_layout(opt)
    four_d = [(i, p) for i, p in enumerate(model.parameters())
              if p.dim() == 4 and p.shape[1] > 1]
    assert four_d
    for i, p in four_d:
        for key in ("exp_avg", "exp_avg_sq"):
            assert opt.state[p][key].stride() == p.stride() != saved["state"][i][key].stride()
            assert torch.equal(opt.state[p][key], saved["state"][i][key])


def _history(corpus: Path, run: Path, **training) -> list[dict[str, float]]:
    config = vocoder_config(corpus, max_steps=3, checkpoint_every=100, discriminator_start_step=0,
                            **training)
    return Trainer(config, run, device="cpu", console=False).fit().history


@pytest.mark.parametrize("lever", [
    {"fused_optimizer": True}, {"channels_last": True}, {"joint_discriminator": True},
    {"fused_optimizer": True, "channels_last": True, "joint_discriminator": True},
], ids=["fused", "channels_last", "joint", "all"])
def test_each_lever_keeps_the_loss_trajectory(corpus: Path, tmp_path: Path, lever: dict) -> None:
    plain = _history(corpus, tmp_path / "plain")
    levered = _history(corpus, tmp_path / "lever", **lever)
    assert len(plain) == len(levered) == 3
    for a, b in zip(plain, levered, strict=True):
        assert a.keys() == b.keys()
        for key in ("g_loss", "d_loss", "g_feature_matching", "g_mel", "d_grad_norm"):
            assert b[key] == pytest.approx(a[key], rel=1e-5), key


def test_resume_with_the_levers_is_exact(corpus: Path, tmp_path: Path) -> None:
    config = vocoder_config(corpus, max_steps=4, checkpoint_every=2, discriminator_start_step=0,
                            fused_optimizer=True, channels_last=True, joint_discriminator=True)
    assert_resume_is_exact(config, tmp_path)


def test_lever_module_names_no_architecture() -> None:
    source = Path(levers.__file__).read_text()
    for name in ("hifigan", "PeriodDiscriminator", "MultiPeriod", "melgan"):
        assert name not in source
