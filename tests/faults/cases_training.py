"""Fault cases for a training run's lifecycle: ``audiogan train`` into a locked, foreign or
damaged run directory, hostile or mismatched checkpoints, a full disk mid-checkpoint, and
signals (SIGINT, SIGTERM, a second signal, kill -9) at chosen steps.

Every case trains a very small HiFi-GAN (a few steps, 8 short clips) so that the in-process cases
stay fast; the ones that need a process of their own (a real kill -9 or exit status) are slow.
Each one checks the exit code (0, 2, 130 or 143), one ``error:`` line naming the run directory,
checkpoint file, key or pid, no traceback, and that no checkpoint was lost or left half-written.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import yaml

from .harness import ROOT, Case, Scenario
from .hostile import Payload as _Payload

SR = 22050


# ------------------------------------------------------------------------------ builders


def _corpus(tmp: Path, n: int = 4, seconds: float = 0.3) -> Path:
    data = tmp / "data"
    data.mkdir(parents=True, exist_ok=True)
    rows = ["path\tnum_samples\tsample_rate"]
    for i in range(n):
        t = np.arange(int(SR * seconds)) / SR
        wave = (0.3 * np.sin(2 * np.pi * (110 + 20 * i) * t)).astype(np.float32)
        sf.write(data / f"clip{i}.wav", wave, SR)
        rows.append(f"clip{i}.wav\t{t.size}\t{SR}")
    (data / "train.tsv").write_text("\n".join(rows) + "\n")
    (data / "valid.tsv").write_text("\n".join(rows[:2]) + "\n")
    return data


def _recipe(tmp: Path, name: str = "recipe.yaml", generator: str = "hifigan",
            **training: Any) -> Path:
    """A very small vocoder recipe over a fresh corpus in ``tmp/data``."""
    data = tmp / "data" if (tmp / "data" / "train.tsv").is_file() else _corpus(tmp)
    gen = ({"name": "hifigan", "params": {
        "preset": "v1", "upsample_initial_channel": 16, "resblock_kernel_sizes": [3],
        "resblock_dilation_sizes": [[1, 3]]}} if generator == "hifigan"
        else {"name": "melgan", "params": {"channels": 32}})
    config = {
        "sample_rate": SR,
        "generator": gen,
        "discriminator": {"name": "combined", "params": {
            "periods": [2], "scales": 1, "mpd_params": {"channels": [4, 8, 16, 16, 16]},
            "msd_params": {"channels": [16, 16, 32, 32, 32, 32, 32]}}},
        "training": {"batch_size": 2, "segment_length": 1024, "max_steps": 2, "num_workers": 0,
                     "log_every": 1, "valid_every": 1000, "checkpoint_every": 1,
                     "discriminator_start_step": 1, "seed": 7, **training},
        "data": {"train": str(data / "train.tsv"), "valid": str(data / "valid.tsv")},
    }
    path = tmp / name
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _trained(tmp: Path, steps: int = 1, **training: Any) -> tuple[Path, Path]:
    """A recipe and a run directory trained ``steps`` steps (one checkpoint per step)."""
    from audiogan.config import load_config
    from audiogan.training.trainer import Trainer

    recipe = _recipe(tmp, max_steps=steps, **training)
    run = tmp / "run"
    Trainer(load_config(recipe), run, device="cpu", console=False).fit()
    return recipe, run


def _step(run: Path, step: int) -> Path:
    return run / "checkpoints" / f"step_{step:08d}.pt"


def _fresh_faults() -> None:
    from audiogan.core import faults

    faults._hits.clear()  # in-process cases share one process: count hits from this run on


def _snapshot(run: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((run / "checkpoints").glob("*.pt"))}


def _unchanged(run: Path, before: dict[str, bytes]) -> Callable[[], None]:
    def check() -> None:
        assert _snapshot(run) == before, "checkpoints changed"
        assert not list((run / "checkpoints").glob(".*.tmp")), "temporary file left"
    return check


def _loads(*paths: Path, step: int | None = None) -> None:
    from audiogan.training import checkpoint as ckpt

    for path in paths:
        state = ckpt.load_checkpoint(path)
        assert step is None or state["step"] == step, f"{path}: step {state['step']}"


def _train(recipe: Path, run: Path, *extra: str) -> list[str]:
    return ["train", str(recipe), "-o", str(run), "--device", "cpu", *extra]


def _hostile(path: Path, marker: Path) -> Path:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": "audiogan-checkpoint", "generator": _Payload(marker)}, path)
    return path


# ------------------------------------------------------------------------------ the lock


def lock_held(tmp: Path) -> Scenario:
    recipe = _recipe(tmp)
    run = tmp / "run"
    run.mkdir()
    handle = open(run / ".lock", "a+")  # another trainer, as far as the run can tell
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    handle.write("424242\n")
    handle.flush()

    def intact() -> None:
        try:
            assert not (run / "checkpoints").exists(), "the second trainer wrote checkpoints"
            assert (run / ".lock").read_text() == "424242\n", "the holder's pid was overwritten"
        finally:
            handle.close()

    return Scenario(_train(recipe, run), code=2, names=("pid 424242", str(run)), intact=intact)


def stale_lock_file(tmp: Path) -> Scenario:
    # A lock file left by a trainer killed with -9: the kernel released the lock; train goes on.
    recipe = _recipe(tmp, max_steps=1)
    run = tmp / "run"
    run.mkdir()
    (run / ".lock").write_text("999999\n")
    return Scenario(_train(recipe, run), code=0,
                    intact=lambda: _loads(_step(run, 1), step=1))


# ------------------------------------------------------------------------------ one run per dir


def other_run_without_flag(tmp: Path) -> Scenario:
    recipe, run = _trained(tmp)
    before = _snapshot(run)
    return Scenario(_train(recipe, run), code=2, names=(str(run), "--resume", "--overwrite"),
                    intact=_unchanged(run, before))


def resume_and_overwrite(tmp: Path) -> Scenario:
    recipe, run = _trained(tmp)
    before = _snapshot(run)
    return Scenario(_train(recipe, run, "--resume", "--overwrite"), code=2,
                    names=("--overwrite",), intact=_unchanged(run, before))


def overwrite_starts_afresh(tmp: Path) -> Scenario:
    recipe, run = _trained(tmp, steps=2)
    old_id = json.loads((run / "run.json").read_text())["run_id"]
    fresh = _recipe(tmp, name="fresh.yaml", max_steps=1)

    def intact() -> None:
        from audiogan.training import checkpoint as ckpt

        assert [s for s, _ in ckpt.list_step_checkpoints(run)] == [1]
        assert json.loads((run / "run.json").read_text())["run_id"] != old_id

    return Scenario(_train(fresh, run, "--overwrite"), code=0, intact=intact)


def foreign_checkpoints_only(tmp: Path) -> Scenario:
    # run.json says run A; the only checkpoint is run B's (two runs mixed by an older version).
    recipe, run = _trained(tmp)
    (run / "run.json").write_text(json.dumps({"run_id": "0" * 32}))
    before = _snapshot(run)
    return Scenario(_train(recipe, run, "--resume"), code=2,
                    names=("step_00000001.pt belongs to another run", "--overwrite"),
                    intact=_unchanged(run, before))


# ------------------------------------------------------------------------------ bad checkpoints


def _damaged(make: Callable[[Path], None], *names: str) -> Callable[[Path], Scenario]:
    def build(tmp: Path) -> Scenario:
        recipe, run = _trained(tmp)
        make(_step(run, 1))
        before = _snapshot(run)
        return Scenario(_train(recipe, run, "--resume"), code=2,
                        names=("step_00000001.pt", *names), intact=_unchanged(run, before))
    return build


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:3000])


def resume_truncated_newest(tmp: Path) -> Scenario:
    recipe, run = _trained(tmp, steps=2)
    _truncate(_step(run, 2))
    longer = _recipe(tmp, name="longer.yaml", max_steps=3)

    def intact() -> None:
        _loads(_step(run, 1), step=1)
        _loads(_step(run, 2), step=2)  # rewritten whole from the resumed run
        _loads(_step(run, 3), step=3)

    return Scenario(_train(longer, run, "--resume"), code=0, intact=intact)


def resume_pickle_payload(tmp: Path) -> Scenario:
    recipe, run = _trained(tmp)
    marker = tmp / "payload-ran"
    _hostile(_step(run, 1), marker)
    before = _snapshot(run)

    def intact() -> None:
        assert not marker.exists(), "unpickling ran code from the checkpoint"
        _unchanged(run, before)()

    return Scenario(_train(recipe, run, "--resume"), code=2,
                    names=("step_00000001.pt",), intact=intact)


def init_from_pickle_payload(tmp: Path) -> Scenario:
    marker = tmp / "payload-ran"
    hostile = _hostile(tmp / "hostile.pt", marker)
    recipe = _recipe(tmp, init_from=str(hostile))

    def intact() -> None:
        assert not marker.exists(), "unpickling ran code from the checkpoint"

    return Scenario(_train(recipe, tmp / "run"), code=2, names=("hostile.pt",), intact=intact)


def resume_other_architecture(tmp: Path) -> Scenario:
    _, run = _trained(tmp)
    melgan = _recipe(tmp, name="melgan.yaml", generator="melgan")
    before = _snapshot(run)
    return Scenario(_train(melgan, run, "--resume"), code=2,
                    names=("step_00000001.pt", "melgan", "hifigan"),
                    intact=_unchanged(run, before))


def _edit_state(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        from audiogan.training import checkpoint as ckpt

        state = ckpt.load_checkpoint(path)
        change(state)
        ckpt.save_checkpoint(state, path)
    return make


# ------------------------------------------------------------------------------ full disk


def enospc_during_checkpoint(tmp: Path) -> Scenario:
    recipe = _recipe(tmp, max_steps=3)
    run = tmp / "run"
    _fresh_faults()

    def intact() -> None:
        _loads(_step(run, 1), step=1)
        assert not _step(run, 2).exists()
        assert not list((run / "checkpoints").glob(".*.tmp")), "temporary file left"

    return Scenario(_train(recipe, run), code=2,
                    env={"AUDIOGAN_FAULT": "checkpoint.write@2=enospc"},
                    names=("step_00000002.pt", "No space left on device"), intact=intact)


def enospc_fsync(tmp: Path) -> Scenario:
    # The disk fills at the fsync of step 2's checkpoint (atomic writes: run.json, config.yaml,
    # step 1 come first).
    recipe = _recipe(tmp, max_steps=3)
    run = tmp / "run"
    _fresh_faults()

    def intact() -> None:
        _loads(_step(run, 1), step=1)
        assert not list((run / "checkpoints").glob(".*.tmp")), "temporary file left"

    return Scenario(_train(recipe, run), code=2,
                    env={"AUDIOGAN_FAULT": "atomic.before_fsync@4=enospc"},
                    names=("step_00000002.pt",), intact=intact)


# ------------------------------------------------------------------------------ signals


def _signal_case(action: str, code: int, name: str) -> Callable[[Path], Scenario]:
    def build(tmp: Path) -> Scenario:
        recipe = _recipe(tmp, max_steps=4, checkpoint_every=1000)
        run = tmp / "run"
        _fresh_faults()

        def intact() -> None:
            from audiogan.training import checkpoint as ckpt

            assert [s for s, _ in ckpt.list_step_checkpoints(run)] == [2]
            _loads(_step(run, 2), step=2)

        return Scenario(_train(recipe, run), code=code,
                        env={"AUDIOGAN_FAULT": f"train.step@2={action}"},
                        names=(f"interrupted at step 2 ({name})", "step_00000002.pt",
                               "--resume"), intact=intact)
    return build


def second_signal_while_writing(tmp: Path) -> Scenario:
    recipe = _recipe(tmp, max_steps=4, checkpoint_every=1)
    run = tmp / "run"
    _fresh_faults()

    def intact() -> None:
        _loads(_step(run, 1), step=1)
        assert not _step(run, 2).exists(), "step 2's checkpoint was written in spite of the abort"
        assert not list((run / "checkpoints").glob(".*.tmp")), "half-written checkpoint left"

    # SIGINT while step 2 runs; a second SIGINT in the middle of step 2's checkpoint write.
    return Scenario(_train(recipe, run), code=130,
                    env={"AUDIOGAN_FAULT": "train.step@2=int,checkpoint.write@2=int"},
                    names=(str(run), "aborted (SIGINT)"), intact=intact)


def stale_temp_cleaned(tmp: Path) -> Scenario:
    recipe, run = _trained(tmp)
    stale = run / "checkpoints" / ".step_00000002.pt.00112233aabb.tmp"
    stale.write_bytes(_step(run, 1).read_bytes())  # full size, never renamed
    longer = _recipe(tmp, name="longer.yaml", max_steps=2)

    def intact() -> None:
        assert not stale.exists(), "stale temporary file not removed"
        _loads(_step(run, 2), step=2)

    return Scenario(_train(longer, run, "--resume"), code=0, intact=intact)


def _train_steps(run: Path) -> list[int]:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r["step"] for r in records if r.get("split") == "train"]


def killed_then_resumed(tmp: Path) -> Scenario:
    # kill -9 after step 2's checkpoint is fsynced, before its rename: a full-size .tmp is left
    # and metrics.jsonl already holds step 2. --resume goes on from step 1.
    recipe = _recipe(tmp, max_steps=3)
    run = tmp / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "AUDIOGAN_FAULT": "atomic.before_rename@4=kill",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                        os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-m", "audiogan", *_train(recipe, run)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -9, proc.stderr[-2000:]
    assert list((run / "checkpoints").glob(".step_00000002.pt.*.tmp")), "no stale temp to test"

    def intact() -> None:
        assert not list((run / "checkpoints").glob(".*.tmp")), "stale temporary file left"
        _loads(_step(run, 3), step=3)
        assert _train_steps(run) == [1, 2, 3], _train_steps(run)

    return Scenario(_train(recipe, run, "--resume"), code=0, intact=intact)


def sigterm_real_process(tmp: Path) -> Scenario:
    build = _signal_case("term", 143, "SIGTERM")
    scenario = build(tmp)
    scenario.subprocess = True
    return scenario


def compile_without_compiler(tmp: Path) -> Scenario:
    """``training.compile: true`` where inductor finds no C++ compiler (PATH holds none): one
    line naming the key and the fix, before the run directory is made."""
    recipe = _recipe(tmp, compile=True)
    run = tmp / "run"
    (tmp / "empty-bin").mkdir()

    def intact() -> None:
        assert not run.exists(), "the run directory was made before the check"

    return Scenario(_train(recipe, run), code=2, names=("training.compile", "g++"),
                    env={"PATH": str(tmp / "empty-bin")}, intact=intact)


def cuda_graphs_on_cpu(tmp: Path) -> Scenario:
    """``training.compile_mode: reduce-overhead`` (CUDA graphs) on a CPU run."""
    recipe = _recipe(tmp, compile=True, compile_mode="reduce-overhead")
    run = tmp / "run"

    def intact() -> None:
        assert not run.exists(), "the run directory was made before the check"

    return Scenario(_train(recipe, run), code=2, names=("training.compile_mode", "cpu"),
                    intact=intact)


CASES = [
    Case("train-lock-held-by-another-trainer", lock_held),
    Case("train-stale-lock-file-after-kill", stale_lock_file),
    Case("train-into-another-runs-directory", other_run_without_flag),
    Case("train-resume-and-overwrite-together", resume_and_overwrite),
    Case("train-overwrite-starts-afresh", overwrite_starts_afresh),
    Case("train-resume-only-foreign-checkpoints", foreign_checkpoints_only),
    Case("train-resume-truncated-only-checkpoint", _damaged(_truncate, "damaged")),
    Case("train-resume-garbage-checkpoint",
         _damaged(lambda p: p.write_bytes(b"\x00garbage" * 64), "damaged")),
    Case("train-resume-empty-checkpoint", _damaged(lambda p: p.write_bytes(b""), "damaged")),
    Case("train-resume-truncated-newest-falls-back", resume_truncated_newest),
    Case("train-resume-pickle-payload", resume_pickle_payload),
    Case("train-init-from-pickle-payload", init_from_pickle_payload),
    Case("train-resume-other-architecture", resume_other_architecture),
    Case("train-resume-missing-optim-g",
         _damaged(_edit_state(lambda s: s.pop("optim_g")), "'optim_g'")),
    Case("train-resume-not-a-training-checkpoint",
         _damaged(_edit_state(lambda s: s.pop("format")), "not an audiogan training")),
    Case("train-resume-other-layer-sizes",
         _damaged(_edit_state(lambda s: s["generator"].update(
             {k: v[:1] for k, v in list(s["generator"].items())[:1]})), "another shape")),
    Case("train-enospc-during-checkpoint", enospc_during_checkpoint),
    Case("train-enospc-at-checkpoint-fsync", enospc_fsync),
    Case("train-sigint-at-step", _signal_case("int", 130, "SIGINT")),
    Case("train-sigterm-at-step", _signal_case("term", 143, "SIGTERM")),
    Case("train-second-sigint-while-writing", second_signal_while_writing),
    Case("train-stale-temp-cleaned-on-resume", stale_temp_cleaned),
    Case("train-kill-9-mid-checkpoint-then-resume", killed_then_resumed, slow=True),
    Case("train-sigterm-real-process", sigterm_real_process, slow=True),
    Case("train-compile-without-cxx-compiler", compile_without_compiler),
    Case("train-cuda-graphs-mode-on-cpu", cuda_graphs_on_cpu),
]
