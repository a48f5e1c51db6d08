"""The spoken-digit classifier: training on synthetic digits, safe checkpoints, scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from audiogan.data.manifest import ManifestEntry, read_manifest
from audiogan.data.synthetic import build_synthetic_clips
from audiogan.evaluation.classifier import (
    ClassifierConfig,
    ClassifierError,
    DigitClassifier,
    load_classifier,
    predict,
    prepare_clips,
    split_held_back,
    train_classifier,
)
from audiogan.evaluation.metrics import frechet_distance, inception_score

CLIP = 8000  # 0.5 s at 16 kHz keeps the test quick


@pytest.fixture(autouse=True)
def _one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("digits")
    return build_synthetic_clips(root, num_clips=120, clip_length=CLIP, sample_rate=16000)["train"]


@pytest.fixture(scope="module")
def trained(digits: Path, tmp_path_factory):
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("classifier") / "digits.safetensors"
    result = train_classifier(
        read_manifest(digits), out, held_back_fraction=0.25, clip_length=CLIP, n_mels=32,
        channels=(16, 32, 64), embedding_dim=32, epochs=14, batch_size=16, lr=1e-2,
        device="cpu",
    )
    torch.set_num_threads(previous)
    return result


def test_trains_to_high_accuracy_on_synthetic_digits(trained) -> None:
    assert trained.held_back_accuracy >= 0.9, trained.history
    assert trained.train_accuracy >= 0.9
    assert trained.num_train == 90 and trained.num_held_back == 30
    assert len(trained.classes) == 10 and trained.path.is_file()


def test_checkpoint_round_trip_and_scores(trained, digits: Path) -> None:
    model = load_classifier(trained.path)
    assert model.classes == trained.classes
    assert model.training_metrics["held_back_accuracy"] == pytest.approx(
        trained.held_back_accuracy
    )
    entries = read_manifest(digits)[:40]
    waves = [torch.from_numpy(np.asarray(_read(e), dtype=np.float32)) for e in entries]
    clips = prepare_clips(waves, 16000, model.config)
    first = predict(model, clips)
    second = predict(load_classifier(trained.path), clips)
    torch.testing.assert_close(first.probabilities, second.probabilities)
    assert first.embeddings.shape == (40, 32)
    labels = torch.tensor([trained.classes.index(e.label) for e in entries])
    assert (first.labels == labels).float().mean() >= 0.9
    # real, balanced, well classified clips score far above 1 (10 at full confidence)
    assert inception_score(first.probabilities) > 4.0
    same = frechet_distance(first.embeddings[::2], first.embeddings[1::2])
    one_class = predict(model, clips[[0] * 20] + 0.01 * torch.randn(20, CLIP)).embeddings
    assert frechet_distance(one_class, first.embeddings) > same


def _read(entry: ManifestEntry) -> np.ndarray:
    import soundfile as sf

    data, _ = sf.read(entry.path, dtype="float32")
    return data


def test_prepare_clips_resamples_crops_and_pads() -> None:
    config = ClassifierConfig(classes=("a", "b"), clip_length=CLIP)
    long = torch.ones(2 * 16384)  # 32 kHz, 1.024 s -> 16 kHz, cropped to 8000
    short = torch.ones(4000)
    out = prepare_clips([long, short], 32000, config)
    assert out.shape == (2, CLIP)
    assert out[0].abs().min() > 0.8  # a crop of a constant (resampling ripple at the ends)
    # 4000 samples at 32 kHz -> 2000 at 16 kHz, centred: samples 3000-5000
    assert out[1, :3000].abs().max() == 0 and out[1, 5000:].abs().max() == 0
    assert out[1, 3100:4900].abs().min() > 0.8


def test_loading_rejects_other_files(tmp_path: Path) -> None:
    other = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(other))
    with pytest.raises(ClassifierError, match="not an audiogan classifier"):
        load_classifier(other)
    pickle = tmp_path / "model.pt"
    torch.save({"w": torch.zeros(2)}, pickle)
    with pytest.raises(ClassifierError, match="not a readable safetensors"):
        load_classifier(pickle)
    with pytest.raises(ClassifierError, match="not found"):
        load_classifier(tmp_path / "missing.safetensors")


def test_unlabelled_clips_are_refused(tmp_path: Path) -> None:
    entries = [ManifestEntry(tmp_path / f"{i}.wav", 8000, 16000) for i in range(4)]
    with pytest.raises(ClassifierError, match="no label"):
        train_classifier(entries, tmp_path / "c.safetensors")


def test_held_back_split_is_stratified_and_seeded(tmp_path: Path) -> None:
    entries = [
        ManifestEntry(tmp_path / f"{i}.wav", 8000, 16000, label="ab"[i % 2] if i < 20 else "c")
        for i in range(21)
    ]
    train, held = split_held_back(entries, 0.2, seed=3)
    assert sorted(e.label for e in held) == ["a", "a", "b", "b"]  # lone "c" stays in training
    assert len(train) + len(held) == 21
    assert split_held_back(entries, 0.2, seed=3) == (train, held)


def test_config_validation() -> None:
    with pytest.raises(ClassifierError, match="at least 2 classes"):
        ClassifierConfig(classes=("a",))
    with pytest.raises(ClassifierError, match="unknown classifier config keys"):
        ClassifierConfig.from_dict({"classes": ["a", "b"], "bogus": 1})
    model = DigitClassifier(ClassifierConfig(classes=("a", "b", "c"), clip_length=CLIP,
                                             n_mels=32, channels=(4, 8)))
    assert model(torch.randn(3, 1, CLIP)).shape == (3, 3)


def test_a_full_disk_keeps_the_previous_classifier_and_names_the_file(
        tmp_path: Path, monkeypatch) -> None:
    import os

    from audiogan.core import faults
    from audiogan.evaluation.classifier import save_classifier

    model = DigitClassifier(ClassifierConfig(classes=("a", "b"), clip_length=CLIP, n_mels=32,
                                             channels=(4, 8)))
    old = os.umask(0o022)
    try:
        target = save_classifier(model, tmp_path / "c.safetensors")
    finally:
        os.umask(old)
    assert target.stat().st_mode & 0o777 == 0o644  # mkstemp made it 0600
    before = target.read_bytes()
    monkeypatch.setattr(faults, "_hits", type(faults._hits)())
    monkeypatch.setenv("AUDIOGAN_FAULT", "atomic.before_fsync=enospc")
    with pytest.raises(ClassifierError, match=r"c\.safetensors: No space left on device; free "):
        save_classifier(model, target, metrics={"changed": 1})
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["c.safetensors"]
    with pytest.raises(ClassifierError, match="held-back fraction"):
        split_held_back([], 1.5)
