"""Helpers that several callers share (each written once): their results and exact messages.

Covers the model-directory writer shared by export and import, the import readers' detection,
``--config`` and YAML helpers, the pooled-scales discriminators, the generators' latent prior
hooks, the manifest header check and the datasets' settings checks.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from audiogan.config import config_from_dict
from audiogan.data.datasets import ClipDataset, DataSettingsError, SegmentDataset
from audiogan.data.manifest import ManifestError, read_manifest
from audiogan.inference.export import ExportError, write_model_dir
from audiogan.inference.imports.base import READERS, Detection, ImportSourceError, read_yaml
from audiogan.models import build_discriminator, build_generator

_CONFIG = {
    "sample_rate": 22050,
    "generator": {"name": "hifigan", "params": {"preset": "v1"}},
    "discriminator": {"name": "combined", "params": {}},
}


# --------------------------------------------------------------------------- model directory


def test_write_model_dir_writes_config_and_files(tmp_path: Path) -> None:
    out = tmp_path / "model"
    write_model_dir(config_from_dict(_CONFIG), [("a.bin", b"12"), ("b.bin", b"")], out,
                    ExportError, "exported")
    assert sorted(p.name for p in out.iterdir()) == ["a.bin", "b.bin", "config.yaml"]
    assert (out / "a.bin").read_bytes() == b"12"
    assert "hifigan" in (out / "config.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize(("error", "verb"), [(ExportError, "exported"),
                                             (ImportSourceError, "imported")])
def test_write_model_dir_failure_names_the_caller_and_leaves_nothing(
        tmp_path: Path, error: type[Exception], verb: str) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder", encoding="utf-8")
    out = blocker / "model"
    with pytest.raises(error, match=f"nothing was {verb} \\({out} not created\\)"):
        write_model_dir(config_from_dict(_CONFIG), [("a.bin", b"1")], out, error, verb)
    assert blocker.read_text(encoding="utf-8") == "not a folder"


# --------------------------------------------------------------------------- import readers


def test_reader_detection_lists_the_files_found_beside_the_checkpoint(tmp_path: Path) -> None:
    reader = READERS["pwg"]
    checkpoint = tmp_path / "checkpoint-400000steps.pkl"
    checkpoint.write_bytes(b"")
    alone = reader.detection(checkpoint, "config.yml")
    assert alone.config_file is None and alone.extra == {}
    assert alone.description == ("kan-bayashi/ParallelWaveGAN checkpoint "
                                 "(checkpoint-400000steps.pkl)")
    (tmp_path / "config.yml").write_text("a: 1\n", encoding="utf-8")
    stats = tmp_path / "stats.h5"
    with_all = reader.detection(checkpoint, "config.yml", {"h5": stats}, what="generator")
    assert with_all.config_file == tmp_path / "config.yml"
    assert with_all.extra == {"h5": stats}
    assert with_all.description == ("kan-bayashi/ParallelWaveGAN generator "
                                    "(checkpoint-400000steps.pkl + config.yml + stats.h5)")


def test_reader_config_path_prefers_the_option_then_asks_for_it(tmp_path: Path) -> None:
    checkpoint = tmp_path / "g_00100000"
    found = Detection(checkpoint, tmp_path / "config.json", "d")
    missing = Detection(checkpoint, None, "d")
    given = tmp_path / "mine.json"
    reader = READERS["hifigan"]
    assert reader.config_path(found, given, "config.json", "x") == given
    assert reader.config_path(found, None, "config.json", "x") == tmp_path / "config.json"
    with pytest.raises(ImportSourceError) as caught:
        reader.config_path(missing, None, "config.json", "the training config")
    assert str(caught.value) == (f"{checkpoint}: no config.json beside it; pass the training "
                                 "config with --config")


def test_read_yaml_gives_a_mapping_or_one_line_naming_the_file(tmp_path: Path) -> None:
    good = tmp_path / "good.yml"
    good.write_text("generator_type: HiFiGANGenerator\nsampling_rate: 22050\n", encoding="utf-8")
    assert read_yaml(good) == {"generator_type": "HiFiGANGenerator", "sampling_rate": 22050}
    listed = tmp_path / "list.yml"
    listed.write_text("- 1\n", encoding="utf-8")
    with pytest.raises(ImportSourceError, match="list.yml: expected a YAML mapping at the top"):
        read_yaml(listed)
    broken = tmp_path / "broken.yml"
    broken.write_text("a: [1\n", encoding="utf-8")
    with pytest.raises(ImportSourceError, match="broken.yml: not valid YAML"):
        read_yaml(broken)
    with pytest.raises(ImportSourceError, match="absent.yml"):
        read_yaml(tmp_path / "absent.yml")


# --------------------------------------------------------------------------- models


@pytest.mark.parametrize(("name", "prefix"), [("msd", "msd"), ("melgan_msd", "melgan")])
def test_pooled_scales_discriminators(name: str, prefix: str) -> None:
    with pytest.raises(ValueError, match="scales must be >= 1, got 0"):
        build_discriminator(name, scales=0)
    discriminator = build_discriminator(name, scales=2)
    assert discriminator.names == [f"{prefix}_s0", f"{prefix}_s1"]
    output = discriminator(torch.randn(2, 1, 4096))
    assert len(output.logits) == len(output.features) == 2
    # the second scale sees the signal pooled once: about half as many frames
    first, second = (logit.shape[-1] for logit in output.logits)
    assert output.logits[0].shape[0] == 2 and abs(first / second - 2) < 0.1


def test_latent_prior_hooks() -> None:
    wavegan = build_generator("wavegan", model_size=4)
    drawn = wavegan.sample_latent(5, torch.Generator().manual_seed(3))
    expected = 2.0 * torch.rand(5, 100, generator=torch.Generator().manual_seed(3)) - 1.0
    assert torch.equal(drawn, expected)
    assert wavegan.latent_device() == wavegan.dense.weight.device
    hifigan = build_generator("hifigan", preset="v1")
    assert hifigan.latent_device() is None
    assert hifigan.sample_latent(2, torch.Generator().manual_seed(0)).shape == (2, 0)


# --------------------------------------------------------------------------- data


@pytest.mark.parametrize(("header", "problem"), [
    ("path\tnum_samples\tsample_rate\tpitch", "unknown column(s) 'pitch' in the header"),
    ("path\tnum_samples\tsample_rate\tlabel\tlabel", "repeated column(s) label"),
    ("path\tsample_rate", "header lacks required column(s) num_samples (need path, "
                          "num_samples, sample_rate, tab-separated)"),
])
def test_manifest_header_problems(tmp_path: Path, header: str, problem: str) -> None:
    manifest = tmp_path / "train.tsv"
    manifest.write_text(header + "\n", encoding="utf-8")
    with pytest.raises(ManifestError) as caught:
        read_manifest(manifest)
    assert problem in str(caught.value) and "train.tsv" in str(caught.value)


@pytest.mark.parametrize(("make", "message"), [
    (lambda: SegmentDataset([], segment_length=0, sample_rate=16000),
     "segment_length must be > 0, got 0"),
    (lambda: SegmentDataset([], segment_length=8, sample_rate=16000, short="trim"),
     "short must be 'pad' or 'skip', got 'trim'"),
    (lambda: ClipDataset([], clip_length=-1), "clip_length must be > 0, got -1"),
    (lambda: ClipDataset([], align="end"), "align must be 'start' or 'center', got 'end'"),
    (lambda: ClipDataset([], normalize="rms"), "normalize must be 'none' or 'peak', got 'rms'"),
])
def test_dataset_settings_errors(make: Callable[[], object], message: str) -> None:
    with pytest.raises(DataSettingsError) as caught:
        make()
    assert str(caught.value) == message
