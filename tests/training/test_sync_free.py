"""No host read per training step (issue 17): the step's stats stay on the device and the
non-finite guard decides there (a fused optimiser's found_inf), so a step that is not a log,
checkpoint or validation step reads nothing back; a NaN still skips the update (parameters,
optimiser moments and step count, EMA), counts toward training.max_nonfinite and is logged.

On CPU there is no device to wait for, so the reads are counted by patching the Tensor methods
that return host values (item, tolist, numpy, bool/float/int conversion); the dataset indices
(host data by design: the per-sample keys are made from them) are not counted. On CUDA the
same is checked with torch.cuda.set_sync_debug_mode (marked gpu)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from training_helpers import vocoder_config

from audiogan.training.guard import guarded_step
from audiogan.training.scalars import PendingStats, read_stats
from audiogan.training.trainer import Trainer, TrainerHooks, TrainingError

READS = ("item", "tolist", "numpy", "__bool__", "__float__", "__int__", "__index__")


DATALOADER = ("torch/utils/data/",)
"""The DataLoader draws each epoch's worker seed from a host tensor (``.item()``): host data."""


@contextmanager
def counting_reads(host: list[torch.Tensor], callers: tuple[str, ...] = DATALOADER
                   ) -> Iterator[list[str]]:
    """Count the host reads of tensors other than those sharing storage with ``host``, made
    by code outside the files matching ``callers`` (host-only code)."""
    seen: list[str] = []
    saved = {name: getattr(torch.Tensor, name) for name in READS}

    def wrap(name: str):
        original = saved[name]

        def counted(self, *args, **kwargs):
            ptrs = {t.untyped_storage().data_ptr() for t in host}
            caller = sys._getframe(1).f_code.co_filename.replace("\\", "/")
            if (self.untyped_storage().data_ptr() not in ptrs
                    and not any(part in caller for part in callers)):
                seen.append(name)
            return original(self, *args, **kwargs)
        return counted

    try:
        for name in READS:
            setattr(torch.Tensor, name, wrap(name))
        yield seen
    finally:
        for name, original in saved.items():
            setattr(torch.Tensor, name, original)


DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)]


def _trainer(corpus: Path, run: Path, device: str = "cpu", **training) -> Trainer:
    config = vocoder_config(corpus, **{"max_steps": 6, "discriminator_start_step": 0,
                                       "checkpoint_every": 100, "ema_decay": 0.9, **training})
    return Trainer(config, run, device=device, console=False)


@pytest.mark.parametrize("device", DEVICES)
def test_a_step_reads_nothing_back_with_fused_optimisers(corpus: Path, tmp_path: Path,
                                                          device: str) -> None:
    trainer = _trainer(corpus, tmp_path / "run", device, fused_optimizer=True, n_critic=2)
    batches = trainer.batches()
    trainer.stepper.run([next(batches), next(batches)], 0)  # a first step: lazy state made
    group = [next(batches), next(batches)]
    with counting_reads([b["index"] for b in group]) as reads:
        stats = trainer.stepper.run(group, 1)
    assert reads == []
    assert all(isinstance(v, torch.Tensor) and v.dim() == 0 for v in stats.values())
    assert {"d_loss", "g_loss", "g_mel", "d_grad_norm", "g_grad_norm", "nonfinite"} <= set(stats)
    with counting_reads([]) as reads:
        values = read_stats(stats)
    assert reads == ["tolist"] and values["nonfinite"] == 0.0  # one read for all of them


def test_plain_optimisers_read_the_guard_once_per_update(corpus: Path, tmp_path: Path) -> None:
    trainer = _trainer(corpus, tmp_path / "run", fused_optimizer=False)
    batches = trainer.batches()
    trainer.stepper.run([next(batches)], 0)
    group = [next(batches)]
    # torch's multi-tensor Adam reads its step counters (host tensors) with .item(): not counted
    with counting_reads([group[0]["index"]], (*DATALOADER, "torch/optim/")) as reads:
        trainer.stepper.run(group, 1)
    assert reads == ["__bool__", "__bool__"]  # D's and G's skip decision, nothing else


def test_fit_reads_only_at_log_checkpoint_and_validation_steps(corpus: Path,
                                                                tmp_path: Path) -> None:
    trainer = _trainer(corpus, tmp_path / "run", fused_optimizer=True, log_every=3,
                       max_steps=7, valid_every=1000)
    per_step: dict[int, int] = {}
    hosts: list[torch.Tensor] = []
    run, corrupt = trainer.stepper.run, trainer.hooks
    counter: list[list[str]] = []

    def keep_index(step: int, batch: dict) -> dict:
        hosts.append(batch["index"])
        return batch

    def counted_run(group, step):
        per_step[step] = len(counter[0])  # reads so far, at the start of step `step` (0-based)
        return run(group, step)

    corrupt.corrupt_batch = keep_index
    trainer.stepper.run = counted_run  # type: ignore[method-assign]
    with counting_reads(hosts) as reads:
        counter.append(reads)
        result = trainer.fit()
    assert result.step == 7 and len(result.history) == 7
    reads_in = {step + 1: per_step.get(step + 1, len(reads)) - per_step[step]
                for step in range(6)}  # reads from the start of step k to the next one
    assert [reads_in[k] for k in (1, 2, 4, 5)] == [0, 0, 0, 0]  # not log steps
    assert reads_in[3] > 0 and reads_in[6] > 0  # log steps: the stats of 3 steps, once


def _poison(steps: set[int]):
    def poison(step: int, batch: dict) -> dict:
        if step in steps:
            batch = dict(batch)
            batch["wave"] = batch["wave"].clone()
            batch["wave"][0, 0, 10] = float("nan")
        return batch
    return poison


@pytest.mark.parametrize("device", DEVICES)
def test_a_nan_step_skips_on_the_device(corpus: Path, tmp_path: Path, device: str) -> None:
    trainer = _trainer(corpus, tmp_path / "run", device, fused_optimizer=True)
    trainer.hooks.corrupt_batch = _poison({1})
    batches = trainer.batches()
    trainer.stepper.run([next(batches)], 0)
    trainer.step = 1
    g = {k: v.detach().clone() for k, v in trainer.generator.named_parameters()}
    d = {k: v.detach().clone() for k, v in trainer.discriminator.named_parameters()}
    ema = {k: v.clone() for k, v in trainer.ema.shadow.items()}  # type: ignore[union-attr]
    moments = [s["exp_avg"].clone() for s in trainer.opt_g.state.values()]
    group = [next(batches)]
    with counting_reads([group[0]["index"]]) as reads:
        stats = trainer.stepper.run(group, 1)
    assert reads == []
    values = read_stats(stats)
    assert values["nonfinite"] == 1.0
    assert values["g_grad_norm"] != values["g_grad_norm"]  # NaN: the update was skipped
    for before, model in ((g, trainer.generator), (d, trainer.discriminator)):
        for key, value in model.named_parameters():  # (spectral norm's u moves at every call)
            assert torch.equal(value, before[key]), key
    for key, value in trainer.ema.shadow.items():  # type: ignore[union-attr]
        assert torch.equal(value, ema[key]), key
    assert all(torch.equal(s["exp_avg"], m) for s, m in zip(trainer.opt_g.state.values(),
                                                              moments, strict=True))
    assert all(float(s["step"]) == 1.0 for s in trainer.opt_g.state.values())


def test_nan_steps_are_counted_and_logged_at_the_read(corpus: Path, tmp_path: Path,
                                                       caplog) -> None:
    trainer = _trainer(corpus, tmp_path / "run", fused_optimizer=True, log_every=5,
                       max_steps=5)
    trainer.hooks.corrupt_batch = _poison({1, 2})
    with caplog.at_level(logging.WARNING, logger="audiogan.training.trainer"):
        result = trainer.fit()
    assert result.nonfinite_steps == 2
    assert [h["nonfinite"] for h in result.history] == [0, 1, 1, 0, 0]
    assert "step 2: non-finite loss" in caplog.text and "step 3: non-finite loss" in caplog.text
    assert all(torch.isfinite(p).all() for p in trainer.generator.parameters())


def test_too_many_in_a_row_stop_at_the_next_read(corpus: Path, tmp_path: Path) -> None:
    trainer = _trainer(corpus, tmp_path / "run", fused_optimizer=True, log_every=4,
                       max_steps=12, max_nonfinite=2)
    trainer.hooks = TrainerHooks(corrupt_batch=_poison({1, 2, 3, 4, 5, 6, 7, 8}))
    with pytest.raises(TrainingError, match="2 non-finite losses in a row at step 3"):
        trainer.fit()
    assert trainer.step == 4  # read at the log step 4; updates 2-4 were all skipped
    assert trainer.nonfinite_total == 2


def test_pending_stats_read_in_one_go() -> None:
    pending = PendingStats()
    pending.add(1, {"a": torch.tensor(1.0), "b": torch.tensor(2.0)})
    pending.add(2, {"a": torch.tensor(3.0)})
    with counting_reads([]) as reads:
        out = pending.read()
    assert reads == ["tolist"]
    assert out == [(1, {"a": 1.0, "b": 2.0}), (2, {"a": 3.0})] and pending.read() == []


def test_guarded_step_with_a_plain_optimiser_still_skips() -> None:
    p = torch.nn.Parameter(torch.ones(2))
    opt = torch.optim.AdamW([p], lr=0.1, foreach=True)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    p.grad = torch.ones(2)
    guarded_step(opt, scaler, torch.tensor(True))
    assert torch.equal(p.detach(), torch.ones(2)) and p.grad is None and not opt.state
    p.grad = torch.ones(2)
    guarded_step(opt, scaler, torch.tensor(False))
    assert not torch.equal(p.detach(), torch.ones(2))


@pytest.mark.gpu
def test_no_cuda_sync_in_a_step(corpus: Path, tmp_path: Path) -> None:
    config = vocoder_config(corpus, max_steps=6, discriminator_start_step=0,
                            checkpoint_every=100, fused_optimizer=None)
    trainer = Trainer(config, tmp_path / "run", device="cuda", console=False)
    batches = trainer.batches()
    trainer.stepper.run([next(batches)], 0)
    group = [next(batches)]
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        trainer.stepper.run(group, 1)
    finally:
        torch.cuda.set_sync_debug_mode("default")


def test_the_logged_rate_counts_the_steps_since_the_last_timing(
        corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # steps_per_s divided by log_every whatever the steps since the clock was last read: a run
    # resumed at step 3 logs step 5 after 2 steps, and the step after compilation resets it too
    import json
    import types

    from audiogan.training import trainer as trainer_module

    run = tmp_path / "run"
    _trainer(corpus, run, max_steps=3, log_every=5, checkpoint_every=3).fit()
    resumed = Trainer(vocoder_config(corpus, max_steps=5, log_every=5, checkpoint_every=100,
                                     discriminator_start_step=0, ema_decay=0.9),
                      run, device="cpu", resume=True, console=False)
    clock = types.SimpleNamespace(perf_counter=lambda: 10.0 * resumed.step)  # 10 s a step
    monkeypatch.setattr(trainer_module, "time", clock)
    resumed.fit()
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    logged = {line["step"]: line for line in lines if line["split"] == "train"}
    assert logged[5]["steps_per_s"] == pytest.approx(0.1)
