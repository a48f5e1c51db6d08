"""Shared import plumbing: numbered checkpoint names sort by their number, not as text, so a
directory import takes the newest step (``checkpoint-10000steps.pkl`` after
``checkpoint-900steps.pkl``; ``g_00010000`` after ``g_900``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from audiogan.inference.imports import base
from audiogan.inference.imports.base import READERS, Detection, ImportSourceError, read_yaml
from audiogan.inference.imports.hifigan_jik import HiFiGANJikReader
from audiogan.inference.imports.pwg import ParallelWaveGANReader


def test_name_number_reads_group_one() -> None:
    pattern = re.compile(r"^checkpoint-(\d+)steps\.pkl$")
    names = ["checkpoint-900steps.pkl", "checkpoint-10000steps.pkl", "checkpoint-0100steps.pkl"]
    assert [base.name_number(pattern, Path(name)) for name in names] == [900, 10000, 100]
    ordered = sorted((Path("run") / name for name in names), key=lambda p: base.name_number(
        pattern, p))
    assert [p.name for p in ordered] == [names[2], names[0], names[1]]


def test_pwg_directory_takes_the_highest_step(tmp_path: Path) -> None:
    for name in ("checkpoint-900steps.pkl", "checkpoint-10000steps.pkl", "checkpoint-x.pkl"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "checkpoint-99999steps.pkl").mkdir()  # not a file: never taken
    detection = ParallelWaveGANReader().detect(tmp_path)
    assert detection is not None
    assert detection.checkpoint == tmp_path / "checkpoint-10000steps.pkl"


def test_jik_directory_takes_the_highest_step(tmp_path: Path) -> None:
    for name in ("g_900", "g_00010000", "do_00020000"):
        (tmp_path / name).write_bytes(b"")
    detection = HiFiGANJikReader().detect(tmp_path)
    assert detection is not None
    assert detection.checkpoint == tmp_path / "g_00010000"


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
