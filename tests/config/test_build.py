"""config.build: a config's generator, discriminator, features and loss terms, as the trainer,
inference, import and the demo get them."""

from __future__ import annotations

import pytest
import torch

from audiogan.config import Config, config_from_dict
from audiogan.config.build import (
    discriminator_from_config,
    features_from_config,
    generator_from_config,
    loss_terms_from_config,
)
from audiogan.losses import MelLoss, MultiResolutionSTFTLoss

FEATURES = {"profile": "hifigan", "n_fft": 512, "hop_length": 128, "win_length": 512,
            "n_mels": 40}


def _config(loss: dict, **extra) -> Config:
    return config_from_dict({
        "sample_rate": 16000,
        "features": FEATURES,
        "generator": {"name": "hifigan", "params": {"preset": "v3"}},
        "discriminator": {"name": "mpd", "params": {"periods": [2, 3]}},
        "loss": loss, **extra,
    }, check_models=False)


def _waves() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return 0.3 * torch.randn(1, 1, 2048, generator=g), 0.3 * torch.randn(1, 1, 2048, generator=g)


def test_the_mel_term_takes_the_features_sizes_unless_loss_mel_sets_them() -> None:
    fake, real = _waves()
    terms = loss_terms_from_config(_config({"weights": {"mel": 45.0}}))
    assert terms.mel.mel.spec.n_fft == 512 and terms.mel.mel.spec.n_mels == 40
    assert terms.mel.mel.spec.f_max is None  # the loss mel's own f_max: sr / 2
    expected = MelLoss(sample_rate=16000, n_fft=512, hop_length=128, win_length=512, n_mels=40)
    assert torch.equal(terms.reconstruction(fake, real)["mel"], expected(fake, real))

    own = loss_terms_from_config(_config({"weights": {"mel": 45.0},
                                          "mel": {"n_mels": 20, "f_max": 6000.0}}))
    assert own.mel.mel.spec.n_mels == 20 and own.mel.mel.spec.f_max == 6000.0
    assert own.mel.mel.spec.n_fft == 512  # unset sizes still follow the features


def test_only_weighted_terms_are_built_with_the_configs_settings() -> None:
    config = _config({"adversarial": "hinge", "feature_matching_reduction": "mean",
                      "weights": {"adversarial": 1.0, "stft": 2.5},
                      "stft": {"fft_sizes": [256], "hop_sizes": [64], "win_lengths": [256]}})
    terms = loss_terms_from_config(config)
    assert terms.weights == {"adversarial": 1.0, "stft": 2.5}
    assert terms.fm_reduction == "mean"
    assert type(terms.adversarial).__name__ == "HingeLoss"
    assert not hasattr(terms, "mel") and not hasattr(terms, "subband_stft")
    fake, real = _waves()
    expected = MultiResolutionSTFTLoss(fft_sizes=(256,), hop_sizes=(64,), win_lengths=(256,))
    assert torch.equal(terms.reconstruction(fake, real)["stft"], expected(fake, real))


@pytest.mark.parametrize("in_channels", [None, 24])
def test_a_vocoder_takes_the_features_mel_channels_unless_params_set_them(
        in_channels: int | None) -> None:
    params = {"preset": "v3"} if in_channels is None else {"preset": "v3", "in_channels": 24}
    config = _config({}, generator={"name": "hifigan", "params": params})
    generator = generator_from_config(config)
    assert generator.in_channels == (40 if in_channels is None else 24)
    assert features_from_config(config).n_mels == 40


def test_the_discriminator_is_the_named_one_with_its_params() -> None:
    discriminator = discriminator_from_config(_config({}))
    out = discriminator(torch.zeros(1, 1, 1024))
    assert len(out.logits) == 2  # one per period
