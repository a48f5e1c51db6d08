"""What a built wheel carries: every folder of Python modules under audiogan/ is a package that
setup.cfg's ``packages = find:`` finds (a folder without ``__init__.py`` would be left out of a
wheel while an editable install still imports it)."""

from __future__ import annotations

import configparser
from pathlib import Path

from setuptools import find_packages

ROOT = Path(__file__).resolve().parents[1]


def _find_include() -> list[str]:
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    assert parser.get("options", "packages").strip() == "find:"
    return parser.get("options.packages.find", "include").replace(",", " ").split()


def test_every_module_folder_is_a_package_a_wheel_carries():
    found = set(find_packages(where=str(ROOT), include=_find_include()))
    folders = {
        ".".join(path.parent.relative_to(ROOT).parts)
        for path in (ROOT / "audiogan").rglob("*.py")
        if "__pycache__" not in path.parts
    }
    missing = sorted(folders - found)
    assert not missing, f"left out of a wheel (no __init__.py?): {missing}"
    assert {"audiogan.training", "audiogan.inference.imports", "audiogan.core"} <= found


def test_no_source_file_or_readme_exceeds_500_lines():
    # the project's limit: split a module rather than let it grow past 500 lines
    paths = [ROOT / "README.md", *(
        path for folder in ("audiogan", "benchmarks", "tests")
        for path in (ROOT / folder).rglob("*.py") if "__pycache__" not in path.parts)]
    long = {str(path.relative_to(ROOT)): n for path in paths
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > 500}
    assert not long, f"over 500 lines (split or tighten them): {long}"
