"""audiogan.training.data_setup: a run's dataset, sampler and feature statistics."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from audiogan.config import ConfigError
from audiogan.config.build import features_from_config
from audiogan.inference.kinds import model_kind
from audiogan.recipes import load_tiny_recipe
from audiogan.training.data_setup import build_training_data, compute_feature_stats
from audiogan.training.distributed import DistContext


def test_no_training_manifest_is_one_config_error_naming_data_train() -> None:
    config = load_tiny_recipe("hifigan")
    config = dataclasses.replace(config, data=dataclasses.replace(config.data, train=None))
    with pytest.raises(ConfigError, match=r"^data\.train: give the training manifest"):
        build_training_data(config, kind=model_kind(config), hop_length=256, dist=DistContext())
    features = features_from_config(config)
    with pytest.raises(ConfigError, match=r"^data\.train: give the training manifest"):
        compute_feature_stats(features, config, torch.device("cpu"))
