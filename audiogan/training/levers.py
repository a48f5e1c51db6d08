"""The training step's speed levers: ``torch.compile``, fused optimisers, channels-last.

Each lever keeps the step's arithmetic (tests compare each with the plain eager step); none
names an architecture:

* ``training.compile`` / ``training.compile_mode``: :func:`compile_models` wraps the generator
  and the discriminator in ``torch.compile`` (inductor, ``dynamic=False``: the shapes are fixed
  per recipe). Inductor compiles C++ on the CPU, so :func:`check_levers` stops a run without a
  C++ compiler before anything is built. ``reduce-overhead`` is CUDA graphs and needs CUDA.
* ``training.fused_optimizer``: :func:`use_fused` says whether Adam/AdamW run their fused kernel
  (``None``: on CUDA only). A fused optimiser takes the GradScaler-style ``found_inf`` flag, so
  the non-finite guard skips an update without reading the loss on the host
  (:mod:`audiogan.training.guard`).
* ``training.channels_last``: :func:`to_channels_last` runs a model's 2-D convolutions (the period
  discriminator's) channels-last: weights stored so, inputs made so, feature maps come out so.
  :func:`match_state_layout` gives restored optimiser states the layout of their parameters.
"""

from __future__ import annotations

import logging
import shutil
from typing import Any

import torch
from torch import nn

from audiogan.config import Config, ConfigError, OptimizerConfig, TrainingConfig

__all__ = ["FUSED_OPTIMIZERS", "check_levers", "compile_models", "cxx_compiler",
           "match_state_layout", "to_channels_last", "use_fused"]

log = logging.getLogger(__name__)

FUSED_OPTIMIZERS = ("adam", "adamw")
"""Optimisers (``optim.*.name``) with a fused kernel in torch."""


def cxx_compiler() -> str | None:
    """The C++ compiler inductor would use (its ``cpp.cxx`` setting, found on ``PATH``), or None.

    Inductor's own search (``torch._inductor.cpp_builder.get_cpp_compiler``) caches its answer
    for the process and raises deep inside the first compiled call; this looks the same names
    up with :func:`shutil.which` so a run can stop before it starts.
    """
    from torch._inductor import config as inductor_config

    setting = inductor_config.cpp.cxx
    names = setting if isinstance(setting, (list, tuple)) else (setting,)
    for name in names:
        if name and shutil.which(name):
            return str(name)
    return None


def use_fused(cfg: OptimizerConfig, training: TrainingConfig, device: torch.device) -> bool:
    """Whether the optimiser ``cfg`` runs its fused kernel: ``training.fused_optimizer``, or
    with ``null`` (auto) Adam/AdamW on CUDA."""
    if training.fused_optimizer is None:
        return cfg.name in FUSED_OPTIMIZERS and device.type == "cuda"
    return training.fused_optimizer


def check_levers(config: Config, device: torch.device) -> None:
    """Start-up checks of the levers for ``device``; one line naming the key and the fix.

    Raises:
        ConfigError: ``training.compile`` without a C++ compiler, ``compile_mode:
            reduce-overhead`` off CUDA, or ``fused_optimizer: true`` for an optimiser or device
            without a fused kernel.
    """
    t = config.training
    if t.compile_mode != "default" and not t.compile:
        log.warning("training.compile_mode=%s has no effect: training.compile is false",
                    t.compile_mode)
    if t.compile and cxx_compiler() is None:
        from torch._inductor import config as inductor_config

        raise ConfigError(
            f"training.compile: true needs a C++ compiler for torch.compile (inductor looks for "
            f"{inductor_config.cpp.cxx!r} on PATH) and none was found; install g++ (e.g. apt "
            "install g++), set CXX to one before starting, or set training.compile false")
    if t.compile and t.compile_mode == "reduce-overhead" and device.type != "cuda":
        raise ConfigError(
            "training.compile_mode: reduce-overhead (CUDA graphs) needs a CUDA device, this run "
            f"is on {device.type}; use default or max-autotune-no-cudagraphs")
    if t.fused_optimizer:
        for part in ("generator", "discriminator"):
            cfg: OptimizerConfig = getattr(config.optim, part)
            if cfg.name not in FUSED_OPTIMIZERS:
                raise ConfigError(
                    f"training.fused_optimizer: true, but optim.{part}.name={cfg.name} has no "
                    f"fused kernel (only {', '.join(FUSED_OPTIMIZERS)}); set it to null or false")
        probe = nn.Parameter(torch.zeros(1, device=device))
        try:
            torch.optim.AdamW([probe], fused=True)
        except RuntimeError as exc:
            raise ConfigError(
                f"training.fused_optimizer: true, but torch has no fused AdamW on "
                f"{device.type} ({str(exc).splitlines()[0]}); set it to null or false") from None


def compile_models(generator: nn.Module, discriminator: nn.Module, training: TrainingConfig
                   ) -> tuple[Any, Any]:
    """``torch.compile`` of both models with ``training.compile_mode`` and static shapes.

    Returns the compiled callables (their modules are the originals: parameters, state and
    ``_orig_mod`` are shared). Compilation happens at the first call of each; the trainer logs
    the first step's time apart.
    """
    mode = None if training.compile_mode == "default" else training.compile_mode
    compiled = [torch.compile(model, mode=mode, dynamic=False)
                for model in (generator, discriminator)]
    return compiled[0], compiled[1]


def _channels_last_input(module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
    return (args[0].contiguous(memory_format=torch.channels_last), *args[1:])


def to_channels_last(model: nn.Module) -> int:
    """Run ``model``'s 2-D convolutions channels-last, in place: 4-D parameters and buffers
    stored channels-last (the parameter objects stay the same, so optimisers built before or
    after hold them) and every ``Conv2d``'s input made channels-last by a forward pre-hook (a
    one-channel input, e.g. a waveform folded by a period, does not pick the layout by itself).
    Returns the number of ``Conv2d`` layers (0: nothing changed). Calling it again changes
    nothing more."""
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    if convs:
        model.to(memory_format=torch.channels_last)
    for conv in convs:
        if not getattr(conv, "_audiogan_channels_last", False):
            conv.register_forward_pre_hook(_channels_last_input)
            conv._audiogan_channels_last = True  # type: ignore[assignment]
    return len(convs)


@torch.no_grad()
def match_state_layout(optimizer: torch.optim.Optimizer) -> None:
    """Give every optimiser state tensor shaped like its parameter the parameter's memory
    layout (a restored state is contiguous; fused and multi-tensor kernels want both alike)."""
    for group in optimizer.param_groups:
        for param in group["params"]:
            state = optimizer.state.get(param)
            if not state:
                continue
            for key, value in state.items():
                if (isinstance(value, torch.Tensor) and value.shape == param.shape
                        and value.stride() != param.stride()):
                    state[key] = torch.empty_like(param, dtype=value.dtype).copy_(value)
