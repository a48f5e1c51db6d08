"""Builders shared by the start-up fault cases (:mod:`.cases_config`, :mod:`.cases_startup`).

A small corpus of good clips, a tiny-HiFi-GAN recipe pointing at it (changed as a case needs), the
``audiogan train`` scenario that must stop before the first step, and its intact check: no
checkpoint written and the user's data files unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import yaml

from .harness import ROOT, Scenario

SR = 22050
RECIPE = ROOT / "recipes" / "tiny" / "hifigan.yaml"


def tone(samples: int, sr: int = SR) -> np.ndarray:
    t = np.arange(samples) / sr
    return (0.3 * np.sin(2 * np.pi * 220.0 * t)).astype(np.float32)


def wav(path: Path, seconds: float = 0.5, sr: int = SR, subtype: str = "PCM_16") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, tone(int(seconds * sr), sr), sr, subtype=subtype)
    return path


def manifest(path: Path, rows: list[tuple[str, int, int]], extra: str = "") -> Path:
    header = "path\tnum_samples\tsample_rate" + ("\tmel_path" if extra else "")
    lines = [header] + [f"{p}\t{n}\t{r}" + (f"\t{extra}" if extra else "") for p, n, r in rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def corpus(tmp: Path, count: int = 4) -> tuple[Path, Path]:
    """``tmp/data/{train,valid}.tsv`` listing ``count`` / 2 good 0.5 s clips."""
    data = tmp / "data"
    rows = []
    for i in range(count):
        wav(data / "wavs" / f"clip{i}.wav")
        rows.append((f"wavs/clip{i}.wav", int(0.5 * SR), SR))
    return manifest(data / "train.tsv", rows), manifest(data / "valid.tsv", rows[:2])


def recipe(tmp: Path, change: Callable[[dict[str, Any]], None] | None = None,
            train: Path | None = None, valid: Path | None = None) -> Path:
    """A small tiny-HiFi-GAN recipe at ``tmp/recipe.yaml`` pointing at a good corpus."""
    config = yaml.safe_load(RECIPE.read_text())
    good_train, good_valid = corpus(tmp)
    config["training"].update({"batch_size": 2, "max_steps": 2})
    config["data"]["train"] = str(train or good_train)
    config["data"]["valid"] = str(valid or good_valid)
    if change is not None:
        change(config)
    path = tmp / "recipe.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def untouched(tmp: Path, run: Path) -> Callable[[], None]:
    """The intact check: no checkpoint (no step taken) and the user's data unchanged."""
    data = tmp / "data"
    before = snapshot(data) if data.exists() else {}

    def check() -> None:
        written = sorted(run.rglob("*.pt")) if run.exists() else []
        assert not written, f"checkpoints written: {written}"
        if before:
            assert snapshot(data) == before, "the user's data files changed"

    return check


def train(tmp: Path, recipe: Path, names: tuple[str, ...], *extra: str,
           env: dict[str, str] | None = None) -> Scenario:
    run = tmp / "run"
    return Scenario(["train", str(recipe), "-o", str(run), "--device", "cpu", *extra], 2,
                    names=names, env=env or {}, intact=untouched(tmp, run))


def set_key(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(config: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = config
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return change


def drop(key: str) -> Callable[[dict[str, Any]], None]:
    def change(config: dict[str, Any]) -> None:
        config.pop(key)
    return change
