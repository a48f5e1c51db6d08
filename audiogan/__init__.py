"""audiogan: GAN vocoders and unconditional waveform GANs.

The public API is kept small: :func:`load_config` and ``__version__`` now; ``Vocoder`` and
``WaveGenerator`` arrive with the inference module.
"""

from audiogan.config import load_config

__version__ = "0.1.0"

__all__ = ["__version__", "load_config"]
