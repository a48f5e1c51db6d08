"""Fault cases for inference on hostile model files: ``synthesize``, ``generate``, ``export``,
``info`` given model directories with missing, garbage, truncated or tampered files (metadata keys,
statistics, a config that does not fit the weights), checkpoints carrying a pickle payload (which
must never run: a marker file must not appear), the wrong kind of model. Each must end in one
``error:`` line naming the file (and key), exit code 2, no traceback and nothing written.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .harness import Case, Scenario
from .hostile import Payload as _Payload
from .inference_kit import _model, _no_marker, _synth, _unchanged, _wavs

# ------------------------------------------------------------------------------ model dirs


def _retag(path: Path, **changes: str) -> None:
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    with safe_open(str(path), framework="pt") as handle:
        metadata = dict(handle.metadata() or {})
    save_file(load_file(str(path)), str(path), metadata={**metadata, **changes})


def _broken_model(change: Callable[[Path, Path], object], names: tuple[str, ...],
                  kind: str = "vocoder", command: str = "synthesize") -> Callable[[Path], Scenario]:
    """Damage a copy of a good model dir with ``change(model, tmp)``; every command: exit 2."""

    def build(tmp: Path) -> Scenario:
        model = _model(tmp, kind)
        change(model, tmp)
        if command == "synthesize":
            args = _synth(tmp, model)
        elif command == "generate":
            args = ["generate", str(model), "-n", "1", "-o", str(tmp / "out")]
        elif command == "info":
            args = ["info", str(model)]
        else:
            args = ["export", str(model), "-o", str(tmp / "out")]
        return Scenario(args, 2, names, intact=_no_marker(tmp, _unchanged(model, _wavs(
            tmp / "out", []))))

    return build


def _garbage(name: str, data: bytes) -> Callable[[Path, Path], None]:
    return lambda model, tmp: (model / name).write_bytes(data)


def _truncate(name: str, keep: int) -> Callable[[Path, Path], None]:
    def change(model: Path, tmp: Path) -> None:
        (model / name).write_bytes((model / name).read_bytes()[:keep])

    return change


def _remove(name: str) -> Callable[[Path, Path], None]:
    return lambda model, tmp: (model / name).unlink()


def _edit_config(old: str, new: str) -> Callable[[Path, Path], None]:
    def change(model: Path, tmp: Path) -> None:
        text = (model / "config.yaml").read_text()
        assert old in text, old
        (model / "config.yaml").write_text(text.replace(old, new))

    return change


def _tag(**changes: str) -> Callable[[Path, Path], None]:
    return lambda model, tmp: _retag(model / "generator.safetensors", **changes)


def _stats(values: dict[str, Any]) -> Callable[[Path, Path], None]:
    def change(model: Path, tmp: Path) -> None:
        import torch
        from safetensors.torch import save_file

        save_file({k: torch.as_tensor(v) for k, v in values.items()},
                  str(model / "feature_stats.safetensors"))

    return change


def _huge_header(model: Path, tmp: Path) -> None:
    (model / "generator.safetensors").write_bytes((2**60).to_bytes(8, "little") + b"{}")


def _weights_dir(model: Path, tmp: Path) -> None:
    (model / "generator.safetensors").unlink()
    (model / "generator.safetensors").mkdir()


W, S, C = "generator.safetensors", "feature_stats.safetensors", "config.yaml"

MODEL_CASES: list[tuple[str, Callable[[Path], Scenario]]] = [
    ("weights_missing", _broken_model(_remove(W), ("model",))),
    ("config_missing", _broken_model(_remove(C), (C,))),
    ("weights_garbage", _broken_model(_garbage(W, b"\x00garbage" * 50), (W,))),
    ("weights_empty", _broken_model(_garbage(W, b""), (W,))),
    ("weights_truncated", _broken_model(_truncate(W, 2000), (W,))),
    ("weights_header_2e60", _broken_model(_huge_header, (W,))),
    ("weights_a_directory", _broken_model(_weights_dir, ("model",))),
    ("config_garbage_yaml", _broken_model(_garbage(C, b"generator: [unclosed\n  - {"), (C,))),
    ("config_empty", _broken_model(_garbage(C, b""), (C,))),
    ("config_not_utf8", _broken_model(_garbage(C, b"\xff\xfe\x00bad"), (C,))),
    ("config_does_not_fit_weights", _broken_model(
        _edit_config("upsample_initial_channel: 16", "upsample_initial_channel: 32"),
        (W, "do not fit"))),
    ("config_other_n_mels", _broken_model(_edit_config("n_mels: 80", "n_mels: 64"), (W,))),
    ("metadata_classes_not_json", _broken_model(_tag(classes="[oops"), (W, "'classes'"),
                                                kind="wavegan", command="generate")),
    ("metadata_classes_count", _broken_model(_tag(classes='["a", "b", "c"]'),
                                             (W, "'classes'"), kind="wavegan",
                                             command="generate")),
    ("metadata_classes_object", _broken_model(_tag(classes='{"a": 1}'), (W, "'classes'"),
                                              kind="wavegan", command="info")),
    ("metadata_step", _broken_model(_tag(step="-3"), (W, "'step'"))),
    ("metadata_version", _broken_model(_tag(version="7"), (W, "'version'"), command="info")),
    ("metadata_format", _broken_model(_tag(format="keras"), (W, "'format'"),
                                      command="export")),
    ("stats_wrong_shape", _broken_model(_stats({"mean": np.zeros(3, np.float32),
                                                "scale": np.ones(3, np.float32)}),
                                        (S, "'mean'"), kind="stats")),
    ("stats_nan", _broken_model(_stats({"mean": np.zeros(80, np.float32),
                                        "scale": np.full(80, np.nan, np.float32)}),
                                (S, "'scale'"), kind="stats")),
    ("stats_zero_scale", _broken_model(_stats({"mean": np.zeros(80, np.float32),
                                               "scale": np.zeros(80, np.float32)}),
                                       (S, "'scale'"), kind="stats")),
    ("stats_missing_key", _broken_model(_stats({"mean": np.zeros(80, np.float32)}), (S,),
                                        kind="stats")),
    ("stats_garbage", _broken_model(_garbage(S, b"nonsense"), (S,), kind="stats")),
    ("vocoder_given_to_generate", _broken_model(lambda m, t: None, ("Vocoder.load",),
                                                command="generate")),
    ("generator_given_to_synthesize", _broken_model(lambda m, t: None, ("WaveGenerator",),
                                                    kind="wavegan")),
]


def _missing_model(tmp: Path) -> Scenario:
    return Scenario(_synth(tmp, tmp / "nowhere"), 2, ("nowhere",), intact=_wavs(tmp / "out", []))


def _pickle_checkpoint(tmp: Path) -> Scenario:
    """A .pt "checkpoint" whose unpickling would run code: refused, the code never runs."""
    path = tmp / "evil.pt"
    import torch

    torch.save({"format": "audiogan-checkpoint", "config": _Payload(tmp / "PWNED")}, path)
    return Scenario(_synth(tmp, path), 2, ("evil.pt",), intact=_no_marker(tmp))


def _raw_pickle_checkpoint(tmp: Path) -> Scenario:
    path = tmp / "raw.pt"
    path.write_bytes(pickle.dumps(_Payload(tmp / "PWNED")))
    return Scenario(["info", str(path)], 2, ("raw.pt",), intact=_no_marker(tmp))


def _not_a_checkpoint(tmp: Path) -> Scenario:
    import torch

    path = tmp / "weights.pt"
    torch.save({"w": torch.zeros(3)}, path)
    return Scenario(["export", str(path), "-o", str(tmp / "exp")], 2, ("weights.pt",),
                    intact=lambda: None if not (tmp / "exp").exists() else (_ for _ in ()).throw(
                        AssertionError("export directory created")))


CASES: list[Case] = [
    *(Case(f"inference/model/{name}", build) for name, build in MODEL_CASES),
    Case("inference/model/missing_path", _missing_model),
    Case("inference/model/checkpoint_with_pickle_payload", _pickle_checkpoint),
    Case("inference/model/raw_pickle_as_checkpoint", _raw_pickle_checkpoint),
    Case("inference/model/torch_file_not_a_checkpoint", _not_a_checkpoint),
]
