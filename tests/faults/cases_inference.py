"""Fault cases for inference: ``synthesize``, ``generate``, ``export``, ``info`` on hostile input.

Model directories with missing, garbage, truncated or tampered files (metadata keys, statistics,
a config that does not fit the weights), checkpoints carrying a pickle payload (which must never
run: a marker file must not appear), the wrong kind of model; mel files that are NaN, of the
wrong n_mels, 1-D, batched, integer, boolean, complex, empty, pickled, object arrays, archives,
huge (declared sparse) or ``.pt`` payloads; a full disk while writing a clip or an export, and
Ctrl-C during an export. Each must end in one ``error:`` line naming the file (and key), the
documented exit code, no traceback and nothing half-written: a previous export stays intact.
"""

from __future__ import annotations

import atexit
import pickle
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .harness import Case, Scenario

_TEMPLATES: dict[str, Path] = {}


def _template(kind: str) -> Path:
    """An untrained tiny model directory (built once per process): ``vocoder`` (HiFi-GAN,
    22,050 Hz, hop 256, 80 mels), ``stats`` (the same with pwg statistics) or ``wavegan``
    (classes a, b; 16 kHz)."""
    if kind not in _TEMPLATES:
        import torch

        from audiogan.config import config_from_dict
        from audiogan.export import export_model
        from audiogan.loading import LoadedModel
        from audiogan.training.components import build_generator

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
            loaded = LoadedModel(build_generator(config).eval(), config, classes=("a", "b"))
        else:
            config = config_from_dict({
                "features": {"profile": "pwg" if kind == "stats" else "hifigan"},
                "generator": {"name": "hifigan", "params": {
                    "preset": "v1", "upsample_initial_channel": 16,
                    "resblock_kernel_sizes": [3], "resblock_dilation_sizes": [[1, 3]]}},
                "discriminator": {"name": "combined", "params": {}},
            })
            generator = build_generator(config).eval()
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


class _Payload:
    """Unpickling this creates ``marker``: a stand-in for code hidden in a file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


def _no_marker(tmp: Path, also: Callable[[], None] | None = None) -> Callable[[], None]:
    def check() -> None:
        assert not (tmp / "PWNED").exists(), "code in a file was run"
        if also is not None:
            also()

    return check


# ------------------------------------------------------------------------------ model dirs


def _synth(tmp: Path, model: Path) -> list[str]:
    mel = tmp / "in" / "m.npy"
    mel.parent.mkdir(parents=True, exist_ok=True)
    np.save(mel, _mel())
    return ["synthesize", str(model), str(mel), "-o", str(tmp / "out")]


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


# ------------------------------------------------------------------------------ mel inputs


def _save_npy(path: Path, array: np.ndarray, allow_pickle: bool = False) -> None:
    np.save(path, array, allow_pickle=allow_pickle)


def _huge_npy(path: Path) -> None:
    with open(path, "wb") as handle:  # 80 x 2**22 float32 declared, stored sparsely
        np.lib.format.write_array_header_1_0(
            handle, {"descr": "<f4", "fortran_order": False, "shape": (80, 2**22)})
        handle.truncate(handle.tell() + 80 * 2**22 * 4)


def _pickled_npy(path: Path) -> None:
    path.write_bytes(pickle.dumps(_Payload(path.parent.parent / "PWNED")))


def _payload_pt(path: Path) -> None:
    import torch

    torch.save({"mel": _Payload(path.parent.parent / "PWNED")}, path)


def _dict_pt(path: Path) -> None:
    import torch

    torch.save({"mel": torch.zeros(80, 10)}, path)


def _npz_as_npy(path: Path) -> None:
    with open(path, "wb") as handle:
        np.savez(handle, a=_mel(), b=_mel())


MELS: list[tuple[str, str, Callable[[Path], None], str]] = [
    ("nan", "nan.npy", lambda p: _save_npy(p, np.where(np.arange(24) == 5, np.nan, _mel())),
     "non-finite"),
    ("inf", "inf.npy", lambda p: _save_npy(p, np.where(np.arange(24) == 0, -np.inf, _mel())),
     "non-finite"),
    ("wrong_n_mels", "n64.npy", lambda p: _save_npy(p, _mel()[:64]), "n_mels=80"),
    ("transposed", "transposed.npy", lambda p: _save_npy(p, _mel(30).T), "transpose"),
    ("one_d", "flat.npy", lambda p: _save_npy(p, _mel()[0]), "shape"),
    ("four_d", "deep.npy", lambda p: _save_npy(p, _mel()[None, None]), "shape"),
    ("batch_of_two", "batch.npy", lambda p: _save_npy(p, np.stack([_mel(), _mel()])), "batch"),
    ("int_dtype", "ints.npy", lambda p: _save_npy(p, _mel().astype(np.int16)), "floating"),
    ("bool_dtype", "bools.npy", lambda p: _save_npy(p, _mel() > -6), "floating"),
    ("complex_dtype", "complex.npy", lambda p: _save_npy(p, _mel().astype(np.complex64)),
     "floating"),
    ("empty", "empty.npy", lambda p: _save_npy(p, _mel()[:, :0]), "empty"),
    ("object_array", "objects.npy",
     lambda p: _save_npy(p, np.array([_mel(), "x"], dtype=object), True), "unreadable .npy"),
    ("pickled_npy", "pickled.npy", _pickled_npy, "unreadable .npy"),
    ("npz_named_npy", "archive.npy", _npz_as_npy, "several arrays"),
    ("truncated_npy", "cut.npy", lambda p: (_save_npy(p, _mel(200)),
                                            p.write_bytes(p.read_bytes()[:500])),
     "unreadable .npy"),
    ("garbage_npy", "garbage.npy", lambda p: p.write_bytes(b"\x93NUMPY garbage"),
     "unreadable .npy"),
    ("huge_npy", "huge.npy", _huge_npy, "too large"),
    ("payload_pt", "payload.pt", _payload_pt, "code in the file is never run"),
    ("dict_pt", "dict.pt", _dict_pt, "not one tensor"),
    ("garbage_pt", "junk.pt", lambda p: p.write_bytes(b"not a torch file"), "unreadable .pt"),
]


def _bad_mel(name: str, make: Callable[[Path], None], phrase: str,
             with_good: bool) -> Callable[[Path], Scenario]:
    def build(tmp: Path) -> Scenario:
        model = _model(tmp)
        folder = tmp / "in"
        folder.mkdir()
        make(folder / name)
        inputs = [str(folder / name)]
        if with_good:
            np.save(folder / "good.npy", _mel())
            inputs.append(str(folder / "good.npy"))
        out = tmp / "out"
        return Scenario(["synthesize", str(model), *inputs, "-o", str(out)],
                        1 if with_good else 2, (f"{name}: ", phrase),
                        intact=_no_marker(tmp, _wavs(out, ["good.wav"] if with_good else [])))

    return build


def _all_bad_mels(tmp: Path) -> Scenario:
    model = _model(tmp)
    folder = tmp / "in"
    folder.mkdir()
    for _, name, make, _ in MELS:
        make(folder / name)
    np.save(folder / "good.npy", _mel())
    return Scenario(["synthesize", str(model), str(folder), "-o", str(tmp / "out")], 1,
                    tuple(name for _, name, _, _ in MELS), errors=len(MELS),
                    intact=_no_marker(tmp, _wavs(tmp / "out", ["good.wav"])))


def _full_disk_clip(tmp: Path) -> Scenario:
    from audiogan import faults

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
    from audiogan import faults

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
    from audiogan.export import export_model
    from audiogan.loading import LoadedModel
    from audiogan.training.components import build_generator

    config = load_config(_template("wavegan") / "config.yaml")
    config.generator.params["num_classes"] = 0
    config.discriminator.params["num_classes"] = 0
    save_config(config, tmp / "c.yaml")
    config = load_config(tmp / "c.yaml")
    model = export_model(LoadedModel(build_generator(config).eval(), config),
                         tmp / "model").out_dir
    return Scenario(["generate", str(model), "-n", "1", "-o", str(tmp / "out"), "--label", "a"],
                    2, ("unconditional",), intact=_wavs(tmp / "out", []))


def _device(device: str) -> Callable[[Path], Scenario]:
    def build(tmp: Path) -> Scenario:
        return Scenario([*_synth(tmp, _model(tmp)), "--device", device], 2,
                        (f"--device {device}",), intact=_wavs(tmp / "out", []))

    return build


# ------------------------------------------------------------------------------ export


def _export_fault(fault: str, named: str, formats: tuple[str, ...] = ("torchscript",),
                  ) -> Callable[[Path], Scenario]:
    """A full disk at ``fault`` while re-exporting over a previous export."""

    def build(tmp: Path) -> Scenario:
        from audiogan import faults

        faults._hits.clear()
        source = _model(tmp)
        previous = tmp / "exported"
        shutil.copytree(source, previous)
        args = ["export", str(source), "-o", str(previous)]
        for name in formats:
            args += ["--format", name]

        def intact() -> None:
            entries = sorted(p.name for p in tmp.iterdir())
            assert entries == ["exported", "model"], f"left behind: {entries}"

        return Scenario(args, 2, (named, "No space left", "left as it was"),
                        env={"AUDIOGAN_FAULT": f"{fault}=enospc"},
                        intact=_unchanged(previous, intact))

    return build


def _export_interrupted(tmp: Path) -> Scenario:
    source = _model(tmp)
    previous = tmp / "exported"
    shutil.copytree(source, previous)

    def intact() -> None:
        entries = sorted(p.name for p in tmp.iterdir())
        assert entries == ["exported", "model"], f"left behind: {entries}"

    return Scenario(["export", str(source), "-o", str(previous), "--format", "torchscript"],
                    130, ("interrupted",), subprocess=True,
                    env={"AUDIOGAN_FAULT": "atomic.before_swap=int"},
                    intact=_unchanged(previous, intact))


def _export_over_foreign_dir(tmp: Path) -> Scenario:
    source = _model(tmp)
    (tmp / "mine").mkdir()
    (tmp / "mine" / "notes.txt").write_text("keep me")
    return Scenario(["export", str(source), "-o", str(tmp / "mine")], 2,
                    ("mine", "notes.txt"), intact=_unchanged(tmp / "mine"))


def _export_over_file(tmp: Path) -> Scenario:
    source = _model(tmp)
    (tmp / "target").write_text("a file")
    return Scenario(["export", str(source), "-o", str(tmp / "target")], 2, ("target",),
                    intact=lambda: None if (tmp / "target").read_text() == "a file" else (
                        _ for _ in ()).throw(AssertionError("file changed")))


CASES: list[Case] = [
    *(Case(f"inference/model/{name}", build) for name, build in MODEL_CASES),
    Case("inference/model/missing_path", _missing_model),
    Case("inference/model/checkpoint_with_pickle_payload", _pickle_checkpoint),
    Case("inference/model/raw_pickle_as_checkpoint", _raw_pickle_checkpoint),
    Case("inference/model/torch_file_not_a_checkpoint", _not_a_checkpoint),
    *(Case(f"inference/mel/{case}", _bad_mel(name, make, phrase, with_good=False))
      for case, name, make, phrase in MELS),
    *(Case(f"inference/mel/{case}+good", _bad_mel(name, make, phrase, with_good=True))
      for case, name, make, phrase in MELS[:4]),
    Case("inference/mel/every_bad_kind_in_one_folder", _all_bad_mels),
    Case("inference/synthesize/full_disk_keeps_old_clip", _full_disk_clip),
    Case("inference/generate/full_disk", _full_disk_generate),
    Case("inference/generate/unknown_class", _label("zebra", "unknown class 'zebra'")),
    Case("inference/generate/class_index_out_of_range", _label("5", "label 5 out of range")),
    Case("inference/generate/label_on_unconditional", _unconditional_label),
    Case("inference/synthesize/device_not_a_device", _device("bogus")),
    Case("inference/synthesize/device_cuda_99", _device("cuda:99")),
    Case("inference/export/full_disk_config", _export_fault("atomic.before_fsync@1",
                                                            "config.yaml")),
    Case("inference/export/full_disk_weights", _export_fault("atomic.before_fsync@2",
                                                             "generator.safetensors")),
    Case("inference/export/full_disk_torchscript", _export_fault("atomic.before_fsync@3",
                                                                 "generator.ts")),
    Case("inference/export/full_disk_at_swap", _export_fault("atomic.before_swap", "exported")),
    Case("inference/export/ctrl_c_before_swap", _export_interrupted, slow=True),
    Case("inference/export/over_a_foreign_directory", _export_over_foreign_dir),
    Case("inference/export/over_a_file", _export_over_file),
]
