"""A trainer's full state as a checkpoint, and back: what makes a resumed run bit-exact.

:func:`capture` assembles everything needed to continue (weights, optimisers, schedulers, grad
scalers, EMA, sampler position, RNG states, counters, the run id); :func:`restore` puts a
checkpoint back into a freshly built trainer; :func:`init_weights` loads only weights
(``training.init_from``). Every way a checkpoint can fail to fit - another architecture, other
layer sizes, a missing part - raises :class:`~audiogan.training.checkpoint.CheckpointError` with
one line naming the file and the mismatch.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import nn

from audiogan.config.versions import legacy_mismatch
from audiogan.core.checkpoints import CHECKPOINT_FORMAT
from audiogan.inference.kinds import VOCODER, model_kind
from audiogan.models.layers import load_folded_state_dict
from audiogan.training import checkpoint as ckpt
from audiogan.training.checkpoint import CheckpointError
from audiogan.training.components import load_optimizer_state

if TYPE_CHECKING:  # pragma: no cover
    from audiogan.training.trainer import Trainer

log = logging.getLogger(__name__)

CHECKPOINT_VERSION = 1

#: What :func:`restore` needs besides the weights.
TRAINING_KEYS = ("discriminator", "features", "optim_g", "optim_d", "sched_g", "sched_d",
                 "scaler_g", "scaler_d", "sampler", "step", "epoch", "rng")


def capture(trainer: Trainer) -> dict[str, Any]:
    """Everything needed to continue ``trainer`` bit for bit (``weights_only``-loadable)."""
    state: dict[str, Any] = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "run_id": trainer.rundir.run_id,
        "step": trainer.step,
        "epoch": trainer.epoch,
        "config": trainer.config.to_dict(),
        "input_kind": trainer.kind.name,
        "generator": trainer.generator.state_dict(),
        "discriminator": trainer.discriminator.state_dict(),
        "features": trainer.features.state_dict(),
        "optim_g": trainer.opt_g.state_dict(),
        "optim_d": trainer.opt_d.state_dict(),
        "sched_g": trainer.sched_g.state_dict(),
        "sched_d": trainer.sched_d.state_dict(),
        "scaler_g": trainer.scaler_g.state_dict(),
        "scaler_d": trainer.scaler_d.state_dict(),
        "sampler": trainer.sampler.state_dict(),
        "rng": ckpt.capture_rng_state(),
        "best_score": trainer.best_score,
        "nonfinite_total": trainer.nonfinite_total,
    }
    if trainer.ema is not None:
        state["generator_ema"] = trainer.ema.state_dict()
    classes = getattr(trainer.train_set, "classes", None)  # labelled datasets only
    if classes:
        state["classes"] = list(classes)
    return state


def _held_name(state: dict[str, Any], part: str) -> str | None:
    config = state.get("config")
    section = config.get(part) if isinstance(config, dict) else None
    name = section.get("name") if isinstance(section, dict) else None
    return name if isinstance(name, str) else None


def _examples(keys: set[str]) -> str:
    shown = sorted(keys)[:2]
    return ", ".join(shown) + (", ..." if len(keys) > 2 else "")


def mismatch(model: nn.Module, weights: Any, *, part: str, name: str, state: dict[str, Any]) -> str:
    """Why ``weights`` do not fit ``model`` (the ``part`` of architecture ``name``), in words."""
    held = _held_name(state, part)
    if held is not None and held != name:
        return f"{part} is {name}, checkpoint holds {held}"
    if not isinstance(weights, dict):
        return f"its {part} entry is a {type(weights).__name__}, not weights"
    own = model.state_dict()
    missing, unexpected = set(own) - set(weights), set(weights) - set(own)
    reshaped = {k for k in set(own) & set(weights)
                if getattr(weights[k], "shape", None) != own[k].shape}
    parts = [f"{len(keys)} {what} ({_examples(keys)})" for keys, what in (
        (missing, "missing"), (unexpected, "unexpected"), (reshaped, "of another shape"))
        if keys]
    return f"{part} ({name}) does not match its weights: " + ("; ".join(parts) or "load failed")


def load_part(model: nn.Module, weights: Any, *, part: str, name: str, path: Path,
              state: dict[str, Any], fix: str) -> None:
    """``model.load_state_dict(weights)``, or one line naming the file and the mismatch."""
    try:
        model.load_state_dict(weights)
    except (RuntimeError, TypeError, AttributeError, ValueError):
        detail = mismatch(model, weights, part=part, name=name, state=state)
        raise CheckpointError(f"{path}: {detail}; {fix}") from None


def init_weights(trainer: Trainer, source: str | Path) -> Path:
    """Load generator (and discriminator) weights for ``training.init_from``; returns the file.

    ``source`` is an exported model directory (``generator.safetensors``, plus
    ``discriminator.safetensors`` when ``audiogan import`` found discriminator weights), a
    checkpoint file, a run directory (its ``best.pt`` or newest loadable step file), or another
    toolkit's checkpoint that ``audiogan import`` reads (a jik876 ``g_*`` file or
    ``generator_*.pth.tar``, ...), converted in memory (:func:`_init_from_foreign`).
    """
    source = Path(source)
    fix = "point training.init_from at a model of the configured architecture"
    foreign = _foreign_reader(source)
    if foreign is not None:
        return _init_from_foreign(trainer, source, foreign, fix)
    if (source / "generator.safetensors").is_file():  # an exported model directory
        from safetensors.torch import load_file

        path = source / "generator.safetensors"
        _warn_legacy(trainer, _saved_config(source / "config.yaml"), path)
        try:
            # Exported weights are folded; the training generator may keep weight norm.
            load_folded_state_dict(trainer.generator, load_file(path))
        except (KeyError, RuntimeError, ValueError) as exc:
            raise CheckpointError(f"{path}: does not fit generator "
                                  f"{trainer.config.generator.name} ({exc}); {fix}") from None
        discriminator = source / "discriminator.safetensors"  # an imported model's, if any
        if discriminator.is_file():
            load_part(trainer.discriminator, load_file(discriminator), part="discriminator",
                      name=trainer.config.discriminator.name, path=discriminator, state={},
                      fix=fix)
        return path
    path = ckpt.find_checkpoint(source)
    state = ckpt.load_checkpoint(path)
    if "generator" not in state:
        raise CheckpointError(f"{path}: no 'generator' in this file (not an audiogan "
                              f"checkpoint); {fix}")
    _warn_legacy(trainer, state.get("config"), path)
    load_part(trainer.generator, state["generator"], part="generator",
              name=trainer.config.generator.name, path=path, state=state, fix=fix)
    if "discriminator" in state:
        load_part(trainer.discriminator, state["discriminator"], part="discriminator",
                  name=trainer.config.discriminator.name, path=path, state=state, fix=fix)
    return path


def _saved_config(path: Path) -> Any:
    """The plain mapping in a model directory's ``config.yaml``, or None (absent, unreadable)."""
    import yaml

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError):
        return None


def _warn_legacy(trainer: Trainer, saved: Any, path: Path) -> None:
    """One warning line when the model at ``path`` was trained with a default that has changed
    since and the recipe leaves it to the new default. ``init_from`` starts a new run with the
    recipe as written, so this warns where resuming (:func:`restore`) refuses."""
    changed = legacy_mismatch(saved, trainer.config)
    if changed is not None:
        log.warning("training.init_from %s: %s (the recipe's value is used)",
                    path, changed.replace(" to continue it", " to keep the model's value"))


def _foreign_reader(source: Path) -> str | None:
    """The ``audiogan import`` format name of ``source`` when it is another toolkit's
    checkpoint (never for a model directory, a run directory or an audiogan checkpoint)."""
    if (source / "generator.safetensors").is_file() or (source / ckpt.CHECKPOINT_DIR).is_dir():
        return None
    from audiogan.inference.imports import find_reader

    found = find_reader(source)
    return None if found is None else found[0].name


def _init_from_foreign(trainer: Trainer, source: Path, fmt: str, fix: str) -> Path:
    """Convert another toolkit's checkpoint in memory (as ``audiogan import`` would, nothing
    written) and load its generator, and its discriminators when it has them."""
    from audiogan.inference.imports import detect_format

    reader, detection = detect_format(source, fmt)
    converted = reader.read(detection, None)
    path = detection.checkpoint
    config = trainer.config
    if config.features != converted.config.features:
        log.warning("training.init_from: %s was trained with other features than this config "
                    "(%s); `audiogan import` it and compare its config.yaml", path,
                    _differences(converted.config.features, config.features))
    try:
        load_folded_state_dict(trainer.generator, converted.generator)
    except (KeyError, RuntimeError, ValueError) as exc:
        raise CheckpointError(f"{path}: does not fit generator {config.generator.name} "
                              f"({' '.join(str(exc).split())[:200]}); {fix}") from None
    if converted.discriminator is not None:
        load_part(trainer.discriminator, converted.discriminator, part="discriminator",
                  name=config.discriminator.name, path=path, state={}, fix=fix)
    _compare_outputs(trainer.generator, converted, path)
    log.info("training.init_from: converted %s in memory (generator%s)", detection.description,
             "" if converted.discriminator is None else " and discriminator")
    return path


def _compare_outputs(generator: nn.Module, converted: Any, path: Path) -> None:
    """Warn when the configured generator, holding the source's weights, computes otherwise
    than the source's own architecture (an option that changes no shape: a slope, a padding)."""
    import copy

    import torch

    from audiogan.config.build import generator_from_config
    from audiogan.models.layers import remove_weight_norm

    if model_kind(generator) is not VOCODER:  # compared on a mel input
        return
    reference = generator_from_config(converted.config)
    remove_weight_norm(reference)
    reference.load_state_dict(converted.generator)
    ours = copy.deepcopy(generator).cpu().float().eval()
    mel = torch.randn(1, converted.config.features.n_mels, 8,
                      generator=torch.Generator().manual_seed(0)) - 4.0
    with torch.no_grad():
        diff = float((ours(mel) - reference.eval()(mel)).abs().max())
    if not diff <= 1e-4:
        log.warning("training.init_from: %s: generator.params differ from the source's in an "
                    "option that changes the output (max |diff| %.2e on the same weights); "
                    "`audiogan import` it and compare its config.yaml", path, diff)


def _differences(theirs: Any, ours: Any) -> str:
    """``key: theirs -> ours`` for the first few differing fields of two config sections."""
    import dataclasses

    a, b = dataclasses.asdict(theirs), dataclasses.asdict(ours)
    keys = [k for k in dict.fromkeys([*a, *b]) if a.get(k) != b.get(k)]
    return ", ".join(f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in keys[:4]) or "?"


def restore(trainer: Trainer, path: Path, state: dict[str, Any]) -> None:
    """Put checkpoint ``state`` (read from ``path``) back into a freshly built ``trainer``.

    Raises:
        CheckpointError: not a training checkpoint, a part missing, or another architecture or
            size; the one-line message names ``path`` and the key or mismatch.
    """
    fix = ("resume with the config the run was trained with (its config.yaml), or start afresh "
           "with --overwrite")
    if state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not an audiogan training checkpoint (no format "
                              f"'{CHECKPOINT_FORMAT}'); {fix}")
    for key in ("generator", *TRAINING_KEYS):
        if key not in state:
            raise CheckpointError(
                f"{path}: no '{key}' in this checkpoint (not a complete training checkpoint); "
                "resume from another checkpoints/step_*.pt, or start afresh with --overwrite"
            )
    config = trainer.config
    changed = legacy_mismatch(state.get("config"), config)  # a default changed since it was saved
    if changed is not None:
        raise CheckpointError(f"{path}: {changed}")
    load_part(trainer.generator, state["generator"], part="generator",
              name=config.generator.name, path=path, state=state, fix=fix)
    load_part(trainer.discriminator, state["discriminator"], part="discriminator",
              name=config.discriminator.name, path=path, state=state, fix=fix)
    load_part(trainer.features, state["features"], part="features",
              name=config.features.profile, path=path, state=state, fix=fix)
    try:
        load_optimizer_state(trainer.opt_g, state["optim_g"])
        load_optimizer_state(trainer.opt_d, state["optim_d"])
        trainer.sched_g.load_state_dict(state["sched_g"])
        trainer.sched_d.load_state_dict(state["sched_d"])
        trainer.scaler_g.load_state_dict(state["scaler_g"])
        trainer.scaler_d.load_state_dict(state["scaler_d"])
        if trainer.ema is not None and "generator_ema" in state:
            trainer.ema.load_state_dict(state["generator_ema"])
        trainer.sampler.load_state_dict(state["sampler"])
        trainer.step = int(state["step"])
        trainer.epoch = int(state["epoch"])
        ckpt.restore_rng_state(state["rng"])
    except (KeyError, ValueError, RuntimeError, TypeError, IndexError) as exc:
        reason = " ".join(str(exc).split())[:160] or type(exc).__name__
        raise CheckpointError(f"{path}: its optimiser, scheduler or sampler state does not fit "
                              f"this config ({reason}); {fix}") from None
    trainer.best_score = state.get("best_score")
    trainer.nonfinite_total = int(state.get("nonfinite_total", 0))
    trainer.last_checkpoint = path
