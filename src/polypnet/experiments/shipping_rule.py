"""The rule that picks shipped weights, checked: among the recorded runs that a tag could ship (same
protocol folder, dataset, split, split seed, input size and epochs), the one with the best
validation Dice, never the test score.

``make docs-check`` fails with the ``polypnet ship-weights`` command to run when a record with a
better validation Dice than the shipped one has landed.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

#: The column of a run's metrics.csv that checkpointing monitors.
VAL_DICE = "val/dice_global"
#: What makes two records candidates for the same tag.
SAME = ("dataset", "split", "split_seed", "image_size", "epochs")


def best_val_dice(record_path: Path) -> float | None:
    """The best validation Dice of the run kept beside a record (``<stem>_run/metrics.csv``), if any."""
    metrics = record_path.with_name(record_path.stem + "_run") / "metrics.csv"
    if not metrics.is_file():
        return None
    with metrics.open(newline="") as f:
        values = [float(row[VAL_DICE]) for row in csv.DictReader(f) if row.get(VAL_DICE)]
    return max(values, default=None)


def candidates(root: Path, shipped: Path) -> list[Path]:
    """The records beside ``shipped`` (relative to ``root``) that its tag could ship instead."""
    record = json.loads((root / shipped).read_text())
    out = []
    for path in sorted((root / shipped).parent.glob("*.json")):
        other: dict[str, Any] = json.loads(path.read_text())
        if all(other.get(key) == record.get(key) for key in SAME):
            out.append(path.relative_to(root))
    return out


def rule_violations(root: Path, index: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    """One line per tag whose shipped record is not the candidate with the best validation Dice."""
    problems = []
    for tags in index.values():
        for tag, entry in tags.items():
            shipped = Path(entry["result_file"])
            scored = {p: best_val_dice(root / p) for p in candidates(root, shipped)}
            scored = {p: v for p, v in scored.items() if v is not None}
            if shipped not in scored:
                continue  # no curves kept beside the shipped record: nothing to compare
            best = max(scored, key=lambda p: scored[p])
            if scored[best] > scored[shipped]:
                problems.append(
                    f"{tag}: ships {shipped} (best validation Dice {scored[shipped]:.4f}) but {best} has "
                    f"{scored[best]:.4f}: run `polypnet ship-weights {best} --tag {tag}` (with --checkpoint where "
                    "its run's best checkpoint is not at the record's path)"
                )
    return problems
