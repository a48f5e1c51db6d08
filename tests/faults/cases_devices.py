"""Fault cases for ``--device`` on every command that takes it: a name that is not a device, and
CUDA devices this machine lacks. Each is one ``error:`` line naming ``--device``, exit 2, no
traceback, and nothing written (the device is checked before any model or file is read).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from .harness import Case, Scenario
from .inference_kit import _model, _synth


def _nothing_in(*paths: Path) -> Callable[[], None]:
    def check() -> None:
        for path in paths:
            assert not path.exists(), f"{path} was written"

    return check


def _args(command: str, tmp: Path) -> tuple[list[str], list[Path]]:
    """The command's arguments (real model / recipe where it takes one) and its outputs."""
    if command == "train":
        (tmp / "recipe.yaml").write_text("generator: {name: hifigan}\n")  # never read
        return ["train", str(tmp / "recipe.yaml"), "-o", str(tmp / "run")], [tmp / "run"]
    if command == "synthesize":
        return _synth(tmp, _model(tmp)), [tmp / "out"]
    if command == "generate":
        return ["generate", str(_model(tmp, "wavegan")), "-n", "1", "-o",
                str(tmp / "out")], [tmp / "out"]
    if command == "evaluate":
        model = _model(tmp)
        return ["evaluate", str(model), "--data", str(model), "-o",
                str(tmp / "report")], [tmp / "report"]
    return ["train-classifier", str(tmp), "-o", str(tmp / "clf")], [tmp / "clf"]


def _bad_device(command: str, device: str) -> Callable[[Path], Scenario]:
    def build(tmp: Path) -> Scenario:
        args, outputs = _args(command, tmp)
        return Scenario([*args, "--device", device], 2, (f"--device {device}",),
                        intact=_nothing_in(*outputs))

    return build


_COMMANDS = ("train", "synthesize", "generate", "evaluate", "train-classifier")
# beyond this machine's CUDA devices whether it has none or a few
_MISSING_CUDA = f"cuda:{torch.cuda.device_count() + 7}"

CASES: list[Case] = [
    case
    for command in _COMMANDS
    for case in (
        Case(f"devices/{command}/not_a_device", _bad_device(command, "tpu")),
        Case(f"devices/{command}/missing_cuda_device", _bad_device(command, _MISSING_CUDA)),
    )
]
