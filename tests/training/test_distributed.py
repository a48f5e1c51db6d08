"""DDP (audiogan.training.distributed): two CPU ranks on gloo give the gradients and weights of
one process."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from training_helpers import _capture, _free_port, vocoder_config, wavegan_config

from audiogan.training.trainer import Trainer, TrainerHooks

# ----------------------------------------------------------------------------- DDP


def _ddp_worker(rank: int, world: int, port: int, kind: str, data: str, out: str) -> None:
    os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
                       "RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank)})
    torch.set_num_threads(1)
    make = vocoder_config if kind == "hifigan" else wavegan_config
    config = make(Path(data), max_steps=3, checkpoint_every=1000)
    grads: dict = {}
    trainer = Trainer(config, Path(out) / "ddp", device="cpu", console=False,
                      hooks=TrainerHooks(on_gradients=_capture(grads)))
    trainer.fit()
    if rank == 0:
        torch.save({"grads": grads,
                    "params": {k: v.detach().clone() for k, v in
                               trainer.generator.state_dict().items()}},
                   Path(out) / "ddp_rank0.pt")
    from audiogan.training.distributed import shutdown_distributed

    shutdown_distributed()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["hifigan", "wavegan"])
def test_ddp_matches_single_process(kind: str, corpus: Path, labelled_corpus: Path,
                                    tmp_path: Path) -> None:
    data = corpus if kind == "hifigan" else labelled_corpus
    make = vocoder_config if kind == "hifigan" else wavegan_config
    config = make(data, max_steps=3, checkpoint_every=1000)
    grads: dict = {}
    single = Trainer(config, tmp_path / "single", device="cpu", console=False,
                     hooks=TrainerHooks(on_gradients=_capture(grads)))
    single.fit()
    mp.start_processes(_ddp_worker, args=(2, _free_port(), kind, str(data), str(tmp_path)),
                       nprocs=2, join=True, start_method="spawn")
    ddp = torch.load(tmp_path / "ddp_rank0.pt", weights_only=True)
    for part in ("discriminator", "generator"):
        assert len(grads[part]) > 4, f"no {part} gradients captured"
        assert grads[part].keys() == ddp["grads"][part].keys()
        for name, grad in grads[part].items():
            torch.testing.assert_close(ddp["grads"][part][name], grad, rtol=1e-4, atol=1e-6,
                                       msg=f"{part}.{name} gradient differs")
    for name, value in single.generator.state_dict().items():
        torch.testing.assert_close(ddp["params"][name], value, rtol=1e-4, atol=1e-5,
                                   msg=f"generator.{name} differs after 3 steps")
