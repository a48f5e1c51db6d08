"""Mel features: settings (``spec``: profiles, :class:`FeatureSpec`), the transform (``mel``:
:class:`MelSpectrogram`), normalisation statistics (``stats``) and feature files (``files``).

The public names are re-exported here: ``from audiogan.features import MelSpectrogram``.
"""

from audiogan.features.mel import MelSpectrogram
from audiogan.features.spec import (
    DEFAULT,
    PROFILES,
    SIZE_FIELDS,
    FeatureError,
    FeatureSpec,
    SizeOverrides,
    resolve_spec,
)
from audiogan.features.stats import compute_stats

__all__ = ["DEFAULT", "PROFILES", "SIZE_FIELDS", "FeatureError", "FeatureSpec", "MelSpectrogram",
           "SizeOverrides", "compute_stats", "resolve_spec"]
