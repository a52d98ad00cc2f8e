"""``polypnet compare sequences``: CVC-ClinicDB test scores per video sequence, from polypnet evaluate's per_image.csv.

    polypnet compare sequences results/cpu/cvc-clinicdb_seed44_sequence_run/per_image.csv

The pooled (global) F1 weighs large polyps; per sequence, one patient's small polyps that the
model misses stand out. Frames are mapped to sequences by the shipped frame -> sequence table.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..data.shipped import cvc_sequences
from ..experiments.per_image import MISSED_BELOW, read_per_image, summarise


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip("`"))
    parser.add_argument("per_image", type=Path, help="per_image.csv written by polypnet evaluate on CVC-ClinicDB")
    parser.add_argument("--out", type=Path, default=None, help="also write the table as Markdown to this file")
    return parser


def per_sequence(rows: list[dict[str, str]], sequences: dict[str, int]) -> list[dict[str, Any]]:
    """One summary per sequence: ``per_image.summarise`` of its frames, with the sequence number."""
    unknown = sorted({r["name"] for r in rows} - set(sequences))
    if unknown:
        raise SystemExit(
            f"error: frames not in CVC-ClinicDB's sequence table: {', '.join(unknown[:5])}"
            + (" ..." if len(unknown) > 5 else "")
            + " (is this a CVC-ClinicDB evaluation?)"
        )
    return [
        {"sequence": seq, **summarise([r for r in rows if sequences[r["name"]] == seq])}
        for seq in sorted({sequences[r["name"]] for r in rows})
    ]


def markdown(summary: list[dict[str, Any]], rows: list[dict[str, str]]) -> str:
    """The per-sequence table plus a line over all frames."""
    lines = [
        f"| sequence | frames | mean Dice | missed (Dice < {MISSED_BELOW}) | nothing predicted | mean polyp area |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {s['sequence']} | {s['images']} | {s['mean_dice']:.2f} | {s['missed']} | {s['empty']} | "
        f"{100 * s['polyp_area']:.1f}% |"
        for s in summary
    ]
    total = summarise(rows)
    lines += [
        "",
        f"All {total['images']} frames: median Dice {total['median_dice']:.2f}, "
        f"{total['missed']} missed, {total['under_half']} under 0.5.",
    ]
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
