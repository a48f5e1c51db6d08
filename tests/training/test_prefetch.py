"""training.prefetch: batches come out in order with their values, indices stay on the host;
on CUDA the next batch's copy is issued before the current one is handed out (marked gpu);
the trainer's loader pins memory only on CUDA."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from training_helpers import vocoder_config

from audiogan.training.prefetch import HOST_KEYS, prefetch, to_device
from audiogan.training.trainer import Trainer


def _batches(n: int) -> list[dict]:
    return [{"wave": torch.full((2, 1, 8), float(i)), "index": torch.tensor([2 * i, 2 * i + 1]),
             "name": f"b{i}"} for i in range(n)]


def test_prefetch_on_cpu_keeps_order_and_values() -> None:
    source = _batches(4)
    fetched: list[int] = []

    def lazy():
        for i, batch in enumerate(source):
            fetched.append(i)
            yield batch

    out = []
    for batch in prefetch(lazy(), torch.device("cpu")):
        out.append(batch)
        assert fetched[-1] == len(out) - 1  # CPU: no read-ahead, one batch at a time
    assert [b["name"] for b in out] == ["b0", "b1", "b2", "b3"]
    for i, batch in enumerate(out):
        assert torch.equal(batch["wave"], torch.full((2, 1, 8), float(i)))
        assert batch["index"].tolist() == [2 * i, 2 * i + 1]
    assert list(prefetch(iter([]), torch.device("cpu"))) == []


def test_to_device_leaves_host_keys() -> None:
    batch = to_device(_batches(1)[0], torch.device("meta"))
    assert batch["wave"].device.type == "meta" and batch["index"].device.type == "cpu"
    assert HOST_KEYS == {"index"} and batch["name"] == "b0"


def test_the_trainer_pins_only_for_cuda(corpus: Path, tmp_path: Path) -> None:
    trainer = Trainer(vocoder_config(corpus, max_steps=1), tmp_path / "run", device="cpu",
                      console=False)
    assert trainer._loader().pin_memory is False
    batch = next(trainer.batches())
    assert batch["wave"].device.type == "cpu" and batch["index"].device.type == "cpu"


@pytest.mark.gpu
def test_prefetch_on_cuda_reads_one_ahead_and_keeps_values() -> None:
    source = [{k: v.pin_memory() if isinstance(v, torch.Tensor) else v for k, v in b.items()}
              for b in _batches(5)]
    fetched: list[int] = []

    def lazy():
        for i, batch in enumerate(source):
            fetched.append(i)
            yield batch

    for n, batch in enumerate(prefetch(lazy(), torch.device("cuda"))):
        assert fetched[-1] == min(n + 1, 4)  # the next batch's copy was issued already
        assert batch["wave"].is_cuda and not batch["index"].is_cuda
        assert torch.equal(batch["wave"].cpu(), torch.full((2, 1, 8), float(n)))
