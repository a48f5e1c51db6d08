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
