"""Fixtures of the data tests: a synthetic dataset builder, session-wide views of the real data."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from polypnet.data import PairSet, find_pairs

from .synth import disc_mask, random_image, write

MakeDataset = Callable[..., Path]


@pytest.fixture
def make_dataset(tmp_path: Path) -> MakeDataset:
    """``make_dataset(n, image_dir="images", mask_dir="masks", image_ext=".jpg", mask_ext=".png",
    size=(48, 64), ids=None, name="ds")`` writes a dataset and returns its root."""

    def make(
        n: int = 4,
        image_dir: str = "images",
        mask_dir: str = "masks",
        image_ext: str = ".jpg",
        mask_ext: str = ".png",
        size: tuple[int, int] = (48, 64),
        ids: list[str] | None = None,
        name: str = "ds",
    ) -> Path:
        root = tmp_path / name
        ids = ids if ids is not None else [f"s{i:02d}" for i in range(n)]
        for k, sample_id in enumerate(ids):
            image = random_image(*size, seed=k)
            write(root / image_dir / f"{sample_id}{image_ext}", image, tiff_rgb_minisblack=True)
            mask = disc_mask(*size, seed=k)
            if mask_ext.lower() == ".jpg":
                mask = np.repeat(mask[..., None], 3, axis=2)  # Kvasir-style 3-channel JPEG mask
            write(root / mask_dir / f"{sample_id}{mask_ext}", mask)
        return root

    return make


@pytest.fixture(scope="session")
def kvasir_pairs(shared_data: Path) -> PairSet:
    """Real Kvasir-SEG, headers validated once per session."""
    return find_pairs(shared_data / "kvasir-seg")


@pytest.fixture(scope="session")
def cvc_pairs(shared_data: Path) -> PairSet:
    """Real CVC-ClinicDB (PNG copy), headers validated once per session."""
    return find_pairs(shared_data / "cvc-clinicdb")
