"""Fault cases for ``synthesize`` and ``generate`` with a good model: a full disk while writing a
clip (the earlier clip stays), labels that do not exist or that an unconditional model cannot
take, devices that are not devices. Each is one ``error:`` line, the documented exit code, no
traceback and no half-written clip.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from .harness import Case, Scenario
from .inference_kit import _mel, _model, _synth, _template, _wavs


def _full_disk_clip(tmp: Path) -> Scenario:
    from audiogan.core import faults

    faults._hits.clear()  # in-process cases share one process: count hits from this run on
    model = _model(tmp)
    (tmp / "in").mkdir()
    for name in ("a", "b"):
        np.save(tmp / "in" / f"{name}.npy", _mel())
    out = tmp / "out"
    out.mkdir()
    (out / "a.wav").write_bytes(b"an earlier a.wav")

    def intact() -> None:
        assert (out / "a.wav").read_bytes() == b"an earlier a.wav"
        assert sorted(p.name for p in out.iterdir()) == ["a.wav", "b.wav"]

    return Scenario(["synthesize", str(model), str(tmp / "in" / "a.npy"),
                     str(tmp / "in" / "b.npy"), "-o", str(out)], 1,
                    ("a.npy", "a.wav", "No space left"),
                    env={"AUDIOGAN_FAULT": "atomic.before_fsync=enospc"}, intact=intact)


def _full_disk_generate(tmp: Path) -> Scenario:
    from audiogan.core import faults

    faults._hits.clear()
    model = _model(tmp, "wavegan")
    out = tmp / "out"
    return Scenario(["generate", str(model), "-n", "3", "-o", str(out), "--label", "a"], 2,
                    ("a_00001.wav", "No space left"),
                    env={"AUDIOGAN_FAULT": "atomic.before_fsync@2=enospc"},
                    intact=_wavs(out, ["a_00000.wav"]))


def _label(label: str, phrase: str, kind: str = "wavegan") -> Callable[[Path], Scenario]:
    def build(tmp: Path) -> Scenario:
        model = _model(tmp, kind)
        return Scenario(["generate", str(model), "-n", "2", "-o", str(tmp / "out"), "--label",
                         label], 2, (phrase,), intact=_wavs(tmp / "out", []))

    return build


def _unconditional_label(tmp: Path) -> Scenario:
    """A label for a model whose generator has no classes (metadata cleared too)."""
    from audiogan.config import load_config, save_config
    from audiogan.config.build import generator_from_config
    from audiogan.inference.export import export_model
    from audiogan.inference.model_dir import LoadedModel

    config = load_config(_template("wavegan") / "config.yaml")
    config.generator.params["num_classes"] = 0
    config.discriminator.params["num_classes"] = 0
    save_config(config, tmp / "c.yaml")
    config = load_config(tmp / "c.yaml")
    model = export_model(LoadedModel(generator_from_config(config).eval(), config),
                         tmp / "model").out_dir
    return Scenario(["generate", str(model), "-n", "1", "-o", str(tmp / "out"), "--label", "a"],
                    2, ("unconditional",), intact=_wavs(tmp / "out", []))


def _device(device: str) -> Callable[[Path], Scenario]:
    def build(tmp: Path) -> Scenario:
        return Scenario([*_synth(tmp, _model(tmp)), "--device", device], 2,
                        (f"--device {device}",), intact=_wavs(tmp / "out", []))

    return build


CASES: list[Case] = [
    Case("inference/synthesize/full_disk_keeps_old_clip", _full_disk_clip),
    Case("inference/generate/full_disk", _full_disk_generate),
    Case("inference/generate/unknown_class", _label("zebra", "unknown class 'zebra'")),
    Case("inference/generate/class_index_out_of_range", _label("5", "label 5 out of range")),
    Case("inference/generate/label_on_unconditional", _unconditional_label),
    Case("inference/synthesize/device_not_a_device", _device("bogus")),
    Case("inference/synthesize/device_cuda_99", _device("cuda:99")),
]
