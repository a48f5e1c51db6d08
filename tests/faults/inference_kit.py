"""Shared by the inference fault cases (``cases_inference_*.py``): tiny untrained model
directories built once per process, test mels, and the checks that nothing changed, no code hidden
in a file ran, and exactly the expected clips were written."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

_TEMPLATES: dict[str, Path] = {}


def _template(kind: str) -> Path:
    """An untrained tiny model directory (built once per process): ``vocoder`` (HiFi-GAN,
    22,050 Hz, hop 256, 80 mels), ``stats`` (the same with pwg statistics) or ``wavegan``
    (classes a, b; 16 kHz)."""
    if kind not in _TEMPLATES:
        import torch

        from audiogan.config import config_from_dict
        from audiogan.config.build import generator_from_config
        from audiogan.inference.export import export_model
        from audiogan.inference.model_dir import LoadedModel

        root = Path(tempfile.mkdtemp(prefix="audiogan-fault-models-"))
        atexit.register(shutil.rmtree, root, True)
        torch.manual_seed(0)
        if kind == "wavegan":
            config = config_from_dict({
                "sample_rate": 16000, "features": {"f_max": None},
                "training": {"segment_length": 16384},
                "generator": {"name": "wavegan", "params": {"model_size": 2, "num_classes": 2}},
                "discriminator": {"name": "wavegan", "params": {"model_size": 2,
                                                                 "num_classes": 2}},
                "loss": {"adversarial": "wgan_gp", "weights": {"adversarial": 1.0}},
            })
            loaded = LoadedModel(generator_from_config(config).eval(), config, classes=("a", "b"))
        else:
            config = config_from_dict({
                "features": {"profile": "pwg" if kind == "stats" else "hifigan"},
                "generator": {"name": "hifigan", "params": {
                    "preset": "v1", "upsample_initial_channel": 16,
                    "resblock_kernel_sizes": [3], "resblock_dilation_sizes": [[1, 3]]}},
                "discriminator": {"name": "combined", "params": {}},
            })
            generator = generator_from_config(config).eval()
            generator.remove_weight_norm()
            stats = ({"mean": torch.full((80,), -4.0), "scale": torch.ones(80)}
                     if kind == "stats" else {})
            loaded = LoadedModel(generator, config, **stats)
        _TEMPLATES[kind] = export_model(loaded, root / kind).out_dir
    return _TEMPLATES[kind]


def _model(tmp: Path, kind: str = "vocoder") -> Path:
    return Path(shutil.copytree(_template(kind), tmp / "model"))


def _mel(frames: int = 24) -> np.ndarray:
    rng = np.random.default_rng(0)
    return (-6.0 + rng.standard_normal((80, frames))).astype(np.float32)


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def _wavs(out: Path, names: list[str]) -> Callable[[], None]:
    """Exactly ``names`` (readable WAVs) in ``out``; no temporaries."""

    def check() -> None:
        import soundfile as sf

        entries = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
        assert entries == sorted(names), f"{out} holds {entries}, expected {sorted(names)}"
        for name in names:
            assert sf.info(out / name).frames > 0

    return check


def _unchanged(root: Path, also: Callable[[], None] | None = None) -> Callable[[], None]:
    before = _snapshot(root)

    def check() -> None:
        assert _snapshot(root) == before, f"{root} changed"
        if also is not None:
            also()

    return check


def _no_marker(tmp: Path, also: Callable[[], None] | None = None) -> Callable[[], None]:
    def check() -> None:
        assert not (tmp / "PWNED").exists(), "code in a file was run"
        if also is not None:
            also()

    return check


def _synth(tmp: Path, model: Path) -> list[str]:
    mel = tmp / "in" / "m.npy"
    mel.parent.mkdir(parents=True, exist_ok=True)
    np.save(mel, _mel())
    return ["synthesize", str(model), str(mel), "-o", str(tmp / "out")]
