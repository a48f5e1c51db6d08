"""Alias-free resampling (kaiser-sinc filters, 2x up / down, the activation wrapper) and the
Snake / SnakeBeta activations, against formulas written here."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from audiogan.models.activations import Snake, SnakeBeta, snake_activation
from audiogan.models.alias_free import (
    Activation1d,
    DownSample1d,
    LowPassFilter1d,
    UpSample1d,
    kaiser_sinc_filter,
)
from audiogan.models.layers import Span


def numpy_kaiser_sinc(cutoff: float, half_width: float, size: int) -> np.ndarray:
    """Kaiser-windowed sinc low-pass in float64: beta from Kaiser's attenuation formula with a
    transition width of 4 * half_width over size // 2 taps, taps centred on the filter, unit
    DC gain."""
    attenuation = 2.285 * (size // 2 - 1) * np.pi * 4 * half_width + 7.95
    if attenuation > 50:
        beta = 0.1102 * (attenuation - 8.7)
    elif attenuation >= 21:
        beta = 0.5842 * (attenuation - 21) ** 0.4 + 0.07886 * (attenuation - 21)
    else:
        beta = 0.0
    n = np.arange(size)
    window = np.i0(beta * np.sqrt(1 - (2 * n / (size - 1) - 1) ** 2)) / np.i0(beta)
    t = n - (size - 1) / 2
    taps = 2 * cutoff * np.sinc(2 * cutoff * t) * window
    return taps / taps.sum()


@pytest.mark.parametrize(("cutoff", "half_width", "size"),
                         [(0.25, 0.3, 12), (0.5 / 3, 0.2, 18), (0.25, 0.3, 13), (0.1, 0.05, 64),
                          (0.4, 0.6, 8)])
def test_kaiser_sinc_filter_equals_the_formula(cutoff: float, half_width: float, size: int) -> None:
    taps = kaiser_sinc_filter(cutoff, half_width, size)
    assert taps.shape == (1, 1, size) and taps.dtype == torch.float32
    expected = numpy_kaiser_sinc(cutoff, half_width, size)
    np.testing.assert_allclose(taps.flatten().double().numpy(), expected, rtol=0, atol=2e-7)
    np.testing.assert_allclose(taps.flatten().numpy(), taps.flatten().flip(0).numpy())  # symmetric


def test_filter_errors_and_zero_cutoff() -> None:
    assert not kaiser_sinc_filter(0.0, 0.3, 12).any()
    with pytest.raises(ValueError, match="cutoff"):
        kaiser_sinc_filter(0.6, 0.3, 12)
    with pytest.raises(ValueError, match="kernel_size"):
        kaiser_sinc_filter(0.25, 0.3, 1)
    first = kaiser_sinc_filter(0.25, 0.3, 12)
    first.zero_()  # each call hands out its own tensor
    assert kaiser_sinc_filter(0.25, 0.3, 12).sum() == pytest.approx(1.0)


def _sine(freq: float, length: int, phase: float = 0.3) -> torch.Tensor:
    """(1, 2, length): a sine at ``freq`` cycles per sample, and its negative."""
    wave = torch.sin(2 * math.pi * freq * torch.arange(length, dtype=torch.float64) + phase)
    return torch.stack([wave, -wave])[None]


def test_upsample_interpolates_a_band_limited_signal() -> None:
    """2x upsampling a slow sine gives the same sine at twice the rate (interior samples),
    delayed by a quarter of an input sample (the even-length filter's half tap); downsampling
    takes that back: up then down returns the input."""
    up = UpSample1d(2, 12).double()
    x = _sine(0.02, 200)
    y = up(x)
    assert y.shape == (1, 2, 400)
    times = torch.arange(400, dtype=torch.float64) / 2 - 0.25
    expected = torch.sin(2 * math.pi * 0.02 * times + 0.3)
    error = (y[0] - torch.stack([expected, -expected]))[..., 40:-40].abs().max()
    assert error < 2e-3, float(error)  # measured 6.2e-4
    back = DownSample1d(2, 12).double()(y)
    assert float((back - x)[..., 20:-20].abs().max()) < 2e-3


def test_downsample_passes_the_band_and_rejects_what_would_alias() -> None:
    """At the low rate's Nyquist 0.25 (of the high rate), 0.05 passes (within 1%) and 0.45,
    which plain decimation would fold to 0.05, is attenuated by >= 30 dB."""
    down = DownSample1d(2, 12).double()
    passed = down(_sine(0.05, 400))[..., 20:-20]
    assert passed.shape[-1] == 200 - 40
    assert abs(float(passed.abs().max()) - 1.0) < 0.01
    rejected = down(_sine(0.45, 400))[..., 20:-20]
    assert 20 * math.log10(float(rejected.abs().max())) < -30


@pytest.mark.parametrize("length", [1, 2, 7, 64])
def test_lengths_and_edges(length: int) -> None:
    x = torch.randn(3, 4, length)
    assert UpSample1d(2).kernel_size == 12 and UpSample1d(2)(x).shape == (3, 4, 2 * length)
    assert DownSample1d(2)(torch.randn(3, 4, 2 * length)).shape == (3, 4, length)
    assert LowPassFilter1d(0.25, 0.3, 2, 12)(torch.randn(3, 4, 2 * length + 1)).shape == (
        3, 4, length + 1)
    act = Activation1d(SnakeBeta(4))
    assert act(x).shape == x.shape
    # a constant is a constant: replicate padding and unit-gain filters keep it at the edges
    const = torch.full((1, 4, length), 0.7)
    torch.testing.assert_close(DownSample1d(2)(UpSample1d(2)(const)), const)


def _support(module: torch.nn.Module, length_in: int, lo: int, hi: int) -> Span:
    x = torch.randn(1, 2, length_in, dtype=torch.float64, requires_grad=True)
    module(x)[..., lo:hi + 1].sum().backward()
    assert x.grad is not None
    hit = torch.nonzero(x.grad.abs().amax(dim=(0, 1)) > 0).flatten()
    return Span(int(hit.min()), int(hit.max()))


@pytest.mark.parametrize("make", [lambda: UpSample1d(2), lambda: UpSample1d(3),
                                  lambda: DownSample1d(2), lambda: LowPassFilter1d(0.3, 0.2, 1, 9),
                                  lambda: Activation1d(Snake(2))])
@pytest.mark.parametrize(("lo", "hi"), [(60, 60), (61, 64)])
def test_input_span_is_the_measured_dependency(make, lo: int, hi: int) -> None:
    module = make().double()
    computed = module.input_span(Span(lo, hi))
    assert _support(module, 200, lo, hi) == computed


def test_activation_wrapper_is_up_act_down() -> None:
    act = Snake(3, logscale=True)
    with torch.no_grad():
        act.alpha.copy_(torch.tensor([-0.5, 0.0, 0.7]))
    wrapped = Activation1d(act)
    x = torch.randn(2, 3, 50)
    expected = wrapped.downsample(act(wrapped.upsample(x)))
    torch.testing.assert_close(wrapped(x), expected, rtol=0, atol=0)
    assert sorted(name for name, _ in wrapped.named_buffers()) == [
        "downsample.lowpass.filter", "upsample.filter"]


# --- Snake / SnakeBeta -----------------------------------------------------------------------

ALPHA = torch.tensor([0.3, 1.0, 2.5], dtype=torch.float64)
BETA = torch.tensor([0.5, 1.0, 4.0], dtype=torch.float64)


def _set(module: torch.nn.Module, logscale: bool) -> None:
    with torch.no_grad():
        module.alpha.copy_(ALPHA.log() if logscale else ALPHA)
        if isinstance(module, SnakeBeta):
            module.beta.copy_(BETA.log() if logscale else BETA)


@pytest.mark.parametrize("logscale", [False, True])
def test_initial_parameters_mean_one(logscale: bool) -> None:
    for module in (Snake(4, logscale), SnakeBeta(4, logscale)):
        stored = 0.0 if logscale else 1.0
        assert module.alpha.shape == (4,) and bool((module.alpha == stored).all())
        x = torch.linspace(-3, 3, 8).expand(1, 4, 8)
        expected = x + torch.sin(x) ** 2  # alpha = beta = 1
        torch.testing.assert_close(module(x), expected)


@pytest.mark.parametrize("kind", ["snake", "snakebeta"])
@pytest.mark.parametrize("logscale", [False, True])
def test_values_and_gradients_equal_the_hand_formulas(kind: str, logscale: bool) -> None:
    module = snake_activation(kind, 3, logscale).double()
    _set(module, logscale)
    x = torch.linspace(-4, 4, 11, dtype=torch.float64).expand(2, 3, 11).clone().requires_grad_()
    a = ALPHA[None, :, None]
    b = (BETA if kind == "snakebeta" else ALPHA)[None, :, None]
    y = module(x)
    torch.testing.assert_close(y, x + torch.sin(a * x) ** 2 / b, rtol=1e-12, atol=1e-8)
    y.sum().backward()
    xd = x.detach()
    # dy/dx = 1 + (a / b) sin(2 a x); dy/da = x sin(2 a x) / b (+ -sin^2(a x) / a^2 for Snake,
    # where b is a); dy/db = -sin^2(a x) / b^2 (SnakeBeta). Log-scale: times the value.
    torch.testing.assert_close(x.grad, 1 + (a / b) * torch.sin(2 * a * xd), rtol=1e-10,
                               atol=1e-8)
    d_alpha = xd * torch.sin(2 * a * xd) / b
    if kind == "snake":
        d_alpha = d_alpha - torch.sin(a * xd) ** 2 / a ** 2
    d_alpha = d_alpha.sum(dim=(0, 2))
    torch.testing.assert_close(module.alpha.grad, d_alpha * (ALPHA if logscale else 1),
                               rtol=1e-7, atol=1e-8)
    if kind == "snakebeta":
        d_beta = (-torch.sin(a * xd) ** 2 / b ** 2).sum(dim=(0, 2))
        torch.testing.assert_close(module.beta.grad, d_beta * (BETA if logscale else 1),
                                   rtol=1e-7, atol=1e-8)


def test_unknown_activation_is_named() -> None:
    with pytest.raises(ValueError, match="'snake' or 'snakebeta', got 'relu'"):
        snake_activation("relu", 3, True)
