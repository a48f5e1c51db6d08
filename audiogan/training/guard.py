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
statistics), so the sums are those of two calls (tests compare them for each one).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from audiogan.models.base import DiscriminatorOutput
from audiogan.models.layers import sample_keys

__all__ = ["detached", "found_inf_capable", "guarded_step", "nonfinite", "score_pair"]


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


def score_pair(model: Any, real: Tensor, fake: Tensor, labels: Tensor | None,
               keys: Sequence[int], *, joint: bool, real_grad: bool = True
               ) -> tuple[DiscriminatorOutput, DiscriminatorOutput]:
    """``(model(real), model(fake))``, the sample keys ``keys`` active for both.

    Args:
        model: a discriminator (or its compiled / DDP wrapper): wave (B, 1, T), labels (B,) or
            None -> :class:`~audiogan.models.base.DiscriminatorOutput` with (B, ...) tensors.
        real, fake: (B, 1, T) waves.
        labels: (B,) class labels or None.
        keys: one sample key per example (phase shuffle draws the same shifts for both).
        joint: one call on ``cat([real, fake])`` (split back) instead of two; two calls are
            made anyway when the shapes differ.
        real_grad: False: the real scores are targets only (computed without autograd when
            separate, detached when joint).
    """
    if joint and real.shape == fake.shape:
        both_labels = None if labels is None else torch.cat([labels, labels])
        with sample_keys([*keys, *keys]):
            out = model(torch.cat([real, fake.to(real.dtype)]), both_labels)
        real_out, fake_out = _split(out, real.shape[0])
        return (real_out if real_grad else detached(real_out)), fake_out
    with sample_keys(keys):
        if real_grad:
            real_out = model(real, labels)
        else:
            with torch.no_grad():
                real_out = model(real, labels)
        fake_out = model(fake, labels)
    return real_out, fake_out
