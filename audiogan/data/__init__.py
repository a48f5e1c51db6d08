"""Data: TSV manifests, waveform datasets, a resumable sampler and the embedded synthetic corpus.

The loaders only read and crop waveforms; features are computed on the device in the training
step (one audio -> features path for training and inference; see docs/architecture.md,
'Training data path').
"""

from audiogan.data.datasets import (
    ClipDataset,
    DataError,
    DataSettingsError,
    MelAlignmentError,
    SegmentDataset,
    WaveDataset,
    crop_offset,
)
from audiogan.data.manifest import (
    ManifestBuildResult,
    ManifestEntry,
    ManifestError,
    build_manifest_from_audio,
    read_manifest,
    write_manifest,
)
from audiogan.data.pairs import MelWavePairDataset
from audiogan.data.sampler import ResumableSampler, SamplerStateError
from audiogan.data.synthetic import (
    build_synthetic_clips,
    build_synthetic_corpus,
    synthesize_utterance,
    synthesize_word,
)

__all__ = [
    "ClipDataset",
    "DataError",
    "DataSettingsError",
    "ManifestBuildResult",
    "ManifestEntry",
    "ManifestError",
    "MelAlignmentError",
    "MelWavePairDataset",
    "ResumableSampler",
    "SamplerStateError",
    "SegmentDataset",
    "WaveDataset",
    "build_manifest_from_audio",
    "build_synthetic_clips",
    "build_synthetic_corpus",
    "crop_offset",
    "read_manifest",
    "synthesize_utterance",
    "synthesize_word",
    "write_manifest",
]
