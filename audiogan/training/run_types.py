"""What a training run takes and gives besides its config: fault-injection hooks for tests
(:class:`TrainerHooks`) and the result of :meth:`audiogan.training.trainer.Trainer.fit`
(:class:`TrainResult`). Both are re-exported by :mod:`audiogan.training.trainer`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from torch import Tensor, nn

__all__ = ["TrainResult", "TrainerHooks"]


@dataclass
class TrainerHooks:
    """Fault-injection points for tests (never used in normal training).

    Attributes:
        corrupt_batch: ``(step, batch) -> batch`` applied to every fetched batch (on the
            device, its ``"index"`` on the host; ``step`` is the 0-based step it feeds).
        on_gradients: ``(part, step, model)`` called with the synchronised (all-reduced)
            gradients just before each optimiser step; ``part`` is "generator" or
            "discriminator".
    """

    corrupt_batch: Callable[[int, dict[str, Tensor]], dict[str, Tensor]] | None = None
    on_gradients: Callable[[str, int, nn.Module], None] | None = None


@dataclass
class TrainResult:
    """What :meth:`Trainer.fit` returns."""

    run_dir: Path
    step: int
    nonfinite_steps: int
    best_score: float | None
    last_checkpoint: Path | None
    history: list[dict[str, float]] = field(default_factory=list)
