"""Tests for audiogan.data.sampler: ResumableSampler's global order across world sizes and its
exact mid-epoch resume behind a prefetching loader."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from audiogan.data import ResumableSampler

# --------------------------------------------------------------------------- sampler


def _shares(num_items: int, world_size: int, epoch: int, **kwargs) -> list[list[int]]:
    shares = []
    for rank in range(world_size):
        sampler = ResumableSampler(num_items, rank=rank, world_size=world_size, **kwargs)
        sampler.set_epoch(epoch)
        shares.append(list(sampler))
    return shares


@pytest.mark.parametrize("num_items", [37, 40])
def test_sampler_global_order_is_independent_of_world_size(num_items: int) -> None:
    (single,) = _shares(num_items, 1, epoch=3, seed=5)
    assert sorted(single) == list(range(num_items))
    for world_size in (2, 4):
        shares = _shares(num_items, world_size, epoch=3, seed=5)
        interleaved = [index for group in zip(*shares, strict=True) for index in group]
        assert interleaved == single[: len(interleaved)]
        assert len(interleaved) == num_items - num_items % world_size
        # per-rank batches of b make up the single-process global batches of b * world_size
        b = 2
        for step in range(len(shares[0]) // b):
            together = sorted(i for share in shares for i in share[step * b : (step + 1) * b])
            global_batch = single[step * b * world_size : (step + 1) * b * world_size]
            assert together == sorted(global_batch)
    other_epoch = _shares(num_items, 1, epoch=4, seed=5)[0]
    other_seed = _shares(num_items, 1, epoch=3, seed=6)[0]
    assert other_epoch != single and other_seed != single
    assert _shares(num_items, 1, epoch=3, seed=5, shuffle=False)[0] == list(range(num_items))
    padded = _shares(num_items, 4, epoch=3, seed=5, drop_last=False)
    assert {len(share) for share in padded} == {-(-num_items // 4)}


@pytest.mark.parametrize("num_workers", [0, 2])
def test_sampler_resumes_mid_epoch_behind_a_prefetching_loader(
    num_workers: int, tmp_path: Path
) -> None:
    dataset = torch.utils.data.TensorDataset(torch.arange(50))
    batch = 4

    def loader(sampler: ResumableSampler) -> DataLoader:
        return DataLoader(
            dataset, batch_size=batch, sampler=sampler, drop_last=True, num_workers=num_workers
        )

    reference = ResumableSampler(50, seed=7)
    reference.set_epoch(2)
    expected = [b[0].tolist() for b in loader(reference)]
    assert len(expected) == 12

    sampler = ResumableSampler(50, seed=7)
    sampler.set_epoch(2)
    seen = []
    for step, (values,) in enumerate(loader(sampler)):  # the loader has prefetched further
        seen.append(values.tolist())
        sampler.advance(batch)
        if step == 4:
            state = sampler.state_dict()
            break
    assert state == sampler.state_at(2, 5 * batch)
    assert state["epoch"] == 2 and state["position"] == 20
    torch.save({"sampler": state}, tmp_path / "ckpt.pt")
    restored = torch.load(tmp_path / "ckpt.pt", weights_only=True)["sampler"]

    resumed = ResumableSampler(50, seed=7)
    resumed.load_state_dict(restored)
    resumed.set_epoch(2)  # the trainer's usual call keeps the loaded position
    assert len(resumed) == 30
    rest = [b[0].tolist() for b in loader(resumed)]
    assert seen + rest == expected
    resumed.set_epoch(3)  # the next epoch starts at its beginning
    assert len(list(resumed)) == 50


def test_sampler_state_rolls_over_and_checks(tmp_path: Path) -> None:
    sampler = ResumableSampler(10, seed=1, world_size=2, rank=1)
    sampler.set_epoch(0)
    _ = list(sampler)
    sampler.advance(10)
    assert sampler.state_dict()["epoch"] == 0 and sampler.state_dict()["position"] == 10
    finished = ResumableSampler(10, seed=1, world_size=2, rank=1)
    finished.load_state_dict(sampler.state_dict())
    finished.set_epoch(0)
    assert len(finished) == 0 and list(finished) == []  # the trainer then moves to epoch 1
    with pytest.raises(ValueError, match="not a multiple of world_size"):
        sampler.load_state_dict({"epoch": 0, "position": 3})
    with pytest.raises(ValueError, match="num_items=11"):
        sampler.load_state_dict({"epoch": 0, "position": 2, "num_items": 11})
    # a 2-rank run's position resumes in a 1-rank run, continuing the same global order
    single = ResumableSampler(10, seed=1)
    single.load_state_dict({"epoch": 0, "position": 4})
    full = ResumableSampler(10, seed=1)
    assert list(single) == list(full)[4:]
