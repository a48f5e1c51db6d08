"""Training logs: TensorBoard events, ``metrics.jsonl`` and a console progress bar.

(Named ``monitor`` rather than ``logging`` so it never shadows the standard module.)
Only rank 0 creates a :class:`Monitor`; other ranks get :class:`NullMonitor`.

A reader of ``metrics.jsonl`` sees each step once: when a run (re)starts at step N, records past
N (written after the checkpoint it resumes from) and a torn last line (a killed write) are dropped
first (:func:`trim_metrics`); TensorBoard's ``purge_step`` does the same for the events (also at
step 0: a fresh start hides the events of an earlier run that died before its first checkpoint).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Sized
from pathlib import Path
from typing import Any, cast

import numpy as np
from torch import Tensor, nn

from audiogan.core.atomic import atomic_write

log = logging.getLogger(__name__)

METRICS_NAME = "metrics.jsonl"


def _record_step(line: str) -> int | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    step = record.get("step") if isinstance(record, dict) else None
    return step if isinstance(step, int) else None


def trim_metrics(path: Path, last_step: int) -> int:
    """Drop records with ``step > last_step`` and unreadable lines from a ``metrics.jsonl``.

    The file is streamed (memory stays bounded) and rewritten atomically only when something is
    dropped. Returns the number of lines dropped.
    """
    if not path.is_file():
        return 0
    with open(path, encoding="utf-8", errors="replace") as source:
        dropped = sum(1 for line in source if line.strip() and (
            (step := _record_step(line)) is None or step > last_step or not line.endswith("\n")))
    if dropped:
        with open(path, encoding="utf-8", errors="replace") as source, \
                atomic_write(path, text=True) as target:
            for line in source:
                step = _record_step(line)
                if step is not None and step <= last_step and line.endswith("\n"):
                    target.write(line)
        log.info("%s: dropped %d records past step %d (continuing from there)", path, dropped,
                 last_step)
    return dropped


def run_summary(config: Any, generator: nn.Module, discriminator: nn.Module, train_set: Any, *,
                device: Any, world_size: int, local_batch: int, step: int) -> str:
    """The one line a run logs at its start: models and their sizes, device, batch, data,
    precision and the steps to go (``config``: the run's :class:`~audiogan.config.Config`)."""
    t = config.training
    hours = getattr(train_set, "duration_seconds", None)
    clips = len(cast(Sized, train_set))  # every kind's dataset has a length
    data = f"{clips} clips" + (f" ({hours / 3600:.2f} h)" if hours else "")

    def millions(model: nn.Module) -> str:
        return f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f}M"

    return (
        f"generator {config.generator.name}: {millions(generator)} params; "
        f"discriminator {config.discriminator.name}: {millions(discriminator)}; device {device} x "
        f"{world_size}; batch {t.batch_size} global = {local_batch} per rank x {world_size} ranks "
        f"(accumulation {t.grad_accumulation}); data {data}; precision {t.precision}; steps "
        f"{step} -> {t.max_steps}"
    )


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

        # purge_step=0 too: a fresh start in a directory whose earlier run died before its first
        # checkpoint hides that run's events (TensorBoard drops steps >= purge_step before it).
        self.writer = SummaryWriter(log_dir=str(run_dir / "events"), purge_step=start_step)
        trim_metrics(run_dir / METRICS_NAME, start_step)
        self.jsonl = open(run_dir / METRICS_NAME, "a", encoding="utf-8")
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
