"""audiogan: GAN vocoders and unconditional waveform GANs.

The public API is kept small: :class:`Vocoder` (mel -> waveform), :class:`WaveGenerator`
(latent -> clips), :func:`load_config` and ``__version__``.

>>> from audiogan import Vocoder
>>> voc = Vocoder.load("models/ljspeech_v1")   # doctest: +SKIP
>>> wave = voc(mel)                            # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from audiogan.config import load_config

__version__ = "0.1.0"

__all__ = ["Vocoder", "WaveGenerator", "__version__", "load_config"]

if TYPE_CHECKING:
    from audiogan.inference.vocoder import Vocoder
    from audiogan.inference.wave_generator import WaveGenerator


def __getattr__(name: str) -> Any:
    # Imported on first use, so that `import audiogan` (and the CLI's start-up) stay light.
    if name == "Vocoder":
        from audiogan.inference.vocoder import Vocoder

        return Vocoder
    if name == "WaveGenerator":
        from audiogan.inference.wave_generator import WaveGenerator

        return WaveGenerator
    raise AttributeError(f"module 'audiogan' has no attribute {name!r}")
