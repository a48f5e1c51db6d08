"""Step statistics kept on the device until the trainer reads them.

:meth:`audiogan.training.step.GANStep.run` returns each step's stats as 0-d tensors on the
device. Reading one (``float(t)``, ``t.item()``, ``if t:``) waits for the device to finish the
step, so the trainer keeps them in a :class:`PendingStats` and reads all the steps since the last
read at once (one host read) at its log, checkpoint and validation steps and when it stops. The
non-finite steps among them are then counted and logged as before; a run that reaches
``training.max_nonfinite`` in a row stops at that read (every one of those updates was skipped).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

__all__ = ["PendingStats", "read_stats"]


def _read(values: list[Tensor]) -> list[float]:
    """The values of 0-d tensors in one host read (one stack, one copy)."""
    if not values:
        return []
    device = values[0].device
    return torch.stack([v.detach().to(device, torch.float32).reshape(()) for v in values]
                       ).tolist()


def read_stats(stats: dict[str, Tensor]) -> dict[str, float]:
    """``stats`` (0-d tensors) as floats, in one host read."""
    return dict(zip(stats, _read(list(stats.values())), strict=True))


@dataclass
class PendingStats:
    """The stats of the steps not read yet: ``(step, {name: 0-d tensor})`` in step order."""

    steps: list[tuple[int, dict[str, Tensor]]] = field(default_factory=list)

    def add(self, step: int, stats: dict[str, Tensor]) -> None:
        """Keep step ``step``'s stats (nothing is read)."""
        self.steps.append((step, stats))

    def read(self) -> list[tuple[int, dict[str, float]]]:
        """Every pending step's stats as floats (one host read); empties the list."""
        flat = _read([v for _, stats in self.steps for v in stats.values()])
        out: list[tuple[int, dict[str, float]]] = []
        start = 0
        for step, stats in self.steps:
            out.append((step, dict(zip(stats, flat[start:start + len(stats)], strict=True))))
            start += len(stats)
        self.steps.clear()
        return out
