"""The run directory's lifecycle: lock, run identity, one run per directory, safe pruning,
resume fall-back, stale temporaries, metrics without repeated steps, checkpoint file modes."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from training_helpers import vocoder_config

from audiogan.core import faults
from audiogan.training import checkpoint as ckpt
from audiogan.training.monitor import trim_metrics
from audiogan.training.rundir import RunDirectory, RunDirError, read_run_id
from audiogan.training.trainer import Trainer


@pytest.fixture(autouse=True)
def _fresh_fault_counts():
    faults._hits.clear()
    yield
    faults._hits.clear()


def _train(config, run: Path, **kwargs) -> Trainer:
    trainer = Trainer(config, run, device="cpu", console=False, **kwargs)
    trainer.fit()
    return trainer


def _train_steps(run: Path) -> list[int]:
    records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return [r["step"] for r in records if r["split"] == "train"]


def _steps(run: Path) -> list[int]:
    return [s for s, _ in ckpt.list_step_checkpoints(run)]


# ----------------------------------------------------------------------------- the lock


def test_second_trainer_is_refused_naming_the_holders_pid(corpus: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    config = vocoder_config(corpus, max_steps=2, checkpoint_every=1)
    first = Trainer(config, run, device="cpu", console=False)  # holds the lock until fit ends
    with pytest.raises(RunDirError, match=rf"pid {os.getpid()}\b"):
        Trainer(config, run, device="cpu", console=False, resume=True)
    first.fit()  # releases it
    assert Trainer(config, run, device="cpu", console=False, resume=True).step == 2


def test_lock_held_by_another_process_and_released_by_the_kernel_on_kill(
        corpus: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, os, sys, time\n"
         "f = open(sys.argv[1], 'a+'); fcntl.flock(f, fcntl.LOCK_EX)\n"
         "f.seek(0); f.truncate(); f.write(f'{os.getpid()}\\n'); f.flush()\n"
         "print('locked', flush=True); time.sleep(60)", str(run / ".lock")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        config = vocoder_config(corpus, max_steps=1, checkpoint_every=1)
        with pytest.raises(RunDirError, match=rf"another trainer \(pid {holder.pid}\)"):
            Trainer(config, run, device="cpu", console=False)
    finally:
        holder.kill()  # SIGKILL: no clean-up in the holder, the kernel drops the lock
        holder.wait()
    _train(vocoder_config(corpus, max_steps=1, checkpoint_every=1), run)
    assert _steps(run) == [1]


# ----------------------------------------------------------------------------- one run per dir


def test_training_into_another_runs_directory_needs_resume_or_overwrite(
        corpus: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    config = vocoder_config(corpus, max_steps=2, checkpoint_every=1)
    _train(config, run)
    before = {p: p.read_bytes() for _, p in ckpt.list_step_checkpoints(run)}
    with pytest.raises(RunDirError, match="--resume.*--overwrite"):
        Trainer(config, run, device="cpu", console=False)
    assert {p: p.read_bytes() for _, p in ckpt.list_step_checkpoints(run)} == before
    first_id = read_run_id(run)
    metrics_before = (run / "metrics.jsonl").read_text()
    fresh = Trainer(vocoder_config(corpus, max_steps=1, checkpoint_every=1), run, device="cpu",
                    console=False, overwrite=True)
    # nothing is removed until training starts
    assert {p: p.read_bytes() for _, p in ckpt.list_step_checkpoints(run)} == before
    assert (run / "metrics.jsonl").read_text() == metrics_before
    fresh.fit()
    assert _steps(run) == [1]
    assert read_run_id(run) != first_id
    assert ckpt.load_checkpoint(ckpt.step_path(run, 1))["run_id"] == read_run_id(run)
    assert _train_steps(run) == [1]


def test_resume_on_a_new_or_empty_directory_starts_afresh(corpus: Path, tmp_path: Path) -> None:
    config = vocoder_config(corpus, max_steps=1, checkpoint_every=1)
    (tmp_path / "empty").mkdir()
    for run in (tmp_path / "new", tmp_path / "empty"):
        trainer = Trainer(config, run, device="cpu", console=False, resume=True)
        assert trainer.step == 0
        trainer.fit()
        assert _steps(run) == [1] and read_run_id(run)


def test_resume_and_overwrite_exclude_each_other(corpus: Path, tmp_path: Path) -> None:
    config = vocoder_config(corpus, max_steps=1)
    with pytest.raises(RunDirError, match="exclude each other"):
        Trainer(config, tmp_path / "run", device="cpu", console=False, resume=True,
                overwrite=True)


# ----------------------------------------------------------------------------- pruning


def test_pruning_keeps_this_runs_new_checkpoints_not_a_bigger_foreign_or_damaged_one(
        corpus: Path, tmp_path: Path) -> None:
    # Defect: keep_last kept the highest step numbers, even truncated or another run's files,
    # and deleted the checkpoints just written ("last checkpoint step_6" was gone).
    run = tmp_path / "run"
    config = vocoder_config(corpus, max_steps=2, checkpoint_every=1, keep_last=2)
    _train(config, run)
    foreign = ckpt.load_checkpoint(ckpt.step_path(run, 2))
    foreign["run_id"] = "another-run"
    ckpt.save_checkpoint(foreign, ckpt.step_path(run, 40))
    damaged = ckpt.step_path(run, 50)
    damaged.write_bytes(ckpt.step_path(run, 2).read_bytes()[:500])
    longer = vocoder_config(corpus, max_steps=6, checkpoint_every=1, keep_last=2)
    result = Trainer(longer, run, device="cpu", console=False, resume=True).fit()
    assert result.last_checkpoint == ckpt.step_path(run, 6) and result.last_checkpoint.is_file()
    assert _steps(run) == [5, 6, 40, 50]  # the foreign and the damaged file are left alone
    assert damaged.stat().st_size == 500


def test_resume_skips_another_runs_newer_checkpoint(corpus: Path, tmp_path: Path, caplog):
    run = tmp_path / "run"
    config = vocoder_config(corpus, max_steps=2, checkpoint_every=1)
    _train(config, run)
    foreign = ckpt.load_checkpoint(ckpt.step_path(run, 2))
    foreign["run_id"] = "another-run"
    ckpt.save_checkpoint(foreign, ckpt.step_path(run, 9))
    trainer = Trainer(config, run, device="cpu", console=False, resume=True)
    assert trainer.step == 2
    assert "step_00000009.pt belongs to another run" in caplog.text


def test_saving_moves_another_runs_step_and_best_file_aside_instead_of_overwriting(
        corpus: Path, tmp_path: Path, caplog) -> None:
    # Defect: --resume skipped another run's newer step_N.pt, then save() replaced it (and
    # best.pt) with this run's checkpoint.
    run = tmp_path / "run"
    _train(vocoder_config(corpus, max_steps=2, checkpoint_every=1), run)
    foreign = ckpt.load_checkpoint(ckpt.step_path(run, 2))
    foreign["run_id"] = "another-run"
    ckpt.save_checkpoint(foreign, ckpt.step_path(run, 3))
    best = run / "checkpoints" / "best.pt"
    ckpt.save_checkpoint(foreign, best)
    before = ckpt.step_path(run, 3).read_bytes()
    trainer = Trainer(vocoder_config(corpus, max_steps=3, checkpoint_every=1), run,
                      device="cpu", console=False, resume=True)
    trainer.fit()
    trainer.save(best=True)
    moved = run / "checkpoints" / "step_00000003.pt.foreign-another-"
    assert moved.read_bytes() == before
    assert (run / "checkpoints" / "best.pt.foreign-another-").read_bytes() == before
    run_id = read_run_id(run)
    assert ckpt.load_checkpoint(ckpt.step_path(run, 3))["run_id"] == run_id
    assert ckpt.load_checkpoint(best)["run_id"] == run_id
    lines = [r.getMessage() for r in caplog.records if "belongs to another run (" in
             r.getMessage()]
    assert len(lines) == 2 and all("\n" not in line for line in lines)
    trainer.save(best=True)  # this run's own files are simply replaced
    assert sorted(p.name for p in (run / "checkpoints").glob("*.foreign-*")) == [
        "best.pt.foreign-another-", "step_00000003.pt.foreign-another-"]


def test_resume_falls_back_past_a_truncated_newest_checkpoint_in_one_line(
        corpus: Path, tmp_path: Path, caplog) -> None:
    run = tmp_path / "run"
    _train(vocoder_config(corpus, max_steps=3, checkpoint_every=1, keep_last=3), run)
    newest = ckpt.step_path(run, 3)
    newest.write_bytes(newest.read_bytes()[:2000])
    trainer = Trainer(vocoder_config(corpus, max_steps=4, checkpoint_every=1, keep_last=3), run,
                      device="cpu", console=False, resume=True)
    assert trainer.step == 2
    lines = [r.getMessage() for r in caplog.records if "resuming from" in r.getMessage()]
    assert len(lines) == 1 and "step_00000002.pt" in lines[0] and "step_00000003.pt is damaged" \
        in lines[0] and "\n" not in lines[0]
    trainer.fit()
    assert ckpt.load_checkpoint(newest)["step"] == 3  # rewritten whole


def test_resume_with_only_damaged_checkpoints_is_refused(corpus: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    _train(vocoder_config(corpus, max_steps=1, checkpoint_every=1), run)
    ckpt.step_path(run, 1).write_bytes(b"garbage")
    with pytest.raises(RunDirError, match=r"no usable checkpoint \(step_00000001.pt is damaged"):
        Trainer(vocoder_config(corpus, max_steps=2), run, device="cpu", console=False,
                resume=True)
    assert ckpt.step_path(run, 1).read_bytes() == b"garbage"


def test_resume_adopts_the_run_id_of_its_checkpoint(corpus: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    _train(vocoder_config(corpus, max_steps=1, checkpoint_every=1), run)
    run_id = read_run_id(run)
    (run / "run.json").unlink()  # e.g. copied without it
    _train(vocoder_config(corpus, max_steps=2, checkpoint_every=1), run, resume=True)
    assert read_run_id(run) == run_id
    assert ckpt.load_checkpoint(ckpt.step_path(run, 2))["run_id"] == run_id


# ----------------------------------------------------------------------------- clean files


def test_stale_temporaries_are_removed_at_start(corpus: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    _train(vocoder_config(corpus, max_steps=1, checkpoint_every=1), run)
    stale = run / "checkpoints" / ".step_00000002.pt.0123456789ab.tmp"
    stale.write_bytes(b"x" * 100_000)  # what a killed checkpoint write leaves
    keep = run / "checkpoints" / "notes.txt"
    keep.write_text("mine")
    _train(vocoder_config(corpus, max_steps=1, checkpoint_every=1), run, resume=True)
    assert not stale.exists() and keep.read_text() == "mine"


def test_metrics_have_each_step_once_after_resume(corpus: Path, tmp_path: Path) -> None:
    # Defect: a run resumed from step 2 after logging steps 3-4 logged them again.
    run = tmp_path / "run"
    _train(vocoder_config(corpus, max_steps=4, checkpoint_every=2, keep_last=5), run)
    ckpt.step_path(run, 4).unlink()  # the run died after logging 3-4, before checkpoint 4
    with open(run / "metrics.jsonl", "a") as handle:
        handle.write('{"step": 5, "spl')  # and mid-way through a line
    _train(vocoder_config(corpus, max_steps=6, checkpoint_every=2, keep_last=5), run,
           resume=True)
    assert _train_steps(run) == [1, 2, 3, 4, 5, 6]


def test_trim_metrics_leaves_a_clean_file_alone(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1}\n{"step": 2}\n')
    before = path.stat().st_mtime_ns
    assert trim_metrics(path, 2) == 0 and path.stat().st_mtime_ns == before
    assert trim_metrics(path, 1) == 1 and path.read_text() == '{"step": 1}\n'


def test_a_fresh_start_hides_the_events_of_a_run_killed_before_its_first_checkpoint(
        tmp_path: Path) -> None:
    # Defect: purge_step=start_step or None turned 0 into None, so TensorBoard kept the killed
    # run's events while metrics.jsonl was trimmed to step 0.
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from audiogan.training.monitor import Monitor

    run = tmp_path / "run"
    killed = Monitor(run, start_step=0, max_steps=10, console=False)
    for step in (1, 2, 3):
        killed.scalars(step, {"loss": 100.0 + step})
    killed.close()
    fresh = Monitor(run, start_step=0, max_steps=10, console=False)
    fresh.scalars(1, {"loss": 1.0})
    fresh.close()
    assert _train_steps(run) == [1]
    events = EventAccumulator(str(run / "events"))
    events.Reload()
    assert [(e.step, e.value) for e in events.Scalars("train/loss")] == [(1, 1.0)]


def test_checkpoints_follow_the_umask(corpus: Path, tmp_path: Path) -> None:
    # Defect: mkstemp made every checkpoint 0600, unreadable to the group that evaluates it.
    old = os.umask(0o022)
    try:
        run = tmp_path / "run"
        _train(vocoder_config(corpus, max_steps=1, checkpoint_every=1, valid_every=1), run)
    finally:
        os.umask(old)
    for path in (ckpt.step_path(run, 1), run / "checkpoints" / "best.pt", run / "run.json"):
        assert path.stat().st_mode & 0o777 == 0o644, path


def test_prune_only_touches_verified_files_of_this_run(tmp_path: Path) -> None:
    run = tmp_path / "run"
    directory = RunDirectory(run)
    directory.open(resume=False, overwrite=False)
    try:
        for step in (1, 2, 3, 4):
            path = ckpt.save_checkpoint({"run_id": directory.run_id, "step": step},
                                        ckpt.step_path(run, step))
            if step != 3:
                directory.note_written(path)  # 3: verified by reading it back
        ckpt.save_checkpoint({"run_id": "other", "step": 0}, ckpt.step_path(run, 0))
        ckpt.step_path(run, 7).write_bytes(b"broken")
        assert directory.prune(2, step=4) == [ckpt.step_path(run, 1), ckpt.step_path(run, 2)]
        assert _steps(run) == [0, 3, 4, 7]
        assert directory.prune(1, step=3) == []  # step 4 is past the current step: kept
    finally:
        directory.close()
    with open(run / ".lock") as handle:  # released
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_steps_past_99_999_999_are_seen_and_ordered_by_number(tmp_path: Path) -> None:
    # Defect: the step-file pattern wanted exactly 8 digits, so step_%08d's 9-digit names
    # (step 100,000,000 on) were invisible to --resume and pruning.
    run = tmp_path / "run"
    directory = RunDirectory(run)
    directory.open(resume=False, overwrite=False)
    try:
        for step in (99_999_998, 99_999_999, 100_000_000, 100_000_001):
            ckpt.save_checkpoint({"run_id": directory.run_id, "step": step},
                                 ckpt.step_path(run, step))
        assert ckpt.step_path(run, 100_000_000).name == "step_100000000.pt"
        assert _steps(run) == [99_999_998, 99_999_999, 100_000_000, 100_000_001]
        assert ckpt.latest_valid_checkpoint(run)[1]["step"] == 100_000_001
        assert directory.prune(2, step=100_000_001) == [ckpt.step_path(run, 99_999_998),
                                                       ckpt.step_path(run, 99_999_999)]
    finally:
        directory.close()


def test_checkpoint_errors_never_advise_weights_only_false(tmp_path: Path) -> None:
    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'ran'}",))

    hostile = tmp_path / "hostile.pt"
    torch.save({"generator": Payload()}, hostile)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint" * 10)
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    for path, reason in ((hostile, "refused without running them"),
                         (garbage, "not a PyTorch checkpoint"), (empty, "empty")):
        with pytest.raises(ckpt.CheckpointError) as info:
            ckpt.load_checkpoint(path)
        message = str(info.value)
        assert str(path) in message and reason in message, message
        assert "weights_only" not in message and "\n" not in message
    assert not (tmp_path / "ran").exists()


def test_a_failed_set_up_releases_the_lock(corpus: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    config = vocoder_config(corpus, max_steps=1, checkpoint_every=1)
    _train(config, run)
    state = ckpt.load_checkpoint(ckpt.step_path(run, 1))
    del state["optim_d"]
    ckpt.save_checkpoint(state, ckpt.step_path(run, 1))
    with pytest.raises(ckpt.CheckpointError, match="'optim_d'") as info:
        Trainer(config, run, device="cpu", console=False, resume=True)
    assert info.value is not None  # the traceback (and the half-built trainer) is still alive
    assert Trainer(config, run, device="cpu", console=False, overwrite=True).step == 0


def test_resume_with_only_best_pt_is_refused_with_the_reason(corpus: Path, tmp_path: Path):
    run = tmp_path / "run"
    _train(vocoder_config(corpus, max_steps=1, checkpoint_every=1, valid_every=1), run)
    ckpt.step_path(run, 1).unlink()
    with pytest.raises(RunDirError, match=r"no usable checkpoint \(only best.pt, no checkpoints/"
                       r"step_\*.pt\); .* --overwrite"):
        Trainer(vocoder_config(corpus, max_steps=2), run, device="cpu", console=False,
                resume=True)


def test_overwrite_where_no_run_was_deletes_nothing_of_the_users(corpus: Path,
                                                                 tmp_path: Path) -> None:
    """--overwrite into a directory that never held a run (no run.json, no checkpoints) keeps
    the user's own samples/ and events/ (it used to delete them)."""
    run = tmp_path / "project"
    (run / "samples").mkdir(parents=True)
    (run / "samples" / "mine.wav").write_bytes(b"user data")
    (run / "events").mkdir()
    (run / "events" / "notes.txt").write_text("user data")
    _train(vocoder_config(corpus, max_steps=1, checkpoint_every=1), run, overwrite=True)
    assert (run / "samples" / "mine.wav").read_bytes() == b"user data"
    assert (run / "events" / "notes.txt").read_text() == "user data"
    assert _steps(run) == [1]


def test_a_trainer_cleans_only_its_own_temporaries(corpus: Path, tmp_path: Path) -> None:
    """Another command's work in progress in RUN/ (an evaluate report being staged) survives a
    trainer's start-up; the trainer's own stale temporaries do not."""
    run = tmp_path / "run"
    run.mkdir()
    report_staging = run / ".eval.0123456789ab.staging"
    report_staging.mkdir()
    (report_staging / "report.html").write_text("in progress")
    own = run / ".config.yaml.0123456789ab.tmp"
    own.write_bytes(b"x" * 1000)
    _train(vocoder_config(corpus, max_steps=1, checkpoint_every=1), run)
    assert (report_staging / "report.html").read_text() == "in progress"
    assert not own.exists()
