"""Metrics on constructed signals with known answers."""

from __future__ import annotations

import math
import sys
import tracemalloc

import numpy as np
import pytest
import torch

from audiogan.evaluation import metrics as M
from audiogan.evaluation.dtw import band_half_width, banded_dtw
from audiogan.evaluation.mcd import cepstral_distortion, frame_dbfs

SR = 16000


@pytest.fixture(autouse=True)
def _one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def voiced(f0: float, seconds: float = 1.0, sr: int = SR, seed: int = 0) -> np.ndarray:
    """A vowel-like harmonic complex (slow vibrato, 1/k roll-off) over a faint noise floor."""
    t = np.arange(int(seconds * sr)) / sr
    phase = 2 * np.pi * f0 * (t + 0.02 * np.sin(2 * np.pi * 2.0 * t) / (2 * np.pi * 2.0))
    harmonics = sum(
        np.sin(k * phase) / k for k in range(1, int(0.45 * sr / (f0 * 1.1)))
    )
    envelope = np.clip(np.minimum(t, t[-1] - t) / 0.05, 0, 1)
    noise = 0.003 * np.random.default_rng(seed).standard_normal(t.size)
    return 0.3 * harmonics * envelope + noise


def white(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(n)


def test_identical_signals_give_zero_distance() -> None:
    x = voiced(140.0)
    values = M.evaluate_pair(x, x, SR)
    for key in M.INTRUSIVE_METRICS:
        assert values[key] == pytest.approx(0.0, abs=1e-9), key
    status = M.optional_metrics_status()
    if status["pesq_wb"] is None:
        assert values["pesq_wb"] == pytest.approx(4.64, abs=0.01)
    if status["stoi"] is None:
        assert values["stoi"] == pytest.approx(1.0, abs=1e-6)
    assert list(values) == [k for k in M.METRICS if k in values]


def test_one_semitone_pitch_shift_is_100_cents() -> None:
    low, high = voiced(150.0), voiced(150.0 * 2 ** (1 / 12))
    values = M.f0_metrics(M.pitch_track(low, SR), M.pitch_track(high, SR))
    assert values["f0_rmse_cents"] == pytest.approx(100.0, abs=8.0)
    assert values["vuv_error_pct"] < 10.0
    # both fully periodic: periodicity differs little
    assert values["periodicity_rmse"] < 0.2


def test_pitch_track_of_tone_and_of_noise() -> None:
    track = M.pitch_track(voiced(220.0, seconds=0.5), SR)
    inner = slice(5, len(track.f0) - 5)
    assert np.nanmedian(track.f0[inner]) == pytest.approx(220.0, rel=0.02)
    assert track.voiced[inner].mean() > 0.9
    noise = M.pitch_track(0.1 * white(SR // 2, 1), SR)
    assert noise.voiced.mean() < 0.5 * track.voiced.mean()
    assert noise.voiced_prob.mean() < 0.5 * track.voiced_prob.mean()
    silent = M.f0_metrics(noise, noise)
    assert silent["vuv_error_pct"] == 0.0 and silent["periodicity_rmse"] == 0.0


def test_lsd_grows_monotonically_as_the_snr_falls() -> None:
    x = voiced(130.0)
    power = np.mean(x**2)
    noise = white(x.size, 3)
    noise /= np.sqrt(np.mean(noise**2))
    lsd, mel, mcd = [], [], []
    for snr in (40, 30, 20, 10, 0):
        y = x + noise * np.sqrt(power / 10 ** (snr / 10))
        lsd.append(M.log_spectral_distance(x, y))
        mel.append(M.log_mel_distance(x, y, SR))
        mcd.append(M.mel_cepstral_distortion(x, y, SR))
    assert all(a < b for a, b in zip(lsd, lsd[1:])), lsd
    assert all(a < b for a, b in zip(mel, mel[1:])), mel
    assert all(a < b for a, b in zip(mcd, mcd[1:])), mcd


def test_gain_change_gives_the_exact_spectral_distances() -> None:
    """Scaling by g moves every magnitude by |20 log10 g| dB (far above the floors)."""
    x = 0.3 * white(SR, 4)
    gain = 0.5
    expected_db = abs(20 * math.log10(gain))
    assert M.log_mel_distance(x, gain * x, SR) == pytest.approx(expected_db, rel=1e-6)
    assert M.log_spectral_distance(x, gain * x) == pytest.approx(expected_db, rel=1e-6)
    # spectral convergence |1 - g| plus log-magnitude L1 |ln g|
    assert M.multi_resolution_stft_distance(x, gain * x) == pytest.approx(
        (1 - gain) + abs(math.log(gain)), rel=1e-6
    )
    # a gain only changes c0, which MCD leaves out
    assert M.mel_cepstral_distortion(x, gain * x, SR) == pytest.approx(0.0, abs=1e-6)


def test_mcd_is_symmetric_with_and_without_dtw() -> None:
    a = voiced(120.0, seed=1)
    b = voiced(160.0, seconds=0.9, seed=2) + 0.01 * white(int(0.9 * SR), 5)
    for coefficients in (13, 24):
        for dtw in (False, True):
            ab = M.mel_cepstral_distortion(a, b, SR, n_coefficients=coefficients, dtw=dtw)
            ba = M.mel_cepstral_distortion(b, a, SR, n_coefficients=coefficients, dtw=dtw)
            assert ab > 0.1
            assert ab == pytest.approx(ba, rel=1e-9), (coefficients, dtw)


def test_dtw_absorbs_a_time_shift() -> None:
    x = np.concatenate([voiced(120.0, 0.4, seed=1), voiced(200.0, 0.4, seed=2)])
    shifted = np.concatenate([np.zeros(int(0.05 * SR)), x])[: x.size + int(0.05 * SR)]
    plain = M.mel_cepstral_distortion(x, shifted, SR, dtw=False)
    aligned = M.mel_cepstral_distortion(x, shifted, SR, dtw=True)
    assert aligned < 0.3 * plain


def test_mcd_skips_frames_silent_in_both() -> None:
    x = np.concatenate([np.zeros(SR // 2), voiced(150.0, 0.5)])
    y = np.concatenate([3e-4 * white(SR // 2, 7), voiced(150.0, 0.5)])  # -70 dBFS
    skipped = M.mel_cepstral_distortion(x, y, SR)  # only frames at the onset see the noise
    kept = M.mel_cepstral_distortion(x, y, SR, silence_dbfs=None)
    assert skipped < 0.1 * kept
    assert math.isnan(M.mel_cepstral_distortion(np.zeros(SR), np.zeros(SR), SR))


@pytest.mark.parametrize(
    ("rate", "alpha"),
    [(8000, 0.312), (16000, 0.41), (22050, 0.455), (24000, 0.466), (44100, 0.544),
     (48000, 0.554)],
)
def test_warping_alpha_matches_the_customary_values(rate: int, alpha: float) -> None:
    assert M.warping_alpha(rate) == pytest.approx(alpha, abs=0.002)


def test_lengths_are_cut_to_the_shorter_and_inputs_checked() -> None:
    x = voiced(150.0)
    assert M.log_mel_distance(x, x[:-100], SR) == pytest.approx(0.0, abs=1e-9)
    assert M.log_mel_distance(torch.from_numpy(x).float()[None], x, SR) < 1e-3
    with pytest.raises(ValueError, match="NaN"):
        M.log_spectral_distance(x, np.full_like(x, np.nan))
    with pytest.raises(ValueError, match="one waveform"):
        M.log_spectral_distance(np.stack([x, x]), x)
    with pytest.raises(ValueError, match="sample rates differ"):
        M.compare(M.analyze(x[:4000], SR), M.analyze(x[:4000], 8000))


def test_missing_optional_packages_are_reported_clearly(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "pesq", None)
    monkeypatch.setitem(sys.modules, "pystoi", None)
    status = M.optional_metrics_status()
    assert "pesq" in status["pesq_wb"] and "audiogan[eval]" in status["pesq_wb"]
    assert "pystoi" in status["stoi"]
    x = voiced(150.0, 0.3)
    with pytest.raises(ImportError, match=r"audiogan\[eval\]"):
        M.pesq_wb(x, x, SR)
    values = M.compare(M.analyze(x, SR), M.analyze(x, SR))
    assert set(values) == set(M.INTRUSIVE_METRICS)


def test_inception_score_of_a_confident_uniform_classifier_is_the_class_count() -> None:
    classes = 10
    one_hot = np.eye(classes)[np.arange(200) % classes]
    assert M.inception_score(one_hot) == pytest.approx(classes)
    assert M.inception_score(torch.from_numpy(one_hot), splits=4) == pytest.approx(classes)
    same = np.tile([0.7, 0.2, 0.1], (50, 1))
    assert M.inception_score(same) == pytest.approx(1.0)
    collapsed = np.eye(classes)[np.zeros(40, dtype=int)]
    assert M.inception_score(collapsed) == pytest.approx(1.0)


def test_frechet_distance_known_answers() -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((300, 8))
    assert M.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    shift = np.arange(8) * 0.5
    assert M.frechet_distance(a, a + shift) == pytest.approx(float(np.sum(shift**2)), rel=1e-6)
    b = rng.standard_normal((250, 8)) * 2.0
    assert M.frechet_distance(a, b) == pytest.approx(M.frechet_distance(b, a), rel=1e-6)
    # isotropic Gaussians: d * (s1 - s2)^2 for standard deviations s1, s2
    assert M.frechet_distance(a, b) == pytest.approx(8 * (1 - 2) ** 2, rel=0.25)
    with pytest.raises(ValueError, match="at least 2"):
        M.frechet_distance(a[:1], b)


def test_summarize_skips_nan_and_counts() -> None:
    rows = [{"x": 1.0, "y": math.nan}, {"x": 3.0}, {"x": math.nan, "y": math.nan},
            {"x": math.inf, "y": -math.inf}]
    stats = M.summarize(rows, ["x", "y"])
    assert stats["x"] == {"mean": 2.0, "std": 1.0, "median": 2.0, "min": 1.0, "max": 3.0,
                          "count": 2}
    assert stats["y"]["mean"] is None and stats["y"]["count"] == 0


# --------------------------------------------------------------------------- banded DTW


def _full_dtw(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Straightforward O(N M) DTW (steps (1,1), (1,0), (0,1)): (total cost, mean along path)."""
    n, m = len(x), len(y)
    cost = np.sqrt(((x[:, None, :] - y[None, :, :]) ** 2).sum(-1))
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            acc[i, j] = cost[i - 1, j - 1] + min(acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1])
    i, j, pairs = n, m, [(n - 1, m - 1)]
    while (i, j) != (1, 1):
        moves = [(i - 1, j - 1), (i - 1, j), (i, j - 1)]
        i, j = min(moves, key=lambda ij: acc[ij])
        pairs.append((i - 1, j - 1))
    path = np.array(pairs[::-1])
    return float(acc[n, m]), float(cost[path[:, 0], path[:, 1]].mean())


@pytest.mark.parametrize(("n", "m"), [(1, 1), (1, 6), (6, 1), (30, 41), (41, 30), (50, 50),
                                      (7, 60), (120, 90)])
def test_banded_dtw_equals_the_full_dtw_when_the_band_covers_everything(n: int, m: int) -> None:
    rng = np.random.default_rng(n * 1000 + m)
    x, y = rng.standard_normal((n, 3)), rng.standard_normal((m, 3))
    total, mean = _full_dtw(x, y)
    alignment = banded_dtw(x, y)  # default band: every frame of clips up to 200 frames
    assert alignment.total_cost == pytest.approx(total, rel=1e-12)
    assert alignment.mean_cost == pytest.approx(mean, rel=1e-12)
    assert tuple(alignment.path[0]) == (0, 0) and tuple(alignment.path[-1]) == (n - 1, m - 1)
    assert np.all(np.diff(alignment.path, axis=0) >= 0)
    assert banded_dtw(y, x).mean_cost == alignment.mean_cost  # symmetric, exactly


def test_banded_dtw_with_a_narrow_band_finds_the_full_optimum_when_it_lies_inside() -> None:
    rng = np.random.default_rng(3)
    x = np.cumsum(rng.standard_normal((160, 4)), axis=0)  # smooth, distinct frames
    warp = np.clip(np.round(np.arange(150) * 159 / 149 + 2 * np.sin(np.arange(150) / 9)), 0, 159)
    y = x[warp.astype(int)] + 0.01 * rng.standard_normal((150, 4))
    total, mean = _full_dtw(x, y)
    narrow = banded_dtw(x, y, band=6)
    slope = 149 / 159
    assert np.all(np.abs(narrow.path[:, 1] - narrow.path[:, 0] * slope) <= 6)
    assert narrow.band == 6
    assert narrow.total_cost == pytest.approx(total, rel=1e-12)
    assert narrow.mean_cost == pytest.approx(mean, rel=1e-12)
    # a band too narrow for the optimum gives a path of higher (never lower) cost
    assert banded_dtw(x, y, band=1).total_cost >= total - 1e-9


def test_dtw_mcd_memory_grows_with_the_band_not_with_the_square_of_the_length() -> None:
    # 1500 frames (7.5 s): the old N x M x D broadcast took 1500 * 1400 * 24 * 8 bytes = 403 MB
    rng = np.random.default_rng(0)
    ref = np.cumsum(rng.standard_normal((1500, 25)), axis=0) * 0.1
    est = ref[np.linspace(0, 1499, 1400).astype(int)] + 0.05 * rng.standard_normal((1400, 25))
    levels_ref, levels_est = np.zeros(1500), np.zeros(1400)
    tracemalloc.start()
    try:
        value = cepstral_distortion(ref, levels_ref, est, levels_est, 24, True, None)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert math.isfinite(value) and value > 0
    assert peak < 40 * 2**20, f"peak {peak / 2**20:.0f} MiB"


def test_long_clip_band_is_stated_and_capped() -> None:
    assert band_half_width(100) == 200 and band_half_width(4000) == 400
    assert band_half_width(12000) == 1000 and band_half_width(10**6) == 1000
    assert "band" in M.METRICS["mcd13_dtw_db"].description


def test_dtw_mcd_of_short_clips_equals_the_full_dtw() -> None:
    a = voiced(120.0, seconds=0.6, seed=1)
    b = np.concatenate([np.zeros(400), voiced(125.0, seconds=0.55, seed=2)])
    expected = []
    for x in (a, b):
        cep = M.mel_cepstrum(x, SR, order=13)
        levels = frame_dbfs(x, SR, len(cep))
        expected.append(cep[levels >= -60.0, 1:])
    _, mean = _full_dtw(*expected)
    scale = 10.0 / math.log(10.0) * math.sqrt(2.0)
    value = M.mel_cepstral_distortion(a, b, SR, n_coefficients=13, dtw=True)
    assert value == pytest.approx(scale * mean, rel=1e-12)
