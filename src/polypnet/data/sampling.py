"""A training sampler whose shuffle and augmentation depend only on (seed, epoch).

Lightning creates the first epoch's iterator (and prefetches a batch) before any
``on_train_epoch_start`` hook runs, so reseeding global RNGs per epoch cannot make a resumed run
replay the epoch it resumes at. This sampler draws both the order and a per-item augmentation seed
from a generator seeded by (seed, epoch) at iteration time, and hands each item its seed through
the index, so workers (persistent or not) augment identically in a fresh and in a resumed run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch.utils.data import Sampler

#: Mixes the epoch into the seed; any large odd constant keeps (seed, epoch) pairs apart.
_EPOCH_STRIDE = 1_000_003


class EpochSeededSampler(Sampler[tuple[int, int]]):
    """Yields ``(index, augmentation_seed)`` in an order fixed by ``(seed, epoch)``.

    ``epoch`` returns the current epoch (e.g. the Trainer's); without it the sampler counts its
    own passes.
    """

    def __init__(self, length: int, seed: int, epoch: Callable[[], int] | None = None) -> None:
        self.length = length
        self.seed = seed
        self.epoch = epoch
        self._passes = 0

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch = self.epoch() if self.epoch is not None else self._passes
        self._passes += 1
        g = torch.Generator().manual_seed((self.seed * _EPOCH_STRIDE + epoch) % 2**63)
        order = torch.randperm(self.length, generator=g).tolist()
        seeds = torch.randint(0, 2**31 - 1, (self.length,), generator=g).tolist()
        return iter(list(zip(order, seeds)))
