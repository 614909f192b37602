"""Training data order as a pure function of ``(seed, batch number)``, sharded across processes.

The sample stream is the concatenation of random permutations of the dataset, one per epoch,
each drawn from ``(seed, epoch)``. Global batch ``b`` is stream items ``b*B .. b*B + B - 1``;
process ``r`` of ``W`` takes its contiguous ``B/W`` of them. Every item is ``(index, epoch)``: the
dataset's crop and flips are a function of ``(seed, epoch, index)``
(:class:`gensr.data.photos.HRCropDataset`), so each item is the same crop wherever it is loaded.

So the data a run sees depends on the seed and the global batch size only, never on the number
of processes, the number of loader workers, or where a run was interrupted: resuming at batch
``k`` is just starting the stream there.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import Dataset, Sampler

__all__ = ["batch_items", "StreamBatchSampler", "EpochItems", "shard_params"]


def _epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    g = torch.Generator().manual_seed((seed * 1_000_003 + epoch) % 2**63)
    return torch.randperm(n, generator=g)


def batch_items(n: int, seed: int, batch: int, b: int) -> list[tuple[int, int]]:
    """``(dataset index, epoch)`` of each item of global batch ``b`` (``batch`` items).

    >>> [i for i, _ in batch_items(3, 0, 2, 0)] + [i for i, _ in batch_items(3, 0, 2, 1)] == (
    ...     _epoch_order(3, 0, 0).tolist() + _epoch_order(3, 0, 1).tolist()[:1])
    True
    """
    items = []
    orders: dict[int, torch.Tensor] = {}
    for pos in range(b * batch, (b + 1) * batch):
        epoch, k = divmod(pos, n)
        if epoch not in orders:
            orders[epoch] = _epoch_order(n, seed, epoch)
        items.append((int(orders[epoch][k]), epoch))
    return items


class StreamBatchSampler(Sampler[list[tuple[int, int]]]):
    """Yields this process's share of global batches ``start .. stop - 1`` as lists of ``(index, epoch)``.

    Args:
        n: dataset size.
        seed: run seed.
        batch: global batch size (a multiple of ``world``).
        start: first global batch (the number of batches a resumed run already consumed).
        stop: one past the last global batch.
        rank: this process's rank.
        world: number of processes.
    """

    def __init__(
        self, n: int, seed: int, batch: int, start: int, stop: int, rank: int = 0, world: int = 1
    ) -> None:
        if n < 1:
            raise ValueError("the training set is empty")
        if batch % world:
            raise ValueError(f"global batch {batch} is not divisible by {world} processes")
        self.n, self.seed, self.batch, self.start, self.stop = n, seed, batch, start, stop
        self.per_rank = batch // world
        self.rank = rank

    def __len__(self) -> int:
        return max(self.stop - self.start, 0)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        lo = self.rank * self.per_rank
        for b in range(self.start, self.stop):
            yield batch_items(self.n, self.seed, self.batch, b)[lo : lo + self.per_rank]


class EpochItems(Dataset[Any]):
    """Serves item ``(index, epoch)`` as ``dataset[index]`` in that epoch (``dataset.set_epoch(epoch)``).

    Each DataLoader worker sets the epoch of its own copy item by item, so a batch that spans
    two epochs still gets every item's own crop.
    """

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> Any:
        index, epoch = key
        self.dataset.set_epoch(epoch)
        return self.dataset[index]


def shard_params(params: Any, start: int, stop: int) -> Any:
    """Rows ``start:stop`` of batched degradation parameters (a dataclass of ``(B, ...)`` tensors).

    Every process draws the parameters of the whole global batch from the same generator and
    keeps its own rows, so the degradation of an item does not depend on the number of processes.
    """
    if not dataclasses.is_dataclass(params):
        raise TypeError(f"expected a dataclass of parameters, got {type(params).__name__}")
    changes = {}
    for f in dataclasses.fields(params):
        v = getattr(params, f.name)
        if isinstance(v, torch.Tensor):
            changes[f.name] = v[start:stop]
        elif dataclasses.is_dataclass(v):
            changes[f.name] = shard_params(v, start, stop)
        elif f.name == "batch" and isinstance(v, int):
            changes[f.name] = stop - start
    return dataclasses.replace(params, **changes)
