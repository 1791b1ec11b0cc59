"""An endless, resumable stream of training batches.

The order is a pure function of ``(seed, epoch)``: :class:`torch.utils.data.DistributedSampler`
(used with one replica too) permutes the indices with a generator seeded ``seed + epoch``,
and rank ``r`` of ``N`` takes positions ``r, r + N, …``. With the *global* batch size fixed,
batch ``i`` of an epoch therefore covers the same samples whatever the number of processes.
The position ``(epoch, index)`` — ``index`` = batches already taken this epoch — is saved in
checkpoints; resuming skips exactly those batches, so a resumed run sees the same data as an
uninterrupted one. The DataLoader gets its own generator, so creating an iterator never
draws from the global torch RNG (which is part of the checkpointed state).
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Iterator, Mapping, Sequence

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from ..errors import ConfigError
from .distributed import DistInfo


class _SkipSampler(Sampler[int]):
    """The indices of ``base`` after the first ``skip``."""

    def __init__(self, base: Sampler[int], skip: int) -> None:
        self.base = base
        self.skip = skip

    def __iter__(self) -> Iterator[int]:
        return iter(list(self.base)[self.skip :])

    def __len__(self) -> int:
        return max(0, len(self.base) - self.skip)  # type: ignore[arg-type]


def default_collate() -> Callable[[list[Any]], Any]:
    """``restorekit.data.collate`` (kernel-aware stacking) when available, else torch's."""
    try:
        from restorekit.data import collate  # type: ignore[attr-defined]
    except ImportError:
        from torch.utils.data import default_collate as collate
    if inspect.ismodule(collate):  # the data package without its __init__ re-export
        collate = getattr(collate, "collate", None) or torch.utils.data.default_collate
    return collate


class BatchStream:
    """``next(stream)`` gives the next per-rank batch, moving to a new epoch when one ends."""

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int,
        info: DistInfo,
        seed: int,
        num_workers: int = 0,
        collate_fn: Callable[[list[Any]], Any] | None = None,
        epoch: int = 0,
        index: int = 0,
    ) -> None:
        self.dataset = dataset
        self.batch_size = batch_size
        self.info = info
        self.seed = seed
        self.num_workers = num_workers
        self.collate_fn = collate_fn or default_collate()
        self.epoch = epoch
        self.index = index
        self._iter: Iterator[Any] | None = None
        n = len(dataset)  # type: ignore[arg-type]
        per_rank = n // info.world_size
        if per_rank < batch_size:
            raise ConfigError(
                f"the training set has {n} samples, fewer than one global batch of "
                f"{batch_size * info.world_size}; lower train.batch_size or use more data"
            )
        self.batches_per_epoch = per_rank // batch_size

    def _start_epoch(self) -> None:
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(self.epoch)
        sampler = DistributedSampler(
            self.dataset, num_replicas=self.info.world_size, rank=self.info.rank, shuffle=True, seed=self.seed, drop_last=True
        )
        sampler.set_epoch(self.epoch)
        loader = DataLoader(
            self.dataset,
            batch_size=self.batch_size,
            sampler=_SkipSampler(sampler, self.index * self.batch_size),
            drop_last=True,
            num_workers=self.num_workers,
            collate_fn=self.collate_fn,
            generator=torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch),
            pin_memory=self.info.device.type == "cuda",
        )
        self._iter = iter(loader)

    def __iter__(self) -> "BatchStream":
        return self

    def __next__(self) -> Any:
        for _ in range(2):
            if self._iter is None:
                self._start_epoch()
            try:
                batch = next(self._iter)  # type: ignore[arg-type]
            except StopIteration:
                self._iter = None
                self.epoch += 1
                self.index = 0
                continue
            self.index += 1
            return batch
        raise RuntimeError("the data loader produced an empty epoch")  # guarded by the size check

    def position(self) -> dict[str, int]:
        return {"epoch": self.epoch, "index": self.index}


def to_device(batch: Any, device: torch.device) -> Any:
    """Move every tensor of a (nested) batch to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)) and not isinstance(batch, (str, bytes)):
        return type(batch)(to_device(v, device) for v in batch) if isinstance(batch, list) else tuple(to_device(v, device) for v in batch)
    return batch


def batch_size_of(batch: Mapping[str, Any]) -> int:
    x = batch["blurry"]
    return int(x.shape[0])


def split_indices(n: int, info: DistInfo) -> Sequence[int]:
    """Validation indices of this rank: ``rank, rank + N, …`` (every sample exactly once)."""
    return range(info.rank, n, info.world_size)
