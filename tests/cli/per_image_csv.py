"""A small per_image.csv, as polypnet evaluate writes it, for the tests of the scripts that read one."""

from __future__ import annotations

from pathlib import Path


def write_per_image(path: Path, rows: list[tuple[str, float, float, float]]) -> Path:
    """Write (name, dice, foreground_true, foreground_pred) rows (IoU filled in) to ``path``; returns it."""
    lines = ["name,dice,iou,foreground_true,foreground_pred"]
    lines += [f"{name},{dice},{dice / 2},{true},{pred}" for name, dice, true, pred in rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path
