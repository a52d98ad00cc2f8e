"""Data layer: layouts of Kvasir-SEG and CVC-ClinicDB, splits, augmentation, decode cache and the
Lightning DataModule. See ``docs/data.md``.

``PolypDataModule`` is imported lazily, so ``import polypnet.data`` does not load Lightning.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .cache import CACHE_DIR_ENV, DecodeCache
from .dataset import PolypDataset
from .errors import DataError, DataWarning, Problem
from .layouts import DATA_DIR_ENV, Pair, PairSet, find_pairs, resolve_root, scan_pairs
from .readers import MASK_THRESHOLD, ImageInfo, probe, read_image, read_mask
from .shipped import sample_root
from .splits import SPLIT_KINDS, check_split, load_split, make_split, save_split, split_counts
from .transforms import build_transforms

if TYPE_CHECKING:
    from .datamodule import PolypDataModule

__all__ = [
    "CACHE_DIR_ENV",
    "DATA_DIR_ENV",
    "MASK_THRESHOLD",
    "SPLIT_KINDS",
    "DataError",
    "DataWarning",
    "DecodeCache",
    "ImageInfo",
    "Pair",
    "PairSet",
    "PolypDataModule",
    "PolypDataset",
    "Problem",
    "build_transforms",
    "check_split",
    "find_pairs",
    "load_split",
    "make_split",
    "probe",
    "read_image",
    "read_mask",
    "resolve_root",
    "sample_root",
    "save_split",
    "scan_pairs",
    "split_counts",
]


def __getattr__(name: str) -> Any:
    if name == "PolypDataModule":
        from .datamodule import PolypDataModule

        return PolypDataModule
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
