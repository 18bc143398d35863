"""Epoch batch streams whose order is a pure function of (seed, epoch).

Because the order is derived, not stored, a run resumed mid-epoch skips straight to batch `k`
and sees exactly the batches it would have seen. In-memory splits are indexed directly (one
gather per batch); `Dataset` splits go through a DataLoader with workers. Under DDP each rank
takes every `world`-th index of the same permutation, padded to equal length like
`DistributedSampler`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from dllab.errors import ConfigError

Batch = tuple[torch.Tensor, torch.Tensor]


def epoch_order(n: int, *, seed: int, epoch: int, shuffle: bool, rank: int = 0, world: int = 1):
    """Indices this rank visits in `epoch`."""
    if shuffle:
        g = torch.Generator().manual_seed(seed * 100_003 + epoch)
        order = torch.randperm(n, generator=g)
    else:
        order = torch.arange(n)
    if world > 1:
        per_rank = math.ceil(n / world)
        order = torch.cat([order, order[: per_rank * world - n]])
        order = order[rank::world]
    return order


def order_for(n: int, kw: dict, epoch: int) -> torch.Tensor:
    """`epoch_order` with a task's `batch_kwargs(split)` (seed, shuffle, rank, world)."""
    return epoch_order(
        n, seed=kw["seed"], epoch=epoch, shuffle=kw["shuffle"], rank=kw["rank"], world=kw["world"]
    )


def length_buckets(
    order: torch.Tensor,
    lengths: torch.Tensor,
    *,
    batch_size: int,
    window: int,
    generator: torch.Generator,
) -> list[torch.Tensor]:
    """`order` (shuffled indices) cut into batches of similar lengths, in shuffled order.

    Within each run of `window` batches the indices are sorted by `lengths` (stable), so a
    batch pads little while each epoch still mixes differently; `generator` then shuffles the
    batches, so no epoch goes from short to long. Text tasks with variable lengths use it.
    """
    batches: list[torch.Tensor] = []
    for part in order.split(batch_size * window):
        part = part[torch.argsort(lengths[part], stable=True)]
        batches += list(part.split(batch_size))
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]


def sorted_batches(lengths: torch.Tensor, batch_size: int) -> list[torch.Tensor]:
    """Every index once, sorted by length (stable) and cut into batches: evaluation order,
    where padding is least."""
    return list(torch.argsort(lengths, stable=True).split(batch_size))


def shard_batches(batches: list[torch.Tensor], *, rank: int, world: int) -> list[torch.Tensor]:
    """This rank's share of a list of batches: every `world`-th, the list first repeated from
    its start so that every rank gets the same number (as `DistributedSampler` pads)."""
    if world <= 1:
        return batches
    per_rank = math.ceil(len(batches) / world)
    padded = (batches * (1 + per_rank * world // max(len(batches), 1)))[: per_rank * world]
    return padded[rank::world]


class IndexBatches:
    """Batches made by a task's `collate` from index batches that `plan(epoch)` lays out.

    The one batch stream of the in-memory tasks: `plan` is a pure function of the epoch (and
    the seed it closes over), built from `epoch_order`, `length_buckets`, `sorted_batches` and
    `shard_batches`, so a run resumed at batch `k` of an epoch sees exactly the batches it
    would have seen. `collate(idx)` turns a `(B,)` tensor of item indices into whatever the
    task's steps take (tuples, dicts, dataclasses).

    >>> b = IndexBatches(lambda e: list(torch.arange(5).split(2)), lambda i: i * 10, length=3)
    >>> [t.tolist() for t in b.epoch(0, start=1)]
    [[20, 30], [40]]
    """

    def __init__(
        self,
        plan: Callable[[int], list[torch.Tensor]],
        collate: Callable[[torch.Tensor], Any],
        *,
        length: int | None = None,
    ) -> None:
        self.plan, self.collate = plan, collate
        self.length = length  # batches per epoch; default: counted from plan(0)

    def __len__(self) -> int:
        if self.length is None:
            self.length = len(self.plan(0))
        return self.length

    def epoch(self, epoch: int, start: int = 0) -> Iterator[Any]:
        """Yield the batches of `epoch`, beginning at batch number `start`."""
        for idx in self.plan(epoch)[start:]:
            yield self.collate(idx)


class TensorBatches:
    """Batches from tensors held in memory (already preprocessed to float)."""

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        *,
        batch_size: int,
        shuffle: bool,
        seed: int = 0,
        drop_last: bool = False,
        rank: int = 0,
        world: int = 1,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        self.images, self.labels = images, labels
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        self.drop_last, self.rank, self.world = drop_last, rank, world
        self.transform = transform

    def _n_rank(self) -> int:
        return math.ceil(len(self.labels) / self.world)

    def __len__(self) -> int:
        n = self._n_rank()
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def epoch(self, epoch: int, start: int = 0) -> Iterator[Batch]:
        """Yield batches of `epoch`, beginning at batch number `start`."""
        order = epoch_order(
            len(self.labels),
            seed=self.seed,
            epoch=epoch,
            shuffle=self.shuffle,
            rank=self.rank,
            world=self.world,
        )
        for b in range(start, len(self)):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size]
            x = self.images[idx]
            if self.transform is not None:
                x = self.transform(x)
            yield x, self.labels[idx]


class DatasetBatches:
    """Batches streamed from a map-style Dataset through DataLoader workers."""

    def __init__(
        self,
        dataset: Dataset,
        *,
        batch_size: int,
        shuffle: bool,
        seed: int = 0,
        drop_last: bool = False,
        num_workers: int = 0,
        rank: int = 0,
        world: int = 1,
        collate: Callable | None = None,
    ) -> None:
        self.dataset = dataset
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        self.drop_last, self.num_workers = drop_last, num_workers
        self.rank, self.world, self.collate = rank, world, collate

    def __len__(self) -> int:
        n = math.ceil(len(self.dataset) / self.world)  # type: ignore[arg-type]
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def epoch(self, epoch: int, start: int = 0) -> Iterator[Batch]:
        order = epoch_order(
            len(self.dataset),
            seed=self.seed,
            epoch=epoch,  # type: ignore[arg-type]
            shuffle=self.shuffle,
            rank=self.rank,
            world=self.world,
        )
        order = order[start * self.batch_size : len(self) * self.batch_size].tolist()
        loader = DataLoader(
            self.dataset,
            batch_size=self.batch_size,
            sampler=order,
            num_workers=self.num_workers,
            collate_fn=self.collate,
            persistent_workers=False,
        )
        yield from loader


def eval_shard(n: int, rank: int, world: int) -> torch.Tensor:
    """Positions `(<= ceil(n / world),)` of an evaluation split that `rank` scores: every
    `world`-th, unpadded, so the ranks together see each item exactly once (the training
    order pads like `DistributedSampler`, which would count the repeats twice in a metric).

    >>> eval_shard(5, 1, 2).tolist()
    [1, 3]
    """
    return torch.arange(n)[rank::world]


def check_eval_share(n: int, world: int, what: str) -> None:
    """ConfigError unless an evaluation split of `n` items (`what`: where its size is set)
    has one for each of the `world` processes: a process with nothing to score would wait
    forever for the others at DDP's first forward."""
    if n < world:
        raise ConfigError(
            f"{what} gives {n} item(s) to score, fewer than the {world} processes torchrun "
            f"started (each scores its own share): give it at least {world}"
        )
