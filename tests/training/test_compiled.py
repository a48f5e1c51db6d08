"""training.compile on CPU (inductor): the generator and discriminator forwards trace without a
graph break (the shrunk test recipe and the tiny HiFi-GAN recipe as shipped, with the other
levers on too), and a compiled run's losses equal the eager run's from the same seed, with the
first step's time (compilation included) logged on its own line. The compiled run is slow on a
cold inductor cache (minutes of C++ compilation on one core; seconds once cached)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
import torch._dynamo
from torch._dynamo.utils import counters
from training_helpers import vocoder_config

from audiogan.config import Config
from audiogan.config.build import discriminator_from_config, generator_from_config
from audiogan.recipes import load_tiny_recipe
from audiogan.training import guard
from audiogan.training.levers import cxx_compiler, to_channels_last
from audiogan.training.trainer import Trainer


def _explain(config: Config, *, levers: bool) -> tuple[int, int, list]:
    """(graphs, graph breaks, reasons) of G's and D's training forwards."""
    torch.manual_seed(0)
    generator = generator_from_config(config).train()
    discriminator = discriminator_from_config(config).train()
    t = config.training
    mel = torch.randn(t.batch_size, config.features.n_mels or 80,
                      t.segment_length // generator.hop_length)
    wave = torch.randn(t.batch_size, 1, t.segment_length)
    if levers:
        to_channels_last(discriminator)
        guard.split_stateful_layers(discriminator)
        guard._JOINT[0] = True  # as during a joint call
        wave = torch.cat([wave, wave])
    try:
        g = torch._dynamo.explain(generator)(mel)
        d = torch._dynamo.explain(discriminator)(wave, None)
    finally:
        guard._JOINT[0] = False
    return (g.graph_count + d.graph_count, g.graph_break_count + d.graph_break_count,
            [*g.break_reasons, *d.break_reasons])


@pytest.mark.parametrize("levers", [False, True], ids=["plain", "levers"])
def test_the_forwards_have_no_graph_breaks(corpus: Path, levers: bool) -> None:
    for config in (vocoder_config(corpus), load_tiny_recipe("hifigan")):
        graphs, breaks, reasons = _explain(config, levers=levers)
        assert (graphs, breaks) == (2, 0), reasons


@pytest.mark.slow
@pytest.mark.skipif(cxx_compiler() is None, reason="inductor needs a C++ compiler on CPU")
def test_compiled_training_equals_eager(corpus: Path, tmp_path: Path, caplog) -> None:
    histories = {}
    for compiled in (False, True):
        config = vocoder_config(corpus, max_steps=3, checkpoint_every=100,
                                discriminator_start_step=0, compile=compiled)
        counters.clear()
        with caplog.at_level(logging.INFO, logger="audiogan.training.trainer"):
            histories[compiled] = Trainer(config, tmp_path / str(compiled), device="cpu",
                                          console=False).fit().history
        assert not counters["graph_break"], dict(counters["graph_break"])
    assert counters["stats"]["unique_graphs"] >= 2  # G and D really went through dynamo
    assert "step 1 took" in caplog.text and "torch.compile's first calls included" in caplog.text
    for eager, comp in zip(histories[False], histories[True], strict=True):
        assert eager.keys() == comp.keys()
        for key in ("g_loss", "d_loss", "g_mel", "g_feature_matching", "g_adversarial"):
            assert comp[key] == pytest.approx(eager[key], rel=1e-5), key


@pytest.mark.gpu
@pytest.mark.slow
def test_cuda_graphs_training_equals_eager(corpus: Path, tmp_path: Path) -> None:
    """compile_mode reduce-overhead (CUDA graphs) with every exact lever: the eager losses."""
    histories = {}
    for levers in ({}, {"compile": True, "compile_mode": "reduce-overhead",
                        "fused_optimizer": True, "joint_discriminator": True,
                        "channels_last": True}):
        config = vocoder_config(corpus, max_steps=4, checkpoint_every=100,
                                discriminator_start_step=0, **levers)
        histories[bool(levers)] = Trainer(config, tmp_path / str(bool(levers)), device="cuda",
                                          console=False).fit().history
    for eager, comp in zip(histories[False], histories[True], strict=True):
        for key in ("g_loss", "d_loss", "g_mel", "g_feature_matching"):
            assert comp[key] == pytest.approx(eager[key], rel=1e-3), key  # TF32 convs: algos
