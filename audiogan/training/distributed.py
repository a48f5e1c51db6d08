"""PyTorch DDP set-up from ``torchrun``'s environment variables (nothing home-made)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from audiogan.core.devices import resolve_device
from audiogan.core.errors import DeviceError

__all__ = ["DeviceError", "DistContext", "init_distributed", "shutdown_distributed"]


@dataclass(frozen=True)
class DistContext:
    """Where this process sits: ``rank`` of ``world_size``, and its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def all_reduce_sum(self, value: float) -> float:
        """Sum a float over ranks (identity when not distributed)."""
        if not self.enabled:
            return value
        tensor = torch.tensor([value], dtype=torch.float64, device=self._comm_device())
        dist.all_reduce(tensor)
        return float(tensor.item())

    def any(self, flag: bool) -> bool:
        """True when ``flag`` is true on any rank (every rank gets the same answer)."""
        return self.all_reduce_sum(1.0 if flag else 0.0) > 0

    def any_tensor(self, flag: torch.Tensor) -> torch.Tensor:
        """``flag`` (a 0-d bool tensor) or-ed over ranks, on the device and without a host
        read (NCCL all-reduces on the GPU's stream; gloo on a CPU copy)."""
        if not self.enabled:
            return flag
        value = flag.to(self._comm_device(), torch.float32)
        dist.all_reduce(value)
        return (value > 0).to(flag.device)

    def broadcast(self, value: Any) -> Any:
        """Rank 0's ``value`` on every rank (a picklable object; identity when not distributed)."""
        if not self.enabled:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def _comm_device(self) -> torch.device:
        return self.device if dist.get_backend() == "nccl" else torch.device("cpu")


def init_distributed(device: str | torch.device | None = None) -> DistContext:
    """Join the process group when launched by ``torchrun`` (NCCL on CUDA, gloo on CPU).

    Args:
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``, ``"auto"`` or None (CUDA when
            available); see :func:`audiogan.core.devices.resolve_device`. Under ``torchrun``
            a CUDA process uses ``cuda:LOCAL_RANK``.

    Raises:
        DeviceError: ``device`` is not a device, or not one of this machine's.
    """
    chosen = resolve_device(device)
    want_cuda = chosen.type == "cuda"
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistContext(device=chosen)
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if want_cuda:
        torch.cuda.set_device(local_rank)
        dev = torch.device("cuda", local_rank)
    else:
        dev = torch.device("cpu")
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if want_cuda else "gloo")
    return DistContext(rank=rank, world_size=world_size, local_rank=local_rank, device=dev)


def shutdown_distributed() -> None:
    """Leave the process group if this process joined one."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
