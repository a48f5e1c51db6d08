"""Span.before: the input indices a layer's output span depends on, checked against autograd
(the gradient of one interior output sample is non-zero exactly on its input span), also for
convolutions padded with the strings ``"same"`` and ``"valid"``."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from audiogan.models.layers import ExactConvTranspose1d, Span


def _dependency(module: nn.Module, index: int, length: int = 40) -> Span:
    """Input indices with a non-zero gradient for output sample ``index``."""
    torch.manual_seed(0)
    for parameter in module.parameters():
        nn.init.uniform_(parameter, 0.5, 1.0)  # no zero weight hides a dependency
    x = torch.ones(1, 1, length, requires_grad=True)
    module(x)[0, 0, index].backward()
    assert x.grad is not None
    hits = x.grad[0, 0].nonzero().flatten().tolist()
    return Span(hits[0], hits[-1])


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        (nn.Conv1d(1, 1, 4, padding="same"), Span(19, 22)),  # 3 zeros: 1 left, 2 right
        (nn.Conv1d(1, 1, 5, dilation=2, padding="same"), Span(16, 24)),
        (nn.Conv1d(1, 1, 4, padding="valid"), Span(20, 23)),
        (nn.Conv1d(1, 1, 3, stride=2, padding=1), Span(39, 41)),
        (nn.ConvTranspose1d(1, 1, 8, stride=4, padding=2), Span(4, 5)),
        (ExactConvTranspose1d(1, 1, 8, 4), Span(4, 5)),
    ],
)
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
def test_before_matches_autograd(module: nn.Module, expected: Span) -> None:
    assert Span(20, 20).before(module) == expected
    assert _dependency(module, 20, length=60) == expected


def test_remove_weight_norm_under_no_grad_keeps_parameters() -> None:
    from audiogan.models import build_generator
    from audiogan.models.layers import remove_weight_norm

    def folded(no_grad: bool) -> torch.nn.Module:
        torch.manual_seed(0)
        model = build_generator("hifigan", preset="v3", in_channels=8,
                                upsample_initial_channel=16)
        if no_grad:
            with torch.no_grad():
                return remove_weight_norm(model)
        return remove_weight_norm(model)

    plain, under_no_grad = folded(False), folded(True)
    names = [name for name, _ in plain.named_parameters()]
    assert [name for name, _ in under_no_grad.named_parameters()] == names
    assert sum(p.numel() for p in under_no_grad.parameters()) == sum(
        p.numel() for p in plain.parameters())
    for (name, a), (_, b) in zip(plain.named_parameters(), under_no_grad.named_parameters()):
        assert torch.equal(a, b) and b.requires_grad, name
