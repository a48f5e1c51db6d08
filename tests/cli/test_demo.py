"""`audiogan demo --quick`: the README's main-job command, end to end on CPU."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf


@pytest.mark.slow
def test_demo_quick_trains_and_reports(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = subprocess.run(
        [sys.executable, "-m", "audiogan", "demo", "--quick", "-o", str(out)],
        capture_output=True, text=True, timeout=1800,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    match = re.search(r"untrained ([0-9.]+) -> trained ([0-9.]+)", result.stdout)
    assert match, result.stdout
    untrained, trained = float(match.group(1)), float(match.group(2))
    assert trained <= 0.5 * untrained, (untrained, trained)
    clips = sorted((out / "clips" / "hifigan").glob("*.wav"))
    assert clips
    wavegan = sorted((out / "wavegan" / "samples").glob("step_*/*.wav"))
    assert len(wavegan) == 10
    for path in wavegan:
        audio, sr = sf.read(path)
        assert sr == 16000 and audio.shape == (16384,)
        assert np.isfinite(audio).all() and np.abs(audio).max() > 1e-3  # finite, not silent
    assert (out / "hifigan" / "checkpoints" / "best.pt").is_file()


def test_demo_runs_can_be_trained_again_into_the_same_directory(tmp_path: Path) -> None:
    # A second `audiogan demo -o DIR` must not be refused as "another run's directory".
    from training_helpers import _write_corpus, vocoder_config

    from audiogan.cli.demo import train_fresh
    from audiogan.training import checkpoint as ckpt
    from audiogan.training.rundir import read_run_id

    config = vocoder_config(_write_corpus(tmp_path / "data").parent, max_steps=1,
                            checkpoint_every=1)
    run = tmp_path / "hifigan"
    train_fresh(config, run, console=False)
    first = read_run_id(run)
    train_fresh(config, run, console=False)
    assert read_run_id(run) != first
    assert [s for s, _ in ckpt.list_step_checkpoints(run)] == [1]
