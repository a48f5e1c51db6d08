"""audiogan.models.base: the generators' latent prior hooks (draw_prior, latent_device)."""

from __future__ import annotations

import torch

from audiogan.models import build_generator


def test_latent_prior_hooks() -> None:
    wavegan = build_generator("wavegan", model_size=4)
    drawn = wavegan.sample_latent(5, torch.Generator().manual_seed(3))
    expected = 2.0 * torch.rand(5, 100, generator=torch.Generator().manual_seed(3)) - 1.0
    assert torch.equal(drawn, expected)
    assert wavegan.latent_device() == wavegan.dense.weight.device
    hifigan = build_generator("hifigan", preset="v1")
    assert hifigan.latent_device() is None
    assert hifigan.sample_latent(2, torch.Generator().manual_seed(0)).shape == (2, 0)
