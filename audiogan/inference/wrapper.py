"""What the inference API objects share: :class:`InferenceModel`, the base of
:class:`~audiogan.inference.vocoder.Vocoder` and
:class:`~audiogan.inference.wave_generator.WaveGenerator` (loading, the model-kind check,
where the weights came from, device and dtype moves)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import torch

from audiogan.config import Config
from audiogan.core.devices import resolve_device
from audiogan.inference.model_dir import (
    LoadedModel,
    ModelFileError,
    VocoderModule,
    WaveGeneratorModule,
    load_model,
    resolve_dtype,
)
from audiogan.models import Generator

__all__ = ["InferenceModel"]

_Model = TypeVar("_Model", bound="InferenceModel")


class InferenceModel:
    """Base of the inference API objects; a subclass wraps one model kind.

    A subclass sets :attr:`kind_name` and :attr:`other_kind`, builds :attr:`module` (an
    ``nn.Module`` with ``generator`` and ``input_dtype``) in its constructor after
    :meth:`_check_kind`, and implements ``from_loaded(loaded)``.

    Attributes:
        module: the deployable module (generator inside).
        config: the recipe, when known.
        step: the training step of the weights, when known.
        ema: whether the weights are EMA weights.
        source: where the weights came from, when known.
    """

    #: The ``input_kind`` of the generators this class wraps.
    kind_name: ClassVar[str] = ""
    #: What a model of the other kind is, and which class to use instead (one line's end).
    other_kind: ClassVar[str] = ""

    module: VocoderModule | WaveGeneratorModule
    config: Config | None
    step: int | None
    ema: bool
    source: Path | None

    @classmethod
    def load(
        cls: type[_Model],
        path: str | os.PathLike[str],
        device: str | torch.device | None = None,
        dtype: torch.dtype | str | None = None,
    ) -> _Model:
        """Load from a model directory, a run directory or a checkpoint file.

        A run directory gives ``checkpoints/best.pt``, else the newest step checkpoint; EMA
        weights are preferred. Loading never executes code from the files.

        Args:
            path: model directory (``audiogan export``), run directory or checkpoint file.
            device: where to run (default CPU): cpu, cuda, cuda:N, mps or auto.
            dtype: ``float32`` (default), ``bfloat16`` or ``float16`` for the generator.

        Raises:
            CheckpointError, ModelFileError: nothing usable at ``path``.
            ModelFileError: the model is of the other kind.
        """
        # DeviceError (one line) before anything is read; None keeps the default, CPU
        run_on = None if device is None else resolve_device(device, option="device=")
        return cls.from_loaded(load_model(path)).to(run_on, dtype)

    @classmethod
    def from_loaded(cls: type[_Model], loaded: LoadedModel) -> _Model:
        """Wrap a :class:`~audiogan.inference.model_dir.LoadedModel` (see ``load_model``)."""
        raise NotImplementedError

    @classmethod
    def _check_kind(cls, generator: Generator, source: Any = None) -> None:
        """ModelFileError naming ``source`` (or "this is") when ``generator`` is of another
        kind."""
        if generator.input_kind != cls.kind_name:
            start = "this is " if source is None else f"{source}: "
            raise ModelFileError(start + cls.other_kind)

    def _keep_provenance(
        self, config: Config | None, step: int | None, ema: bool,
        source: str | os.PathLike[str] | None,
    ) -> None:
        self.config = config
        self.step = step
        self.ema = ema
        self.source = Path(source) if source is not None else None

    @property
    def generator(self) -> Generator:
        """The generator inside :attr:`module`."""
        return self.module.generator

    @property
    def dtype(self) -> torch.dtype:
        """The generator's dtype (features, when any, are always computed in float32)."""
        return self.module.input_dtype

    def to(
        self: _Model,
        device: str | torch.device | torch.dtype | None = None,
        dtype: torch.dtype | str | None = None,
    ) -> _Model:
        """Move to ``device`` and/or cast the generator to ``dtype``; returns ``self``.

        Args:
            device: e.g. ``"cuda"``; a dtype here is taken as ``dtype``.
            dtype: ``float32``, ``bfloat16`` or ``float16`` (features stay float32).
        """
        if isinstance(device, torch.dtype):
            device, dtype = None, device
        if device is not None:
            self._move(torch.device(device))
        if dtype is not None:
            self.module.to(resolve_dtype(dtype))
        return self

    def _move(self, device: torch.device) -> None:
        """Put everything that runs on a device onto ``device``."""
        self.module.to(device)
