"""MultiScaleMelLoss (BigVGAN-v2's multi-scale mel loss): equal to the bigvgan 2.4.1 package's
``MultiScaleMelSpectrogramLoss`` (loss.py, from .refs/) on real speech, its scales, float32 under
autocast, and the ``multiscale_mel`` term built from a config."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import soundfile as sf
import torch
from refs_helpers import require_reference

from audiogan.audio import resample
from audiogan.config import ConfigError, config_from_dict
from audiogan.config.build import loss_terms_from_config
from audiogan.losses import MultiScaleMelLoss

RATES = (22050, 24000, 44100)


@pytest.fixture(scope="module")
def reference_loss() -> Any:
    refs = require_reference("bigvgan/loss.py", "the bigvgan 2.4.1 reference package")
    if str(refs) not in sys.path:
        sys.path.insert(0, str(refs))
    from bigvgan.loss import MultiScaleMelSpectrogramLoss

    return MultiScaleMelSpectrogramLoss


def _speech_pair(dev_data: Path, rate: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(fake, real), each (2, 1, T): two LJSpeech utterances resampled to ``rate``; the "fake"
    is the same speech slightly delayed, scaled and with noise (a vocoder's kind of error)."""
    clips = []
    for name in ("LJ001-0090.wav", "LJ001-0008.wav"):
        wave, sr = sf.read(dev_data / "ljspeech" / name, dtype="float32")
        clips.append(resample(torch.from_numpy(wave), sr, rate).clamp(-1.0, 1.0))
    length = min(len(c) for c in clips)
    real = torch.stack([c[:length] for c in clips]).unsqueeze(1)
    noise = torch.randn(real.shape, generator=torch.Generator().manual_seed(0))
    fake = (0.8 * torch.roll(real, 3, dims=-1) + 0.01 * noise).clamp(-1.0, 1.0)
    return fake, real


@pytest.mark.parametrize("rate", RATES)
def test_equals_the_reference_on_real_speech(rate: int, reference_loss: Any,
                                             dev_data: Path) -> None:
    """Value within 1e-5 relative and the gradient on the generated audio within 1e-5 of its
    largest magnitude, at 22.05, 24 and 44.1 kHz (measured: 1.1e-7 and 1.3e-7)."""
    fake, real = _speech_pair(dev_data, rate)
    fake_ours = fake.clone().requires_grad_(True)
    fake_ref = fake.clone().requires_grad_(True)
    ours = MultiScaleMelLoss(sample_rate=rate)(fake_ours, real)
    expected = reference_loss(sampling_rate=rate)(fake_ref, real)
    assert ours.dtype == torch.float32 and ours.shape == ()
    assert expected.item() > 1.0  # a real difference, not the floor
    assert abs(ours.item() - expected.item()) <= 1e-5 * abs(expected.item())
    ours.backward()
    expected.backward()
    assert fake_ours.grad is not None and fake_ref.grad is not None
    scale = float(fake_ref.grad.abs().max())
    assert float((fake_ours.grad - fake_ref.grad).abs().max()) <= 1e-5 * scale


def test_scales_hops_and_defaults() -> None:
    loss = MultiScaleMelLoss(sample_rate=24000)
    windows = [32, 64, 128, 256, 512, 1024, 2048]
    assert [m.n_mels for m in loss.mels] == [5, 10, 20, 40, 80, 160, 320]
    assert [m.n_fft for m in loss.mels] == windows
    assert [m.win_length for m in loss.mels] == windows
    assert [m.hop_length for m in loss.mels] == [w // 4 for w in windows]
    assert all(m.spec.f_min == 0.0 and m.spec.f_max_hz == 12000.0 for m in loss.mels)
    # centred frames: T // hop + 1 at every scale
    assert [m.frames_for(8192) for m in loss.mels] == [8192 // (w // 4) + 1 for w in windows]


def test_zero_for_identical_sum_over_scales_and_the_floor() -> None:
    g = torch.Generator().manual_seed(1)
    real = 0.3 * torch.randn(2, 1, 4096, generator=g)
    loss = MultiScaleMelLoss(sample_rate=22050)
    assert loss(real, real).item() == 0.0
    # The sum of the one-scale losses.
    fake = real + 0.1 * torch.randn(real.shape, generator=g)
    singles = [MultiScaleMelLoss(sample_rate=22050, n_mels=(n,), window_lengths=(w,))(fake, real)
               for n, w in zip((5, 10, 20, 40, 80, 160, 320),
                               (32, 64, 128, 256, 512, 1024, 2048))]
    torch.testing.assert_close(loss(fake, real), sum(singles))
    # Silence sits on the 1e-5 floor (log10 = -5): a louder copy of silence is still silence,
    # and against silence the loss is mean(log10(max(mel, 1e-5)) + 5) per scale.
    silence = torch.zeros(1, 1, 2048)
    assert loss(1e-9 * torch.ones_like(silence), silence).item() == 0.0
    one = MultiScaleMelLoss(sample_rate=22050, n_mels=(40,), window_lengths=(256,))
    mel = one.mels[0](real[:1, 0, :2048]).clamp(min=-5.0)
    torch.testing.assert_close(one(real[:1, :, :2048], silence), (mel + 5.0).mean())


def test_float32_under_bf16_autocast_and_trains() -> None:
    g = torch.Generator().manual_seed(2)
    real = 0.3 * torch.randn(2, 1, 4096, generator=g)
    fake = (real + 0.05 * torch.randn(real.shape, generator=g)).requires_grad_(True)
    loss = MultiScaleMelLoss(sample_rate=22050)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        value = loss(fake.bfloat16(), real)
    assert value.dtype == torch.float32
    torch.testing.assert_close(value, loss(fake.bfloat16().float(), real))
    value.backward()
    assert fake.grad is not None and torch.isfinite(fake.grad).all() and fake.grad.abs().sum() > 0


def test_refuses_mismatched_inputs_and_settings() -> None:
    loss = MultiScaleMelLoss(sample_rate=22050, n_mels=(10,), window_lengths=(64,))
    with pytest.raises(ValueError, match="differ"):
        loss(torch.zeros(1, 1, 256), torch.zeros(1, 1, 512))
    with pytest.raises(ValueError, match="equal-length"):
        MultiScaleMelLoss(sample_rate=22050, n_mels=(5, 10), window_lengths=(32,))
    with pytest.raises(ValueError, match="below 4"):
        MultiScaleMelLoss(sample_rate=22050, n_mels=(5,), window_lengths=(2,))


def _config(**loss: Any) -> dict[str, Any]:
    return {
        "sample_rate": 24000,
        "features": {"profile": "hifigan", "n_mels": 100, "f_max": None},
        "generator": {"name": "hifigan", "params": {"preset": "v3"}},
        "discriminator": {"name": "mpd", "params": {}},
        "loss": {"weights": {"adversarial": 1.0, "feature_matching": 2.0,
                             "multiscale_mel": 15.0}, **loss},
    }


def test_the_config_term_builds_the_loss_with_its_settings() -> None:
    config = config_from_dict(_config(multiscale_mel={"n_mels": [20, 40],
                                                      "window_lengths": [128, 256]}),
                              check_models=False)
    terms = loss_terms_from_config(config)
    assert not hasattr(terms, "mel")
    assert [m.n_mels for m in terms.multiscale_mel.mels] == [20, 40]
    assert [m.hop_length for m in terms.multiscale_mel.mels] == [32, 64]
    assert terms.multiscale_mel.mels[0].sample_rate == 24000
    g = torch.Generator().manual_seed(3)
    fake, real = torch.randn(2, 1, 2048, generator=g), torch.randn(2, 1, 2048, generator=g)
    parts = terms.reconstruction(fake, real)
    assert set(parts) == {"multiscale_mel"}
    torch.testing.assert_close(terms.total(parts), 15.0 * terms.multiscale_mel(fake, real))
    default = config_from_dict(_config(), check_models=False).loss.multiscale_mel
    assert default.n_mels == (5, 10, 20, 40, 80, 160, 320)
    assert default.window_lengths == (32, 64, 128, 256, 512, 1024, 2048)


@pytest.mark.parametrize(("settings", "message"), [
    ({"n_mels": [5, 10]}, r"loss.multiscale_mel: n_mels \(2 values\) and window_lengths \(7\)"),
    ({"window_lengths": [2, 64, 128, 256, 512, 1024, 2048]},
     r"loss.multiscale_mel.window_lengths\[0\] must be at least 4"),
    ({"n_mels": [0, 10, 20, 40, 80, 160, 320]}, r"loss.multiscale_mel.n_mels\[0\] must be"),
    ({"f_max": 13000.0}, r"loss.multiscale_mel.f_max=13000.0 exceeds sample_rate/2"),
    ({"f_min": 12000.0}, r"loss.multiscale_mel.f_min=12000.0 must be below f_max"),
])
def test_bad_settings_are_config_errors_naming_the_key(settings: dict[str, Any],
                                                       message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config_from_dict(_config(multiscale_mel=settings), check_models=False)
