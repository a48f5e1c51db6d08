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
