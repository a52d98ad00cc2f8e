"""Reading evaluate.py's ``per_image.csv`` and the per-image summaries the reports quote."""

from __future__ import annotations

import csv
import statistics
from pathlib import Path
from typing import Any

#: An image whose Dice is under this is counted as missed.
MISSED_BELOW = 0.05
#: Polyps covering less than this fraction of the frame are "small" in the model card and README.
SMALL_POLYP = 0.05
COLUMNS = frozenset({"name", "dice", "foreground_true", "foreground_pred"})


def read_per_image(path: Path) -> list[dict[str, str]]:
    """The rows of a per_image.csv; clear errors for a missing file or missing columns."""
    if not path.is_file():
        raise SystemExit(f"error: {path}: no such file (polypnet evaluate writes per_image.csv into its --out folder)")
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or not COLUMNS <= set(rows[0]):
        raise SystemExit(f"error: {path}: expected a per_image.csv with columns {', '.join(sorted(COLUMNS))}")
    return rows


def summarise(rows: list[dict[str, str]]) -> dict[str, Any]:
    """Images, mean and median Dice, the counts under 0.5, missed and with nothing predicted, and the mean polyp area."""
    dice = [float(r["dice"]) for r in rows]
    return {
        "images": len(rows),
        "mean_dice": statistics.fmean(dice),
        "median_dice": statistics.median(dice),
        "under_half": sum(d < 0.5 for d in dice),
        "missed": sum(d < MISSED_BELOW for d in dice),
        "empty": sum(float(r["foreground_pred"]) == 0 for r in rows),
        "polyp_area": statistics.fmean(float(r["foreground_true"]) for r in rows),
    }
