"""Trainer: exact resume, atomic checkpoints under injected crashes, NaN guard, DDP parity."""

from __future__ import annotations

import copy
import os
import socket
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import torch.multiprocessing as mp

from audiogan.config import Config, config_from_dict
from audiogan.errors import AudioganError
from audiogan.training import checkpoint as ckpt
from audiogan.training.trainer import Trainer, TrainerHooks, TrainingError

SR = 22050


def _write_corpus(root: Path, n: int = 8, seconds: float = 0.6, sr: int = SR,
                  labels: bool = False) -> Path:
    """Chirps with harmonics at varied pitch; returns the manifest path."""
    root.mkdir(parents=True, exist_ok=True)
    header = "path\tnum_samples\tsample_rate" + ("\tlabel" if labels else "")
    rows = [header]
    rng = np.random.default_rng(0)
    for i in range(n):
        t = np.arange(int(sr * seconds)) / sr
        f0 = 110 + 15 * i + 40 * t
        phase = 2 * np.pi * np.cumsum(f0) / sr
        x = sum(0.25 / k * np.sin(k * phase) for k in range(1, 6))
        x = (x + 0.01 * rng.standard_normal(t.size)).astype(np.float32)
        sf.write(root / f"clip{i}.wav", x, sr)
        rows.append(f"clip{i}.wav\t{t.size}\t{sr}" + (f"\t{'ab'[i % 2]}" if labels else ""))
    (root / "train.tsv").write_text("\n".join(rows) + "\n")
    (root / "valid.tsv").write_text("\n".join(rows[:3]) + "\n")
    return root / "train.tsv"


def vocoder_config(data: Path, **training) -> Config:
    return config_from_dict({
        "sample_rate": SR,
        "generator": {"name": "hifigan", "params": {
            "preset": "v1", "upsample_initial_channel": 16, "resblock_kernel_sizes": [3],
            "resblock_dilation_sizes": [[1, 3]]}},
        "discriminator": {"name": "combined", "params": {
            "periods": [2, 3], "scales": 1,
            "mpd_params": {"channels": [4, 8, 16, 16, 16]},
            "msd_params": {"channels": [16, 16, 32, 32, 32, 32, 32]}}},
        "training": {"batch_size": 4, "segment_length": 2048, "max_steps": 4, "num_workers": 0,
                     "log_every": 1, "valid_every": 1000, "checkpoint_every": 2,
                     "valid_clips": 1, "num_samples": 1, "seed": 7, **training},
        "data": {"train": str(data / "train.tsv"), "valid": str(data / "valid.tsv")},
    })


def wavegan_config(data: Path, **training) -> Config:
    return config_from_dict({
        "sample_rate": 16000,
        "features": {"profile": "hifigan", "f_max": None},
        "generator": {"name": "wavegan", "params": {"model_size": 4, "num_classes": 2}},
        "discriminator": {"name": "wavegan", "params": {"model_size": 4, "num_classes": 2}},
        "loss": {"adversarial": "wgan_gp", "weights": {"adversarial": 1.0}},
        "optim": {"generator": {"name": "adam", "lr": 1e-4, "betas": [0.5, 0.9],
                                "weight_decay": 0},
                  "discriminator": {"name": "adam", "lr": 1e-4, "betas": [0.5, 0.9],
                                    "weight_decay": 0}},
        "scheduler": {"name": "none"},
        "training": {"batch_size": 4, "segment_length": 16384, "max_steps": 3, "n_critic": 2,
                     "num_workers": 0, "log_every": 1, "valid_every": 1000,
                     "checkpoint_every": 1000, "num_samples": 2, "seed": 3, **training},
        "data": {"train": str(data / "train.tsv")},
    })


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    _write_corpus(root)
    return root


@pytest.fixture(scope="module")
def labelled_corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("digits")
    _write_corpus(root, n=8, seconds=1.0, sr=16000, labels=True)
    return root


def _generator_params(run: Path) -> dict[str, torch.Tensor]:
    path, state = ckpt.latest_valid_checkpoint(run)
    return state["generator"]


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


@pytest.mark.parametrize("num_workers", [0, 2])
def test_resume_is_exact(corpus: Path, tmp_path: Path, num_workers: int) -> None:
    # 6 steps in one go vs 3 + resume + 3: identical generator weights, bit for bit.
    # 8 clips / batch 4: two steps per epoch, so the resume point (3) is mid-epoch.
    config = vocoder_config(corpus, max_steps=6, checkpoint_every=3, num_workers=num_workers,
                            discriminator_start_step=1, ema_decay=0.9)
    Trainer(config, tmp_path / "straight", device="cpu", console=False).fit()
    Trainer(config, tmp_path / "split", device="cpu", console=False).fit(max_steps=3)
    Trainer(config, tmp_path / "split", device="cpu", resume=True, console=False).fit()
    a = ckpt.load_checkpoint(ckpt.step_path(tmp_path / "straight", 6))
    b = ckpt.load_checkpoint(ckpt.step_path(tmp_path / "split", 6))
    for part in ("generator", "discriminator", "generator_ema"):
        for key, value in a[part].items():
            assert torch.equal(value, b[part][key]), f"{part}.{key} differs after resume"
    assert a["optim_g"]["state"][0]["step"] == b["optim_g"]["state"][0]["step"]


def test_full_disk_during_a_checkpoint_keeps_the_previous_one(corpus: Path, tmp_path: Path,
                                                               monkeypatch) -> None:
    from audiogan import faults

    config = vocoder_config(corpus, max_steps=4, checkpoint_every=2, discriminator_start_step=0)
    run = tmp_path / "run"
    faults._hits.clear()
    monkeypatch.setenv(faults.ENV_VAR, "checkpoint.write@2=enospc")  # step 4's write
    with pytest.raises(ckpt.CheckpointError, match=r"step_00000004\.pt: No space left on device"):
        Trainer(config, run, device="cpu", console=False).fit()
    monkeypatch.delenv(faults.ENV_VAR)
    assert [s for s, _ in ckpt.list_step_checkpoints(run)] == [2]
    assert not [p for p in (run / "checkpoints").iterdir() if p.name.endswith(".tmp")]
    ckpt.load_checkpoint(ckpt.step_path(run, 2))
    trainer = Trainer(config, run, device="cpu", resume=True, console=False)
    assert trainer.step == 2
    assert trainer.fit().step == 4


def test_truncated_latest_checkpoint_is_skipped(corpus: Path, tmp_path: Path, caplog) -> None:
    config = vocoder_config(corpus, max_steps=4, checkpoint_every=2, discriminator_start_step=9)
    run = tmp_path / "run"
    Trainer(config, run, device="cpu", console=False).fit()
    latest = ckpt.step_path(run, 4)
    latest.write_bytes(latest.read_bytes()[:1000])
    trainer = Trainer(config, run, device="cpu", resume=True, console=False)
    assert trainer.step == 2
    assert "step_00000004.pt" in caplog.text


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


# ----------------------------------------------------------------------------- DDP


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _capture(store: dict):
    def hook(part: str, step: int, model: torch.nn.Module) -> None:
        if step == 0:
            store[part] = {n: p.grad.detach().clone() for n, p in model.named_parameters()
                           if p.grad is not None}
    return hook


def _ddp_worker(rank: int, world: int, port: int, kind: str, data: str, out: str) -> None:
    os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
                       "RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank)})
    torch.set_num_threads(1)
    make = vocoder_config if kind == "hifigan" else wavegan_config
    config = make(Path(data), max_steps=3, checkpoint_every=1000)
    grads: dict = {}
    trainer = Trainer(config, Path(out) / "ddp", device="cpu", console=False,
                      hooks=TrainerHooks(on_gradients=_capture(grads)))
    trainer.fit()
    if rank == 0:
        torch.save({"grads": grads,
                    "params": {k: v.detach().clone() for k, v in
                               trainer.generator.state_dict().items()}},
                   Path(out) / "ddp_rank0.pt")
    from audiogan.training.distributed import shutdown_distributed

    shutdown_distributed()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["hifigan", "wavegan"])
def test_ddp_matches_single_process(kind: str, corpus: Path, labelled_corpus: Path,
                                    tmp_path: Path) -> None:
    data = corpus if kind == "hifigan" else labelled_corpus
    make = vocoder_config if kind == "hifigan" else wavegan_config
    config = make(data, max_steps=3, checkpoint_every=1000)
    grads: dict = {}
    single = Trainer(config, tmp_path / "single", device="cpu", console=False,
                     hooks=TrainerHooks(on_gradients=_capture(grads)))
    single.fit()
    mp.start_processes(_ddp_worker, args=(2, _free_port(), kind, str(data), str(tmp_path)),
                       nprocs=2, join=True, start_method="spawn")
    ddp = torch.load(tmp_path / "ddp_rank0.pt", weights_only=True)
    for part in ("discriminator", "generator"):
        assert len(grads[part]) > 4, f"no {part} gradients captured"
        assert grads[part].keys() == ddp["grads"][part].keys()
        for name, grad in grads[part].items():
            torch.testing.assert_close(ddp["grads"][part][name], grad, rtol=1e-4, atol=1e-6,
                                       msg=f"{part}.{name} gradient differs")
    for name, value in single.generator.state_dict().items():
        torch.testing.assert_close(ddp["params"][name], value, rtol=1e-4, atol=1e-5,
                                   msg=f"generator.{name} differs after 3 steps")


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


def test_init_from_loads_weights_with_fresh_step(corpus: Path, tmp_path: Path) -> None:
    config = vocoder_config(corpus, max_steps=2, checkpoint_every=1000)
    Trainer(config, tmp_path / "base", device="cpu", console=False).fit()
    base = ckpt.load_checkpoint(ckpt.step_path(tmp_path / "base", 2))
    tuned_config = vocoder_config(corpus, max_steps=1, checkpoint_every=1000,
                                  init_from=str(tmp_path / "base"))
    trainer = Trainer(tuned_config, tmp_path / "tuned", device="cpu", console=False)
    assert trainer.step == 0
    for key, value in base["generator"].items():
        assert torch.equal(trainer.generator.state_dict()[key], value)
    for key, value in base["discriminator"].items():
        assert torch.equal(trainer.discriminator.state_dict()[key], value)
    assert not trainer.opt_g.state  # fresh optimiser


def test_init_from_an_exported_model_loads_every_weight(corpus: Path, tmp_path: Path) -> None:
    # Exported weights are folded (plain ``weight``); the training generator keeps weight norm,
    # so every layer must be converted, not skipped.
    from audiogan.export import export_model
    from audiogan.models.layers import has_weight_norm, remove_weight_norm

    config = vocoder_config(corpus, max_steps=2, checkpoint_every=1000)
    base = Trainer(config, tmp_path / "base", device="cpu", console=False)
    base.fit()
    export_model(tmp_path / "base", tmp_path / "model")
    # Another seed: a layer left unloaded would keep different random weights.
    tuned_config = vocoder_config(corpus, max_steps=1, checkpoint_every=1000, seed=11,
                                  init_from=str(tmp_path / "model"))
    trainer = Trainer(tuned_config, tmp_path / "tuned", device="cpu", console=False)
    assert has_weight_norm(trainer.generator)  # still trainable as configured
    mel = torch.randn(1, 80, 12)
    with torch.no_grad():
        expected = remove_weight_norm(copy.deepcopy(base.generator)).eval()(mel)
        got = trainer.generator.eval()(mel)
    assert torch.allclose(got, expected, atol=1e-5)


def test_load_folded_state_dict_is_strict() -> None:
    from audiogan.models.layers import apply_weight_norm, load_folded_state_dict

    model = apply_weight_norm(torch.nn.Sequential(torch.nn.Conv1d(2, 3, 3), torch.nn.Linear(4, 2)))
    plain = {"0.weight": torch.randn(3, 2, 3), "0.bias": torch.zeros(3),
             "1.weight": torch.randn(2, 4), "1.bias": torch.zeros(2)}
    load_folded_state_dict(model, plain)
    assert torch.allclose(model[0].weight, plain["0.weight"], atol=1e-6)
    assert torch.allclose(model[1].weight, plain["1.weight"], atol=1e-6)
    with pytest.raises(KeyError, match="1.weight"):
        load_folded_state_dict(model, {k: v for k, v in plain.items() if k != "1.weight"})
    with pytest.raises(KeyError, match="unexpected.*extra"):
        load_folded_state_dict(model, {**plain, "extra": torch.zeros(1)})


def test_an_exception_mid_step_writes_no_checkpoint(corpus: Path, tmp_path: Path) -> None:
    # Defect: a KeyboardInterrupt mid-step wrote step_3.pt from a half-advanced state (sampler,
    # epoch, scheduler and D one step on). Signals now stop between steps (test_stopping.py);
    # anything that still escapes mid-step leaves only the checkpoints of finished steps.
    config = vocoder_config(corpus, max_steps=6, checkpoint_every=2)

    def interrupt(step: int, batch: dict) -> dict:
        if step == 3:
            raise KeyboardInterrupt
        return batch

    with pytest.raises(KeyboardInterrupt):
        Trainer(config, tmp_path / "run", device="cpu", console=False,
                hooks=TrainerHooks(corrupt_batch=interrupt)).fit()
    assert [s for s, _ in ckpt.list_step_checkpoints(tmp_path / "run")] == [2]
    assert Trainer(config, tmp_path / "run", device="cpu", resume=True,
                   console=False).fit().step == 6


def _melgan(config: Config) -> Config:
    data = config.to_dict()
    data["generator"] = {"name": "melgan", "params": {"channels": 32}}
    return config_from_dict(data)


def test_resume_or_init_from_another_architecture_is_one_line(corpus: Path,
                                                              tmp_path: Path) -> None:
    config = vocoder_config(corpus, max_steps=1, checkpoint_every=1)
    Trainer(config, tmp_path / "hifigan", device="cpu", console=False).fit()
    path = ckpt.step_path(tmp_path / "hifigan", 1)
    with pytest.raises(ckpt.CheckpointError) as info:
        Trainer(_melgan(config), tmp_path / "hifigan", device="cpu", console=False, resume=True)
    message = str(info.value)
    assert message.startswith(f"{path}: generator is melgan, checkpoint holds hifigan")
    assert "\n" not in message
    init = config_from_dict({**_melgan(config).to_dict(), "training": {
        **config.to_dict()["training"], "init_from": str(path)}})
    with pytest.raises(AudioganError) as info:  # checked up front, or when the weights load
        Trainer(init, tmp_path / "tuned", device="cpu", console=False)
    message = str(info.value)
    assert str(path) in message and "hifigan" in message and "melgan" in message, message
    # same architecture, other sizes: a summary of the keys that do not fit
    data = config.to_dict()
    data["generator"]["params"]["upsample_initial_channel"] = 32
    with pytest.raises(ckpt.CheckpointError, match=r"generator \(hifigan\) does not match its "
                       r"weights: .*of another shape"):
        Trainer(config_from_dict(data), tmp_path / "hifigan", device="cpu", console=False,
                resume=True)


def test_resume_from_a_checkpoint_without_optimiser_state_names_the_key(
        corpus: Path, tmp_path: Path) -> None:
    config = vocoder_config(corpus, max_steps=1, checkpoint_every=1)
    run = tmp_path / "run"
    Trainer(config, run, device="cpu", console=False).fit()
    path = ckpt.step_path(run, 1)
    state = ckpt.load_checkpoint(path)
    del state["optim_g"]
    ckpt.save_checkpoint(state, path)
    with pytest.raises(ckpt.CheckpointError, match=rf"{path}: no 'optim_g' in this checkpoint"):
        Trainer(config, run, device="cpu", console=False, resume=True)


def test_fine_tuning_on_mel_wave_pairs(corpus: Path, tmp_path: Path) -> None:
    from audiogan.audio import load_audio
    from audiogan.features import MelSpectrogram

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
    with pytest.raises(Exception, match="clip0"):
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


@pytest.mark.parametrize("torch_has_total_norm", [True, False])
def test_clip_gradients_measures_without_touching_and_clips_when_asked(
    torch_has_total_norm: bool, monkeypatch
) -> None:
    from audiogan.training.components import clip_gradients

    if not torch_has_total_norm:  # torch < 2.6 has no get_total_norm: the fallback
        monkeypatch.delattr(torch.nn.utils, "get_total_norm", raising=False)

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
    model.requires_grad_(True)
    model[1].bias.requires_grad_(False)  # a parameter without a gradient is ignored
    (model(torch.randn(5, 4)) ** 2).sum().backward()
    before = [p.grad.clone() for p in model.parameters() if p.grad is not None]
    expected = torch.cat([g.flatten() for g in before]).norm().item()

    norm = clip_gradients(model, None)
    assert norm.item() == pytest.approx(expected, rel=1e-6)
    after = [p.grad for p in model.parameters() if p.grad is not None]
    assert all(torch.equal(a, b) for a, b in zip(before, after))  # measured only

    limit = expected / 4
    norm = clip_gradients(model, limit)
    assert norm.item() == pytest.approx(expected, rel=1e-6)  # the norm before clipping
    clipped = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
    assert clipped.norm().item() == pytest.approx(limit, rel=1e-4)
    assert clip_gradients(torch.nn.Linear(2, 2), None).item() == 0.0  # no gradients yet


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


@pytest.mark.parametrize("saved_kernel", [{"foreach": False}, {"fused": True}])
def test_resumed_optimizer_keeps_this_machines_kernel(saved_kernel: dict) -> None:
    # load_state_dict alone would restore the saved fused/foreach flags (e.g. from a GPU run).
    from audiogan.config import OptimizerConfig
    from audiogan.training.components import build_optimizer, load_optimizer_state

    def stepped(optimizer: torch.optim.Optimizer, params: list[torch.Tensor]) -> None:
        for p in params:
            p.grad = torch.ones_like(p)
        optimizer.step()

    torch.manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(3, 2)), torch.nn.Parameter(torch.randn(2))]
    old = torch.optim.AdamW(params, lr=1e-3, **saved_kernel)
    stepped(old, params)
    saved = old.state_dict()
    cfg = OptimizerConfig(name="adamw", lr=1e-3)
    new = build_optimizer(params, cfg, device=torch.device("cpu"))
    load_optimizer_state(new, saved)
    assert new.param_groups[0]["foreach"] is True and not new.param_groups[0]["fused"]
    assert new.state[params[0]]["step"].item() == 1
    stepped(new, params)  # the restored state works with this kernel
    assert new.state[params[0]]["step"].item() == 2
    assert saved["param_groups"][0].get("fused") == saved_kernel.get("fused")  # input untouched
