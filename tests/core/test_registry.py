"""Registry: register, build, names, and errors that list valid names."""

from __future__ import annotations

import pytest

from audiogan.core.registry import Registry, UnknownNameError


def test_register_build_and_names() -> None:
    reg: Registry[object] = Registry("widget")

    @reg.register("b")
    class B:
        def __init__(self, size: int = 1) -> None:
            self.size = size

    reg.register("a")(dict)
    assert reg.names() == ["a", "b"]
    assert "b" in reg and "c" not in reg
    assert reg.build("b", size=3).size == 3


def test_unknown_name_lists_valid_names() -> None:
    reg: Registry[object] = Registry("widget")
    reg.register("alpha")(dict)
    reg.register("beta")(dict)
    with pytest.raises(UnknownNameError, match="unknown widget 'gamma'; valid names: alpha, beta"):
        reg.build("gamma")


def test_bad_params_name_the_entry() -> None:
    reg: Registry[object] = Registry("widget")

    @reg.register("x")
    class X:
        def __init__(self, *, size: int) -> None:
            self.size = size

    with pytest.raises(TypeError, match="widget 'x'"):
        reg.build("x", colour="red")


def test_duplicate_and_uppercase_names_refused() -> None:
    reg: Registry[object] = Registry("widget")
    reg.register("x")(dict)
    with pytest.raises(ValueError, match="already registered"):
        reg.register("x")(dict)
    with pytest.raises(ValueError, match="lowercase"):
        reg.register("X")
