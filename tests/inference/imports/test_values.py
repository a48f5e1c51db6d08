"""Typed reads of another toolkit's config values: what passes, and the one line a bad value
gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from audiogan.inference.imports.base import ImportSourceError
from audiogan.inference.imports.values import (
    config_bool,
    config_float,
    config_int,
    config_ints,
    config_optional_float,
)

WHERE = Path("config.json")


def test_good_values_and_defaults() -> None:
    hparams = {"hop": 256, "rate": 22050.0, "lr": 2, "fmax": None, "flag": 0, "rates": [8, 8.0]}
    assert config_int(hparams, "hop", WHERE) == 256
    assert config_int(hparams, "rate", WHERE) == 22050 and isinstance(
        config_int(hparams, "rate", WHERE), int)
    assert config_float(hparams, "lr", WHERE) == 2.0
    assert isinstance(config_float(hparams, "lr", WHERE), float)
    assert config_optional_float(hparams, "fmax", WHERE) is None
    assert config_bool(hparams, "flag", WHERE) is False
    assert config_ints(hparams, "rates", WHERE) == [8, 8]
    assert config_int(hparams, "absent", WHERE, 7) == 7
    assert config_ints(hparams, "absent", WHERE, (1, 2)) == [1, 2]


@pytest.mark.parametrize(("read", "value", "fragment"), [
    (config_int, None, "key 'k' is None; it must be an integer"),
    (config_int, True, "key 'k' is True; it must be an integer"),
    (config_int, "22k", "key 'k' is '22k'; it must be an integer"),
    (config_int, 8192.5, "key 'k' is 8192.5"),
    (config_float, "x", "key 'k' is 'x'; it must be a finite number"),
    (config_float, False, "key 'k' is False"),
    (config_float, float("inf"), "key 'k' is inf"),
    (config_optional_float, "max", "it must be a finite number or null"),
    (config_bool, "false", "key 'k' is 'false'; it must be true or false"),
    (config_bool, 2, "key 'k' is 2"),
    (config_ints, 5, "key 'k' is 5; it must be a list of integers"),
    (config_ints, [1, "2"], "key 'k[1]' is '2'"),
])
def test_a_bad_value_is_one_line_naming_file_key_and_value(read, value, fragment: str) -> None:
    with pytest.raises(ImportSourceError) as info:
        read({"k": value}, "k", WHERE)
    message = str(info.value)
    assert message.startswith("config.json: ") and fragment in message and "\n" not in message


def test_a_missing_key_and_a_section_are_named() -> None:
    with pytest.raises(ImportSourceError, match="config.json: key 'n_fft' is missing"):
        config_int({}, "n_fft", WHERE)
    with pytest.raises(ImportSourceError, match=r"key 'generator_params.channels' is 'x'"):
        config_int({"channels": "x"}, "channels", WHERE, 512, "generator_params")
