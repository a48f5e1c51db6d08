"""The core every other layer stands on: typed errors, atomic files, fault points, devices,
registries and the checkpoint file format. Imports nothing else from audiogan.

See docs/architecture.md for the layers.
"""
