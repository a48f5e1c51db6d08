"""Fault cases for ``audiogan import``: config files whose values are not what the key needs
(null, a string, a bool), a discriminator shape the config check refuses and Parallel WaveGAN
generator options audiogan does not reproduce. Each is one ``error:`` line naming the key, exit 2,
no traceback and no model directory written.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .harness import Case, Scenario

#: A BigVGAN-v2 config.json at toy size (8 mels, hop 8); only its values are read before the
#: failures below.
_BIGVGAN = {
    "resblock": "1", "upsample_rates": [4, 2], "upsample_kernel_sizes": [8, 4],
    "upsample_initial_channel": 32, "resblock_kernel_sizes": [3, 7],
    "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5]], "activation": "snakebeta",
    "snake_logscale": True, "use_tanh_at_final": False, "use_bias_at_final": False,
    "use_cqtd_instead_of_mrd": True, "cqtd_filters": 8, "cqtd_max_filters": 16,
    "cqtd_hop_lengths": [64, 32, 32], "cqtd_n_octaves": [5, 5, 5],
    "cqtd_bins_per_octaves": [12, 18, 24], "mpd_reshapes": [2, 3],
    "discriminator_channel_mult": 0.25, "use_multiscale_melloss": True, "num_mels": 8,
    "n_fft": 64, "hop_size": 8, "win_size": 64, "sampling_rate": 8000, "fmin": 0, "fmax": None,
}


def _nothing_written(out: Path) -> Callable[[], None]:
    def intact() -> None:
        assert not out.exists(), sorted(p.name for p in out.iterdir())
    return intact


def _bigvgan(changes: dict[str, Any], *names: str) -> Callable[[Path], Scenario]:
    def build(tmp: Path) -> Scenario:
        import torch

        release = tmp / "release"
        release.mkdir()
        torch.save({"generator": {"conv_pre.weight": torch.zeros(4, 8, 7)}},
                   release / "bigvgan_generator.pt")
        (release / "config.json").write_text(json.dumps({**_BIGVGAN, **changes}))
        out = tmp / "model"
        return Scenario(["import", str(release), "-o", str(out)], 2, ("config.json", *names),
                        intact=_nothing_written(out))
    return build


def _pwg(changes: dict[str, Any], *names: str) -> Callable[[Path], Scenario]:
    """A ParallelWaveGAN training dir whose ParallelWaveGANGenerator config asks for an option
    audiogan does not reproduce (refused before the checkpoint is read)."""
    def build(tmp: Path) -> Scenario:
        import torch
        import yaml

        exp = tmp / "exp"
        exp.mkdir()
        torch.save({"model": {"generator": {}}}, exp / "checkpoint-10steps.pkl")
        config = {"sampling_rate": 22050, "fft_size": 1024, "hop_size": 256, "num_mels": 80,
                  "generator_type": "ParallelWaveGANGenerator", "generator_params": changes}
        (exp / "config.yml").write_text(yaml.safe_dump(config))
        out = tmp / "model"
        return Scenario(["import", str(exp), "-o", str(out)], 2, ("config.yml", *names),
                        intact=_nothing_written(out))
    return build


CASES = [
    Case("import_bigvgan_null_n_fft", _bigvgan({"n_fft": None}, "'n_fft' is None")),
    Case("import_bigvgan_sampling_rate_text",
         _bigvgan({"sampling_rate": "22k"}, "'sampling_rate' is '22k'")),
    Case("import_bigvgan_learning_rate_text",
         _bigvgan({"learning_rate": "x"}, "'learning_rate' is 'x'")),
    Case("import_bigvgan_bool_as_batch_size",
         _bigvgan({"batch_size": True}, "'batch_size' is True")),
    Case("import_bigvgan_cqt_lists_differ",
         _bigvgan({"cqtd_bins_per_octaves": [24]}, "discriminator.params.cqtd_params",
                  "bins_per_octaves")),
    Case("import_pwg_causal_generator",
         _pwg({"use_causal_conv": True}, "'generator_params.use_causal_conv'")),
    Case("import_pwg_upsample_activation",
         _pwg({"upsample_params": {"upsample_scales": [4, 4, 4, 4],
                                   "nonlinear_activation": "ReLU"}},
              "'generator_params.upsample_params.nonlinear_activation'")),
]
