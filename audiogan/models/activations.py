"""Periodic activations with learned per-channel frequency: Snake and SnakeBeta.

Snake (Liu, Hartwig & Ueda, 2020): ``y = x + sin^2(alpha * x) / alpha``, one ``alpha`` per
channel. SnakeBeta (BigVGAN) separates frequency and magnitude:
``y = x + sin^2(alpha * x) / beta``. With ``logscale`` the parameters are stored as their
logarithms (initialised to 0, i.e. 1) and exponentiated in ``forward``; otherwise they are stored
as is (initialised to 1). A small constant (``EPS``) keeps the division finite at 0.

The parameter names (``alpha``, ``beta``) and shapes ``(channels,)`` are those of BigVGAN's
checkpoints, so its weights load as they are.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

#: Added to the divisor so a parameter that reaches 0 does not divide by zero.
EPS = 1e-9


class Snake(nn.Module):
    """``y = x + sin^2(alpha * x) / (alpha + EPS)`` with one trainable ``alpha`` per channel.

    Args:
        channels: C, the channels of the input.
        logscale: store ``log(alpha)`` (initialised to 0) instead of ``alpha`` (initialised to 1).

    Shape:
        x: (B, C, T) -> (B, C, T).
    """

    def __init__(self, channels: int, logscale: bool = False) -> None:
        super().__init__()
        self.channels = channels
        self.logscale = bool(logscale)
        init = torch.zeros(channels) if self.logscale else torch.ones(channels)
        self.alpha = nn.Parameter(init)
        self.eps = EPS

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, C, T) -> (B, C, T)."""
        alpha = self.alpha[None, :, None]
        if self.logscale:
            alpha = torch.exp(alpha)
        return _snake(x, alpha, 1.0 / (alpha + self.eps))


class SnakeBeta(nn.Module):
    """``y = x + sin^2(alpha * x) / (beta + EPS)``: per-channel frequency ``alpha`` and
    magnitude ``beta``, both trainable.

    Args:
        channels: C, the channels of the input.
        logscale: store ``log(alpha)`` and ``log(beta)`` (initialised to 0) instead of the values
            (initialised to 1).

    Shape:
        x: (B, C, T) -> (B, C, T).
    """

    def __init__(self, channels: int, logscale: bool = False) -> None:
        super().__init__()
        self.channels = channels
        self.logscale = bool(logscale)
        self.alpha = nn.Parameter(torch.zeros(channels) if self.logscale else torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels) if self.logscale else torch.ones(channels))
        self.eps = EPS

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, C, T) -> (B, C, T)."""
        alpha = self.alpha[None, :, None]
        beta = self.beta[None, :, None]
        if self.logscale:
            alpha = torch.exp(alpha)
            beta = torch.exp(beta)
        return _snake(x, alpha, 1.0 / (beta + self.eps))


def _snake(x: Tensor, alpha: Tensor, scale: Tensor) -> Tensor:
    """``x + scale * sin^2(alpha * x)`` for x (B, C, T) and per-channel alpha, scale (1, C, 1).

    Without autograd the four steps after ``x * alpha`` run in place on that one fresh tensor
    (one allocation instead of five; the same operations on the same values, so the same
    result bit for bit); with autograd every intermediate is kept for the backward pass.
    """
    if torch.is_grad_enabled():
        return x + scale * torch.sin(x * alpha).pow(2)
    out = x * alpha
    out.sin_()
    out.pow_(2)
    out.mul_(scale)
    return out.add_(x)


def snake_activation(kind: str, channels: int, logscale: bool) -> nn.Module:
    """``Snake`` for ``kind == "snake"``, ``SnakeBeta`` for ``"snakebeta"``.

    Raises:
        ValueError: any other ``kind`` (the message lists the valid ones).
    """
    if kind == "snake":
        return Snake(channels, logscale)
    if kind == "snakebeta":
        return SnakeBeta(channels, logscale)
    raise ValueError(f"activation must be 'snake' or 'snakebeta', got {kind!r}")
