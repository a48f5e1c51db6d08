"""SIGINT / SIGTERM stop training at a step boundary with an exact checkpoint; resume matches an
uninterrupted run bit for bit; a second signal aborts without a half-written checkpoint."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import torch
from training_helpers import vocoder_config

from audiogan.core import faults
from audiogan.training import checkpoint as ckpt
from audiogan.training.stopping import StopNow, StopSignals, TrainingInterrupted
from audiogan.training.trainer import Trainer


@pytest.fixture
def fault(monkeypatch):
    """Set ``AUDIOGAN_FAULT`` for this test, with fresh hit counts."""
    faults._hits.clear()

    def set_plan(plan: str) -> None:
        monkeypatch.setenv(faults.ENV_VAR, plan)

    yield set_plan
    faults._hits.clear()


def _config(corpus: Path, **training):
    # 8 clips / batch 4: two steps per epoch; epoch-wise scheduler; EMA; D from step 1.
    base = {"max_steps": 6, "checkpoint_every": 1000, "discriminator_start_step": 1,
            "ema_decay": 0.9, **training}
    return vocoder_config(corpus, **base)


def _assert_same_state(a: dict, b: dict) -> None:
    for part in ("generator", "discriminator", "generator_ema"):
        for key, value in a[part].items():
            assert torch.equal(value, b[part][key]), f"{part}.{key} differs after resume"
    for part in ("optim_g", "optim_d"):
        for index, slot in a[part]["state"].items():
            for key, value in slot.items():
                assert torch.equal(torch.as_tensor(value), torch.as_tensor(
                    b[part]["state"][index][key])), f"{part}[{index}].{key} differs"
    assert a["sched_g"] == b["sched_g"] and a["sampler"] == b["sampler"]
    assert a["epoch"] == b["epoch"] and a["step"] == b["step"]


@pytest.mark.parametrize("stop_step", [3, 4])  # mid-epoch and at an epoch's end
@pytest.mark.parametrize("sig", ["int", "term"])
def test_signal_stops_at_a_step_boundary_and_resume_is_exact(
        corpus: Path, tmp_path: Path, fault, stop_step: int, sig: str) -> None:
    # Defect: Ctrl-C wrote a checkpoint mid-step (sampler, epoch, scheduler and D already
    # advanced) labelled with the last finished step; resuming from it diverged.
    config = _config(corpus)
    Trainer(config, tmp_path / "straight", device="cpu", console=False).fit()

    fault(f"train.step@{stop_step}={sig}")  # the signal arrives while step N runs
    with pytest.raises(TrainingInterrupted) as info:
        Trainer(config, tmp_path / "split", device="cpu", console=False).fit()
    expected = {"int": (130, "SIGINT"), "term": (143, "SIGTERM")}[sig]
    assert (info.value.exit_code, info.value.signum) == (expected[0], int(
        getattr(signal, expected[1])))
    message = str(info.value)
    assert f"interrupted at step {stop_step} ({expected[1]})" in message
    assert f"step_{stop_step:08d}.pt written; continue with --resume" in message
    assert [s for s, _ in ckpt.list_step_checkpoints(tmp_path / "split")] == [stop_step]

    Trainer(config, tmp_path / "split", device="cpu", console=False, resume=True).fit()
    _assert_same_state(ckpt.load_checkpoint(ckpt.step_path(tmp_path / "straight", 6)),
                       ckpt.load_checkpoint(ckpt.step_path(tmp_path / "split", 6)))


def test_stop_right_after_a_periodic_checkpoint_does_not_rewrite_it(
        corpus: Path, tmp_path: Path, fault) -> None:
    run = tmp_path / "run"
    # a second checkpoint write (a rewrite of step 2) would hit the injected full disk
    fault("train.step@2=term,checkpoint.write@2=enospc")
    with pytest.raises(TrainingInterrupted, match="interrupted at step 2"):
        Trainer(_config(corpus, checkpoint_every=2), run, device="cpu", console=False).fit()
    assert [s for s, _ in ckpt.list_step_checkpoints(run)] == [2]
    assert ckpt.load_checkpoint(ckpt.step_path(run, 2))["step"] == 2


def test_second_signal_aborts_without_a_half_written_checkpoint(
        corpus: Path, tmp_path: Path, fault) -> None:
    run = tmp_path / "run"
    # First SIGINT while step 3 runs; the second one while its checkpoint is being written.
    fault("train.step@3=int,checkpoint.write@2=int")
    with pytest.raises(StopNow):
        Trainer(_config(corpus, checkpoint_every=2), run, device="cpu", console=False).fit()
    assert [s for s, _ in ckpt.list_step_checkpoints(run)] == [2]
    assert ckpt.load_checkpoint(ckpt.step_path(run, 2))["step"] == 2
    assert not [p for p in (run / "checkpoints").iterdir() if p.name.endswith(".tmp")]
    assert Trainer(_config(corpus), run, device="cpu", console=False, resume=True).step == 2


def test_stop_signals_restore_the_previous_handlers() -> None:
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    with StopSignals() as stop:
        signal.raise_signal(signal.SIGTERM)
        assert stop.signum == signal.SIGTERM
        with pytest.raises(StopNow):
            signal.raise_signal(signal.SIGINT)
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


def _children() -> list[int]:
    pids: list[int] = []
    for task in Path("/proc/self/task").iterdir():
        text = (task / "children").read_text().split()
        pids += [int(pid) for pid in text]
    return pids


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_loader_workers_survive_a_signal_to_the_process_group(
        corpus: Path, tmp_path: Path, fault) -> None:
    # Ctrl-C reaches every process of the foreground group; a worker killed by it would break
    # the orderly stop ("DataLoader worker exited unexpectedly" at the next batch).
    import os

    from audiogan.training.trainer import TrainerHooks

    signalled: list[int] = []

    def ctrl_c_to_workers(step: int, batch: dict) -> dict:
        if step == 0 and not signalled:
            signalled.extend(_children())
            for pid in signalled:
                os.kill(pid, signal.SIGINT)
        return batch

    fault("train.step@5=int")
    with pytest.raises(TrainingInterrupted, match="interrupted at step 5"):
        Trainer(_config(corpus, num_workers=1), tmp_path / "run", device="cpu", console=False,
                hooks=TrainerHooks(corrupt_batch=ctrl_c_to_workers)).fit()
    assert signalled and ckpt.step_path(tmp_path / "run", 5).is_file()


def _ddp_stop_worker(rank: int, world: int, port: int, data: str, out: str) -> None:
    import os

    os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
                       "RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank)})
    if rank == 1:  # only one rank gets the signal: the other must stop at the same step
        os.environ[faults.ENV_VAR] = "train.step@2=term"
    torch.set_num_threads(1)
    result = "finished"
    try:
        Trainer(_config(Path(data)), Path(out) / "ddp", device="cpu", console=False).fit()
    except TrainingInterrupted as exc:
        result = str(exc)
    finally:
        from audiogan.training.distributed import shutdown_distributed

        shutdown_distributed()
    (Path(out) / f"rank{rank}.txt").write_text(result)


@pytest.mark.slow
def test_ddp_ranks_agree_on_the_stop_step_and_rank_0_writes(corpus: Path, tmp_path: Path):
    import torch.multiprocessing as mp
    from training_helpers import _free_port

    mp.start_processes(_ddp_stop_worker, args=(2, _free_port(), str(corpus), str(tmp_path)),
                       nprocs=2, join=True, start_method="spawn")
    for rank in (0, 1):
        said = (tmp_path / f"rank{rank}.txt").read_text()
        assert "interrupted at step 2 (SIGTERM); checkpoint" in said, said
        assert "step_00000002.pt written" in said, said
    assert [s for s, _ in ckpt.list_step_checkpoints(tmp_path / "ddp")] == [2]
    assert ckpt.load_checkpoint(ckpt.step_path(tmp_path / "ddp", 2))["step"] == 2
