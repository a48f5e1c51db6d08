"""Typed conversion of parsed YAML onto the frozen config dataclasses, and reading a recipe file.

:func:`build_dataclass` converts a mapping to a dataclass field by field (``1`` for a float field
becomes ``1.0``; NaN and infinities are refused), naming the dotted key of any value it cannot
convert and suggesting the closest valid name for an unknown key. :func:`read_recipe` reads a
recipe file defensively: a missing file, a directory, a non-UTF-8 or empty file, a syntax error
(with its line and column), a hostile document (deep nesting, alias bombs) each give one
:class:`ConfigError` line naming the file and the fix.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import yaml

from audiogan.core.errors import AudioganError

__all__ = [
    "MAX_NODES",
    "MAX_RECIPE_BYTES",
    "ConfigError",
    "build_dataclass",
    "coerce",
    "deep_copy",
    "read_recipe",
    "to_plain",
    "unknown_key_message",
    "yaml_problem",
]

HIDDEN_FIELD = "f_max_is_nyquist"
"""A field the loader sets itself (never read from or written to YAML)."""

MAX_RECIPE_BYTES = 1024**2
"""A recipe file larger than this (1 MiB) is refused: recipes are a few kilobytes."""

MAX_NODES = 100_000
"""A recipe whose values (aliases expanded) hold more nodes than this is refused."""


class ConfigError(AudioganError, ValueError):
    """A configuration problem; the message names the file and/or dotted key and the fix."""


def to_plain(value: Any) -> Any:
    """Plain-Python (YAML-ready) form of a config dataclass tree (tuples become lists)."""
    if dataclasses.is_dataclass(value):
        out = {}
        for f in dataclasses.fields(value):
            if f.name == HIDDEN_FIELD:
                continue
            out[f.name] = to_plain(getattr(value, f.name))
        return out
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [to_plain(v) for v in value]
    return value


def type_name(tp: Any) -> str:
    """A readable name of a type annotation."""
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def coerce(value: Any, tp: Any, key: str) -> Any:
    """Convert ``value`` to type ``tp`` or raise a ConfigError naming ``key``."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None:
            if type(None) in args:
                return None
            raise ConfigError(f"{key}: must not be null")
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce(value, arg, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{key}: invalid value {value!r}")
    if origin is Literal:
        choices = get_args(tp)
        if value not in choices:
            valid = ", ".join(repr(c) for c in choices)
            raise ConfigError(f"{key}: {value!r} is not one of {valid}")
        return value
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return build_dataclass(tp, value, key)
    if origin is tuple:
        args = get_args(tp)
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{key}: expected {len(args)} values, got {len(value)}")
        return tuple(coerce(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        _, val_type = get_args(tp)
        return {str(k): coerce(v, val_type, f"{key}.{k}") for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true/false, got {value!r}")
    if tp is int:
        if (isinstance(value, bool) or not isinstance(value, (int, float))
                or (isinstance(value, float) and not math.isfinite(value))
                or value != int(value)):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return int(value)
    if tp is float:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        if isinstance(value, str):
            try:
                number = float(value)  # YAML reads "2e-4" (no dot) as a string
            except ValueError:
                raise ConfigError(f"{key}: expected a number, got {value!r}") from None
        elif isinstance(value, (int, float)):
            number = float(value)
        else:
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        if not math.isfinite(number):
            raise ConfigError(f"{key}: expected a finite number, got {value!r}")
        return number
    if tp is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return str(value)
    raise ConfigError(f"{key}: unsupported type {type_name(tp)}")  # pragma: no cover


def build_dataclass(cls: type, data: Mapping[str, Any], prefix: str) -> Any:
    """Build ``cls`` from ``data``, converting each field; ``prefix`` is the dotted key so far.

    Raises:
        ConfigError: an unknown key (with the closest valid one), a missing required key, or a
            value that cannot be converted, named by its dotted key.
    """
    hints = get_type_hints(cls)
    all_names = {f.name for f in dataclasses.fields(cls)}
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != HIDDEN_FIELD}
    unknown = [k for k in data if k not in fields]
    if unknown:
        raise ConfigError(unknown_key_message(prefix, unknown[0], list(fields)))
    kwargs = {}
    for name, f in fields.items():
        key = f"{prefix}.{name}" if prefix else name
        if name in data:
            kwargs[name] = coerce(data[name], hints[name], key)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(
                f"missing required key {key}; add it, e.g. {key}: {{name: ..., params: {{}}}} "
                "(see recipes/tiny/hifigan.yaml)"
            )
    if HIDDEN_FIELD in all_names and "f_max" in data and data["f_max"] is None:
        kwargs[HIDDEN_FIELD] = True
    return cls(**kwargs)


def unknown_key_message(prefix: str, name: object, valid: Sequence[str]) -> str:
    """``unknown key a.b; did you mean a.c? valid keys here: ...`` (the guess when close)."""
    where = f"{prefix}." if prefix else ""
    close = difflib.get_close_matches(str(name), list(valid), n=1)
    guess = f" (did you mean {where}{close[0]}?)" if close else ""
    return f"unknown key {where}{name}{guess}; valid keys here: {', '.join(valid)}"


def deep_copy(value: Any, budget: list[int] | None = None) -> Any:
    """A copy of nested mappings and lists; ConfigError past :data:`MAX_NODES` nodes.

    YAML aliases let a small file describe an exponentially large value (an "alias bomb");
    copying counts the nodes so such a file is refused instead of exhausting memory.
    """
    budget = budget if budget is not None else [MAX_NODES]
    budget[0] -= 1
    if budget[0] < 0:
        raise ConfigError(
            f"more than {MAX_NODES} values (YAML aliases expanded); a recipe is a few dozen "
            "keys: remove the repeated aliases"
        )
    if isinstance(value, Mapping):
        return {k: deep_copy(v, budget) for k, v in value.items()}
    if isinstance(value, list):
        return [deep_copy(v, budget) for v in value]
    return value


def yaml_problem(exc: yaml.YAMLError) -> str:
    """The short reason of a YAML error, with its line and column when known (one line)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return " ".join(f"{where}{problem}".split())


def read_recipe(path: Path) -> dict[str, Any]:
    """Read and parse a recipe YAML file into a plain mapping.

    Raises:
        ConfigError: one line starting with the file name: missing, a directory, unreadable,
            too large, not UTF-8, empty, not valid YAML (with line and column), nested too
            deeply, or not a mapping at the top level.
    """
    if path.is_dir():
        found = sorted(path.glob("*.yaml"))
        example = f" (e.g. {found[0]})" if found else ""
        raise ConfigError(f"{path}: is a directory; pass the recipe YAML file{example}")
    try:
        size = path.stat().st_size
        if size > MAX_RECIPE_BYTES:
            raise ConfigError(
                f"{path}: {size} bytes is too large for a recipe (limit {MAX_RECIPE_BYTES}); "
                "pass the recipe YAML, not a data file"
            )
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: config file not found; check the path (recipes are under recipes/)"
        ) from None
    except OSError as exc:
        from audiogan.core.errors import describe_os_error

        raise ConfigError(f"cannot read config: {describe_os_error(exc, path)}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {raw[exc.start]:#04x} at offset {exc.start}); save "
            "the recipe as UTF-8"
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"{path}: not valid YAML at {yaml_problem(exc)}; fix the syntax there"
        ) from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to be a recipe; check the brackets") from None
    if data is None:
        raise ConfigError(
            f"{path}: the file is empty; a recipe needs at least generator: and discriminator: "
            "(see recipes/tiny/hifigan.yaml)"
        )
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: expected a mapping at the top level (key: value lines), got "
            f"{type(data).__name__}"
        )
    return data
