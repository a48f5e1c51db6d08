"""GeneratorLossTerms: which terms are computed, their values against the loss modules called
directly, the weighted total, and the checks on the parts it is given."""

from __future__ import annotations

import pytest
import torch

from audiogan.config import LOSS_TERMS
from audiogan.config.checks import SPECTRAL_TERMS as CONFIG_SPECTRAL_TERMS
from audiogan.losses import (
    ADVERSARIAL_LOSSES,
    GeneratorLossTerms,
    MelLoss,
    MultiResolutionSTFTLoss,
    SubbandSTFTLoss,
    feature_matching_loss,
)
from audiogan.losses.terms import KNOWN_TERMS, SPECTRAL_TERMS
from audiogan.models.base import DiscriminatorOutput
from audiogan.models.pqmf import PQMF

SR, T = 22050, 4096


def _waves() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    return 0.3 * torch.randn(2, 1, T, generator=g), 0.3 * torch.randn(2, 1, T, generator=g)


def _outputs(seed: int) -> DiscriminatorOutput:
    g = torch.Generator().manual_seed(seed)
    return DiscriminatorOutput(
        [torch.randn(2, 1, 20, generator=g), torch.randn(2, 1, 9, generator=g)],
        [[torch.randn(2, 4, 20, generator=g)], [torch.randn(2, 3, 9, generator=g)]],
    )


def test_every_weighted_term_equals_its_module_and_the_total_is_the_weighted_sum() -> None:
    mel = MelLoss(sample_rate=SR, n_fft=512, hop_length=128, win_length=512, n_mels=40)
    stft = MultiResolutionSTFTLoss(fft_sizes=(256, 512), hop_sizes=(64, 128),
                                   win_lengths=(256, 512))
    subband = SubbandSTFTLoss(pqmf=PQMF())
    weights = {"adversarial": 1.5, "feature_matching": 2.0, "mel": 45.0, "stft": 2.5,
               "subband_stft": 0.5}
    hinge = ADVERSARIAL_LOSSES.build("hinge")
    terms = GeneratorLossTerms(weights, hinge, feature_matching_reduction="mean", mel=mel,
                               stft=stft, subband_stft=subband)
    fake, real = _waves()
    fake_out, real_out = _outputs(1), _outputs(2)

    parts = terms.reconstruction(fake, real)
    parts.update(terms.adversarial_parts(fake_out, real_out))

    expected = {
        "mel": mel(fake, real),
        "stft": stft(fake, real),
        "subband_stft": subband(subband.pqmf.analysis(fake), real),
        "adversarial": hinge.generator(fake_out),
        "feature_matching": feature_matching_loss(real_out, fake_out, reduction="mean"),
    }
    assert parts.keys() == expected.keys()
    for name, value in expected.items():
        assert torch.equal(parts[name], value), name
    assert feature_matching_loss(real_out, fake_out, reduction="sum") != parts["feature_matching"]
    total = sum(weights[k] * expected[k] for k in expected)
    assert torch.equal(terms.total(parts), total)
    assert terms.needs_discriminator


def test_only_weighted_terms_are_computed() -> None:
    mel = MelLoss(sample_rate=SR, n_fft=512, hop_length=128, win_length=512, n_mels=40)
    terms = GeneratorLossTerms({"mel": 10.0}, ADVERSARIAL_LOSSES.build("lsgan"), mel=mel)
    fake, real = _waves()
    assert set(terms.reconstruction(fake, real)) == {"mel"}
    assert terms.adversarial_parts(_outputs(1), _outputs(2)) == {}
    assert not terms.needs_discriminator
    assert not hasattr(terms, "stft") and not hasattr(terms, "subband_stft")

    adversarial_only = GeneratorLossTerms({"adversarial": 1.0, "feature_matching": 2.0},
                                          ADVERSARIAL_LOSSES.build("lsgan"))
    assert adversarial_only.reconstruction(fake, real) == {}
    # feature matching needs the discriminator's features on real audio
    assert set(adversarial_only.adversarial_parts(_outputs(1), None)) == {"adversarial"}
    assert adversarial_only.needs_discriminator


def test_spectral_modules_follow_to_and_are_submodules() -> None:
    subband = SubbandSTFTLoss(pqmf=PQMF())
    terms = GeneratorLossTerms({"subband_stft": 1.0}, ADVERSARIAL_LOSSES.build("lsgan"),
                               subband_stft=subband)
    names = [name for name, _ in terms.named_modules()]
    assert names == ["", "pqmf", "subband_stft", "subband_stft.stft_loss"]
    assert terms.pqmf is subband.pqmf
    terms.to(torch.float64)
    assert all(b.dtype == torch.float64 for b in terms.buffers() if b.is_floating_point())


def test_parts_that_do_not_match_the_weights_are_refused() -> None:
    lsgan = ADVERSARIAL_LOSSES.build("lsgan")
    mel = MelLoss(sample_rate=SR)
    with pytest.raises(ValueError, match="'mel' loss module is missing"):
        GeneratorLossTerms({"mel": 45.0}, lsgan)
    with pytest.raises(ValueError, match="'mel' loss module is given without a weight"):
        GeneratorLossTerms({"adversarial": 1.0}, lsgan, mel=mel)
    with pytest.raises(ValueError, match=r"unknown loss terms \['mle'\]"):
        GeneratorLossTerms({"mle": 1.0}, lsgan)


def test_term_names_are_the_configs() -> None:
    assert set(KNOWN_TERMS) == set(LOSS_TERMS)
    assert set(SPECTRAL_TERMS) == set(CONFIG_SPECTRAL_TERMS)
