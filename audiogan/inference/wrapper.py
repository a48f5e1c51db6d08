"""What the inference API objects share: :class:`InferenceModel`, the base of
:class:`~audiogan.inference.vocoder.Vocoder` and
:class:`~audiogan.inference.wave_generator.WaveGenerator` (loading, the model-kind check,
where the weights came from, device and dtype moves)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

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
from audiogan.inference.pieces import PiecePlan
from audiogan.models import Generator

if TYPE_CHECKING:
    from audiogan.inference.backends import OnnxRuntimeModule
    from audiogan.inference.cpu_policy import PathInfo

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
    #: ONNX Runtime runner of ``generator.onnx`` (``backend="onnxruntime"``), else None.
    _session: OnnxRuntimeModule | None = None
    _path_reason: str = "built from a generator in memory"
    #: How CPU calls are cut (the CPU policy's; whole calls unless it gave one).
    _plan: PiecePlan = PiecePlan()
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
        backend: str = "auto",
    ) -> _Model:
        """Load from a model directory, a run directory or a checkpoint file.

        A run directory gives ``checkpoints/best.pt``, else the newest step checkpoint; EMA
        weights are preferred. Loading never executes code from the files.

        With neither ``backend`` nor ``dtype`` given, on the CPU, the path comes from the
        per-generator CPU policy (:mod:`audiogan.inference.cpu_policy`: a measured faster path
        for listed generators on CPUs with the feature it needs, else float32); explicit
        arguments always win. :attr:`path_info` says which path was taken and why.

        Args:
            path: model directory (``audiogan export``), run directory or checkpoint file.
            device: where to run (default CPU): cpu, cuda, cuda:N, mps or auto.
            dtype: ``float32``, ``bfloat16`` or ``float16`` for the generator (default: the
                policy's on the CPU, else float32).
            backend: ``auto`` (the policy), ``torch`` or ``onnxruntime`` (CPU, float32: runs
                the model directory's ``generator.onnx``, written by ``audiogan export
                --format onnx``, with ``torch.get_num_threads()`` intra-op threads; vocoders
                only).

        Raises:
            CheckpointError, ModelFileError: nothing usable at ``path``; for ``onnxruntime``
                a model without ``generator.onnx`` (a checkpoint or run directory has none) or
                one that does not match the weights.
            ModelFileError: the model is of the other kind.
            BackendError: an unknown backend; ``onnxruntime`` not installed, or given with
                another dtype or device, or for a model that is not a vocoder.
        """
        from audiogan.inference.backends import check_backend

        # DeviceError / BackendError (one line) before anything is read; None keeps the
        # default, CPU
        run_on = None if device is None else resolve_device(device, option="device=")
        name = check_backend(backend, run_on, dtype)
        model = cls.from_loaded(load_model(path))
        model._take_path(run_on, None if dtype is None else resolve_dtype(dtype), name)
        return model

    def _take_path(self, device: torch.device | None, dtype: torch.dtype | None,
                   backend: str) -> None:
        """Choose the path (:func:`~audiogan.inference.cpu_policy.choose_path`) and go there."""
        from audiogan.inference.backends import onnx_file, onnxruntime_available
        from audiogan.inference.cpu_policy import choose_path

        source = self.source if self.source is not None else Path()
        runnable = onnx_file(source) is not None and onnxruntime_available()
        path = choose_path(self.generator, device, dtype, backend, has_onnx=runnable)
        self.to(device, path.dtype)
        if path.float32_stages:
            keep = getattr(self.generator, "keep_float32_tail", None)
            if keep is None:  # a policy entry can only name generators that have one
                raise TypeError(f"{type(self.generator).__name__} has no keep_float32_tail")
            keep(path.float32_stages)
        if path.backend == "onnxruntime":
            self._use_onnxruntime(source)
        self._path_reason = path.reason
        self._plan = path.plan

    def _use_onnxruntime(self, source: Path) -> None:
        """Run the model directory's ``generator.onnx`` (overridden by vocoders)."""
        from audiogan.inference.backends import BackendError

        raise BackendError(f"backend 'onnxruntime' runs vocoders only; load {source} with "
                           "backend='torch'")

    @property
    def backend(self) -> str:
        """``"torch"`` or ``"onnxruntime"``: what runs the generator."""
        return "torch" if self._session is None else "onnxruntime"

    @property
    def path_info(self) -> PathInfo:
        """The backend, dtype and device this model runs on, and why (the explicit arguments,
        the CPU policy's entry and its evidence, or why the policy kept float32)."""
        from audiogan.inference.cpu_policy import PathInfo

        first = self.generator.float32_from
        tail = len(getattr(self.generator, "upsamples", ())) - first if first >= 0 else 0
        return PathInfo(self.backend, self.dtype, self._run_device(), self._path_reason, tail,
                        self._plan)

    def _run_device(self) -> torch.device:
        first = next(self.module.parameters(), None)
        return first.device if first is not None else torch.device("cpu")

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

        Raises:
            BackendError: a model on the ``onnxruntime`` backend moved off the CPU or cast.
        """
        if isinstance(device, torch.dtype):
            device, dtype = None, device
        if self._session is not None:
            self._check_onnxruntime_move(device, dtype)
            return self
        if device is not None:
            self._move(torch.device(device))
        if dtype is not None:
            self.module.to(resolve_dtype(dtype))
            self.generator.float32_from = -1  # one dtype everywhere: no mixed-precision tail
        if device is not None or dtype is not None:
            self._path_reason = "set with .to()"
            self._plan = PiecePlan()  # the policy's plan was for the path it chose
            self._moved()
        return self

    def _moved(self) -> None:
        """Called after :meth:`to` moved or cast the module (a hook for cached state)."""

    def _check_onnxruntime_move(self, device: str | torch.device | None,
                                dtype: torch.dtype | str | None) -> None:
        from audiogan.inference.backends import BackendError

        if device is not None and torch.device(device).type != "cpu":
            raise BackendError(f"backend 'onnxruntime' runs on the CPU only, not on {device}; "
                               "load with backend='torch' for that device")
        if dtype is not None and resolve_dtype(dtype) != torch.float32:
            raise BackendError(f"backend 'onnxruntime' runs float32 only, not {dtype}; load "
                               "with backend='torch' for that dtype")

    def _move(self, device: torch.device) -> None:
        """Put everything that runs on a device onto ``device``."""
        self.module.to(device)
