"""Config format versions: what an older config meant by the parameters it left out.

Every config is saved with ``version`` (:data:`CONFIG_VERSION`). When a new audiogan changes a
model's default (for exactness with a reference implementation), configs written before keep the
old value: a model class lists, in ``LEGACY_DEFAULTS`` (``{version: {param: value}}``), the value
that configs of that version or older meant when they omitted the parameter, and :func:`upgrade`
writes those values in explicitly before the config is built. A recipe without ``version`` is
current; a saved config (model directory, run directory, checkpoint) without one is version 1.

History: 1 - before versions existed; 2 - HiFi-GAN's ``post_negative_slope`` (the leaky-ReLU
slope before ``conv_post``) defaults to the reference's 0.01 instead of ``negative_slope`` (0.1).
"""

from __future__ import annotations

from typing import Any

from audiogan.config.schema import ConfigError

__all__ = ["CONFIG_VERSION", "legacy_mismatch", "upgrade"]

CONFIG_VERSION = 2
"""The config format version this audiogan writes (see the module docstring for the history)."""


def upgrade(raw: dict[str, Any], *, saved: bool = False) -> None:
    """Bring ``raw`` (parsed YAML, in place) to :data:`CONFIG_VERSION`: the generator's and the
    discriminator's parameters that an older config left out get the values that version meant.

    Raises:
        ConfigError: ``version`` is not an integer from 1 to :data:`CONFIG_VERSION`.
    """
    version = raw.get("version", 1 if saved else CONFIG_VERSION)
    if isinstance(version, bool) or not isinstance(version, int) or not (
            1 <= version <= CONFIG_VERSION):
        raise ConfigError(
            f"version: {version!r} is not a config format version this audiogan reads (1 to "
            f"{CONFIG_VERSION}); a newer audiogan wrote it: upgrade audiogan"
        )
    if version < CONFIG_VERSION:
        from audiogan.core.registry import UnknownNameError
        from audiogan.models import DISCRIMINATORS, GENERATORS

        for section, registry in (("generator", GENERATORS), ("discriminator", DISCRIMINATORS)):
            part = raw.get(section)
            if not isinstance(part, dict) or not isinstance(part.get("name"), str):
                continue  # reported by build_dataclass
            try:
                legacy = getattr(registry.get(part["name"]), "LEGACY_DEFAULTS", {})
            except UnknownNameError:
                continue  # reported by validate_models
            params = part.setdefault("params", {})
            if not isinstance(params, dict):
                continue
            for since in sorted(legacy):
                if version <= since:
                    for key, value in legacy[since].items():
                        params.setdefault(key, value)
    raw["version"] = CONFIG_VERSION


def legacy_mismatch(saved: Any, config: Any) -> str | None:
    """Why ``config`` (a :class:`~audiogan.config.Config`) would not continue the model whose
    saved config (a plain mapping, e.g. a checkpoint's ``config``) is older, or None.

    Only the parameters whose default changed since the saved version are compared: the value
    the old config meant (its ``LEGACY_DEFAULTS``) against what ``config`` builds. A resumed run
    must not change them silently.
    """
    import copy
    import inspect

    from audiogan.models import DISCRIMINATORS, GENERATORS

    if not isinstance(saved, dict):
        return None
    raw = copy.deepcopy({key: saved.get(key) for key in ("generator", "discriminator")})
    old = {section: set(part["params"]) for section, part in raw.items()
           if isinstance(part, dict) and isinstance(part.get("params"), dict)}
    raw["version"] = saved.get("version", 1)
    try:
        upgrade(raw, saved=True)
    except ConfigError:
        return None  # a version this code cannot read: the load itself reports it
    for section, registry in (("generator", GENERATORS), ("discriminator", DISCRIMINATORS)):
        part, current = raw.get(section), getattr(config, section)
        if not isinstance(part, dict) or part.get("name") != current.name:
            continue
        params = part.get("params")
        if not isinstance(params, dict):
            continue
        defaults = inspect.signature(registry.get(current.name)).parameters
        for key in sorted(set(params) - old.get(section, set())):  # filled in by upgrade()
            ours = current.params.get(key, defaults[key].default if key in defaults else None)
            if ours != params[key]:
                return (f"{section}.params.{key}: the checkpoint's config (version "
                        f"{saved.get('version', 1)}) means {params[key]!r}, this config "
                        f"{ours!r}; set {section}.params.{key}: "
                        f"{'null' if params[key] is None else params[key]} to continue it")
    return None
