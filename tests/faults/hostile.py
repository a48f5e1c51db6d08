"""Hostile file content shared by the tests: a pickle that runs code when something unpickles it."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class Payload:
    """Unpickling this creates ``marker``: a stand-in for code hidden in a checkpoint. A test
    saves it inside a file, loads the file through audiogan and checks ``marker`` is absent."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))
