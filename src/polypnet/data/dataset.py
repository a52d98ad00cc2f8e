"""``PolypDataset``: image/mask pairs as tensors, decoded per item or served from a decode cache."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import albumentations as A
import numpy as np
import torch
from torch.utils.data import Dataset

from .cache import DecodeCache
from .errors import DataError, Problem
from .layouts import Pair, find_pairs
from .readers import ReadError, read_image, read_mask
from .transforms import build_transforms, seed_transform


class PolypDataset(Dataset):
    """Pairs as ``{"image": (3, S, S) float in [0, 1], "mask": (1, S, S) float in {0, 1},
    "name": str, "orig_size": (2,) int64 tensor (height, width) of the original file}``.

    ``repeats`` makes one pass over the dataset visit every pair ``repeats`` times (index ``i``
    is pair ``i % len(pairs)``): the paper expanded its training set 4x offline. With a
    :class:`DecodeCache` items come from memory; without one each item decodes its files, and a
    file that fails to decode raises a :class:`DataError` naming it.
    """

    def __init__(
        self,
        pairs: Sequence[Pair],
        image_size: int = 256,
        train: bool = False,
        repeats: int = 1,
        cache: DecodeCache | None = None,
        transform: A.Compose | None = None,
    ) -> None:
        if repeats < 1:
            raise ValueError(f"repeats must be >= 1, got {repeats}")
        self.pairs = list(pairs)
        self.image_size = image_size
        self.train = train
        self.repeats = repeats
        self.cache = cache
        if cache is not None:
            absent = [p.id for p in self.pairs if p.id not in cache]
            if absent:
                raise ValueError(f"{len(absent)} pairs are not in the decode cache, e.g. {absent[0]!r}")
            if cache.image_size != image_size:
                raise ValueError(f"decode cache holds {cache.image_size} px images, the dataset wants {image_size}")
        self.transform = transform if transform is not None else build_transforms(image_size, train)
        self._seeded_for: tuple[int, int] | None = None

    @classmethod
    def from_root(
        cls,
        root: str | os.PathLike = "sample",
        ids: Sequence[str] | None = None,
        image_size: int = 256,
        train: bool = False,
        repeats: int = 1,
        cache: bool = True,
    ) -> PolypDataset:
        """The pairs under ``root`` (all, or ``ids``), validated, optionally decoded once."""
        found = find_pairs(root)
        pairs = found.pairs if ids is None else found.select(list(ids))
        decoded = DecodeCache.build(pairs, image_size) if cache else None
        return cls(pairs, image_size, train, repeats, decoded)

    def __len__(self) -> int:
        return len(self.pairs) * self.repeats

    @property
    def names(self) -> list[str]:
        """Sample ids (file stems), one per pair (not repeated)."""
        return [p.id for p in self.pairs]

    def pair(self, index: int) -> Pair:
        """The pair behind ``index`` (any index below ``len(self)``)."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        return self.pairs[index % len(self.pairs)]

    def _read(self, path: Path, kind: str) -> np.ndarray:
        try:
            return read_image(path) if kind == "image" else read_mask(path)
        except ReadError as err:
            raise DataError(Problem(path, f"unreadable {kind}: {err}")) from None

    def read_image(self, index: int) -> np.ndarray:
        """The original full-size RGB uint8 (H, W, 3) image of ``index``."""
        return self._read(self.pair(index).image, "image")

    def read_mask(self, index: int) -> np.ndarray:
        """The original full-size {0, 1} uint8 (H, W) mask of ``index`` (for evaluation at the
        original resolution)."""
        return self._read(self.pair(index).mask, "mask")

    def _seed_transform(self) -> None:
        # albumentations keeps its own RNG, which seed_everything does not reach; seed it from
        # torch's seed of this process (a worker's differs per worker and per epoch), so runs are
        # reproducible under seed_everything(workers=True) and workers do not repeat each other.
        key = (os.getpid(), torch.initial_seed())
        if self._seeded_for != key:
            seed_transform(self.transform, torch.initial_seed() % 2**32)
            self._seeded_for = key

    def __getitem__(self, index: int | tuple[int, int]) -> dict[str, Any]:
        """Item ``index``; ``(index, seed)`` (from :class:`EpochSeededSampler`) also fixes the
        augmentation's randomness."""
        aug_seed = None
        if isinstance(index, tuple):
            index, aug_seed = index
        pair = self.pair(index)
        if self.cache is not None:
            image, mask = self.cache.get(pair.id)
            height, width = self.cache.size(pair.id)
        else:
            image, mask = self._read(pair.image, "image"), self._read(pair.mask, "mask")
            if image.shape[:2] != mask.shape:
                (h, w), (mh, mw) = image.shape[:2], mask.shape
                raise DataError(Problem(pair.image, f"size mismatch: image {w}x{h}, mask {mw}x{mh}"))
            height, width = image.shape[:2]
        if aug_seed is None:
            self._seed_transform()
        else:
            seed_transform(self.transform, aug_seed)
            self._seeded_for = None
        out = self.transform(image=image, mask=mask)
        return {
            "image": out["image"],
            "mask": out["mask"][None].float(),
            "name": pair.id,
            "orig_size": torch.tensor([height, width]),
        }
