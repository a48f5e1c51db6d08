"""A trainer's state in and out of checkpoints (audiogan.training.state): exact resume, atomic
checkpoints under injected crashes, init_from (checkpoints and exported models), mismatches as
one line."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from training_helpers import assert_resume_is_exact, vocoder_config

from audiogan.config import Config, config_from_dict
from audiogan.core.errors import AudioganError
from audiogan.training import checkpoint as ckpt
from audiogan.training.trainer import Trainer, TrainerHooks


def _generator_params(run: Path) -> dict[str, torch.Tensor]:
    path, state = ckpt.latest_valid_checkpoint(run)
    return state["generator"]


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


def test_resume_is_exact_for_a_noise_driven_generator(corpus: Path, tmp_path: Path) -> None:
    # Parallel WaveGAN draws noise per sample from keys of (seed, step, index): a resumed run
    # draws the same noise at the same step, so 4 steps straight equal 2 + resume + 2.
    from audiogan.recipes import load_tiny_recipe, path_override

    config = load_tiny_recipe("parallel_wavegan", [
        "generator.params.layers=4", "generator.params.residual_channels=8",
        "generator.params.gate_channels=16", "generator.params.skip_channels=8",
        "training.segment_length=4096", "training.batch_size=2", "training.max_steps=4",
        "training.checkpoint_every=2", "training.discriminator_start_step=1",
        "training.valid_every=1000", "training.log_every=1", "training.seed=7",
        path_override("data.train", corpus / "train.tsv"), "data.valid=null"])
    assert_resume_is_exact(config, tmp_path)


def test_full_disk_during_a_checkpoint_keeps_the_previous_one(corpus: Path, tmp_path: Path,
                                                               monkeypatch) -> None:
    from audiogan.core import faults

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
    from audiogan.inference.export import export_model
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
