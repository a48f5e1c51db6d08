"""Tests for audiogan.training.components: gradient clipping (with and without torch's
get_total_norm) and optimiser state restored onto this machine's kernel."""

from __future__ import annotations

import pytest
import torch


@pytest.mark.parametrize("torch_has_total_norm", [True, False])
def test_clip_gradients_measures_without_touching_and_clips_when_asked(
    torch_has_total_norm: bool, monkeypatch
) -> None:
    from audiogan.training.components import clip_gradients

    if not torch_has_total_norm:  # torch < 2.6 has no get_total_norm: the fallback
        monkeypatch.delattr(torch.nn.utils, "get_total_norm", raising=False)

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
    model.requires_grad_(True)
    model[1].bias.requires_grad_(False)  # a parameter without a gradient is ignored
    (model(torch.randn(5, 4)) ** 2).sum().backward()
    before = [p.grad.clone() for p in model.parameters() if p.grad is not None]
    expected = torch.cat([g.flatten() for g in before]).norm().item()

    norm = clip_gradients(model, None)
    assert norm.item() == pytest.approx(expected, rel=1e-6)
    after = [p.grad for p in model.parameters() if p.grad is not None]
    assert all(torch.equal(a, b) for a, b in zip(before, after))  # measured only

    limit = expected / 4
    norm = clip_gradients(model, limit)
    assert norm.item() == pytest.approx(expected, rel=1e-6)  # the norm before clipping
    clipped = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
    assert clipped.norm().item() == pytest.approx(limit, rel=1e-4)
    assert clip_gradients(torch.nn.Linear(2, 2), None).item() == 0.0  # no gradients yet


@pytest.mark.parametrize("saved_kernel", [{"foreach": False}, {"fused": True}])
def test_resumed_optimizer_keeps_this_machines_kernel(saved_kernel: dict) -> None:
    # load_state_dict alone would restore the saved fused/foreach flags (e.g. from a GPU run).
    from audiogan.config import OptimizerConfig
    from audiogan.training.components import build_optimizer, load_optimizer_state

    def stepped(optimizer: torch.optim.Optimizer, params: list[torch.Tensor]) -> None:
        for p in params:
            p.grad = torch.ones_like(p)
        optimizer.step()

    torch.manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(3, 2)), torch.nn.Parameter(torch.randn(2))]
    old = torch.optim.AdamW(params, lr=1e-3, **saved_kernel)
    stepped(old, params)
    saved = old.state_dict()
    cfg = OptimizerConfig(name="adamw", lr=1e-3)
    new = build_optimizer(params, cfg, device=torch.device("cpu"))
    load_optimizer_state(new, saved)
    assert new.param_groups[0]["foreach"] is True and not new.param_groups[0]["fused"]
    assert new.state[params[0]]["step"].item() == 1
    stepped(new, params)  # the restored state works with this kernel
    assert new.state[params[0]]["step"].item() == 2
    assert saved["param_groups"][0].get("fused") == saved_kernel.get("fused")  # input untouched


def _tiny_combined_with_gradients() -> torch.nn.Module:
    """MPD + MSD + MRD + CQTD at tiny widths, with gradients of an LSGAN-like loss."""
    from audiogan.models import build_discriminator

    torch.manual_seed(0)
    disc = build_discriminator(
        "combined", periods=[2, 3], scales=1, resolutions=[[128, 32, 128]],
        mpd_params={"channels": (4, 8, 8, 8, 8)},
        msd_params={"channels": (4,) * 7, "groups": (1,) * 7},
        mrd_params={"channels": 4}, cqtd=True, sample_rate=8000,
        cqtd_params={"hop_lengths": (64,), "n_octaves": (4,), "bins_per_octaves": (8,),
                     "filters": 4, "max_filters": 8},
    )
    out = disc(torch.randn(2, 1, 2048, generator=torch.Generator().manual_seed(1)))
    sum(((logit - 1.0) ** 2).mean() for logit in out.logits).backward()
    return disc


def test_per_part_clipping_equals_clipping_each_part_by_hand() -> None:
    from audiogan.training.components import clip_gradient_groups, clip_gradients, total_of

    disc, by_hand, jointly = (_tiny_combined_with_gradients() for _ in range(3))
    assert list(disc.clip_groups()) == ["mpd", "msd", "mrd", "cqtd"]
    part_norms = [p.grad.norm() for p in disc.parameters() if p.grad is not None]
    whole = torch.stack(part_norms).norm().item()
    hand_norms = {name: torch.nn.utils.clip_grad_norm_(part.parameters(), 0.5).item()
                  for name, part in zip(["mpd", "msd", "mrd", "cqtd"], by_hand.parts)}
    assert min(hand_norms.values()) > 0.5  # every part is clipped

    norms = clip_gradient_groups(disc, 0.5)
    assert {k: v.item() for k, v in norms.items()} == hand_norms
    for ours, theirs in zip(disc.parameters(), by_hand.parameters()):
        assert (ours.grad is None) == (theirs.grad is None)
        if ours.grad is not None:
            assert torch.equal(ours.grad, theirs.grad)
    assert total_of(norms).item() == pytest.approx(whole, rel=1e-6)  # the logged scalar
    # each part now has norm 0.5: the whole is 0.5 * sqrt(4), not the joint clip's 0.5
    clip_gradients(jointly, 0.5)
    clipped = [p.grad.flatten() for p in disc.parameters() if p.grad is not None]
    assert torch.cat(clipped).norm().item() == pytest.approx(1.0, rel=1e-4)
    joint = [p.grad.flatten() for p in jointly.parameters() if p.grad is not None]
    assert torch.cat(joint).norm().item() == pytest.approx(0.5, rel=1e-4)


def test_one_group_for_a_plain_discriminator_or_module() -> None:
    from audiogan.models import build_discriminator
    from audiogan.training.components import clip_gradient_groups

    mpd = build_discriminator("mpd", periods=[2], channels=(4, 4, 4, 4, 4))
    assert list(mpd.clip_groups()) == ["all"]
    assert [id(p) for p in mpd.clip_groups()["all"]] == [id(p) for p in mpd.parameters()]
    linear = torch.nn.Linear(3, 2)
    (linear(torch.ones(1, 3)) ** 2).sum().backward()
    expected = torch.cat([p.grad.flatten() for p in linear.parameters()]).norm().item()
    norms = clip_gradient_groups(linear, 1e-3)
    assert list(norms) == ["all"] and norms["all"].item() == pytest.approx(expected, rel=1e-6)
