"""One GAN optimisation step: discriminator updates, then the generator update.

1. Discriminator (from ``training.discriminator_start_step`` on, ``n_critic`` times, each on its
   own batch): ``D(real)``, ``D(G(x).detach())``, adversarial loss (+ gradient penalty).
2. Generator: weighted spectral terms against the real segment (vocoders) plus the adversarial
   and feature-matching terms once the discriminator runs and ``training.adversarial_start_step``
   is reached (default: as soon as the discriminator runs). A later adversarial start warms new
   discriminators up on a pretrained generator (``training.init_from``) before they drive it.

Gradient accumulation splits each rank's batch into micro-batches (DDP synchronises only on the
last); AMP autocast wraps the model calls (features and spectral losses stay float32 in their
own modules); non-finite losses skip the update on every rank alike, decided on the device
(:mod:`audiogan.training.guard`: no host read per step with a fused optimiser), and the stats
stay 0-d device tensors until the trainer reads them at its log steps (:meth:`GANStep.run`).
``training.joint_discriminator`` scores real and generated waves in one discriminator call.
``training.grad_clip``
clips each model's whole gradient (the discriminator's at ``training.grad_clip_discriminator``
when set), or with ``training.grad_clip_per_part`` each of the discriminator's clip groups on its
own (``Discriminator.clip_groups``: BigVGAN's per-model clip). The step never branches on an
architecture's name nor on the model kind: the kind object
(:func:`audiogan.inference.kinds.model_kind`) turns a batch into the generator's input(s) (mel,
noise for noise-driven vocoders, latents), and the step reads ``num_classes`` from the
generator and the loss recipe from :class:`~audiogan.losses.terms.GeneratorLossTerms`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from audiogan.config import Config
from audiogan.inference.kinds import GeneratorInputs, ModelKind, model_kind
from audiogan.losses import GeneratorLossTerms, gradient_penalty
from audiogan.models.base import Generator
from audiogan.models.layers import sample_keys
from audiogan.models.randomness import keyed_uniform, sample_key
from audiogan.training.components import (
    EMA,
    clip_gradient_groups,
    clip_gradients,
    clip_limit,
    total_of,
)
from audiogan.training.distributed import DistContext
from audiogan.training.guard import (
    guarded_step,
    nonfinite,
    score_pair,
    split_stateful_layers,
)
from audiogan.training.scalars import read_stats

GradientHook = Callable[[str, int, nn.Module], None]


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a torch.compile and/or DDP wrapper (itself when not wrapped)."""
    model = getattr(model, "_orig_mod", model)  # torch.compile
    return model.module if isinstance(model, DistributedDataParallel) else model


@dataclass
class GANStep:
    """The models, optimisers and settings one step works on (built by the trainer).

    ``g_model`` / ``d_model`` are what the forward passes call (possibly DDP- or
    compile-wrapped, hence ``Any``: ``torch.compile`` is typed as returning a plain callable,
    and ``no_sync()`` exists only on the DDP wrapper, which is there whenever it is called);
    ``generator`` / ``discriminator`` are the plain modules whose gradients are clipped and whose
    parameters the optimisers hold. ``d_plain`` is what the generator update scores with: the
    discriminator without DDP (its parameters are frozen there), compiled when ``d_model`` is;
    None: the plain module.
    """

    config: Config
    generator: Generator
    discriminator: nn.Module
    g_model: Any
    d_model: Any
    features: nn.Module
    losses: GeneratorLossTerms
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    scaler_g: torch.amp.GradScaler
    scaler_d: torch.amp.GradScaler
    ema: EMA | None
    dist: DistContext
    device: torch.device
    local_batch: int
    amp_dtype: torch.dtype | None
    on_gradients: GradientHook | None = None
    d_plain: Any = None

    def __post_init__(self) -> None:
        if self.config.training.joint_discriminator:
            split_stateful_layers(self.discriminator)  # spectral norm: two calls' state

    @property
    def kind(self) -> ModelKind:
        """The generator's model kind."""
        return model_kind(self.generator)

    def discriminator_active(self, step: int) -> bool:
        """Whether the discriminator trains (and feeds G's loss) at ``step``."""
        return (self.losses.needs_discriminator
                and step >= self.config.training.discriminator_start_step)

    def adversarial_active(self, step: int) -> bool:
        """Whether the discriminator's terms (adversarial, feature matching) enter G's loss at
        ``step``: the discriminator runs and ``training.adversarial_start_step`` is reached."""
        start = self.config.training.adversarial_start_step
        return self.discriminator_active(step) and (start is None or step >= start)

    def __call__(self, batches: list[dict[str, Tensor]], step: int) -> dict[str, float]:
        """:meth:`run`, its stats read as floats (one host read)."""
        return read_stats(self.run(batches, step))

    def run(self, batches: list[dict[str, Tensor]], step: int) -> dict[str, Tensor]:
        """Run step ``step`` over ``n_critic`` batches (the last also feeds G).

        Returns the stats as 0-d float tensors on the device (nothing is read on the host
        when the optimisers are fused): losses, loss parts, gradient norms (NaN for a skipped
        update) and ``"nonfinite"``, 1.0 when a loss was not finite on any rank and its update
        was skipped.
        """
        t = self.config.training
        if t.compile and t.compile_mode == "reduce-overhead":
            torch.compiler.cudagraph_mark_step_begin()  # CUDA graphs: a new iteration's outputs
        stats: dict[str, Tensor] = {}
        bad = torch.zeros((), dtype=torch.bool, device=self.device)
        kept_fake: Tensor | None = None
        d_active = self.discriminator_active(step)
        if d_active:
            kept_fake, bad = self._discriminator_updates(batches, step, stats)
        bad_g = self._generator_update(batches[-1], step, kept_fake,
                                       self.adversarial_active(step), stats)
        bad = bad | bad_g
        if self.ema is not None:
            self.ema.update(self.generator, skip=bad_g)
        stats["nonfinite"] = bad.to(torch.float32)
        return stats

    # ------------------------------------------------------------------------------ parts

    def _discriminator_updates(
        self, batches: list[dict[str, Tensor]], step: int, stats: dict[str, Tensor]
    ) -> tuple[Tensor | None, Tensor]:
        """``n_critic`` D updates; returns (G's output on the last batch to reuse, any bad: a
        0-d bool tensor)."""
        accum = self.config.training.grad_accumulation
        joint = self.config.training.joint_discriminator
        adv = self.losses.adversarial
        d_module = unwrap(self.d_model)
        kept_fake: Tensor | None = None
        bad = torch.zeros((), dtype=torch.bool, device=self.device)
        d_total = torch.zeros((), device=self.device)
        for critic, batch in enumerate(batches):
            for m, micro in enumerate(self._split(batch)):
                keep = accum == 1 and critic == len(batches) - 1 and self.kind.reconstructs
                inputs, labels, real = self._inputs(micro, step, salt=critic)
                with self._autocast():
                    if keep:
                        kept_fake = self._generate(self.g_model, inputs, labels)
                        fake = kept_fake.detach()
                    else:
                        with torch.no_grad():
                            fake = self._generate(self.g_model, inputs, labels)
                sync = m == accum - 1 or not self.dist.enabled
                ctx = contextlib.nullcontext() if sync else self.d_model.no_sync()
                keys = self._sample_keys(micro, step, 100 + critic)
                with ctx, self._autocast():
                    real_out, fake_out = score_pair(self.d_model, real, fake, labels, keys,
                                                    joint=joint)
                    loss = adv.discriminator(real_out, fake_out)
                    if adv.needs_gradient_penalty:
                        alpha = keyed_uniform(self._sample_keys(micro, step, 200 + critic),
                                              self.device).view(-1, 1, 1)
                        with sample_keys(keys):
                            gp = gradient_penalty(
                                d_module, real, fake, labels,
                                weight=self.config.loss.gradient_penalty, alpha=alpha,
                            )
                        stats["d_gradient_penalty"] = gp.detach().float()
                        loss = loss + gp
                    self.scaler_d.scale(loss / accum).backward()
                d_total = d_total + loss.detach().float() / accum
            bad_d = self.dist.any_tensor(nonfinite(d_total))
            self._clip_and_step(self.discriminator, self.opt_d, self.scaler_d, bad_d,
                                "discriminator", step, stats)
            bad = bad | bad_d
        stats["d_loss"] = d_total / len(batches)
        return kept_fake, bad

    def _generator_update(
        self, batch: dict[str, Tensor], step: int, kept_fake: Tensor | None, adversarial: bool,
        stats: dict[str, Tensor],
    ) -> Tensor:
        """The G update on ``batch`` (with the discriminator's terms when ``adversarial``);
        returns whether its loss was non-finite (update skipped): a 0-d bool tensor."""
        accum = self.config.training.grad_accumulation
        d_module = self.d_plain if self.d_plain is not None else unwrap(self.d_model)
        matching = "feature_matching" in self.losses.weights
        joint = self.config.training.joint_discriminator
        for p in self.discriminator.parameters():
            p.requires_grad_(False)
        parts_sum: dict[str, Tensor] = {}
        g_total = torch.zeros((), device=self.device)
        for m, micro in enumerate(self._split(batch)):
            sync = m == accum - 1 or not self.dist.enabled
            ctx = contextlib.nullcontext() if sync else self.g_model.no_sync()
            with ctx:
                with self._autocast():
                    if kept_fake is not None:
                        fake = kept_fake
                        labels = micro["label"].long() if self.generator.num_classes else None
                        real = micro["wave"]
                    else:
                        inputs, labels, real = self._inputs(micro, step, salt=1000)
                        fake = self._generate(self.g_model, inputs, labels)
                parts = (self.losses.reconstruction(fake.float(), real)
                         if self.kind.reconstructs else {})
                if adversarial and matching:  # generated, then real (targets only)
                    with self._autocast():
                        real_out, fake_out = score_pair(
                            d_module, real, fake, labels, self._sample_keys(micro, step, 300),
                            joint=joint, real_grad=False, real_first=False)
                        parts.update(self.losses.adversarial_parts(fake_out, real_out))
                elif adversarial:
                    with self._autocast(), sample_keys(self._sample_keys(micro, step, 300)):
                        parts.update(self.losses.adversarial_parts(d_module(fake, labels), None))
                loss = self.losses.total(parts)
                self.scaler_g.scale(loss / accum).backward()
            g_total = g_total + loss.detach().float() / accum
            for key, value in parts.items():
                part = value.detach().float() / accum
                parts_sum[key] = parts_sum[key] + part if key in parts_sum else part
        for p in self.discriminator.parameters():
            p.requires_grad_(True)
        bad_g = self.dist.any_tensor(nonfinite(g_total))
        self._clip_and_step(self.generator, self.opt_g, self.scaler_g, bad_g, "generator", step,
                            stats)
        stats["g_loss"] = g_total
        stats.update({f"g_{k}": v for k, v in parts_sum.items()})
        return bad_g

    # ------------------------------------------------------------------------------ helpers

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def _inputs(
        self, micro: dict[str, Tensor], step: int, salt: int
    ) -> tuple[GeneratorInputs, Tensor | None, Tensor]:
        """(generator input(s), labels or None, real wave (B, 1, T)) for one micro-batch."""
        real = micro["wave"]
        labels = None
        if self.generator.num_classes > 0:
            labels = micro["label"].long()
        inputs = self.kind.generator_inputs(
            micro, generator=self.generator, features=self.features,
            keys=lambda: self._sample_keys(micro, step, salt), device=self.device,
        )
        return inputs, labels, real

    def _generate(self, model: nn.Module, inputs: GeneratorInputs, labels: Tensor | None
                  ) -> Tensor:
        return self.kind.generate(model, inputs, labels)

    def _split(self, batch: dict[str, Tensor]) -> list[dict[str, Tensor]]:
        n = self.config.training.grad_accumulation
        size = self.local_batch // n
        return [{k: v[i * size:(i + 1) * size] for k, v in batch.items()} for i in range(n)]

    def _sample_keys(self, micro: dict[str, Tensor], step: int, salt: int) -> list[int]:
        """One key per sample of ``micro``: (seed, step, salt, dataset index)."""
        seed = self.config.training.seed
        return [sample_key(seed, step, salt, i) for i in micro["index"].tolist()]

    def _clip_and_step(
        self, model: nn.Module, opt: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
        bad: Tensor, part: str, step: int, stats: dict[str, Tensor],
    ) -> None:
        """Unscale, measure/clip the gradient norm, step unless ``bad`` (a 0-d bool tensor;
        :func:`~audiogan.training.guard.guarded_step`).

        Sets ``stats["<g|d>_grad_norm"]`` to the model's norm before clipping (NaN when
        ``bad``), and with ``training.grad_clip_per_part`` each clip group's norm under
        ``"<g|d>_grad_norm_<group>"`` when the model has several.
        """
        t = self.config.training
        key = f"{part[0]}_grad_norm"
        scaler.unscale_(opt)
        if self.on_gradients is not None:
            self.on_gradients(part, step, model)
        groups: dict[str, Tensor] = {}
        max_norm = clip_limit(t, part)
        if t.grad_clip_per_part and max_norm:
            groups = clip_gradient_groups(model, max_norm)
            norm = total_of(groups)
        else:
            norm = clip_gradients(model, max_norm)
        guarded_step(opt, scaler, bad)
        nan = torch.full((), float("nan"), device=bad.device)

        def masked(value: Tensor) -> Tensor:
            return torch.where(bad, nan, value.detach().to(bad.device, torch.float32))

        stats[key] = masked(norm)
        if len(groups) > 1:
            stats.update({f"{key}_{name}": masked(value) for name, value in groups.items()})


__all__ = ["GANStep", "unwrap"]
