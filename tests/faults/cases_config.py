"""Fault cases for recipes and training start-up: ``audiogan train`` with bad configs and data.

Config files that are missing, a directory, empty, not UTF-8, huge, not valid YAML or hostile
(python tags, alias bombs, deep nesting); unknown keys, wrong types, zero / negative / NaN /
infinite numbers, bad ``--set`` overrides, model params the models refuse; manifests
(``data.train``, ``data.valid``) missing, empty, a directory, with a bad header or rows, listing
missing, corrupt, truncated, empty, NaN or mislabelled-rate audio or bad mel files; a
``training.init_from`` that is missing, corrupt, empty or of another model; the embedded tiny
corpus's directory holding foreign files or its build failing on a full disk.

Each run must end before the first step: exit 2, one ``error:`` line naming the config key and
the file, no traceback, no checkpoint written, the user's files unchanged.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import yaml

from .harness import ROOT, Case, Scenario

SR = 22050
RECIPE = ROOT / "recipes" / "tiny" / "hifigan.yaml"


# ------------------------------------------------------------------------------ builders


def _tone(samples: int, sr: int = SR) -> np.ndarray:
    t = np.arange(samples) / sr
    return (0.3 * np.sin(2 * np.pi * 220.0 * t)).astype(np.float32)


def _wav(path: Path, seconds: float = 0.5, sr: int = SR, subtype: str = "PCM_16") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, _tone(int(seconds * sr), sr), sr, subtype=subtype)
    return path


def _manifest(path: Path, rows: list[tuple[str, int, int]], extra: str = "") -> Path:
    header = "path\tnum_samples\tsample_rate" + ("\tmel_path" if extra else "")
    lines = [header] + [f"{p}\t{n}\t{r}" + (f"\t{extra}" if extra else "") for p, n, r in rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _corpus(tmp: Path, count: int = 4) -> tuple[Path, Path]:
    """``tmp/data/{train,valid}.tsv`` listing ``count`` / 2 good 0.5 s clips."""
    data = tmp / "data"
    rows = []
    for i in range(count):
        _wav(data / "wavs" / f"clip{i}.wav")
        rows.append((f"wavs/clip{i}.wav", int(0.5 * SR), SR))
    return _manifest(data / "train.tsv", rows), _manifest(data / "valid.tsv", rows[:2])


def _recipe(tmp: Path, change: Callable[[dict[str, Any]], None] | None = None,
            train: Path | None = None, valid: Path | None = None) -> Path:
    """A small tiny-HiFi-GAN recipe at ``tmp/recipe.yaml`` pointing at a good corpus."""
    config = yaml.safe_load(RECIPE.read_text())
    good_train, good_valid = _corpus(tmp)
    config["training"].update({"batch_size": 2, "max_steps": 2})
    config["data"]["train"] = str(train or good_train)
    config["data"]["valid"] = str(valid or good_valid)
    if change is not None:
        change(config)
    path = tmp / "recipe.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def _untouched(tmp: Path, run: Path) -> Callable[[], None]:
    """The intact check: no checkpoint (no step taken) and the user's data unchanged."""
    data = tmp / "data"
    before = _snapshot(data) if data.exists() else {}

    def check() -> None:
        written = sorted(run.rglob("*.pt")) if run.exists() else []
        assert not written, f"checkpoints written: {written}"
        if before:
            assert _snapshot(data) == before, "the user's data files changed"

    return check


def _train(tmp: Path, recipe: Path, names: tuple[str, ...], *extra: str,
           env: dict[str, str] | None = None) -> Scenario:
    run = tmp / "run"
    return Scenario(["train", str(recipe), "-o", str(run), "--device", "cpu", *extra], 2,
                    names=names, env=env or {}, intact=_untouched(tmp, run))


def _recipe_text(name: str, text: str | bytes, *names: str) -> Case:
    """A case whose recipe file holds ``text`` verbatim."""
    def build(tmp: Path) -> Scenario:
        path = tmp / "recipe.yaml"
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        return _train(tmp, path, ("recipe.yaml", *names))
    return Case(name, build)


def _changed(name: str, change: Callable[[dict[str, Any]], None], *names: str) -> Case:
    """A case whose recipe is the good one with ``change`` applied to its mapping."""
    def build(tmp: Path) -> Scenario:
        return _train(tmp, _recipe(tmp, change), ("recipe.yaml", *names))
    return Case(name, build)


def _override(name: str, override: str, *names: str) -> Case:
    """A case with a good recipe and one bad ``--set``."""
    def build(tmp: Path) -> Scenario:
        return _train(tmp, _recipe(tmp), names, "--set", override)
    return Case(name, build)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(config: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = config
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return change


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    def change(config: dict[str, Any]) -> None:
        config.pop(key)
    return change


# ------------------------------------------------------------------------------ recipe files


def _missing_recipe(tmp: Path) -> Scenario:
    return _train(tmp, tmp / "nope.yaml", ("nope.yaml", "not found"))


def _directory_recipe(tmp: Path) -> Scenario:
    (tmp / "recipes").mkdir()
    return _train(tmp, tmp / "recipes", ("recipes", "directory"))


def _huge_recipe(tmp: Path) -> Scenario:
    path = tmp / "recipe.yaml"
    path.write_text("# padding\n" * 200_000)
    return _train(tmp, path, ("recipe.yaml", "too large"))


_BOMB = "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
    f"{k}: &{k} [{', '.join([f'*{p}'] * 10)}]\n" for p, k in zip("abcdefg", "bcdefgh")
) + "generator: {name: hifigan, params: {preset: v1, x: *h}}\ndiscriminator: {name: combined}\n"


RECIPE_CASES = [
    Case("config_missing_file", _missing_recipe),
    Case("config_is_directory", _directory_recipe),
    _recipe_text("config_empty_file", "", "empty"),
    _recipe_text("config_only_comments", "# nothing here\n", "empty"),
    _recipe_text("config_not_utf8", b"sample_rate: 22050\ngenerator: {name: hifi\xff}\n", "UTF-8"),
    _recipe_text("config_yaml_syntax", "sample_rate: 22050\ngenerator: {name: hifigan\n",
                 "line 3"),
    _recipe_text("config_yaml_bad_indent", "training:\n  batch_size: 2\n bad: 1\n", "line"),
    _recipe_text("config_top_level_list", "- 1\n- 2\n", "mapping"),
    _recipe_text("config_python_tag", "!!python/object/apply:os.system ['true']\n", "YAML"),
    _recipe_text("config_alias_bomb", _BOMB, "aliases"),
    _recipe_text("config_deep_nesting", "a: " + "[" * 1100 + "]" * 1100 + "\n", "nested"),
    Case("config_huge_file", _huge_recipe),
    _recipe_text("config_missing_generator", "discriminator: {name: combined}\n", "generator"),
]


# ------------------------------------------------------------------------------ keys and values


VALUE_CASES = [
    _changed("config_unknown_key", _set("training.bach_size", 2), "training.bach_size",
             "batch_size"),
    _changed("config_unknown_section", _set("trainig.batch_size", 2), "trainig"),
    _changed("config_wrong_type_int", _set("training.batch_size", "two"), "training.batch_size"),
    _changed("config_wrong_type_float", _set("optim.generator.lr", "fast"),
             "optim.generator.lr"),
    _changed("config_wrong_type_bool", _set("training.compile", "maybe"), "training.compile"),
    _changed("config_wrong_type_list", _set("optim.generator.betas", 0.8),
             "optim.generator.betas"),
    _changed("config_wrong_literal", _set("training.precision", "fp64"), "training.precision"),
    _changed("config_section_not_mapping", _set("training", 5), "training"),
    _changed("config_zero_batch", _set("training.batch_size", 0), "training.batch_size"),
    _changed("config_negative_segment", _set("training.segment_length", -8192),
             "training.segment_length"),
    _changed("config_zero_sample_rate", _set("sample_rate", 0), "sample_rate"),
    _changed("config_huge_sample_rate", _set("sample_rate", 10**9), "sample_rate"),
    _changed("config_negative_lr", _set("optim.generator.lr", -1e-3), "optim.generator.lr"),
    _changed("config_nan_lr", _set("optim.discriminator.lr", float("nan")),
             "optim.discriminator.lr"),
    _changed("config_inf_weight", _set("loss.weights.mel", float("inf")), "loss.weights.mel"),
    _changed("config_negative_weight", _set("loss.weights.feature_matching", -2.0),
             "loss.weights.feature_matching"),
    _changed("config_nan_max_steps", _set("training.max_steps", float("nan")),
             "training.max_steps"),
    _changed("config_fractional_int", _set("training.batch_size", 2.5), "training.batch_size"),
    _changed("config_betas_out_of_range", _set("optim.generator.betas", [0.8, 1.5]),
             "optim.generator.betas[1]"),
    _changed("config_gamma_zero", _set("scheduler.gamma", 0.0), "scheduler.gamma"),
    _changed("config_negative_seed", _set("training.seed", -1), "training.seed"),
    _changed("config_negative_workers", _set("training.num_workers", -1),
             "training.num_workers"),
    _changed("config_milestones_decreasing",
             _set("scheduler", {"name": "multistep", "milestones": [100, 50]}),
             "scheduler.milestones"),
    _changed("config_stft_zero_fft", _set("loss.stft", {"fft_sizes": [0], "hop_sizes": [1],
                                                        "win_lengths": [1]}),
             "loss.stft.fft_sizes[0]"),
    _changed("config_ema_out_of_range", _set("training.ema_decay", 1.5), "training.ema_decay"),
    _changed("config_accumulation_split", _set("training.grad_accumulation", 3),
             "training.grad_accumulation"),
    _changed("config_f_max_above_nyquist", _set("features.f_max", 20000), "f_max"),
    _changed("config_n_mels_zero", _set("features.n_mels", 0), "features.n_mels"),
    _changed("config_segment_not_hop_multiple", _set("training.segment_length", 8000),
             "training.segment_length"),
    _changed("config_hop_mismatch", _set("features.hop_length", 512), "features.hop_length"),
    _changed("config_unknown_generator", _set("generator.name", "hifi"), "generator.name"),
    _changed("config_unknown_discriminator", _set("discriminator.name", "multi"),
             "discriminator.name"),
    _changed("config_generator_param_unknown", _set("generator.params.bogus", 1),
             "generator.params", "bogus"),
    _changed("config_generator_preset_unknown", _set("generator.params.preset", "v9"),
             "generator.params", "v9"),
    _changed("config_discriminator_param_unknown", _set("discriminator.params.bogus", 1),
             "discriminator.params", "bogus"),
    _changed("config_unknown_loss_term", _set("loss.weights.mell", 1.0), "loss.weights.mell"),
    _changed("config_unknown_adversarial", _set("loss.adversarial", "wgan"), "loss.adversarial"),
    _changed("config_latent_with_mel_loss", lambda c: c.update({
        "sample_rate": 16000, "generator": {"name": "wavegan", "params": {"model_size": 8}},
        "discriminator": {"name": "wavegan", "params": {"model_size": 8}},
        "training": {**c["training"], "segment_length": 16384}}), "loss.weights.mel"),
    _changed("config_missing_discriminator", _drop("discriminator"), "discriminator"),
    _changed("config_labels_repeated", _set("data.labels", ["a", "a"]), "data.labels"),
]


# ------------------------------------------------------------------------------ --set


SET_CASES = [
    _override("set_unknown_key", "training.bach_size=3", "--set training.bach_size=3",
              "training.batch_size"),
    _override("set_unknown_section", "trainig.batch_size=3", "--set trainig.batch_size=3"),
    _override("set_bad_int", "training.batch_size=eight", "training.batch_size",
              "--set training.batch_size=eight"),
    _override("set_nan", "optim.generator.lr=.nan", "optim.generator.lr", "--set"),
    _override("set_negative", "training.max_steps=-5", "training.max_steps", "--set"),
    _override("set_no_equals", "training.batch_size", "--set training.batch_size", "key.sub"),
    _override("set_empty_key", "=3", "--set =3", "empty"),
    _override("set_bad_yaml", "optim.generator.betas=[0.8", "--set optim.generator.betas",
              "YAML"),
    _override("set_below_scalar", "training.batch_size.x=1", "--set training.batch_size.x=1",
              "not a mapping"),
    _override("set_section_scalar", "training=3", "training", "--set training=3"),
    _override("set_bad_choice", "training.precision=fp64", "training.precision", "fp64"),
]


# ------------------------------------------------------------------------------ manifests


def _bad_manifest(name: str, key: str, writer: Callable[[Path], Path], *names: str) -> Case:
    """``key`` (data.train / data.valid) points at what ``writer(tmp)`` makes."""
    def build(tmp: Path) -> Scenario:
        bad = writer(tmp)
        kwargs = {"train" if key == "data.train" else "valid": bad}
        return _train(tmp, _recipe(tmp, **kwargs), (key, bad.name, *names))
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
        good = _wav(lists / "good.wav")
        bad = make(lists)
        rows = [(good.name, int(0.5 * SR), SR), (bad.name, samples, rate)] * 2
        return _manifest(lists / name, rows[1::2] * 2 if only_bad else rows)
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
    path = _wav(folder / "cut.wav", seconds=1.0)
    path.write_bytes(path.read_bytes()[:2000])
    return path


def _nan_wav(folder: Path) -> Path:
    path = folder / "nan.wav"
    wave = _tone(int(0.5 * SR))
    wave[100:200] = np.nan
    sf.write(path, wave, SR, subtype="FLOAT")
    return path


def _sixteen_k(folder: Path) -> Path:
    return _wav(folder / "16k.wav", sr=16000)


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
    return _train(tmp, _recipe(tmp, train=manifest),
                  ("data.train", "train.tsv", "audiogan prepare ljspeech"))


def _train_unset(tmp: Path) -> Scenario:
    return _train(tmp, _recipe(tmp, _set("data.train", None)), ("data.train",))


def _too_few_clips(tmp: Path) -> Scenario:
    return _train(tmp, _recipe(tmp, _set("training.batch_size", 8)),
                  ("training.batch_size", "data.train"))


def _mels(tmp: Path, shape: tuple[int, ...] | None, rate: int = SR,
          mel_for: Callable[[int], str] | None = None) -> Path:
    lists = tmp / "pairs"
    rows = []
    for i in range(4):
        wav = _wav(lists / f"p{i}.wav", sr=rate)
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
        return _train(tmp, _recipe(tmp, train=_mels(tmp, **kwargs)), ("data.train", *names))
    return Case(name, build)


def _corrupt_mel(tmp: Path) -> Scenario:
    manifest = _mels(tmp, (80, 43))
    (manifest.parent / "p0.npy").write_bytes(b"\x93NUMPY garbage")
    return _train(tmp, _recipe(tmp, train=manifest), ("data.train", "p0.npy"))


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
        return _train(tmp, _recipe(tmp, _set("training.init_from", str(source))),
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
    recipe = _recipe(tmp, train=speech / "train.tsv", valid=speech / "valid.tsv")
    scenario = _train(tmp, recipe, ("data.train", "speech", "my_notes.txt"))
    inner = scenario.intact

    def intact() -> None:
        assert inner is not None
        inner()
        assert (speech / "my_notes.txt").read_text() == "mine\n", "user file lost"
        assert sorted(p.name for p in speech.iterdir()) == ["my_notes.txt"]

    scenario.intact = intact
    return scenario


def _tiny_build_disk_full(tmp: Path) -> Scenario:
    from audiogan import faults

    faults._hits.clear()  # the count is per process; this case must see the first hit
    data = tmp / "runs" / "tiny" / "data"
    recipe = _recipe(tmp, train=data / "speech" / "train.tsv", valid=data / "speech" / "valid.tsv")
    scenario = _train(tmp, recipe, ("data.train", "No space left"),
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
        _wav(clips / f"{label}_{i}.wav", seconds=1.0, sr=16000)
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
    return _train(tmp, recipe, ("data.labels", "two_2.wav"))


OTHER_CASES = [
    Case("train_known_corpus_missing", _known_corpus_missing),
    Case("train_not_set", _train_unset),
    Case("train_fewer_clips_than_batch", _too_few_clips),
    Case("tiny_corpus_dir_holds_user_files", _foreign_tiny_dir),
    Case("tiny_corpus_build_disk_full", _tiny_build_disk_full),
    Case("labels_miss_a_class", _labels_short),
]


CASES: list[Case] = [
    *RECIPE_CASES, *VALUE_CASES, *SET_CASES, *MANIFEST_CASES, *PAIR_CASES, *INIT_CASES,
    *OTHER_CASES,
]
