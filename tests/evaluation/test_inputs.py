"""label_from_path's documented rules (folder name; flat FSDD and Speech Commands names; no
label) and the labels collect_clips gives a directory of real files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiogan.evaluation.inputs import collect_clips, label_from_path

ROOT = Path("/data/digits")


@pytest.mark.parametrize(("relative", "label"), [
    # sub-folders: the folder holding the file (SC09 / Speech Commands layout)
    ("seven/0a2b400e_nohash_0.wav", "seven"),
    ("_background_noise_/white_noise.wav", "_background_noise_"),
    ("train/seven/abc_nohash_1.wav", "seven"),  # nested: the innermost folder
    ("speaker 1/yes/clip.wav", "yes"),
    # flat files: the name up to the first underscore
    ("7_jackson_32.wav", "7"),  # FSDD: the digit, not its word
    ("0_george_5.wav", "0"),
    ("nine_fafe8101_nohash_1.wav", "nine"),  # Speech Commands, flattened
    # flat files without an underscore have no label
    ("clip.wav", None),
    ("LJ001-0002.wav", None),
    ("7.wav", None),
])
def test_documented_rules(relative: str, label: str | None) -> None:
    assert label_from_path(ROOT / relative, ROOT) == label


@pytest.mark.parametrize(("relative", "label"), [
    ("Seven/a.wav", "Seven"),  # case is kept, never folded
    ("SEVEN_x.WAV", "SEVEN"),
    ("Nine_Fafe_nohash_1.Flac", "Nine"),
])
def test_case_is_kept(relative: str, label: str) -> None:
    assert label_from_path(ROOT / relative, ROOT) == label


@pytest.mark.parametrize(("relative", "label"), [
    ("7 jackson_3.wav", "7 jackson"),  # spaces stay in the label
    ("über_1.wav", "über"),
    ("a.b_c.wav", "a.b"),  # only the last suffix is dropped
    ("x_y.tar.wav", "x"),
    ("seven_.wav", "seven"),
    ("_1.wav", ""),  # a leading underscore gives the empty label (the rule, literally)
    ("weird;name_$(rm -rf)_1.wav", "weird;name"),
    ("dir_with_underscores/nohash.wav", "dir_with_underscores"),
])
def test_hostile_names(relative: str, label: str) -> None:
    assert label_from_path(ROOT / relative, ROOT) == label


def test_relative_roots_and_paths_outside_the_root() -> None:
    assert label_from_path(Path("digits/seven/a.wav"), Path("digits")) == "seven"
    assert label_from_path(Path("digits/7_x_1.wav"), Path("digits")) == "7"
    with pytest.raises(ValueError):
        label_from_path(Path("/elsewhere/seven/a.wav"), ROOT)


def _wav(path: Path, seconds: float = 0.2, sr: int = 8000) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(sr * seconds)) / sr
    sf.write(path, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), sr)


def test_collect_clips_labels_a_directory(tmp_path: Path) -> None:
    root = tmp_path / "real"
    _wav(root / "seven" / "a_nohash_0.wav")
    _wav(root / "nested" / "nine" / "b.wav")
    _wav(root / "3_theo_1.wav")
    _wav(root / "plain.wav")
    _wav(root / ".hidden" / "x.wav")  # hidden folders are not searched
    _wav(root / ".7_hidden.wav")
    (root / "notes.txt").write_text("not audio")
    (root / "broken_1.wav").write_bytes(b"RIFF0000WAVEjunk")

    entries, rejected = collect_clips(root)

    labels = {entry.path.relative_to(root.absolute()).as_posix(): entry.label
              for entry in entries}
    assert labels == {"3_theo_1.wav": "3", "nested/nine/b.wav": "nine", "plain.wav": None,
                      "seven/a_nohash_0.wav": "seven"}
    assert [str(e.path) for e in entries] == sorted(str(e.path) for e in entries)
    assert all(e.sample_rate == 8000 and e.num_samples == 1600 for e in entries)
    assert [Path(path).name for path, _ in rejected] == ["broken_1.wav"]
    assert str(root) not in rejected[0][1]  # the reason does not repeat the path


def test_a_single_file_or_a_manifest_gets_no_label_from_its_name(tmp_path: Path) -> None:
    _wav(tmp_path / "7_jackson_1.wav")
    entries, _ = collect_clips(tmp_path / "7_jackson_1.wav")
    assert [e.label for e in entries] == [None]
    (tmp_path / "m.tsv").write_text("path\tnum_samples\tsample_rate\tlabel\n"
                                    "7_jackson_1.wav\t1600\t8000\tseven\n")
    entries, _ = collect_clips(tmp_path / "m.tsv")
    assert [e.label for e in entries] == ["seven"]  # the manifest's column wins
