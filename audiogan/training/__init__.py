"""Training: the trainer (orchestration only), one GAN step, the run directory, checkpoints,
start-up checks, signals, logs and DDP. Builds on inference (model kinds, copy synthesis,
``training.init_from`` through the import readers); nothing below it imports it.

See docs/architecture.md for the layers and the training data path.
"""
