"""``scripts/per_sequence.py``: CVC-ClinicDB test scores per video sequence, from evaluate.py's per_image.csv.

    python scripts/per_sequence.py results/cpu/cvc-clinicdb_seed44_sequence_run/per_image.csv

The pooled (global) F1 weighs large polyps; per sequence, one patient's small polyps that the
model misses stand out. Frames are mapped to sequences by the shipped frame -> sequence table.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
from pathlib import Path
from typing import Any

from ..data.shipped import cvc_sequences

#: A frame whose Dice is under this is counted as missed.
MISSED_BELOW = 0.05


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip("`"))
    parser.add_argument("per_image", type=Path, help="per_image.csv written by scripts/evaluate.py on CVC-ClinicDB")
    parser.add_argument("--out", type=Path, default=None, help="also write the table as Markdown to this file")
    return parser


def read_per_image(path: Path) -> list[dict[str, str]]:
    """The rows of a per_image.csv; clear errors for a missing file or missing columns."""
    if not path.is_file():
        raise SystemExit(f"error: {path}: no such file (scripts/evaluate.py writes per_image.csv into its --out folder)")
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    needed = {"name", "dice", "foreground_true", "foreground_pred"}
    if not rows or not needed <= set(rows[0]):
        raise SystemExit(f"error: {path}: expected a per_image.csv with columns {', '.join(sorted(needed))}")
    return rows


def per_sequence(rows: list[dict[str, str]], sequences: dict[str, int]) -> list[dict[str, Any]]:
    """One summary per sequence: frames, mean Dice, missed and empty frames, mean polyp area fraction."""
    unknown = sorted({r["name"] for r in rows} - set(sequences))
    if unknown:
        raise SystemExit(f"error: frames not in CVC-ClinicDB's sequence table: {', '.join(unknown[:5])}"
                         + (" ..." if len(unknown) > 5 else "") + " (is this a CVC-ClinicDB evaluation?)")
    summary = []
    for seq in sorted({sequences[r["name"]] for r in rows}):
        frames = [r for r in rows if sequences[r["name"]] == seq]
        summary.append({
            "sequence": seq,
            "frames": len(frames),
            "mean_dice": statistics.fmean(float(r["dice"]) for r in frames),
            "missed": sum(float(r["dice"]) < MISSED_BELOW for r in frames),
            "empty": sum(float(r["foreground_pred"]) == 0 for r in frames),
            "polyp_area": statistics.fmean(float(r["foreground_true"]) for r in frames),
        })
    return summary


def markdown(summary: list[dict[str, Any]], rows: list[dict[str, str]]) -> str:
    """The per-sequence table plus a line over all frames."""
    lines = [f"| sequence | frames | mean Dice | missed (Dice < {MISSED_BELOW}) | nothing predicted | mean polyp area |",
             "| --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {s['sequence']} | {s['frames']} | {s['mean_dice']:.2f} | {s['missed']} | {s['empty']} | "
              f"{100 * s['polyp_area']:.1f}% |" for s in summary]
    dice = [float(r["dice"]) for r in rows]
    lines += ["", f"All {len(rows)} frames: median Dice {statistics.median(dice):.2f}, "
              f"{sum(d < MISSED_BELOW for d in dice)} missed, {sum(d < 0.5 for d in dice)} under 0.5."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Print (and optionally write) the per-sequence table; returns the exit code."""
    args = build_parser().parse_args(argv)
    rows = read_per_image(args.per_image)
    text = markdown(per_sequence(rows, cvc_sequences()), rows)
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
