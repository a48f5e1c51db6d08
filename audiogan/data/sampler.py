"""A deterministic, resumable, distributed sampler.

The order of an epoch is a function of ``(seed, epoch)`` only: a permutation of
``range(num_items)`` (or the identity without shuffling), optionally padded or cut so its length
is a multiple of ``world_size``. Call that the *global order*; position ``p`` in it is a
*global position*.

**Sharding.** Rank ``r`` of ``world_size`` ranks takes the global positions ``r, r + W,
r + 2W, ...`` (strided, like :class:`torch.utils.data.DistributedSampler`). With a per-rank batch
of ``b`` (``drop_last=True`` in the DataLoader), global step ``k`` then consumes exactly the
global positions ``k*b*W ... (k+1)*b*W - 1`` across the ranks: batch ``k`` of rank ``r`` holds
positions ``k*b*W + j*W + r`` for ``j < b``. So the sequence of global batches (as sets of
indices, and in order when the ranks' shares are interleaved) is the same for any world size
with the same global batch ``b*W``; a sample's global position is a rank-independent key for
per-sample randomness.

**Resume.** The DataLoader draws indices ahead of the training step (prefetching), so the sampler
cannot know on its own how many samples were really used. The trainer tells it: after each
optimizer step it calls :meth:`ResumableSampler.advance` with the number of samples the step
consumed *globally* (the global batch), and :meth:`~ResumableSampler.state_dict` then returns
``{"epoch", "position", ...}`` where ``position`` is the number of global positions of that
epoch already consumed. :meth:`~ResumableSampler.load_state_dict` makes the next iteration of
that epoch start at ``position``; the following :meth:`~ResumableSampler.set_epoch` call for the
same epoch keeps it (so the usual ``set_epoch(epoch); for batch in loader`` loop resumes
mid-epoch), any other epoch starts at 0. The position is global, so a run may even resume with
another world size as long as the position is a multiple of it (it is whenever the global batch
is). Alternatively :meth:`~ResumableSampler.state_at` builds the state from ``(epoch,
consumed)`` the trainer tracks itself. All values are plain ints, so checkpoints holding them
load with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping

import numpy as np
from torch.utils.data import Sampler

from audiogan.core.errors import AudioganError

__all__ = ["ResumableSampler", "SamplerStateError", "epoch_permutation"]

logger = logging.getLogger(__name__)


class SamplerStateError(AudioganError, ValueError):
    """A saved sampler state does not fit this sampler (another manifest, seed or world size)."""


def epoch_permutation(num_items: int, seed: int, epoch: int) -> np.ndarray:
    """The shuffled order of one epoch, a function of ``(num_items, seed, epoch)`` only.

    Args:
        num_items: Length of the dataset.
        seed: Non-negative base seed.
        epoch: Non-negative epoch number.

    Returns:
        ``(num_items,)`` int64 permutation of ``range(num_items)``.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, epoch, 0x5A4D]))
    return rng.permutation(num_items).astype(np.int64)


class ResumableSampler(Sampler[int | tuple[int, int]]):
    """Yields this rank's dataset indices for one epoch, resumable mid-epoch.

    See the module docstring for the global order, the sharding and the resume protocol.

    Args:
        num_items: Length of the dataset (> 0).
        seed: Non-negative seed of the shuffles.
        shuffle: Permute each epoch; False keeps ``0, 1, 2, ...``.
        rank: This process's rank in ``[0, world_size)``.
        world_size: Number of ranks.
        drop_last: When ``num_items`` is not a multiple of ``world_size``, drop the tail of the
            global order (True) or pad it by repeating its first indices (False, as
            DistributedSampler does) so every rank gets the same count.
        with_epoch: yield ``(epoch, index)`` pairs instead of indices, which the datasets of
            :mod:`audiogan.data.datasets` accept: the crop then follows the epoch even in
            DataLoader workers that persist across epochs.
    """

    def __init__(
        self,
        num_items: int,
        *,
        seed: int = 0,
        shuffle: bool = True,
        rank: int = 0,
        world_size: int = 1,
        drop_last: bool = True,
        with_epoch: bool = False,
    ) -> None:
        if num_items <= 0:
            raise ValueError(f"ResumableSampler needs num_items > 0, got {num_items}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(
                f"need 0 <= rank < world_size, got rank={rank} world_size={world_size}"
            )
        if drop_last and num_items < world_size:
            raise ValueError(
                f"{num_items} items cannot give each of {world_size} ranks one with drop_last"
            )
        self.num_items = int(num_items)
        self.seed = int(seed)
        self.shuffle = bool(shuffle)
        self.rank = int(rank)
        self.world_size = int(world_size)
        self.drop_last = bool(drop_last)
        self.with_epoch = bool(with_epoch)
        self._epoch = 0
        self._start = 0  # global position at which the current/next iteration starts
        self._consumed = 0  # global samples reported consumed since that start
        self._resume_pending = False
        self._cached: tuple[int, np.ndarray] | None = None

    # ----------------------------------------------------------------- order

    @property
    def epoch_length(self) -> int:
        """Global positions per epoch: ``num_items`` cut or padded to a multiple of world_size."""
        if self.drop_last:
            return self.num_items - self.num_items % self.world_size
        return -(-self.num_items // self.world_size) * self.world_size

    def global_order(self, epoch: int) -> np.ndarray:
        """The global order of ``epoch`` (all ranks' indices, by global position).

        Returns:
            ``(epoch_length,)`` int64 dataset indices.
        """
        if self._cached is not None and self._cached[0] == epoch:
            return self._cached[1]
        if self.shuffle:
            order = epoch_permutation(self.num_items, self.seed, epoch)
        else:
            order = np.arange(self.num_items, dtype=np.int64)
        length = self.epoch_length
        if length <= self.num_items:
            order = order[:length]
        else:
            order = np.concatenate([order, order[: length - self.num_items]])
        self._cached = (epoch, order)
        return order

    # ----------------------------------------------------------------- iteration

    @property
    def epoch(self) -> int:
        """The epoch the next (or current) iteration draws from."""
        return self._epoch

    @property
    def position(self) -> int:
        """Global positions of the current epoch consumed so far (start + advanced)."""
        return self._start + self._consumed

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch of the next iteration, starting at its beginning.

        Directly after :meth:`load_state_dict`, calling it with the loaded epoch keeps the loaded
        position instead, so a resumed run continues mid-epoch.

        Args:
            epoch: Non-negative epoch number.
        """
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        if self._resume_pending and epoch == self._epoch:
            return
        self._epoch = int(epoch)
        self._start = 0
        self._consumed = 0
        self._resume_pending = False

    def __iter__(self) -> Iterator[int | tuple[int, int]]:
        """This rank's indices from the current position to the end of the epoch (``(epoch,
        index)`` pairs when ``with_epoch``)."""
        self._resume_pending = False
        self._consumed = 0
        order = self.global_order(self._epoch)
        share = order[self._start + self.rank :: self.world_size].tolist()
        if self.with_epoch:
            return iter([(self._epoch, index) for index in share])
        return iter(share)

    def __len__(self) -> int:
        """Number of indices the next iteration yields on this rank."""
        return (self.epoch_length - self._start) // self.world_size

    def advance(self, num_samples: int) -> None:
        """Record that a training step consumed ``num_samples`` global positions.

        Call it once per optimizer step with the *global* batch size (summed over ranks), on
        every rank, after the step's samples were used.

        Args:
            num_samples: Samples consumed across all ranks.
        """
        if num_samples < 0:
            raise ValueError(f"num_samples must be >= 0, got {num_samples}")
        self._consumed += int(num_samples)
        if self.position > self.epoch_length:
            raise ValueError(
                f"advanced to position {self.position}, past the epoch length "
                f"{self.epoch_length}; advance() takes global samples per step"
            )

    # ----------------------------------------------------------------- state

    def state_at(self, epoch: int, consumed: int) -> dict[str, int]:
        """The state after ``consumed`` global samples of ``epoch``.

        A finished epoch is *not* rolled over to the next one: ``(epoch, epoch_length)``
        resumes into an empty rest of ``epoch``, so a trainer that counts epochs itself (and
        calls :meth:`set_epoch` with its own count after resuming) stays in step with it.

        Args:
            epoch: Epoch number.
            consumed: Global positions of that epoch already consumed (``0 <= consumed <=
                epoch_length``).

        Returns:
            Plain ints: ``epoch``, ``position``, ``seed``, ``num_items``, ``shuffle``,
            ``drop_last``.
        """
        if not 0 <= consumed <= self.epoch_length:
            raise ValueError(f"consumed must be in [0, {self.epoch_length}], got {consumed}")
        return {
            "epoch": int(epoch),
            "position": int(consumed),
            "seed": self.seed,
            "num_items": self.num_items,
            "shuffle": int(self.shuffle),
            "drop_last": int(self.drop_last),
        }

    def state_dict(self) -> dict[str, int]:
        """The resume state: the current epoch and the global position consumed (see advance)."""
        return self.state_at(self._epoch, self.position)

    def load_state_dict(self, state: Mapping[str, int]) -> None:
        """Continue from a :meth:`state_dict`; the next iteration starts at its position.

        Args:
            state: A dict from :meth:`state_dict` or :meth:`state_at`.

        Raises:
            SamplerStateError: The state belongs to a different dataset length, seed or ordering
                (the order would not be the same), or its position is not a multiple of this
                sampler's world size.
        """
        for key, mine in (
            ("num_items", self.num_items),
            ("seed", self.seed),
            ("shuffle", int(self.shuffle)),
            ("drop_last", int(self.drop_last)),
        ):
            if key in state and int(state[key]) != mine:
                raise SamplerStateError(
                    f"sampler state has {key}={int(state[key])} but this sampler has {mine}; "
                    "resume with the same manifest and data settings"
                )
        epoch, position = int(state["epoch"]), int(state["position"])
        if position % self.world_size:
            raise SamplerStateError(
                f"sampler position {position} is not a multiple of world_size "
                f"{self.world_size}; resume with a global batch that divides evenly"
            )
        if not 0 <= position <= self.epoch_length or epoch < 0:
            raise SamplerStateError(f"invalid sampler state epoch={epoch} position={position}")
        self._epoch = epoch
        self._start = position
        self._consumed = 0
        self._resume_pending = True
