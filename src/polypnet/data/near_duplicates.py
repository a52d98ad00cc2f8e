"""Near-duplicate images by a difference hash: pictures of practically the same frame.

A random split can put the two images of such a pair on both sides, so they are worth knowing
before choosing a split. The hash compares the brightness of horizontally neighbouring cells of
a 16 x 16 grid (256 bits); two images whose hashes differ in at most :data:`MAX_BITS` bits are
reported. The threshold is set so that on Kvasir-SEG only pairs of practically the same frame
are reported (its check record lists them).
"""

from __future__ import annotations

import cv2
import numpy as np

#: Hash bits two images may differ in and still count as near-duplicates (of 256).
MAX_BITS = 10
#: Set bits of every byte value.
_POPCOUNT = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1).sum(axis=1).astype(np.uint16)


def difference_hash(rgb: np.ndarray) -> np.ndarray:
    """The 256-bit difference hash of an RGB ``uint8`` image, as 32 bytes."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    cells = cv2.resize(gray, (17, 16), interpolation=cv2.INTER_AREA).astype(np.int16)
    return np.packbits((cells[:, 1:] > cells[:, :-1]).ravel())


def near_duplicate_pairs(
    hashes: list[np.ndarray], ids: list[str], max_bits: int = MAX_BITS
) -> list[tuple[str, str, int]]:
    """(id, id, differing bits) of every pair within ``max_bits``, closest first (one row of
    comparisons at a time, so memory stays linear in the number of images)."""
    stacked = np.stack(hashes) if hashes else np.zeros((0, 32), np.uint8)
    found = []
    for i in range(len(stacked) - 1):
        bits = _POPCOUNT[np.bitwise_xor(stacked[i], stacked[i + 1 :])].sum(axis=1)
        for j in np.flatnonzero(bits <= max_bits):
            found.append((ids[i], ids[i + 1 + int(j)], int(bits[j])))
    return sorted(found, key=lambda pair: (pair[2], pair[0], pair[1]))
