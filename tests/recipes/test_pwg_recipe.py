"""recipes/ljspeech/parallel_wavegan.yaml restates kan-bayashi/ParallelWaveGAN's
egs/ljspeech/voc1/conf/parallel_wavegan.v1.yaml, and trains two steps at reduced size as it is
(RAdam, step decay, per-model gradient clipping, MR-STFT + 4 x LSGAN)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from audiogan.config import load_config

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "ljspeech" / "parallel_wavegan.yaml"


def test_the_recipe_is_parallel_wavegan_v1() -> None:
    """Key by key, the values of parallel_wavegan.v1.yaml."""
    from audiogan.config.build import (
        discriminator_from_config,
        generator_from_config,
        loss_terms_from_config,
    )

    config = load_config(RECIPE)
    spec = config.feature_spec()
    # sampling_rate, fft_size, hop_size, win_length (null: fft_size), num_mels, fmin, fmax
    assert (spec.profile, spec.sample_rate, spec.n_fft, spec.hop_length, spec.win_length,
            spec.n_mels, spec.f_min, spec.f_max) == ("pwg", 22050, 1024, 256, 1024, 80, 80.0,
                                                     7600.0)
    assert config.features.stats  # z-normalised with the training set's statistics
    # generator_params: 30 layers, 3 stacks, 64 / 128 / 64 channels, kernel 3, context 2
    assert config.generator.name == "parallel_wavegan"
    assert config.generator.params == {
        "layers": 30, "stacks": 3, "residual_channels": 64, "gate_channels": 128,
        "skip_channels": 64, "kernel_size": 3, "aux_context_window": 2,
        "upsample_scales": [4, 4, 4, 4], "dropout": 0.0, "bias": True}
    with torch.device("meta"):
        generator = generator_from_config(config)
        discriminator = discriminator_from_config(config)
    assert generator.hop_length == 256 and generator.noise_channels == 1
    assert generator.in_channels == 80  # aux_channels: num_mels
    # discriminator_params: 10 layers of 64 channels, kernel 3, LeakyReLU 0.2, bias
    assert config.discriminator.name == "parallel_wavegan"
    assert config.discriminator.params == {"layers": 10, "channels": 64, "kernel_size": 3,
                                           "dilation_factor": 1, "negative_slope": 0.2,
                                           "bias": True}
    assert discriminator.dilations == [1, 1, 2, 3, 4, 5, 6, 7, 8, 1]  # the reference's layout
    # stft_loss_params and lambda_adv: aux (sc + mag, averaged over resolutions) + 4 x adv
    loss = config.loss
    assert loss.adversarial == "lsgan" and loss.weights == {"adversarial": 4.0, "stft": 1.0}
    stft = loss_terms_from_config(config).stft
    assert stft.resolutions == [(1024, 120, 600), (2048, 240, 1200), (512, 50, 240)]
    # optimisers: RAdam, lr G 1e-4 / D 5e-5, eps 1e-6, no weight decay, the default betas
    g, d = config.optim.generator, config.optim.discriminator
    assert (g.name, g.lr, g.eps, g.weight_decay, g.betas) == ("radam", 1e-4, 1e-6, 0.0,
                                                              (0.9, 0.999))
    assert (d.name, d.lr, d.eps, d.weight_decay, d.betas) == ("radam", 5e-5, 1e-6, 0.0,
                                                              (0.9, 0.999))
    # StepLR(step_size 200000, gamma 0.5) over train_max_steps 400000
    s = config.scheduler
    assert (s.name, s.milestones, s.gamma, s.interval) == ("multistep", (200000,), 0.5, "step")
    t = config.training
    # generator_grad_norm, discriminator_grad_norm
    assert (t.grad_clip, t.grad_clip_discriminator) == (10.0, 1.0)
    assert (t.batch_size, t.segment_length, t.max_steps) == (6, 25600, 400000)
    assert t.discriminator_start_step == 100000  # discriminator_train_start_steps
    assert t.adversarial_start_step is None and t.n_critic == 1
    assert (t.checkpoint_every, t.valid_every, t.log_every) == (5000, 1000, 100)


def test_the_recipes_generator_loss_is_the_references() -> None:
    """Generator loss before the discriminator joins: our weighted `stft` term equals
    parallel-wavegan 0.6.1's sc_loss + mag_loss (the recipe's aux loss, lambda_aux 1)."""
    import warnings

    from refs_helpers import pwg_reference

    from audiogan.config.build import loss_terms_from_config

    pwg_reference()  # puts the reference package on the path (or skips / fails)
    from parallel_wavegan.losses import MultiResolutionSTFTLoss as ReferenceLoss

    terms = loss_terms_from_config(load_config(RECIPE))
    gen = torch.Generator().manual_seed(0)
    real = 0.3 * torch.randn(3, 1, 25600, generator=gen)
    fake = real + 0.1 * torch.randn(3, 1, 25600, generator=gen)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the reference's return_complex=False
        sc, mag = ReferenceLoss()(fake.squeeze(1), real.squeeze(1))
    ours = terms.total(terms.reconstruction(fake, real))
    torch.testing.assert_close(ours, sc + mag, rtol=1e-5, atol=1e-6)


def test_our_radam_steps_as_the_references_radam() -> None:
    """The recipe's optimiser is torch.optim.RAdam; with weight decay 0 it makes the same
    updates as the reference's own RAdam (written out here from its update rule), through
    the warm-up (SMA length <= 5: momentum-SGD) and the rectified steps."""
    torch.manual_seed(0)
    ours = torch.nn.Parameter(torch.randn(5))
    theirs = ours.detach().clone().double()
    opt = torch.optim.RAdam([ours], lr=1e-2, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.0)
    m = torch.zeros_like(theirs)
    v = torch.zeros_like(theirs)
    beta1, beta2, lr, eps = 0.9, 0.999, 1e-2, 1e-6
    sma_max = 2 / (1 - beta2) - 1
    for step in range(1, 13):
        grad = torch.sin(step * torch.arange(1.0, 6.0)).double()
        ours.grad = grad.float()
        opt.step()
        v = beta2 * v + (1 - beta2) * grad * grad
        m = beta1 * m + (1 - beta1) * grad
        beta2_t = beta2 ** step
        sma = sma_max - 2 * step * beta2_t / (1 - beta2_t)
        if sma >= 5:
            size = math.sqrt((1 - beta2_t) * (sma - 4) / (sma_max - 4) * (sma - 2) / sma
                             * sma_max / (sma_max - 2)) / (1 - beta1 ** step)
            theirs = theirs - size * lr * m / (v.sqrt() + eps)
        else:
            theirs = theirs - lr / (1 - beta1 ** step) * m
        torch.testing.assert_close(ours.detach().double(), theirs, rtol=1e-5, atol=1e-7)


def test_the_recipe_trains_two_steps_at_reduced_size(tmp_path: Path) -> None:
    """The recipe as it is, with the models shrunk and the discriminator joining at step 1:
    both models step, each clipped at its own limit."""
    from training_helpers import _write_corpus

    from audiogan.training.trainer import Trainer

    train = _write_corpus(tmp_path / "data", n=4, seconds=0.5)
    config = load_config(RECIPE, [
        "generator.params.layers=4", "generator.params.stacks=2",
        "generator.params.residual_channels=8", "generator.params.gate_channels=16",
        "generator.params.skip_channels=8", "discriminator.params.layers=3",
        "discriminator.params.channels=8", "training.segment_length=4096",
        "training.batch_size=2", "training.max_steps=2", "training.num_workers=0",
        "training.log_every=1", "training.checkpoint_every=2", "training.valid_every=1000",
        "training.discriminator_start_step=1", f"data.train={train}", "data.valid=null"])
    trainer = Trainer(config, tmp_path / "run", device="cpu", console=False)
    assert type(trainer.opt_g).__name__ == "RAdam"
    assert trainer.fit().step == 2
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text()
            .splitlines() if line.strip()]
    train_rows = [row for row in rows if row.get("split") == "train"]
    assert "d_loss" not in train_rows[0] and "g_stft" in train_rows[0]  # generator-only first
    assert {"d_loss", "g_adversarial", "g_stft", "d_grad_norm"} <= set(train_rows[1])
    assert (tmp_path / "run" / "checkpoints" / "step_00000002.pt").is_file()
