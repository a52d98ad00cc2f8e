"""Synthetic images, masks and files for the data tests ."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import tifffile


def random_image(h: int, w: int, seed: int = 0, channels: int = 3, dtype: type = np.uint8) -> np.ndarray:
    rng = np.random.default_rng(seed)
    top = np.iinfo(dtype).max
    shape = (h, w) if channels == 1 else (h, w, channels)
    # Smooth content (a gradient plus noise) survives JPEG better than pure noise.
    base = np.linspace(0, top * 0.8, w, dtype=np.float64)[None, :] * np.ones((h, 1))
    if channels != 1:
        base = base[..., None] * np.ones(channels)
    return np.clip(base + rng.integers(0, top // 8, shape), 0, top).astype(dtype)


def disc_mask(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A 0/255 disc somewhere in the frame."""
    rng = np.random.default_rng(seed)
    mask = np.zeros((h, w), np.uint8)
    cy, cx = int(rng.integers(h // 4, 3 * h // 4)), int(rng.integers(w // 4, 3 * w // 4))
    cv2.circle(mask, (cx, cy), max(2, min(h, w) // 5), 255, -1)
    return mask


def write(path: Path, array: np.ndarray, tiff_rgb_minisblack: bool = False) -> Path:
    """Write ``array`` (RGB order) in the format of ``path``'s suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".tif", ".tiff"):
        # The official CVC-ClinicDB images: RGB samples tagged MinIsBlack (Pillow refuses them).
        kwargs = {"photometric": "minisblack", "planarconfig": "contig"} if tiff_rgb_minisblack else {}
        tifffile.imwrite(path, array, **kwargs)
        return path
    if array.ndim == 3 and array.shape[2] == 3:
        array = array[..., ::-1]
    elif array.ndim == 3 and array.shape[2] == 4:
        array = array[..., [2, 1, 0, 3]]
    assert cv2.imwrite(str(path), array), path
    return path
