"""``polypnet compare sizes``: test Dice against polyp size, for one or more runs, from polypnet evaluate's per_image.csv.

    polypnet compare sizes results/cpu/kvasir-seg_seed42_run/per_image.csv \
        results/paper128/kvasir-seg_seed42_run/per_image.csv --labels "cpu" "paper128" --out results/paper128/size_kvasir

Small polyps are where this network fails (a few pixels wide at 128x128). The figure plots each
image's Dice against the fraction of the frame its polyp covers (log scale), with each run's mean
Dice per size bin; the table gives, per run, the median, the counts under 0.5, missed and with
nothing predicted, and the mean Dice per bin and under 5% of the frame.
"""

from __future__ import annotations

import argparse
import math
import statistics
from pathlib import Path
from typing import Any

from ..experiments.per_image import MISSED_BELOW, SMALL_POLYP, read_per_image, summarise
from ..training.figures import pyplot, save_figure

#: Default bin edges (fractions of the frame covered by the polyp).
EDGES = (0.02, 0.05, 0.2)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip("`"))
    parser.add_argument("per_image", type=Path, nargs="+", help="per_image.csv files written by polypnet evaluate")
    parser.add_argument("--labels", nargs="+", help="one name per file (default: the folder holding each file)")
    parser.add_argument(
        "--edges",
        type=float,
        nargs="+",
        default=list(EDGES),
        help="size bin edges as fractions of the frame, increasing (default: %(default)s)",
    )
    parser.add_argument("--out", type=Path, help="folder for size.md and size.png (default: print the table only)")
    return parser


def bin_labels(edges: list[float]) -> list[str]:
    """Readable names of the bins that ``edges`` cut: under the first edge, between each pair, above the last."""
    pct = [f"{100 * e:g}%" for e in edges]
    return [f"< {pct[0]}"] + [f"{a}-{b}" for a, b in zip(pct, pct[1:])] + [f">= {pct[-1]}"]


def bin_of(fraction: float, edges: list[float]) -> int:
    """The index of the bin that holds ``fraction``."""
    return sum(fraction >= e for e in edges)


def by_size(rows: list[dict[str, str]], edges: list[float]) -> list[tuple[int, float]]:
    """(images, mean Dice) per size bin; mean is NaN for an empty bin."""
    bins: list[list[float]] = [[] for _ in range(len(edges) + 1)]
    for r in rows:
        bins[bin_of(float(r["foreground_true"]), edges)].append(float(r["dice"]))
    return [(len(b), statistics.fmean(b) if b else math.nan) for b in bins]


def markdown(runs: dict[str, list[dict[str, str]]], edges: list[float]) -> str:
    """One row per run: counts, median, small-polyp mean and the mean Dice per bin (with its image count)."""
    names = bin_labels(edges)
    head = [
        "run",
        "images",
        "median Dice",
        "under 0.5",
        f"missed (< {MISSED_BELOW})",
        "nothing predicted",
        f"mean Dice, polyps < {100 * SMALL_POLYP:g}% (n)",
        *[f"mean Dice {n} (n)" for n in names],
    ]
    lines = ["| " + " | ".join(head) + " |", "| " + " | ".join("---" for _ in head) + " |"]
    for label, rows in runs.items():
        s = summarise(rows)
        small, small_mean = by_size(rows, [SMALL_POLYP])[0]
        cells = [
            label,
            str(s["images"]),
            f"{s['median_dice']:.3f}",
            str(s["under_half"]),
            str(s["missed"]),
            str(s["empty"]),
            f"{small_mean:.3f} ({small})",
        ]
        cells += [f"{mean:.3f} ({n})" if n else "- (0)" for n, mean in by_size(rows, edges)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def draw(runs: dict[str, list[dict[str, str]]], edges: list[float], path: Path) -> Path:
    """Dice against polyp area per image (points) and each run's mean per bin (steps), log x."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(10, 4.5))
    areas = [float(r["foreground_true"]) for rows in runs.values() for r in rows]
    lo = min([a for a in areas if a > 0] + [min(edges)]) / 1.5
    hi = max(areas + [max(edges)]) * 1.5
    bounds = [lo, *edges, hi]
    for i, (label, rows) in enumerate(runs.items()):
        colour = f"C{i}"
        xs = [max(float(r["foreground_true"]), lo) for r in rows]
        ax.scatter(xs, [float(r["dice"]) for r in rows], s=12, alpha=0.5, color=colour, label=f"{label}: images")
        means = [mean for _, mean in by_size(rows, edges)]
        ax.stairs(means, bounds, baseline=None, color=colour, linewidth=2, label=f"{label}: mean per bin")
    for e in edges:
        ax.axvline(e, color="grey", linewidth=0.5, linestyle=":")
    ax.set(
        xscale="log",
        xlim=(lo, hi),
        ylim=(-0.03, 1.03),
        xlabel="polyp area (fraction of the frame, log scale)",
        ylabel="Dice per image",
        title="Test Dice against polyp size",
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # outside: no point hidden
    return save_figure(fig, path)


def _check(args: argparse.Namespace) -> list[str]:
    if args.labels is not None and len(args.labels) != len(args.per_image):
        raise SystemExit(f"error: {len(args.labels)} labels for {len(args.per_image)} files: give one label per file")
    if any(b <= a for a, b in zip(args.edges, args.edges[1:])) or not all(0 < e < 1 for e in args.edges):
        raise SystemExit(f"error: --edges {args.edges}: give increasing fractions between 0 and 1")
    labels = args.labels or [p.parent.name for p in args.per_image]
    if len(set(labels)) != len(labels):
        raise SystemExit(f"error: two files share the label {labels}: name them with --labels")
    return labels


def main(argv: list[str] | None = None) -> int:
    """Print the table; with --out also write size.md and size.png. Returns the exit code."""
    args = build_parser().parse_args(argv)
    labels = _check(args)
    runs: dict[str, Any] = {label: read_per_image(path) for label, path in zip(labels, args.per_image)}
    table = markdown(runs, args.edges)
    print(table)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        sources = ", ".join(f"`{p}`" for p in args.per_image)
        (args.out / "size.md").write_text(
            f"# Dice against polyp size\n\nWritten by `polypnet compare sizes` from {sources}. Polyp area: the "
            "ground-truth mask's fraction of the frame at the network's input size.\n\n![Dice against polyp size](size.png)\n\n"
            + table
            + "\n"
        )
        print(f"figure: {draw(runs, args.edges, args.out / 'size.png')}")
        print(f"table: {args.out / 'size.md'}")
    return 0
