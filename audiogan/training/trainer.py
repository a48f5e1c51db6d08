"""The GAN training loop: orchestration only.

Models, features and the loss terms come from :mod:`audiogan.config.build`, optimisers,
schedulers and EMA from :mod:`audiogan.training.components`, data from
:mod:`audiogan.training.data_setup`; the trainer never branches on an architecture's name. It
asks the generator's model kind (:func:`audiogan.inference.kinds.model_kind`) for what depends
on it (the dataset, the generator inputs, validation), reads what every generator exposes
(``hop_length``, ``latent_dim``, ``num_classes``) and what the loss recipe says (which terms
are weighted, whether the adversarial loss needs a gradient penalty).

One optimisation step (D updates, then the G update) lives in :mod:`audiogan.training.step`.

Randomness that decides results (crops, latent vectors, gradient-penalty mixing, phase shuffle)
is keyed by ``(seed, step, dataset index)`` of each sample, so it does not depend on the number
of ranks or on where a run was resumed.

The run directory's lock, identity, resume point and pruning live in
:mod:`audiogan.training.rundir`; the checkpoint's contents in :mod:`audiogan.training.state`;
stopping on ``SIGINT``/``SIGTERM`` at a step boundary in :mod:`audiogan.training.stopping`; the
speed levers (compile, fused optimisers, channels-last) in :mod:`audiogan.training.levers`.
The step's stats stay on the device until a log, checkpoint or validation step reads them
(:mod:`audiogan.training.scalars`).

Fault point (see :mod:`audiogan.core.faults`): ``train.step`` - the start of every optimisation
step, before its batches are fetched; its N-th hit is the start of step N (1-based, counted in this
process), so ``train.step@3=term`` sends ``SIGTERM`` while step 3 runs and the run stops after it.
"""

from __future__ import annotations

import copy
import logging
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from audiogan.config import Config, ConfigError, save_config
from audiogan.config.build import (
    discriminator_from_config,
    features_from_config,
    generator_from_config,
    loss_terms_from_config,
)
from audiogan.core.errors import AudioganError
from audiogan.core.faults import fault_point
from audiogan.inference.kinds import ValidationRun, model_kind
from audiogan.losses import MultiResolutionSTFTLoss
from audiogan.losses.terms import SPECTRAL_TERMS
from audiogan.models.base import Generator
from audiogan.models.randomness import sample_key
from audiogan.training import checkpoint as ckpt
from audiogan.training import state as run_state
from audiogan.training.components import EMA, build_optimizer, build_scheduler
from audiogan.training.data_setup import build_training_data, compute_feature_stats
from audiogan.training.distributed import DistContext, init_distributed
from audiogan.training.levers import (
    check_levers,
    compile_models,
    match_state_layout,
    to_channels_last,
    use_fused,
)
from audiogan.training.monitor import Monitor, NullMonitor, run_summary
from audiogan.training.prefetch import prefetch
from audiogan.training.run_types import TrainerHooks, TrainResult
from audiogan.training.rundir import ResumePoint, RunDirectory
from audiogan.training.scalars import PendingStats
from audiogan.training.step import GANStep
from audiogan.training.stopping import (
    StopSignals,
    TrainingInterrupted,
    ignore_stop_signals,
    signal_name,
)

log = logging.getLogger(__name__)


class TrainingError(AudioganError, RuntimeError):
    """Training cannot go on (e.g. too many non-finite losses in a row)."""


class Trainer:
    """Trains one :class:`~audiogan.config.Config` into ``run_dir``.

    Args:
        config: the resolved recipe.
        run_dir: output directory (config.yaml, checkpoints/, events/, metrics.jsonl, samples/).
        device: ``"cpu"``, ``"cuda"`` or None (CUDA when available).
        resume: continue from the newest valid checkpoint of this run in ``run_dir`` (a new or
            empty directory starts afresh).
        overwrite: start afresh in a directory that holds another run (its checkpoints and logs
            are removed when training starts).
        hooks: fault injection for tests.
        console: show the progress bar.

    Raises:
        RunDirError: ``run_dir`` is locked by another trainer, or holds another run and neither
            ``resume`` nor ``overwrite`` is given (see :mod:`audiogan.training.rundir`).
        CheckpointError: the checkpoint to resume or initialise from does not fit the config.
    """

    def __init__(
        self,
        config: Config,
        run_dir: str | Path,
        *,
        device: str | None = None,
        resume: bool = False,
        overwrite: bool = False,
        hooks: TrainerHooks | None = None,
        console: bool = True,
    ) -> None:
        self.config = config
        self.run_dir = Path(run_dir)
        self.hooks = hooks or TrainerHooks()
        self.dist: DistContext = init_distributed(device)
        self.device = self.dist.device
        t = config.training
        if t.batch_size % (self.dist.world_size * t.grad_accumulation):
            raise ConfigError(
                f"training.batch_size={t.batch_size} must be divisible by world size "
                f"{self.dist.world_size} x grad_accumulation {t.grad_accumulation}"
            )
        self.local_batch = t.batch_size // self.dist.world_size
        from audiogan.training.preflight import check_training_inputs

        check_training_inputs(config)  # every file the config names; before any model or write
        check_levers(config, self.device)  # compile's C++ compiler, CUDA-only modes, fused kernels
        self.rundir = RunDirectory(self.run_dir)
        resume_point = self._open_run_dir(resume=resume, overwrite=overwrite)
        try:
            self._set_up(resume_point)
        except BaseException:
            self.rundir.close()  # a failed set-up must not keep the run directory locked
            raise

    def _set_up(self, resume_point: ResumePoint | None) -> None:
        """Models, optimisers, data and the resumed state (the run directory is locked)."""
        config, t = self.config, self.config.training
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True

        torch.manual_seed(t.seed)
        self.features = features_from_config(config).to(self.device)
        self.generator = generator_from_config(config).to(self.device)
        self.discriminator = discriminator_from_config(config).to(self.device)
        if t.channels_last:
            to_channels_last(self.discriminator)  # same parameter objects: built before the opts
        self.losses = loss_terms_from_config(config).to(self.device)
        self.kind = model_kind(self.generator)
        if not self.kind.reconstructs and any(k in self.losses.weights for k in SPECTRAL_TERMS):
            raise ConfigError(
                f"loss.weights: spectral terms ({', '.join(SPECTRAL_TERMS)}) need a vocoder; "
                "an unconditional generator has no target waveform"
            )
        self.valid_metric = MultiResolutionSTFTLoss().to(self.device)
        if t.init_from:
            source = run_state.init_weights(self, t.init_from)
            log.info("initialised weights from %s (fresh step count and optimisers)", source)

        self.opt_g = build_optimizer(
            self.generator.parameters(), config.optim.generator, device=self.device,
            fused=use_fused(config.optim.generator, t, self.device))
        self.opt_d = build_optimizer(
            self.discriminator.parameters(), config.optim.discriminator, device=self.device,
            fused=use_fused(config.optim.discriminator, t, self.device))
        self.sched_g = build_scheduler(self.opt_g, config.scheduler)
        self.sched_d = build_scheduler(self.opt_d, config.scheduler)
        fp16 = t.precision == "fp16"
        self.scaler_g = torch.amp.GradScaler(self.device.type, enabled=fp16)
        self.scaler_d = torch.amp.GradScaler(self.device.type, enabled=fp16)
        self.amp_dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[
            t.precision
        ]
        self.ema = EMA.of(self.generator, t.ema_decay) if t.ema_decay else None

        self.train_set, self.sampler = build_training_data(
            config, kind=self.kind, hop_length=self.generator.hop_length,
            dist=self.dist)
        if config.features.stats and self.kind.reconstructs and resume_point is None:
            compute_feature_stats(self.features, config, self.device)
        self.step = 0
        self.epoch = 0
        self.best_score: float | None = None
        self.nonfinite_total = 0
        self.nonfinite_in_row = 0
        self.last_checkpoint: Path | None = None
        if resume_point is not None:
            run_state.restore(self, resume_point.path, resume_point.state)
            match_state_layout(self.opt_d)  # channels-last parameters, contiguous saved moments
            log.info("resumed from %s at step %d", resume_point.path, self.step)
        self._saved_step: int | None = self.step if resume_point is not None else None

        # what the forward passes call: the module, compiled and/or DDP-wrapped (GANStep)
        self.g_model: Any = self.generator
        self.d_model: Any = self.discriminator
        if t.compile:
            self.g_model, self.d_model = compile_models(self.generator, self.discriminator, t)
        d_plain = self.d_model  # the G update's discriminator: frozen, so never DDP-wrapped
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.g_model = DistributedDataParallel(self.g_model, device_ids=ids)
            self.d_model = DistributedDataParallel(self.d_model, device_ids=ids)
        self.stepper = GANStep(
            config=config, generator=self.generator, discriminator=self.discriminator,
            g_model=self.g_model, d_model=self.d_model, features=self.features,
            losses=self.losses, opt_g=self.opt_g, opt_d=self.opt_d, scaler_g=self.scaler_g,
            scaler_d=self.scaler_d, ema=self.ema, dist=self.dist, device=self.device,
            local_batch=self.local_batch, amp_dtype=self.amp_dtype,
            on_gradients=self.hooks.on_gradients, d_plain=d_plain,
        )
        self.monitor: NullMonitor = NullMonitor()

    # ---------------------------------------------------------------------------- set-up

    def _open_run_dir(self, *, resume: bool, overwrite: bool) -> ResumePoint | None:
        """Rank 0 locks the run directory and picks the resume point; the other ranks follow."""
        point: ResumePoint | None = None
        failure: str | None = None
        if self.dist.is_main:
            try:
                point = self.rundir.open(resume=resume, overwrite=overwrite)
            except AudioganError as exc:
                failure = str(exc)
                if not self.dist.enabled:
                    raise
        if self.dist.enabled:
            path, run_id, failure = self.dist.broadcast(
                (str(point.path) if point else None, self.rundir.run_id, failure))
            if failure is not None:
                raise TrainingError(failure)
            self.rundir.run_id = run_id
            if point is None and path is not None:
                point = ResumePoint(Path(path), ckpt.load_checkpoint(path))
        return point

    def _loader(self) -> DataLoader:
        t = self.config.training
        # One loader for the run; its workers persist across epochs (the sampler yields
        # (epoch, index) pairs, so crops still follow the epoch). A private generator keeps
        # worker seeding off the global RNG, so resuming does not shift the global stream.
        return DataLoader(
            self.train_set, batch_size=self.local_batch, sampler=self.sampler, drop_last=True,
            num_workers=t.num_workers, pin_memory=self.device.type == "cuda",
            generator=torch.Generator().manual_seed(sample_key(t.seed, self.epoch)),
            persistent_workers=t.num_workers > 0,
            worker_init_fn=ignore_stop_signals if t.num_workers > 0 else None,
        )

    # ---------------------------------------------------------------------------- state

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue bit-for-bit (:func:`audiogan.training.state.capture`)."""
        return run_state.capture(self)

    def _weights_finite(self) -> bool:
        return all(bool(torch.isfinite(p).all()) for p in self.generator.parameters())

    def save(self, *, best: bool = False) -> Path | None:
        """Write ``step_%08d.pt`` (and ``best.pt``) on rank 0; prune this run's files to
        ``keep_last``. Returns the checkpoint's path (on every rank), or None when the weights
        are not finite (the same on every rank: DDP keeps them in step)."""
        if not self._weights_finite():
            if self.dist.is_main:
                log.error("weights are not finite; keeping the last good checkpoint")
            return None
        path = ckpt.step_path(self.run_dir, self.step)
        if self.dist.is_main:
            state = self.state_dict()
            self.rundir.move_foreign_aside(path)
            ckpt.save_checkpoint(state, path)
            self.rundir.note_written(path)
            if best:
                best_path = self.run_dir / ckpt.CHECKPOINT_DIR / ckpt.BEST_NAME
                self.rundir.move_foreign_aside(best_path)
                ckpt.save_checkpoint(state, best_path)
                self.rundir.note_written(best_path)
            self.rundir.prune(self.config.training.keep_last, self.step)
        self.last_checkpoint = path
        self._saved_step = self.step
        self.dist.barrier()
        return path

    # ---------------------------------------------------------------------------- data

    def batches(self) -> Iterator[dict[str, Tensor]]:
        """Endless batches; advances epochs, the sampler position and epoch schedulers."""
        loader = self._loader()
        while True:
            self.sampler.set_epoch(self.epoch)
            for batch in prefetch(loader, self.device):  # next batch's copy issued on CUDA
                self.sampler.advance(self.config.training.batch_size)
                if self.hooks.corrupt_batch is not None:
                    batch = self.hooks.corrupt_batch(self.step, batch)
                yield batch
            self.epoch += 1
            if self.config.scheduler.interval == "epoch":
                self._step_schedulers()

    # ---------------------------------------------------------------------------- step

    def train_step(self, batches: list[dict[str, Tensor]]) -> dict[str, float]:
        """One optimisation step (:class:`~audiogan.training.step.GANStep`) at ``self.step``
        over ``n_critic`` batches (the last also feeds G); does not advance ``self.step``."""
        return self.stepper(batches, self.step)

    # ---------------------------------------------------------------------------- validation

    def eval_generator(self) -> Generator:
        """A copy of the generator in eval mode, with EMA weights when EMA is on."""
        model = copy.deepcopy(self.generator).eval()
        if self.ema is not None:
            model.load_state_dict({k: v.to(self.device) for k, v in self.ema.shadow.items()})
        return model

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Mel L1 and MR-STFT distance on the valid clips (vocoders), or sample clips."""
        model = self.eval_generator()
        sample_dir = self.run_dir / "samples" / f"step_{self.step:08d}"
        return self.kind.validate(model, ValidationRun(
            config=self.config, features=self.features,
            mel_metric=getattr(self.losses, "mel", None), stft_metric=self.valid_metric,
            device=self.device, sample_dir=sample_dir, monitor=self.monitor, step=self.step,
            classes=getattr(self.train_set, "classes", None),
        ))

    def _score(self, metrics: dict[str, float]) -> float | None:
        return metrics.get("mel_l1", metrics.get("mr_stft"))

    # ---------------------------------------------------------------------------- loop

    def fit(self, max_steps: int | None = None) -> TrainResult:
        """Train until ``max_steps`` (default ``training.max_steps``); checkpoint at exit.

        Raises:
            TrainingInterrupted: ``SIGINT``/``SIGTERM`` arrived; the run stopped after the step in
                progress and wrote its checkpoint (see :mod:`audiogan.training.stopping`).
            TrainingError: too many non-finite losses in a row.
        """
        t = self.config.training
        max_steps = max_steps or t.max_steps
        history: list[dict[str, float]] = []
        stop = StopSignals()
        try:
            stop.__enter__()
            if self.dist.is_main:
                self.rundir.start()
                save_config(self.config, self.run_dir / "config.yaml")
                self.monitor = Monitor(self.run_dir, start_step=self.step, max_steps=max_steps,
                                       console=sys.stderr.isatty())
                log.info("%s", run_summary(
                    self.config, self.generator, self.discriminator, self.train_set,
                    device=self.device, world_size=self.dist.world_size,
                    local_batch=self.local_batch, step=self.step))
            batches = self.batches()
            self.generator.train()
            self.discriminator.train()
            pending = PendingStats()  # the steps' stats stay on the device until a read
            first, tick, ticked = self.step, time.perf_counter(), self.step
            while self.step < max_steps:
                fault_point("train.step")
                critics = t.n_critic if self.discriminator_active() else 1
                group = [next(batches) for _ in range(critics)]
                pending.add(self.step + 1, self.stepper.run(group, self.step))
                self.step += 1
                if self.config.scheduler.interval == "step":
                    self._step_schedulers()
                logs = self.step % t.log_every == 0 or self.step == max_steps
                compiled = t.compile and self.step == first + 1  # compilation: a line apart
                if logs or compiled or self.step % t.valid_every == 0 or (
                        self.step % t.checkpoint_every == 0):
                    stats = self._account(pending, history)  # the one host read of these steps
                    elapsed = time.perf_counter() - tick
                    if compiled:
                        log.info("step %d took %.1f s (torch.compile's first calls included)",
                                 self.step, elapsed)
                    if logs:
                        self._log_scalars(stats, self.step - ticked, elapsed)
                    if logs or compiled:
                        tick, ticked = time.perf_counter(), self.step
                    self.monitor.progress(self.step, {"g": stats["g_loss"], **(
                        {"d": stats["d_loss"]} if "d_loss" in stats else {})})
                else:
                    self.monitor.progress(self.step)
                if self.step % t.valid_every == 0 or self.step == max_steps:
                    self._validate_and_save()
                elif self.step % t.checkpoint_every == 0:
                    self.save()
                signum = stop.requested(self.dist)
                if signum is not None:
                    self._account(pending, history)
                    raise self._stopped(signum)
            self._account(pending, history)
        finally:
            stop.__exit__(None, None, None)
            self.monitor.close()
            self.rundir.close()
        return TrainResult(self.run_dir, self.step, self.nonfinite_total, self.best_score,
                           self.last_checkpoint, history)

    def _log_scalars(self, stats: dict[str, float], steps: int, elapsed: float) -> None:
        """Log ``stats`` with the rates of the ``steps`` steps that took ``elapsed`` seconds."""
        t = self.config.training
        seg_seconds = t.batch_size * t.segment_length / self.config.sample_rate
        extra = {
            "lr_g": self.opt_g.param_groups[0]["lr"],
            "steps_per_s": steps / max(elapsed, 1e-9),
            "audio_s_per_s": steps * seg_seconds / max(elapsed, 1e-9),
            "nonfinite_total": self.nonfinite_total,
        }
        if self.device.type == "cuda":
            extra["gpu_mem_gb"] = torch.cuda.max_memory_allocated(self.device) / 2**30
        self.monitor.scalars(self.step, {**stats, **extra})

    def _account(self, pending: PendingStats, history: list[dict[str, float]]
                 ) -> dict[str, float]:
        """Read the pending steps' stats (one host read), count and log their non-finite
        steps, append them to ``history``; returns the last step's stats ({} when none).

        Raises:
            TrainingError: ``training.max_nonfinite`` non-finite steps in a row.
        """
        stats: dict[str, float] = {}
        for step, stats in pending.read():
            history.append(stats)
            if not stats["nonfinite"]:
                self.nonfinite_in_row = 0
                continue
            self.nonfinite_total += 1
            self.nonfinite_in_row += 1
            log.warning("step %d: non-finite loss, update skipped (%d in a row)",
                        step, self.nonfinite_in_row)
            if self.nonfinite_in_row >= self.config.training.max_nonfinite:
                raise TrainingError(
                    f"{self.nonfinite_in_row} non-finite losses in a row at step {step}; "
                    f"stopping. Last good checkpoint: {self.last_checkpoint}. Lower the "
                    "learning rate, use fp32 or check the data.")
        return stats

    def _stopped(self, signum: int) -> TrainingInterrupted:
        """Checkpoint the step just finished (unless it already is) and say how to go on."""
        if self._saved_step != self.step:
            self.save()
        if self._saved_step == self.step and self.last_checkpoint is not None:
            written = f"checkpoint {self.last_checkpoint} written"
        else:
            written = ("no checkpoint written (weights not finite; last good: "
                       f"{self.last_checkpoint})")
        if self.dist.is_main:
            log.info("stopped on %s at the end of step %d", signal_name(signum), self.step)
        return TrainingInterrupted(
            f"interrupted at step {self.step} ({signal_name(signum)}); {written}; continue with "
            "--resume", signum)

    def _step_schedulers(self) -> None:
        # During the generator-only warm-up the discriminator's optimiser has not stepped yet;
        # its schedule still advances (as in HiFi-GAN), so silence torch's ordering warning.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step")
            self.sched_g.step()
            self.sched_d.step()

    def discriminator_active(self) -> bool:
        """Whether the discriminator trains at the current step."""
        return self.stepper.discriminator_active(self.step)

    def _validate_and_save(self) -> None:
        metrics: dict[str, float] = {}
        if self.dist.is_main:
            metrics = self.validate()
            if metrics:
                self.monitor.scalars(self.step, metrics, prefix="valid")
                log.info("step %d validation: %s", self.step,
                         ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
        score = self._score(metrics)
        best = self.dist.is_main and (
            score is None or self.best_score is None or score <= self.best_score
        )
        if best and score is not None:
            self.best_score = score
        self.save(best=best)
