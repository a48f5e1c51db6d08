"""Trainer: the run directory, NaN guard, failing files, WGAN-GP, gradient accumulation, mixed
precision, mel/wave fine-tuning, feature stats, persistent loader workers (resume and
checkpoints: test_training_state.py; DDP: test_distributed.py)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from training_helpers import SR, _capture, _write_corpus, vocoder_config, wavegan_config

from audiogan.config import config_from_dict
from audiogan.core.errors import AudioganError
from audiogan.training import checkpoint as ckpt
from audiogan.training.trainer import Trainer, TrainerHooks, TrainingError


def test_training_writes_the_run_dir(corpus: Path, tmp_path: Path) -> None:
    config = vocoder_config(corpus, max_steps=8, discriminator_start_step=4, valid_every=8)
    result = Trainer(config, tmp_path / "run", device="cpu", console=False).fit()
    run = tmp_path / "run"
    assert result.step == 8
    assert (run / "config.yaml").is_file() and (run / "metrics.jsonl").is_file()
    assert (run / "checkpoints" / "best.pt").is_file()
    assert [s for s, _ in ckpt.list_step_checkpoints(run)] == [2, 4, 6, 8][-5:]
    assert list((run / "events").iterdir())
    assert list((run / "samples" / "step_00000008").glob("*.wav"))
    # generator-only warm-up for 4 steps, then the discriminator joins
    assert "d_loss" not in result.history[3] and "d_loss" in result.history[4]
    state = ckpt.load_checkpoint(run / "checkpoints" / "step_00000008.pt")
    assert state["step"] == 8 and state["format"] == "audiogan-checkpoint"
    assert state["config"]["training"]["max_steps"] == 8


def test_keep_last_prunes_old_checkpoints(corpus: Path, tmp_path: Path) -> None:
    config = vocoder_config(corpus, max_steps=6, checkpoint_every=1, keep_last=2,
                            discriminator_start_step=100)
    Trainer(config, tmp_path / "run", device="cpu", console=False).fit()
    assert [s for s, _ in ckpt.list_step_checkpoints(tmp_path / "run")] == [5, 6]


def test_nan_batches_are_skipped_and_counted(corpus: Path, tmp_path: Path) -> None:
    config = vocoder_config(corpus, max_steps=5, discriminator_start_step=0, checkpoint_every=100)

    def poison(step: int, batch: dict) -> dict:
        if step in (1, 2):
            batch = dict(batch)
            batch["wave"] = batch["wave"].clone()
            batch["wave"][0, 0, 10] = float("nan")
        return batch

    trainer = Trainer(config, tmp_path / "run", device="cpu", console=False,
                      hooks=TrainerHooks(corrupt_batch=poison))
    result = trainer.fit()
    assert result.nonfinite_steps == 2
    assert [h["nonfinite"] for h in result.history] == [0, 1, 1, 0, 0]
    assert all(torch.isfinite(p).all() for p in trainer.generator.parameters())


def test_too_many_nonfinite_in_a_row_stops_keeping_last_good(corpus: Path, tmp_path: Path):
    config = vocoder_config(corpus, max_steps=10, max_nonfinite=3, checkpoint_every=2,
                            discriminator_start_step=0)
    run = tmp_path / "run"

    def poison(step: int, batch: dict) -> dict:
        if step >= 2:
            batch = dict(batch)
            batch["wave"] = torch.full_like(batch["wave"], float("nan"))
        return batch

    with pytest.raises(TrainingError, match="3 non-finite losses in a row"):
        Trainer(config, run, device="cpu", console=False,
                hooks=TrainerHooks(corrupt_batch=poison)).fit()
    steps = [s for s, _ in ckpt.list_step_checkpoints(run)]
    assert steps == [2, 4]  # step 4 was written while updates were skipped: weights still good
    for _, path in ckpt.list_step_checkpoints(run):
        state = ckpt.load_checkpoint(path)
        assert all(torch.isfinite(v).all() for v in state["generator"].values())


def test_corrupt_file_in_manifest_is_skipped_and_reported(tmp_path: Path, caplog) -> None:
    data = tmp_path / "data"
    _write_corpus(data)
    (data / "clip3.wav").write_text("not audio at all")
    config = vocoder_config(data, max_steps=2, discriminator_start_step=9)
    trainer = Trainer(config, tmp_path / "run", device="cpu", console=False)
    trainer.fit()
    assert trainer.train_set.num_failed == 1
    assert "clip3.wav" in caplog.text


def test_wgan_gp_wavegan_trains_and_samples(labelled_corpus: Path, tmp_path: Path) -> None:
    config = wavegan_config(labelled_corpus, max_steps=2, valid_every=2)
    result = Trainer(config, tmp_path / "run", device="cpu", console=False).fit()
    assert result.step == 2
    assert all(np.isfinite(h["d_loss"]) for h in result.history)
    clips = sorted((tmp_path / "run" / "samples" / "step_00000002").glob("*.wav"))
    assert [c.name for c in clips] == ["a_00000.wav", "b_00001.wav"]
    audio, sr = sf.read(clips[0])
    assert sr == 16000 and audio.shape == (16384,) and np.isfinite(audio).all()
    assert np.abs(audio).max() > 0


# ----------------------------------------------------------------------------- options


def test_gradient_accumulation_matches_one_big_batch(corpus: Path, tmp_path: Path) -> None:
    grads: dict[int, dict] = {1: {}, 2: {}}
    for accum in (1, 2):
        config = vocoder_config(corpus, max_steps=1, grad_accumulation=accum,
                                checkpoint_every=1000)
        # Spectral norm (first MSD scale) advances its power iteration on every forward call,
        # and accumulation makes more calls; compare on the weight-normed MPD alone.
        d = config.discriminator
        config = config_from_dict({**config.to_dict(), "discriminator": {
            "name": d.name, "params": {**d.params, "scales": 0}}})
        Trainer(config, tmp_path / f"acc{accum}", device="cpu", console=False,
                hooks=TrainerHooks(on_gradients=_capture(grads[accum]))).fit()
    for part in ("discriminator", "generator"):
        assert grads[1][part]
        for name, grad in grads[1][part].items():
            torch.testing.assert_close(grads[2][part][name], grad, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_trains_finite_on_cpu(precision: str, corpus: Path,
                                              tmp_path: Path) -> None:
    config = vocoder_config(corpus, max_steps=2, precision=precision, checkpoint_every=1000)
    trainer = Trainer(config, tmp_path / "run", device="cpu", console=False)
    result = trainer.fit()
    assert result.step == 2
    assert all(np.isfinite(h["g_mel"]) for h in result.history)
    state = ckpt.load_checkpoint(ckpt.step_path(tmp_path / "run", 2))
    if precision == "fp16":  # the grad scaler is live and saved for resume
        assert state["scaler_g"]["scale"] > 0
    assert all(torch.isfinite(p).all() and p.dtype == torch.float32
               for p in trainer.generator.parameters())


def test_fine_tuning_on_mel_wave_pairs(corpus: Path, tmp_path: Path) -> None:
    from audiogan.audio.io import load_audio
    from audiogan.features.mel import MelSpectrogram

    data = tmp_path / "pairs"
    data.mkdir()
    features = MelSpectrogram("hifigan")
    rows = ["path\tnum_samples\tsample_rate\tmel_path"]
    for i in range(4):
        wave, _ = load_audio(corpus / f"clip{i}.wav")
        mel = features(wave)[0].numpy() + 0.05  # a "TTS" mel: close to, not equal to, truth
        np.save(data / f"clip{i}.npy", mel)
        rows.append(f"{corpus / f'clip{i}.wav'}\t{wave.shape[-1]}\t{SR}\tclip{i}.npy")
    (data / "train.tsv").write_text("\n".join(rows) + "\n")
    config = vocoder_config(corpus, max_steps=2, checkpoint_every=1000)
    config = config_from_dict({**config.to_dict(), "data": {
        "train": str(data / "train.tsv"), "valid": str(corpus / "valid.tsv")}})
    trainer = Trainer(config, tmp_path / "run", device="cpu", console=False)
    assert type(trainer.train_set).__name__ == "MelWavePairDataset"
    assert trainer.fit().step == 2

    bad = np.load(data / "clip0.npy")[:, :-5]
    np.save(data / "clip0.npy", bad)
    with pytest.raises(AudioganError, match="clip0"):
        Trainer(config, tmp_path / "run2", device="cpu", console=False)


def test_pwg_feature_stats_are_computed_and_saved(corpus: Path, tmp_path: Path) -> None:
    config = vocoder_config(corpus, max_steps=1, checkpoint_every=1000)
    data = config.to_dict()
    data["features"] = {"profile": "pwg", "stats": True}
    config = config_from_dict(data)
    trainer = Trainer(config, tmp_path / "run", device="cpu", console=False)
    assert trainer.features.has_stats
    wave = trainer.train_set[0]["wave"]
    normalised = trainer.features(wave)
    # z-normalised over the corpus: per-channel values centred near 0 with unit-ish spread
    assert normalised.mean().abs() < 1.0 and 0.2 < normalised.std() < 3.0
    trainer.fit()
    state = ckpt.load_checkpoint(ckpt.step_path(tmp_path / "run", 1))
    assert {"mean", "scale"} <= set(state["features"])


def test_loader_workers_persist_across_epochs(corpus: Path, tmp_path: Path, monkeypatch) -> None:
    # Restarting workers every epoch cost ~9% of an H100 step on a short synthetic epoch; the
    # trainer keeps one loader whose workers live for the whole run.
    from audiogan.data.datasets import WaveDataset

    original = WaveDataset.__getitem__

    def tagged(self, index):
        item = original(self, index)
        return {**item, "pid": torch.tensor(os.getpid())}

    monkeypatch.setattr(WaveDataset, "__getitem__", tagged)
    seen: dict[int, set[int]] = {}

    def record(step: int, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        seen[step] = {int(p) for p in batch.pop("pid")}
        return batch

    # 8 clips, batch 4: two steps per epoch, so 6 steps span three epochs.
    config = vocoder_config(corpus, max_steps=6, num_workers=1, discriminator_start_step=100,
                            checkpoint_every=1000)
    trainer = Trainer(config, tmp_path / "run", device="cpu", console=False,
                      hooks=TrainerHooks(corrupt_batch=record))
    trainer.fit()
    assert len(seen) == 6 and trainer.epoch >= 2
    pids = set().union(*seen.values())
    assert len(pids) == 1 and os.getpid() not in pids, seen
