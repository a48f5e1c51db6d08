"""Fault cases for recipes: ``audiogan train`` with bad config files, keys, values and ``--set``.

Config files that are missing, a directory, empty, not UTF-8, huge, not valid YAML or hostile
(python tags, alias bombs, deep nesting); unknown keys, wrong types, zero / negative / NaN /
infinite numbers, model params the models refuse, bad ``--set`` overrides. Each run must end
before the first step: exit 2, one ``error:`` line naming the file and the dotted key, no
traceback, no checkpoint written. (Manifests, audio and ``init_from``: :mod:`.cases_startup`.)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import startup_kit as kit
from .harness import Case, Scenario

_set = kit.set_key


def _recipe_text(name: str, text: str | bytes, *names: str) -> Case:
    """A case whose recipe file holds ``text`` verbatim."""
    def build(tmp: Path) -> Scenario:
        path = tmp / "recipe.yaml"
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        return kit.train(tmp, path, ("recipe.yaml", *names))
    return Case(name, build)


def _changed(name: str, change: Callable[[dict[str, Any]], None], *names: str) -> Case:
    """A case whose recipe is the good one with ``change`` applied to its mapping."""
    def build(tmp: Path) -> Scenario:
        return kit.train(tmp, kit.recipe(tmp, change), ("recipe.yaml", *names))
    return Case(name, build)


def _override(name: str, override: str, *names: str) -> Case:
    """A case with a good recipe and one bad ``--set``."""
    def build(tmp: Path) -> Scenario:
        return kit.train(tmp, kit.recipe(tmp), names, "--set", override)
    return Case(name, build)


# ------------------------------------------------------------------------------ recipe files


def _missing_recipe(tmp: Path) -> Scenario:
    return kit.train(tmp, tmp / "nope.yaml", ("nope.yaml", "not found"))


def _directory_recipe(tmp: Path) -> Scenario:
    (tmp / "recipes").mkdir()
    return kit.train(tmp, tmp / "recipes", ("recipes", "directory"))


def _huge_recipe(tmp: Path) -> Scenario:
    path = tmp / "recipe.yaml"
    path.write_text("# padding\n" * 200_000)
    return kit.train(tmp, path, ("recipe.yaml", "too large"))


_BOMB = "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
    f"{k}: &{k} [{', '.join([f'*{p}'] * 10)}]\n" for p, k in zip("abcdefg", "bcdefgh")
) + "generator: {name: hifigan, params: {preset: v1, x: *h}}\ndiscriminator: {name: combined}\n"


RECIPE_CASES = [
    Case("config_missing_file", _missing_recipe),
    Case("config_is_directory", _directory_recipe),
    _recipe_text("config_empty_file", "", "empty"),
    _recipe_text("config_only_comments", "# nothing here\n", "empty"),
    _recipe_text("config_not_utf8", b"sample_rate: 22050\ngenerator: {name: hifi\xff}\n", "UTF-8"),
    _recipe_text("config_yaml_syntax", "sample_rate: 22050\ngenerator: {name: hifigan\n",
                 "line 3"),
    _recipe_text("config_yaml_bad_indent", "training:\n  batch_size: 2\n bad: 1\n", "line"),
    _recipe_text("config_top_level_list", "- 1\n- 2\n", "mapping"),
    _recipe_text("config_python_tag", "!!python/object/apply:os.system ['true']\n", "YAML"),
    _recipe_text("config_alias_bomb", _BOMB, "aliases"),
    _recipe_text("config_deep_nesting", "a: " + "[" * 1100 + "]" * 1100 + "\n", "nested"),
    Case("config_huge_file", _huge_recipe),
    _recipe_text("config_missing_generator", "discriminator: {name: combined}\n", "generator"),
]


# ------------------------------------------------------------------------------ keys and values


VALUE_CASES = [
    _changed("config_unknown_key", _set("training.bach_size", 2), "training.bach_size",
             "batch_size"),
    _changed("config_unknown_section", _set("trainig.batch_size", 2), "trainig"),
    _changed("config_wrong_type_int", _set("training.batch_size", "two"), "training.batch_size"),
    _changed("config_wrong_type_float", _set("optim.generator.lr", "fast"),
             "optim.generator.lr"),
    _changed("config_wrong_type_bool", _set("training.compile", "maybe"), "training.compile"),
    _changed("config_wrong_type_list", _set("optim.generator.betas", 0.8),
             "optim.generator.betas"),
    _changed("config_wrong_literal", _set("training.precision", "fp64"), "training.precision"),
    _changed("config_section_not_mapping", _set("training", 5), "training"),
    _changed("config_zero_batch", _set("training.batch_size", 0), "training.batch_size"),
    _changed("config_negative_segment", _set("training.segment_length", -8192),
             "training.segment_length"),
    _changed("config_zero_sample_rate", _set("sample_rate", 0), "sample_rate"),
    _changed("config_huge_sample_rate", _set("sample_rate", 10**9), "sample_rate"),
    _changed("config_negative_lr", _set("optim.generator.lr", -1e-3), "optim.generator.lr"),
    _changed("config_nan_lr", _set("optim.discriminator.lr", float("nan")),
             "optim.discriminator.lr"),
    _changed("config_inf_weight", _set("loss.weights.mel", float("inf")), "loss.weights.mel"),
    _changed("config_negative_weight", _set("loss.weights.feature_matching", -2.0),
             "loss.weights.feature_matching"),
    _changed("config_nan_max_steps", _set("training.max_steps", float("nan")),
             "training.max_steps"),
    _changed("config_fractional_int", _set("training.batch_size", 2.5), "training.batch_size"),
    _changed("config_betas_out_of_range", _set("optim.generator.betas", [0.8, 1.5]),
             "optim.generator.betas[1]"),
    _changed("config_gamma_zero", _set("scheduler.gamma", 0.0), "scheduler.gamma"),
    _changed("config_negative_seed", _set("training.seed", -1), "training.seed"),
    _changed("config_negative_workers", _set("training.num_workers", -1),
             "training.num_workers"),
    _changed("config_milestones_decreasing",
             _set("scheduler", {"name": "multistep", "milestones": [100, 50]}),
             "scheduler.milestones"),
    _changed("config_stft_zero_fft", _set("loss.stft", {"fft_sizes": [0], "hop_sizes": [1],
                                                        "win_lengths": [1]}),
             "loss.stft.fft_sizes[0]"),
    _changed("config_ema_out_of_range", _set("training.ema_decay", 1.5), "training.ema_decay"),
    _changed("config_discriminator_clip_negative", _set("training.grad_clip_discriminator", -1),
             "training.grad_clip_discriminator"),
    _changed("config_accumulation_split", _set("training.grad_accumulation", 3),
             "training.grad_accumulation"),
    _changed("config_f_max_above_nyquist", _set("features.f_max", 20000), "f_max"),
    _changed("config_n_mels_zero", _set("features.n_mels", 0), "features.n_mels"),
    _changed("config_segment_not_hop_multiple", _set("training.segment_length", 8000),
             "training.segment_length"),
    _changed("config_hop_mismatch", _set("features.hop_length", 512), "features.hop_length"),
    _changed("config_unknown_generator", _set("generator.name", "hifi"), "generator.name"),
    _changed("config_unknown_discriminator", _set("discriminator.name", "multi"),
             "discriminator.name"),
    _changed("config_generator_param_unknown", _set("generator.params.bogus", 1),
             "generator.params", "bogus"),
    _changed("config_generator_preset_unknown", _set("generator.params.preset", "v9"),
             "generator.params", "v9"),
    _changed("config_pwg_fractional_upsample_scale", _set("generator", {
        "name": "parallel_wavegan", "params": {"layers": 2, "stacks": 1, "residual_channels": 4,
                                               "gate_channels": 4, "skip_channels": 4,
                                               "upsample_scales": [4, 4, 4, 4.5]}}),
             "generator.params", "upsample_scales", "4.5"),
    _changed("config_discriminator_param_unknown", _set("discriminator.params.bogus", 1),
             "discriminator.params", "bogus"),
    _changed("config_unknown_loss_term", _set("loss.weights.mell", 1.0), "loss.weights.mell"),
    _changed("config_unknown_adversarial", _set("loss.adversarial", "wgan"), "loss.adversarial"),
    _changed("config_latent_with_mel_loss", lambda c: c.update({
        "sample_rate": 16000, "generator": {"name": "wavegan", "params": {"model_size": 8}},
        "discriminator": {"name": "wavegan", "params": {"model_size": 8}},
        "training": {**c["training"], "segment_length": 16384}}), "loss.weights.mel"),
    _changed("config_missing_discriminator", kit.drop("discriminator"), "discriminator"),
    _changed("config_labels_repeated", _set("data.labels", ["a", "a"]), "data.labels"),
]


# ------------------------------------------------------------------------------ --set


SET_CASES = [
    _override("set_unknown_key", "training.bach_size=3", "--set training.bach_size=3",
              "training.batch_size"),
    _override("set_unknown_section", "trainig.batch_size=3", "--set trainig.batch_size=3"),
    _override("set_bad_int", "training.batch_size=eight", "training.batch_size",
              "--set training.batch_size=eight"),
    _override("set_nan", "optim.generator.lr=.nan", "optim.generator.lr", "--set"),
    _override("set_negative", "training.max_steps=-5", "training.max_steps", "--set"),
    _override("set_no_equals", "training.batch_size", "--set training.batch_size", "key.sub"),
    _override("set_empty_key", "=3", "--set =3", "empty"),
    _override("set_bad_yaml", "optim.generator.betas=[0.8", "--set optim.generator.betas",
              "YAML"),
    _override("set_below_scalar", "training.batch_size.x=1", "--set training.batch_size.x=1",
              "not a mapping"),
    _override("set_section_scalar", "training=3", "training", "--set training=3"),
    _override("set_bad_choice", "training.precision=fp64", "training.precision", "fp64"),
]


CASES: list[Case] = [*RECIPE_CASES, *VALUE_CASES, *SET_CASES]
