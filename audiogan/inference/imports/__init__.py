"""Import pretrained vocoders from other toolkits into audiogan model directories.

``audiogan import SRC -o MODEL_DIR`` (:func:`import_model`) reads another toolkit's checkpoint
and writes a standard model directory (``config.yaml``, ``generator.safetensors``,
``feature_stats.safetensors`` when the source has statistics, ``discriminator.safetensors`` when
it has discriminator weights), so :class:`audiogan.Vocoder`, ``synthesize``, ``evaluate``,
``export``, ``info`` and ``training.init_from`` work on it.
:func:`audiogan.inference.model_dir.load_model`
(hence ``Vocoder.load`` and every command taking a MODEL) also accepts such a source directly and
converts it in memory (:func:`convert_in_memory`), with a one-line note. Formats read today:

- ``bigvgan``: NVIDIA BigVGAN / BigVGAN-v2 (:mod:`audiogan.inference.imports.bigvgan`).
- ``hifigan``: jik876/hifi-gan (:mod:`audiogan.inference.imports.hifigan_jik`).
- ``vocos``: Vocos mel checkpoints (:mod:`audiogan.inference.imports.vocos`).
- ``pwg``: kan-bayashi/ParallelWaveGAN and ESPnet1 vocoders - Parallel WaveGAN, HiFiGAN, MelGAN
  and multi-band MelGAN generators (:mod:`audiogan.inference.imports.pwg`).
- ``melgan``: descriptinc/melgan-neurips generators
(:mod:`audiogan.inference.imports.melgan_neurips`).

Safety: every ``.pt``/``.pth``/``.pkl``/``.bin``/``g_*`` goes through
:func:`~audiogan.inference.imports.base.safe_torch_load` (``torch.load(weights_only=True)``); a
file that
needs arbitrary unpickling is refused with one line and nothing from it runs. JSON/YAML configs are
read with safe parsers. Every converted tensor is checked against the model the converted config
builds (missing, unexpected, reshaped, NaN) before anything is written, and the directory appears
only when complete.

Adding a format (one module, e.g. ``audiogan/inference/imports/pwg.py``, imported below):

1. Subclass :class:`~audiogan.inference.imports.base.FormatReader` and decorate it with
   :func:`~audiogan.inference.imports.base.register`. Set ``name`` (the ``--format`` value),
   ``title``
   (the toolkit), ``files`` (what it reads, for ``--list``) and ``sources``
   (:class:`~audiogan.inference.imports.base.KnownSource`: public weights and their licences).
2. ``detect(path) -> Detection | None``: recognise the source by the toolkit's own file names
   (a directory or a file), find its config file beside it by the toolkit's naming, return
   ``None`` for anything foreign (never raise for it; raise
   :class:`~audiogan.inference.imports.base.ImportSourceError` only for a recognised but ambiguous
   or
   incomplete source). Auto-detection tries readers in registration order.
3. ``read(detection, config_file) -> Converted``: load tensors with ``safe_torch_load``, the
   config with a safe parser, and return a :class:`~audiogan.inference.imports.base.Converted`: an
   audiogan
   :class:`~audiogan.config.Config` (``build_config``: set every architecture option the
   reference needs explicitly, e.g. ``post_negative_slope``), the generator's *folded* weights
   (the state dict of ``generator_from_config(config)`` after ``remove_weight_norm``; old-style
   weight norm ``weight_g``/``weight_v`` folds with ``fold_weight_norm``), optionally the
   discriminator's state dict as ``discriminator_from_config(config)`` builds it, feature
   ``mean``/``scale``, the step and notes (``detection.generator_only``: the discriminator may
   be skipped, for :func:`convert_in_memory`). Raise ``ImportSourceError`` naming the file and
   key for anything that does not fit; read the config's numbers and flags with
   :mod:`audiogan.inference.imports.values` (``config_int``, ``config_float``, ...), never a bare
   ``int(...)`` (a null or a string would be a traceback). Writing, strict checking and
   atomicity are done by :func:`import_model`.
4. Test it with checkpoints built in the toolkit's exact layout and an independent forward
   (tests/inference/imports/test_hifigan_jik.py is the model), and add it to
   benchmarks/import_parity.py.
"""

from __future__ import annotations

from audiogan.inference.imports import bigvgan as _bigvgan  # noqa: F401  (registers "bigvgan")
from audiogan.inference.imports import hifigan_jik as _hifigan_jik  # noqa: F401  (registers "hifigan")
from audiogan.inference.imports import melgan_neurips as _melgan  # noqa: F401  (registers "melgan")
from audiogan.inference.imports import pwg as _pwg  # noqa: F401  (registers "pwg")
from audiogan.inference.imports import vocos as _vocos  # noqa: F401  (registers "vocos")
from audiogan.inference.imports.base import (
    DISCRIMINATOR_NAME,
    READERS,
    Converted,
    Detection,
    FormatReader,
    ImportResult,
    ImportSourceError,
    KnownSource,
    convert_in_memory,
    detect_format,
    find_reader,
    import_model,
    safe_torch_load,
)
from audiogan.inference.imports.sources import SOURCES, list_lines

__all__ = [
    "DISCRIMINATOR_NAME", "READERS", "SOURCES", "Converted", "Detection", "FormatReader",
    "ImportResult", "ImportSourceError", "KnownSource", "convert_in_memory", "detect_format",
    "find_reader", "import_model", "list_lines", "safe_torch_load"
]
