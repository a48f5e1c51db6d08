"""Training logs: TensorBoard events, ``metrics.jsonl`` and a console progress bar.

(Named ``monitor`` rather than DESIGN.md's ``logging`` so it never shadows the standard module.)
Only rank 0 creates a :class:`Monitor`; other ranks get :class:`NullMonitor`.
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
from torch import Tensor

log = logging.getLogger(__name__)


class NullMonitor:
    """Does nothing (non-zero ranks)."""

    def scalars(self, step: int, values: dict[str, float], prefix: str = "train") -> None: ...

    def audio(self, step: int, tag: str, wave: Tensor, sample_rate: int) -> None: ...

    def image(self, step: int, tag: str, mel: Tensor) -> None: ...

    def progress(self, step: int, postfix: dict[str, float] | None = None) -> None: ...

    def close(self) -> None: ...


class Monitor(NullMonitor):
    """Writes TensorBoard events under ``run_dir/events`` and one JSON line per log call."""

    def __init__(self, run_dir: Path, *, start_step: int, max_steps: int, console: bool = True):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(run_dir / "events"), purge_step=start_step or None)
        self.jsonl = open(run_dir / "metrics.jsonl", "a", encoding="utf-8")
        self.bar = None
        if console:
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=max_steps, initial=start_step, unit="step", dynamic_ncols=True,
                mininterval=1.0, smoothing=0.1,
            )
        self._last_step = start_step

    def scalars(self, step: int, values: dict[str, float], prefix: str = "train") -> None:
        clean = {k: float(v) for k, v in values.items()}
        for key, value in clean.items():
            if math.isfinite(value):
                self.writer.add_scalar(f"{prefix}/{key}", value, step)
        record = {"step": step, "split": prefix, "time": time.time(), **clean}
        self.jsonl.write(json.dumps(record, allow_nan=True) + "\n")
        self.jsonl.flush()

    def audio(self, step: int, tag: str, wave: Tensor, sample_rate: int) -> None:
        self.writer.add_audio(tag, wave.detach().float().cpu().reshape(1, -1), step, sample_rate)

    def image(self, step: int, tag: str, mel: Tensor) -> None:
        array = mel.detach().float().cpu().numpy()
        low, high = float(np.min(array)), float(np.max(array))
        scaled = (array - low) / max(high - low, 1e-8)
        self.writer.add_image(tag, scaled[::-1].copy(), step, dataformats="HW")

    def progress(self, step: int, postfix: dict[str, float] | None = None) -> None:
        if self.bar is None:
            return
        self.bar.update(step - self._last_step)
        self._last_step = step
        if postfix:
            self.bar.set_postfix({k: f"{v:.3g}" for k, v in postfix.items()}, refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        self.writer.close()
        self.jsonl.close()


def describe(values: dict[str, Any]) -> str:
    """One line ``key=value`` summary."""
    return ", ".join(f"{k}={v}" for k, v in values.items())
