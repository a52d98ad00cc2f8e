"""Overlays: a mask tinted over its image with the contour drawn, and the mask's boxes."""

from __future__ import annotations

import cv2
import numpy as np

#: Overlay colour (RGB) and opacity of the filled mask; the contour is drawn opaque.
OVERLAY_COLOUR = (0, 255, 0)
OVERLAY_ALPHA = 0.35
_BAND_ROWS = 512


def component_boxes(mask: np.ndarray) -> list[list[int]]:
    """``[x, y, width, height]`` of each 8-connected component of a {0, 1} mask, largest first."""
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    rows = sorted(stats[1:n].tolist(), key=lambda s: -s[cv2.CC_STAT_AREA])
    return [[int(v) for v in s[:4]] for s in rows]


def overlay(
    image: np.ndarray, mask: np.ndarray, colour: tuple[int, int, int] = OVERLAY_COLOUR, alpha: float = OVERLAY_ALPHA
) -> np.ndarray:
    """RGB uint8 copy of ``image`` with ``mask`` tinted and its contour drawn."""
    out = image.copy()
    tint = np.asarray(colour, np.float32)
    # Band by band: the blend computes in float64, 24 bytes per masked pixel, which on a
    # 50-megapixel image would be over a gigabyte at once.
    for top in range(0, out.shape[0], _BAND_ROWS):
        band, fg = out[top : top + _BAND_ROWS], mask[top : top + _BAND_ROWS].astype(bool)
        band[fg] = ((1 - alpha) * band[fg] + alpha * tint).round().astype(np.uint8)
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    thickness = max(1, round(max(mask.shape) / 300))  # visible on 1080p frames, thin on 256 px
    cv2.drawContours(out, contours, -1, colour, thickness)
    return out
