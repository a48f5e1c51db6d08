"""Fault cases for training start-up: the files a recipe names, checked before the first step.

Manifests (``data.train``, ``data.valid``) missing, empty, a directory, with a bad header or rows,
listing missing, corrupt, truncated, empty, NaN or mislabelled-rate audio or bad mel files; a
``training.init_from`` that is missing, corrupt, empty or of another model; labels the recipe
does not know; the embedded tiny corpus's directory holding the user's files or its build failing
on a full disk. Each run: exit 2, one ``error:`` line naming the config key and the file, no
traceback, no checkpoint written, the user's files unchanged.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import yaml

from . import startup_kit as kit
from .harness import Case, Scenario

_set = kit.set_key

SR = kit.SR

# ------------------------------------------------------------------------------ manifests


def _bad_manifest(name: str, key: str, writer: Callable[[Path], Path], *names: str) -> Case:
    """``key`` (data.train / data.valid) points at what ``writer(tmp)`` makes."""
    def build(tmp: Path) -> Scenario:
        bad = writer(tmp)
        kwargs = {"train" if key == "data.train" else "valid": bad}
        return kit.train(tmp, kit.recipe(tmp, **kwargs), (key, bad.name, *names))
    return Case(name, build)


def _text(name: str, text: str | bytes) -> Callable[[Path], Path]:
    def write(tmp: Path) -> Path:
        path = tmp / "lists" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        return path
    return write


def _missing_manifest(tmp: Path) -> Path:
    return tmp / "lists" / "absent.tsv"


def _manifest_dir(tmp: Path) -> Path:
    path = tmp / "lists" / "folder.tsv"
    path.mkdir(parents=True)
    return path


def _listing(name: str, make: Callable[[Path], Path], rate: int = SR,
             samples: int = int(0.5 * SR), only_bad: bool = False) -> Callable[[Path], Path]:
    """A manifest of a good clip and a ``make(dir)``-made file after it (twice), or of the bad
    file alone (four times): the training datasets skip a bad file among good ones."""
    def write(tmp: Path) -> Path:
        lists = tmp / "lists"
        good = kit.wav(lists / "good.wav")
        bad = make(lists)
        rows = [(good.name, int(0.5 * SR), SR), (bad.name, samples, rate)] * 2
        return kit.manifest(lists / name, rows[1::2] * 2 if only_bad else rows)
    return write


def _garbage(folder: Path) -> Path:
    path = folder / "garbage.wav"
    path.write_bytes(b"RIFF\x00\x00\x00\x00not audio at all" * 10)
    return path


def _empty_wav(folder: Path) -> Path:
    path = folder / "zero.wav"
    path.write_bytes(b"")
    return path


def _truncated(folder: Path) -> Path:
    path = kit.wav(folder / "cut.wav", seconds=1.0)
    path.write_bytes(path.read_bytes()[:2000])
    return path


def _nan_wav(folder: Path) -> Path:
    path = folder / "nan.wav"
    wave = kit.tone(int(0.5 * SR))
    wave[100:200] = np.nan
    sf.write(path, wave, SR, subtype="FLOAT")
    return path


def _sixteen_k(folder: Path) -> Path:
    return kit.wav(folder / "16k.wav", sr=16000)


def _absent(folder: Path) -> Path:
    return folder / "gone.wav"


def _a_dir(folder: Path) -> Path:
    path = folder / "subdir.wav"
    path.mkdir()
    return path


HEADER = "path\tnum_samples\tsample_rate\n"

MANIFEST_CASES = [
    _bad_manifest("train_manifest_missing", "data.train", _missing_manifest, "not found",
                  "audiogan prepare folder"),
    _bad_manifest("train_manifest_directory", "data.train", _manifest_dir, "directory"),
    _bad_manifest("train_manifest_empty", "data.train", _text("empty.tsv", ""), "empty"),
    _bad_manifest("train_manifest_header_only", "data.train", _text("header.tsv", HEADER),
                  "no entries"),
    _bad_manifest("train_manifest_wrong_header", "data.train",
                  _text("hdr.tsv", "file\tlength\trate\nx.wav\t1\t22050\n"), "column"),
    _bad_manifest("train_manifest_bad_number", "data.train",
                  _text("num.tsv", HEADER + "x.wav\tmany\t22050\n"), "num_samples"),
    _bad_manifest("train_manifest_wrong_fields", "data.train",
                  _text("fields.tsv", HEADER + "x.wav\t100\n"), "fields"),
    _bad_manifest("train_manifest_not_utf8", "data.train",
                  _text("latin.tsv", HEADER.encode() + b"caf\xe9.wav\t100\t22050\n"), "UTF-8"),
    _bad_manifest("train_lists_missing_audio", "data.train", _listing("m.tsv", _absent),
                  "gone.wav"),
    _bad_manifest("train_lists_directory", "data.train", _listing("d.tsv", _a_dir), "subdir.wav"),
    _bad_manifest("train_lists_only_corrupt_audio", "data.train",
                  _listing("c.tsv", _garbage, only_bad=True), "garbage.wav", "none of the"),
    _bad_manifest("train_lists_only_empty_audio", "data.train",
                  _listing("e.tsv", _empty_wav, only_bad=True), "zero.wav"),
    _bad_manifest("train_lists_only_truncated_wav", "data.train",
                  _listing("t.tsv", _truncated, only_bad=True), "cut.wav"),
    _bad_manifest("train_lists_only_nan_audio", "data.train",
                  _listing("n.tsv", _nan_wav, only_bad=True), "nan.wav"),
    _bad_manifest("train_rate_differs_from_manifest", "data.train",
                  _listing("r.tsv", _sixteen_k), "16k.wav", "16000 Hz"),
    _bad_manifest("valid_manifest_missing", "data.valid", _missing_manifest, "not found"),
    _bad_manifest("valid_manifest_directory", "data.valid", _manifest_dir, "directory"),
    _bad_manifest("valid_manifest_empty", "data.valid", _text("empty.tsv", ""), "empty"),
    _bad_manifest("valid_manifest_wrong_header", "data.valid",
                  _text("hdr.tsv", "wav\tn\tsr\nx.wav\t1\t22050\n"), "column"),
    _bad_manifest("valid_lists_missing_audio", "data.valid", _listing("m.tsv", _absent),
                  "gone.wav"),
    _bad_manifest("valid_lists_corrupt_audio", "data.valid", _listing("c.tsv", _garbage),
                  "garbage.wav"),
    _bad_manifest("valid_lists_empty_audio", "data.valid", _listing("e.tsv", _empty_wav),
                  "zero.wav"),
    _bad_manifest("valid_lists_truncated_wav", "data.valid", _listing("t.tsv", _truncated),
                  "cut.wav"),
    _bad_manifest("valid_lists_nan_audio", "data.valid", _listing("n.tsv", _nan_wav),
                  "nan.wav"),
    _bad_manifest("valid_lists_directory", "data.valid", _listing("d.tsv", _a_dir),
                  "subdir.wav"),
    _bad_manifest("valid_rate_differs_from_manifest", "data.valid",
                  _listing("r.tsv", _sixteen_k), "16k.wav"),
]


def _known_corpus_missing(tmp: Path) -> Scenario:
    manifest = tmp / "data" / "ljspeech" / "manifests" / "train.tsv"
    return kit.train(tmp, kit.recipe(tmp, train=manifest),
                     ("data.train", "train.tsv", "audiogan prepare ljspeech"))


def _train_unset(tmp: Path) -> Scenario:
    return kit.train(tmp, kit.recipe(tmp, _set("data.train", None)), ("data.train",))


def _too_few_clips(tmp: Path) -> Scenario:
    return kit.train(tmp, kit.recipe(tmp, _set("training.batch_size", 8)),
                     ("training.batch_size", "data.train"))


def _mels(tmp: Path, shape: tuple[int, ...] | None, rate: int = SR,
          mel_for: Callable[[int], str] | None = None) -> Path:
    lists = tmp / "pairs"
    rows = []
    for i in range(4):
        wav = kit.wav(lists / f"p{i}.wav", sr=rate)
        mel = lists / f"p{i}.npy"
        if shape is not None:
            np.save(mel, np.zeros(shape, dtype=np.float32))
        rows.append(f"{wav.name}\t{int(0.5 * rate)}\t{rate}\t"
                    + (mel_for(i) if mel_for else mel.name))
    path = lists / "pairs.tsv"
    path.write_text("path\tnum_samples\tsample_rate\tmel_path\n" + "\n".join(rows) + "\n")
    return path


def _pairs_case(name: str, names: tuple[str, ...], **kwargs: Any) -> Case:
    def build(tmp: Path) -> Scenario:
        return kit.train(tmp, kit.recipe(tmp, train=_mels(tmp, **kwargs)), ("data.train", *names))
    return Case(name, build)


def _corrupt_mel(tmp: Path) -> Scenario:
    manifest = _mels(tmp, (80, 43))
    (manifest.parent / "p0.npy").write_bytes(b"\x93NUMPY garbage")
    return kit.train(tmp, kit.recipe(tmp, train=manifest), ("data.train", "p0.npy"))


PAIR_CASES = [
    _pairs_case("pairs_mel_missing", ("p0.npy",), shape=None),
    _pairs_case("pairs_mel_wrong_shape", ("p0.npy", "features.n_mels"), shape=(43, 80)),
    _pairs_case("pairs_mel_1d", ("p0.npy",), shape=(80,)),
    _pairs_case("pairs_other_rate", ("p0.wav", "16000 Hz"), shape=(80, 31), rate=16000),
    _pairs_case("pairs_some_without_mel", ("mel_path",), shape=(80, 43),
                mel_for=lambda i: "" if i == 2 else f"p{i}.npy"),
    Case("pairs_mel_corrupt", _corrupt_mel),
]


# ------------------------------------------------------------------------------ init_from


def _init_from(name: str, make: Callable[[Path], Path], *names: str) -> Case:
    def build(tmp: Path) -> Scenario:
        source = make(tmp)
        return kit.train(tmp, kit.recipe(tmp, _set("training.init_from", str(source))),
                         ("training.init_from", source.name, *names))
    return Case(name, build)


def _garbage_checkpoint(tmp: Path) -> Path:
    path = tmp / "model.pt"
    path.write_bytes(b"PK\x03\x04 not a checkpoint")
    return path


def _empty_run(tmp: Path) -> Path:
    path = tmp / "old_run"
    (path / "checkpoints").mkdir(parents=True)
    return path


def _other_model(tmp: Path) -> Path:
    import torch

    path = tmp / "melgan.pt"
    buffer = io.BytesIO()
    torch.save({"generator": {}, "config": {"generator": {"name": "melgan"}}}, buffer)
    path.write_bytes(buffer.getvalue())
    return path


def _no_generator(tmp: Path) -> Path:
    import torch

    path = tmp / "nogen.pt"
    torch.save({"step": 3}, path)
    return path


def _bad_export(tmp: Path) -> Path:
    path = tmp / "exported"
    path.mkdir()
    (path / "generator.safetensors").write_bytes(b"\xff" * 64)
    return path


INIT_CASES = [
    _init_from("init_from_missing", lambda tmp: tmp / "no_such_run", "not found"),
    _init_from("init_from_corrupt", _garbage_checkpoint),
    _init_from("init_from_empty_run_dir", _empty_run),
    _init_from("init_from_other_model", _other_model, "melgan"),
    _init_from("init_from_without_generator", _no_generator, "generator"),
    _init_from("init_from_bad_export", _bad_export, "generator.safetensors"),
]


# ------------------------------------------------------------------------------ embedded corpus


def _foreign_tiny_dir(tmp: Path) -> Scenario:
    speech = tmp / "runs" / "tiny" / "data" / "speech"
    speech.mkdir(parents=True)
    (speech / "my_notes.txt").write_text("mine\n")
    recipe = kit.recipe(tmp, train=speech / "train.tsv", valid=speech / "valid.tsv")
    scenario = kit.train(tmp, recipe, ("data.train", "speech", "my_notes.txt"))
    inner = scenario.intact

    def intact() -> None:
        assert inner is not None
        inner()
        assert (speech / "my_notes.txt").read_text() == "mine\n", "user file lost"
        assert sorted(p.name for p in speech.iterdir()) == ["my_notes.txt"]

    scenario.intact = intact
    return scenario


def _tiny_build_disk_full(tmp: Path) -> Scenario:
    from audiogan.core import faults

    faults._hits.clear()  # the count is per process; this case must see the first hit
    data = tmp / "runs" / "tiny" / "data"
    speech = data / "speech"
    recipe = kit.recipe(tmp, train=speech / "train.tsv", valid=speech / "valid.tsv")
    scenario = kit.train(tmp, recipe, ("data.train", "No space left"),
                         env={"AUDIOGAN_FAULT": "embedded.before_commit=enospc"})
    inner = scenario.intact

    def intact() -> None:
        assert inner is not None
        inner()
        left = sorted(p.name for p in data.iterdir()) if data.exists() else []
        assert left in ([], [".embedded.lock"]), f"half-built corpus left behind: {left}"

    scenario.intact = intact
    return scenario


def _labels_short(tmp: Path) -> Scenario:
    clips = tmp / "data" / "clips"
    rows = []
    for i, label in enumerate(["zero", "one", "two", "zero"]):
        kit.wav(clips / f"{label}_{i}.wav", seconds=1.0, sr=16000)
        rows.append(f"clips/{label}_{i}.wav\t16000\t16000\t{label}")
    manifest = tmp / "data" / "digits.tsv"
    manifest.write_text("path\tnum_samples\tsample_rate\tlabel\n" + "\n".join(rows) + "\n")
    config = {
        "sample_rate": 16000,
        "generator": {"name": "wavegan", "params": {"model_size": 8, "num_classes": 2}},
        "discriminator": {"name": "wavegan", "params": {"model_size": 8, "num_classes": 2}},
        "loss": {"adversarial": "wgan_gp", "weights": {"adversarial": 1.0}},
        "training": {"batch_size": 2, "segment_length": 16384, "max_steps": 2},
        "data": {"train": str(manifest), "labels": ["zero", "one"]},
    }
    recipe = tmp / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(config))
    return kit.train(tmp, recipe, ("data.labels", "two_2.wav"))


def _discriminator_value(override: str) -> Callable[[Path], Scenario]:
    def build(tmp: Path) -> Scenario:
        return kit.train(tmp, kit.recipe(tmp), ("discriminator.params",),
                         "--set", override)
    return build


OTHER_CASES = [
    Case("discriminator_period_zero", _discriminator_value("discriminator.params.periods=[0]")),
    Case("discriminator_nested_param_unknown",
         _discriminator_value("discriminator.params.mpd_params={bogus: 1}")),
    Case("discriminator_pwg_even_kernel", _discriminator_value(
        "discriminator={name: parallel_wavegan, params: {kernel_size: 4}}")),
    Case("train_known_corpus_missing", _known_corpus_missing),
    Case("train_not_set", _train_unset),
    Case("train_fewer_clips_than_batch", _too_few_clips),
    Case("tiny_corpus_dir_holds_user_files", _foreign_tiny_dir),
    Case("tiny_corpus_build_disk_full", _tiny_build_disk_full),
    Case("labels_miss_a_class", _labels_short),
]


CASES: list[Case] = [*MANIFEST_CASES, *PAIR_CASES, *INIT_CASES, *OTHER_CASES]
