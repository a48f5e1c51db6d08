"""The training step's device-side pieces: the non-finite guard and the joint discriminator call.

**Non-finite guard.** A step whose loss is not finite (on any rank) skips its update, as it always
did; the decision stays a 0-d bool tensor on the device. :func:`guarded_step` hands it to a fused
optimiser as its ``found_inf`` flag (the mechanism ``torch.amp.GradScaler`` uses: the fused
Adam/AdamW kernels leave parameters, moments and step count untouched when it is 1), so no value
is read on the host. A plain (multi-tensor) optimiser cannot skip on the device: for it, and
under fp16's GradScaler, the flag is read once per update (``bool(bad)``).

**Joint discriminator call** (``training.joint_discriminator``): :func:`score_pair` scores real and
generated waves in one call on ``cat([real, fake])`` along the batch and splits every logit and
feature map back. Every registered discriminator scores each sample on its own (no batch
statistics), so the sums are those of two calls (tests compare them for each one). One kind of
layer changes its own state at every call: spectral norm's power iteration (MSD's first scale)
advances its ``u`` vector once per call, so one call where there were two would normalise both
halves by one sigma. :func:`split_stateful_layers` makes those layers (only those) run a joint
batch as two calls, one per half, in the order the two separate calls would run: their state and
outputs stay those of two calls.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from audiogan.models.base import DiscriminatorOutput
from audiogan.models.layers import sample_keys

__all__ = ["detached", "found_inf_capable", "guarded_step", "nonfinite", "score_pair",
           "split_stateful_layers"]

_JOINT = [False]
"""True while :func:`score_pair` makes a joint call (read by :class:`_Halves`)."""


def nonfinite(value: Tensor) -> Tensor:
    """0-d bool tensor: ``value`` (a 0-d loss) is NaN or infinite. No host read."""
    return ~torch.isfinite(value.detach())


def found_inf_capable(optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler) -> bool:
    """Whether :func:`guarded_step` can skip ``optimizer``'s update on the device: a fused
    optimiser (it reads ``found_inf``) with the GradScaler off (fp16's scaler sets its own)."""
    return (bool(getattr(optimizer, "_step_supports_amp_scaling", False))
            and bool(optimizer.defaults.get("fused")) and not scaler.is_enabled())


def guarded_step(optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
                 bad: Tensor) -> None:
    """Step ``optimizer`` unless ``bad`` (0-d bool tensor), then clear its gradients.

    Fused optimisers skip on the device through ``found_inf``; others read ``bad`` once.
    """
    if found_inf_capable(optimizer, scaler):
        opt: Any = optimizer
        opt.grad_scale = None
        opt.found_inf = bad.to(torch.float32)
        try:
            optimizer.step()
        finally:
            del opt.grad_scale, opt.found_inf
        scaler.update()
    elif bool(bad):  # one host read: a plain optimiser cannot skip on the device
        scaler.update()
    else:
        scaler.step(optimizer)
        scaler.update()
    optimizer.zero_grad(set_to_none=True)


def _split(output: DiscriminatorOutput, size: int) -> tuple[DiscriminatorOutput,
                                                             DiscriminatorOutput]:
    first = DiscriminatorOutput([t[:size] for t in output.logits],
                                [[f[:size] for f in fs] for fs in output.features])
    second = DiscriminatorOutput([t[size:] for t in output.logits],
                                 [[f[size:] for f in fs] for fs in output.features])
    return first, second


def detached(output: DiscriminatorOutput) -> DiscriminatorOutput:
    """``output`` with every tensor detached (targets of the feature-matching loss)."""
    return DiscriminatorOutput([t.detach() for t in output.logits],
                               [[f.detach() for f in fs] for fs in output.features])


class _Halves:
    """A layer's forward that, during a joint call (and in training mode), runs the first and
    the second half of the batch as two calls and joins the outputs."""

    def __init__(self, module: nn.Module, forward: Any) -> None:
        self.module = module
        self.forward = forward

    def __call__(self, x: Tensor) -> Tensor:
        if not (_JOINT[0] and self.module.training):
            return self.forward(x)
        first, second = x.chunk(2)
        return torch.cat([self.forward(first), self.forward(second)])


def _stateful(module: nn.Module) -> bool:
    """Whether ``module``'s weight comes through spectral norm (its power iteration updates the
    module's ``u``/``v`` buffers at every call in training mode)."""
    if not parametrize.is_parametrized(module, "weight"):
        return False
    plist: Any = module.parametrizations
    return any(type(p).__name__ == "_SpectralNorm" for p in plist["weight"])


def split_stateful_layers(model: nn.Module) -> int:
    """Make ``model``'s spectral-norm layers run joint calls as two calls (see the module
    docstring), in place; returns how many there are. Calling it again changes nothing."""
    count = 0
    for module in model.modules():
        if _stateful(module):
            count += 1
            if not isinstance(module.__dict__.get("forward"), _Halves):
                module.forward = _Halves(module, module.forward)
    return count


def score_pair(model: Any, real: Tensor, fake: Tensor, labels: Tensor | None,
               keys: Sequence[int], *, joint: bool, real_grad: bool = True,
               real_first: bool = True) -> tuple[DiscriminatorOutput, DiscriminatorOutput]:
    """``(model(real), model(fake))``, the sample keys ``keys`` active for both.

    Args:
        model: a discriminator (or its compiled / DDP wrapper): wave (B, 1, T), labels (B,) or
            None -> :class:`~audiogan.models.base.DiscriminatorOutput` with (B, ...) tensors.
        real, fake: (B, 1, T) waves.
        labels: (B,) class labels or None.
        keys: one sample key per example (phase shuffle draws the same shifts for both).
        joint: one call on the two waves joined along the batch (split back) instead of two;
            two calls are made anyway when the shapes differ.
        real_grad: False: the real scores are targets only (computed without autograd when
            separate, detached when joint).
        real_first: the order of the two calls (joined in that order when joint): the D
            update scores real first, the G update generated first.
    """
    if joint and real.shape == fake.shape:
        both_labels = None if labels is None else torch.cat([labels, labels])
        pair = [real, fake.to(real.dtype)] if real_first else [fake.to(real.dtype), real]
        _JOINT[0] = True
        try:
            with sample_keys([*keys, *keys]):
                out = model(torch.cat(pair), both_labels)
        finally:
            _JOINT[0] = False
        first, second = _split(out, real.shape[0])
        real_out, fake_out = (first, second) if real_first else (second, first)
        return (real_out if real_grad else detached(real_out)), fake_out
    with sample_keys(keys):
        if not real_first:
            fake_out = model(fake, labels)
        with contextlib.nullcontext() if real_grad else torch.no_grad():
            real_out = model(real, labels)
        if real_first:
            fake_out = model(fake, labels)
    return real_out, fake_out
