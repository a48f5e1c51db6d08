"""Shared building blocks: weight-norm apply/remove (written once), padding helpers."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import weight_norm as _weight_norm

_NORMED_TYPES = (nn.Conv1d, nn.Conv2d, nn.ConvTranspose1d, nn.Linear)


def weight_norm(module: nn.Module) -> nn.Module:
    """Apply weight normalisation (``torch.nn.utils.parametrizations``) to one layer."""
    return _weight_norm(module)


def apply_weight_norm(model: nn.Module) -> nn.Module:
    """Apply weight norm to every conv / linear layer of ``model`` that lacks a parametrisation."""
    for module in model.modules():
        if isinstance(module, _NORMED_TYPES) and not parametrize.is_parametrized(module, "weight"):
            _weight_norm(module)
    return model


def remove_weight_norm(model: nn.Module) -> nn.Module:
    """Fold every weight-norm parametrisation in ``model`` into a plain weight.

    Spectral norm (also a parametrisation) is folded too: after this the model holds plain
    tensors only, which is what inference and export want. Outputs are unchanged.
    """
    for module in model.modules():
        if parametrize.is_parametrized(module, "weight"):
            # remove_parametrizations deletes the ``weight`` property from the module's class,
            # and a copy.deepcopy of a parametrised module shares that (generated) class with
            # the original: give each module a class of its own first, so folding a copy
            # (e.g. for export during training) never breaks the original.
            cls = type(module)
            module.__class__ = type(cls.__name__, cls.__bases__, dict(cls.__dict__))
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
            weight: Any = module.weight
            if not isinstance(weight, nn.Parameter):
                # Folding under torch.no_grad() leaves a plain tensor (the parametrisation's
                # output has no grad): keep it a parameter, so it is still counted, saved as a
                # parameter and trainable.
                delattr(module, "weight")
                module.register_parameter("weight", nn.Parameter(weight.detach()))
    return model


def load_folded_state_dict(model: nn.Module, state: Mapping[str, Tensor]) -> None:
    """Load a state dict with plain (folded) weights into ``model``, which may keep weight norm.

    Exported models store ``layer.weight``; a training model with weight norm holds
    ``layer.parametrizations.weight.original0/1`` instead. Each such weight is converted by its
    parametrisation's ``right_inverse`` (for weight norm: g = the norm of each output slice,
    v = the weight), so the model computes exactly the stored weights. Strict: a missing or
    unexpected key raises ``KeyError`` naming it, never a silent partial load.
    """
    converted: dict[str, Tensor] = dict(state)
    for name, module in model.named_modules():
        if not parametrize.is_parametrized(module, "weight"):
            continue
        prefix = f"{name}." if name else ""
        key = f"{prefix}weight"
        if key not in converted:
            raise KeyError(f"{key}: missing from the weights being loaded")
        value = converted.pop(key)
        parametrizations = module.parametrizations.weight
        originals: Any = value
        for parametrization in reversed(list(parametrizations)):
            originals = parametrization.right_inverse(originals)
        if isinstance(originals, Tensor):
            originals = (originals,)
        names = ["original"] if hasattr(parametrizations, "original") else [
            f"original{i}" for i in range(len(originals))
        ]
        for original_name, original in zip(names, originals, strict=True):
            converted[f"{prefix}parametrizations.weight.{original_name}"] = original
    expected = set(model.state_dict())
    missing, unexpected = sorted(expected - set(converted)), sorted(set(converted) - expected)
    if missing or unexpected:
        raise KeyError(
            "weights do not match the model: "
            + ", ".join(f"{label} {keys[:3]}{' ...' if len(keys) > 3 else ''}"
                        for label, keys in (("missing", missing), ("unexpected", unexpected))
                        if keys)
        )
    model.load_state_dict(converted)


def check_init_std(init_std: float | None) -> None:
    """Raise ``ValueError`` unless ``init_std`` is None or a positive, finite float (an all-zero
    draw would make weight norm divide 0 by 0)."""
    if init_std is not None and not (0.0 < float(init_std) < float("inf")):
        raise ValueError(
            f"init_std must be a positive number (or null for PyTorch's default), got {init_std}"
        )


def has_weight_norm(model: nn.Module) -> bool:
    """True when any layer of ``model`` still carries a weight parametrisation."""
    return any(parametrize.is_parametrized(m, "weight") for m in model.modules())


def same_padding(kernel_size: int, dilation: int = 1) -> int:
    """Padding that keeps the length of a stride-1 convolution with an odd kernel."""
    return (kernel_size * dilation - dilation) // 2


# --- exact-length upsampling and receptive-field spans (hifigan / melgan / pqmf) -------------


def transposed_padding(kernel_size: int, stride: int) -> tuple[int, int, int]:
    """Padding for a transposed conv whose output is exactly ``stride`` times its input.

    A ``ConvTranspose1d`` maps ``L`` to ``(L - 1) * stride - 2 * padding + kernel_size +
    output_padding`` samples; this picks ``padding`` and ``output_padding`` (< stride) so that
    the result is ``L * stride`` for any kernel/stride pair. The one pair the two arguments cannot
    express (stride 1 with an even kernel) leaves one extra sample at the end, to be trimmed.

    Args:
        kernel_size: transposed-conv kernel size (>= 1).
        stride: upsampling factor (>= 1).

    Returns:
        ``(padding, output_padding, trim)``: trim is how many samples to drop from the end.
    """
    if kernel_size < 1 or stride < 1:
        raise ValueError(f"kernel_size and stride must be >= 1, got {kernel_size}, {stride}")
    excess = kernel_size - stride  # samples beyond L * stride with no padding
    if excess <= 0:
        return 0, -excess, 0
    padding = (excess + 1) // 2
    output_padding = 2 * padding - excess  # 0 or 1
    if output_padding < stride:
        return padding, output_padding, 0
    padding = excess // 2  # stride 1, odd excess: one sample too many, trimmed
    return padding, 0, excess - 2 * padding


class ExactConvTranspose1d(nn.ConvTranspose1d):
    """``ConvTranspose1d`` whose output length is exactly ``stride`` times its input length.

    Padding comes from :func:`transposed_padding`; the state dict is that of a plain
    ``ConvTranspose1d`` (``weight``, ``bias``), so weight norm and export treat it as one.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: kernel size, any value >= 1.
        stride: upsampling factor.
    """

    if TYPE_CHECKING:  # for the type checker only: TorchScript cannot read string annotations
        padding: tuple[int, ...]  # always a tuple here (the stub's str is for Conv's "same")

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int) -> None:
        padding, output_padding, trim = transposed_padding(kernel_size, stride)
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=padding,
            output_padding=output_padding,
        )
        self.trim = trim

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        """x: (B, in_channels, L) -> (B, out_channels, L * stride)."""
        # What ConvTranspose1d.forward computes without an output_size, written out so that
        # TorchScript can compile it (it cannot call super()).
        y = torch.nn.functional.conv_transpose1d(
            x, self.weight, self.bias, self.stride, self.padding, self.output_padding,
            self.groups, self.dilation)
        return y[..., : y.shape[-1] - self.trim] if self.trim else y


class Span(NamedTuple):
    """Closed interval ``[lo, hi]`` of time indices at one layer's resolution.

    Walk a network backwards from an output span to the input indices it depends on
    (zero or reflection padding treated alike: the interior dependency pattern).
    """

    lo: int
    hi: int

    def union(self, other: Span) -> Span:
        """Smallest span covering both."""
        return Span(min(self.lo, other.lo), max(self.hi, other.hi))

    def before(self, module: nn.Module) -> Span:
        """The input span of ``module`` that this output span depends on.

        Understands ``Conv1d``, ``ConvTranspose1d`` (incl. :class:`ExactConvTranspose1d`) and
        1-d padding layers; any other module is taken as pointwise in time.
        """
        if isinstance(module, nn.ConvTranspose1d):
            # out[n] += in[i] * w[j]  where  n = i * stride - padding + j * dilation
            reach = (module.kernel_size[0] - 1) * module.dilation[0]
            stride, padding = module.stride[0], _left_padding(module)
            return Span(-((reach - self.lo - padding) // stride), (self.hi + padding) // stride)
        if isinstance(module, nn.Conv1d):
            # out[n] = sum_j w[j] * in[n * stride - padding + j * dilation]
            reach = (module.kernel_size[0] - 1) * module.dilation[0]
            stride, padding = module.stride[0], _left_padding(module)
            return Span(self.lo * stride - padding, self.hi * stride - padding + reach)
        if isinstance(module, (nn.ReflectionPad1d, nn.ReplicationPad1d, nn.ConstantPad1d)):
            left = module.padding[0]
            return Span(self.lo - left, self.hi - left)
        return self

    def before_all(self, modules: Iterable[nn.Module]) -> Span:
        """Walk ``modules`` (in forward order) backwards; nested containers are flattened."""
        span = self
        for module in reversed(list(_leaves(modules))):
            span = span.before(module)
        return span


def _left_padding(module: nn.Conv1d | nn.ConvTranspose1d) -> int:
    """Zeros ``module`` pads its input with on the left, also for ``padding="same"``/``"valid"``
    (PyTorch puts the odd one of ``dilation * (kernel_size - 1)`` "same" zeros on the right)."""
    padding = module.padding
    if padding == "valid":
        return 0
    if padding == "same":
        return module.dilation[0] * (module.kernel_size[0] - 1) // 2
    assert not isinstance(padding, str)  # torch accepts no other string
    return padding[0]


def _leaves(modules: Iterable[nn.Module]) -> Iterator[nn.Module]:
    for module in modules:
        children = list(module.children())
        if isinstance(module, (nn.Sequential, nn.ModuleList)) and children:
            yield from _leaves(children)
        else:
            yield module


# --------------------------------------------------------------------------------------------
# Per-sample random keys (rank- and resume-independent randomness inside models)
# --------------------------------------------------------------------------------------------

_SAMPLE_KEYS: contextvars.ContextVar[tuple[int, ...] | None] = contextvars.ContextVar(
    "audiogan_sample_keys", default=None
)


@contextlib.contextmanager
def sample_keys(keys: Sequence[int]) -> Iterator[None]:
    """Within the block, random layers (e.g. phase shuffle) draw sample ``i``'s randomness from
    ``keys[i]`` instead of the global RNG, so results do not depend on how a batch is split
    across ranks. The trainer keys by (seed, step, dataset index)."""
    token = _SAMPLE_KEYS.set(tuple(int(k) for k in keys))
    try:
        yield
    finally:
        _SAMPLE_KEYS.reset(token)


def keyed_randint(low: int, high: int, batch: int, salt: int, device: torch.device) -> Tensor:
    """(batch,) integers in [low, high): from the active :func:`sample_keys` (mixed with
    ``salt``, e.g. a layer index) when set and of length ``batch``, else from the global RNG."""
    keys = _SAMPLE_KEYS.get()
    if keys is None or len(keys) != batch:
        return torch.randint(low, high, (batch,), device=device)
    values = [
        int(torch.randint(low, high, (1,), generator=torch.Generator().manual_seed(
            (k * 1_000_003 + salt) & 0x7FFFFFFFFFFFFFFF))[0])
        for k in keys
    ]
    return torch.tensor(values, device=device)
