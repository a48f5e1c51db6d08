"""The package's layers, enforced: every ``audiogan`` module imports only from its own package
or from packages in layers below, and the inference API loads nothing of training.

Layers, top to bottom (packages on one line are siblings and may not import each other)::

    cli
    training, evaluation
    inference
    recipes
    config
    losses
    models, data
    features
    audio
    core

The walker reads every module with ``ast`` — module-level and function-level imports,
``import audiogan.x``, ``from audiogan.x import y``, ``from audiogan import x`` and relative
forms — so an import hidden in a function body is caught as well.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE_ROOT = Path(__file__).resolve().parent.parent / "audiogan"

#: Top to bottom; packages in one tuple are siblings.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("cli",),
    ("training", "evaluation"),
    ("inference",),
    ("recipes",),
    ("config",),
    ("losses",),
    ("models", "data"),
    ("features",),
    ("audio",),
    ("core",),
)

#: Top-level modules that are not in a layer, and the packages each may import. ``__init__``
#: needs the lazy ``Vocoder`` / ``WaveGenerator`` and ``load_config``; ``__main__`` runs the CLI.
EXEMPT: dict[str, frozenset[str]] = {
    "audiogan": frozenset({"config", "inference"}),
    "audiogan.__main__": frozenset({"cli"}),
}

#: Names the top-level package defines, and the package each really lives in (``None``: the
#: package's own metadata, readable from any layer).
ROOT_NAMES: dict[str, str | None] = {
    "__version__": None,
    "Vocoder": "inference",
    "WaveGenerator": "inference",
    "load_config": "config",
}

_LAYER_OF: dict[str, int] = {pkg: depth for depth, pkgs in enumerate(LAYERS) for pkg in pkgs}


def module_name(path: Path, root: Path = PACKAGE_ROOT) -> str:
    """``audiogan/inference/vocoder.py`` -> ``audiogan.inference.vocoder`` (packages: no
    ``.__init__``)."""
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, module: str, is_package: bool) -> list[str]:
    """Every ``audiogan`` module named by an import anywhere in ``source`` (module-level,
    function-level, relative), as a dotted name. ``from audiogan import x`` yields
    ``audiogan.x``, so a sub-package pulled in that way is seen."""
    names: list[str] = []
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if base == "audiogan":
                names.extend(f"audiogan.{alias.name}" for alias in node.names)
            else:
                names.append(base)
    return [name for name in names if name == "audiogan" or name.startswith("audiogan.")]


def violation(module: str, imported: str) -> str | None:
    """``None`` when ``module`` may import ``imported``, else the line the test reports."""
    top = module.split(".")[1] if "." in module else None
    target = imported.split(".")[1] if "." in imported else None
    if target in ROOT_NAMES:
        target = ROOT_NAMES[target]
    if target is None or top == target:
        return None
    if module in EXEMPT or top not in _LAYER_OF:
        allowed = EXEMPT.get(module, frozenset())
        if target in allowed:
            return None
        return f"{module} -> {imported} (unlayered module imports layer {target})"
    if target not in _LAYER_OF:
        return f"{module} -> {imported} (layer {top} imports unknown package {target})"
    if _LAYER_OF[target] > _LAYER_OF[top]:
        return None
    kind = "sideways" if _LAYER_OF[target] == _LAYER_OF[top] else "upward"
    return f"{module} -> {imported} (layer {top} imports layer {target}, {kind})"


def layer_violations(root: Path = PACKAGE_ROOT) -> list[str]:
    """Every forbidden import under ``root``, one line each, sorted."""
    found: list[str] = []
    for path in sorted(root.rglob("*.py")):
        module = module_name(path, root)
        source = path.read_text(encoding="utf-8")
        for imported in imported_modules(source, module, path.name == "__init__.py"):
            line = violation(module, imported)
            if line is not None:
                found.append(line)
    return sorted(set(found))


def test_every_package_is_in_a_layer() -> None:
    packages = {p.name for p in PACKAGE_ROOT.iterdir() if (p / "__init__.py").is_file()}
    assert packages == set(_LAYER_OF)


def test_no_module_imports_upward_or_sideways() -> None:
    found = layer_violations()
    assert not found, "layer violations:\n" + "\n".join(found)


def test_walker_reports_a_fake_upward_import(tmp_path: Path) -> None:
    root = tmp_path / "audiogan"
    (root / "inference").mkdir(parents=True)
    (root / "core").mkdir()
    (root / "evaluation").mkdir()
    (root / "training").mkdir()
    (root / "inference" / "__init__.py").write_text("")
    (root / "inference" / "fine.py").write_text("from audiogan.core.errors import AudioganError\n")
    (root / "inference" / "bad.py").write_text(
        "import torch\n\ndef load():\n    from audiogan.training.state import x\n    return x\n"
    )
    (root / "core" / "__init__.py").write_text("")
    (root / "core" / "up.py").write_text("from audiogan import inference\n")
    (root / "core" / "rel.py").write_text("from ..inference import fine\n")
    (root / "evaluation" / "side.py").write_text("import audiogan.training.trainer\n")
    assert layer_violations(root) == [
        "audiogan.core.rel -> audiogan.inference (layer core imports layer inference, upward)",
        "audiogan.core.up -> audiogan.inference (layer core imports layer inference, upward)",
        "audiogan.evaluation.side -> audiogan.training.trainer "
        "(layer evaluation imports layer training, sideways)",
        "audiogan.inference.bad -> audiogan.training.state "
        "(layer inference imports layer training, upward)",
    ]


@pytest.mark.parametrize(
    ("module", "imported", "allowed"),
    [
        ("audiogan.cli.main", "audiogan.training.trainer", True),
        ("audiogan.inference.vocoder", "audiogan.inference.model_dir", True),
        ("audiogan.losses.spectral", "audiogan.features.mel", True),
        ("audiogan.losses.spectral", "audiogan.models.base", True),
        ("audiogan.data.pairs", "audiogan.models.base", False),
        ("audiogan.models.base", "audiogan.losses.spectral", False),
        ("audiogan.config.build", "audiogan.inference.model_dir", False),
        ("audiogan", "audiogan.inference.vocoder", True),
        ("audiogan", "audiogan.training.trainer", False),
        ("audiogan.__main__", "audiogan.cli.main", True),
        ("audiogan.evaluation.outputs", "audiogan.__version__", True),
        ("audiogan.evaluation.models", "audiogan.Vocoder", True),
        ("audiogan.models.base", "audiogan.Vocoder", False),
        ("audiogan.features.mel", "audiogan.load_config", False),
    ],
)
def test_violation_rule(module: str, imported: str, allowed: bool) -> None:
    assert (violation(module, imported) is None) is allowed


def test_inference_api_loads_no_training_or_tensorboard() -> None:
    code = (
        "import sys\n"
        "from audiogan import Vocoder, WaveGenerator\n"
        "bad = sorted(m for m in sys.modules if 'training' in m or 'tensorboard' in m)\n"
        "print('\\n'.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "", f"loaded by the inference API:\n{out.stdout}"
