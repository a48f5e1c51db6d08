"""Running trained models: the model directory format (``model_dir``), :class:`Vocoder`
(mel -> waveform), :class:`WaveGenerator` (latent -> clips), streaming, export, and reading
other toolkits' checkpoints (``imports``). Never imports :mod:`audiogan.training`.
"""
