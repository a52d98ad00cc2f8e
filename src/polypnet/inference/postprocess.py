"""Clean-ups of a predicted {0, 1} mask: keep the largest connected region, fill enclosed holes.

A colonoscopy frame usually shows one polyp, so small separate blobs are likely false positives;
a polyp region has no holes, so background enclosed by it is likely a miss. Whether either helps
is measured by ``polypnet compare postprocess`` (docs/results.md).
"""

from __future__ import annotations

import cv2
import numpy as np

#: The clean-ups by name, in the order ``apply`` runs them.
POSTPROCESS = ("none", "largest", "fill", "largest+fill")


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 8-connected foreground region of a {0, 1} mask (an empty mask stays empty)."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 2:  # background only, or one region
        return mask.astype(np.uint8)
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return (labels == biggest).astype(np.uint8)


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """The mask with every background region that does not touch the border set to foreground."""
    mask = mask.astype(np.uint8)
    background = (1 - mask).astype(np.uint8)
    n, labels = cv2.connectedComponents(background, connectivity=4)
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    holes = (labels > 0) & ~np.isin(labels, border)
    return (mask | holes).astype(np.uint8)


def apply(mask: np.ndarray, postprocess: str) -> np.ndarray:
    """``mask`` after the clean-up named ``postprocess`` (one of :data:`POSTPROCESS`)."""
    if postprocess not in POSTPROCESS:
        raise ValueError(f"unknown post-processing {postprocess!r}: one of {', '.join(POSTPROCESS)}")
    out = mask.astype(np.uint8)
    if "largest" in postprocess:
        out = largest_component(out)
    if "fill" in postprocess:
        out = fill_holes(out)
    return out
