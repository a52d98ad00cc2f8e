"""``polypnet compare runs``: runs of different protocols side by side, as a figure and a table.

    polypnet compare runs results/cpu/cvc-clinicdb_seed42_run results/paper128/cvc-clinicdb_seed42_run \
        --labels "cpu (20 epochs)" "paper128 (40 epochs)" --out results/paper128/compare_cpu

Each folder is a run folder of fit.py or the run files reproduce.py keeps beside a result (both
hold ``metrics.csv``; ``test_metrics.json`` and ``wall_clock.json`` where the run wrote them). The
test scores are reproduce.py's evaluation (``eval_metrics.json``: evaluate.py in fp32, the recorded
number) where a result's folder has one, else fit.py's own test (at the training precision).
Writes ``compare.png`` (validation and training Dice per epoch) and ``compare.md`` (best
validation Dice and its epoch, test F1/IoU, wall time) into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from ..experiments.plots import draw_runs
from ..experiments.studies import RunResult, percent, read_run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0].strip("`"),
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("runs", type=Path, nargs="+", help="run folders (each with metrics.csv)")
    parser.add_argument("--labels", nargs="+", help="one name per run (default: the folder names)")
    parser.add_argument("--out", type=Path, required=True, help="folder for compare.png and compare.md")
    return parser


def read_runs(folders: list[Path]) -> list[RunResult]:
    """Each folder's run; a folder without a metrics.csv with validation rows is an error naming it."""
    runs = []
    for folder in folders:
        if not (folder / "metrics.csv").is_file():
            raise SystemExit(f"error: {folder}: no metrics.csv (pass a fit.py run folder or a result's _run folder)")
        run = read_run(folder, folder.name, 0)
        recorded = folder / "eval_metrics.json"
        if recorded.is_file():  # the number the result JSON records; fit's test ran at the training precision
            run.test = {k: float(v) for k, v in json.loads(recorded.read_text())["metrics"].items()}
        if not run.val_dice:
            raise SystemExit(f"error: {folder / 'metrics.csv'}: no validation rows (val/loss, val/dice_global)")
        runs.append(run)
    return runs


def markdown(runs: list[RunResult], labels: list[str]) -> str:
    """One row per run: epochs, best validation Dice and its epoch, last validation and training Dice,
    test scores and wall time."""
    lines = [
        "| run | epochs | best val Dice (epoch) | last val Dice | last train Dice | test F1 / IoU (global) | wall time |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run, label in zip(runs, labels):
        best = run.best_index
        test = (
            f"{percent(run.test.get('dice_global'))} / {percent(run.test.get('iou_global'))}" if run.finished else "-"
        )
        wall = "-" if math.isnan(run.wall_s) else f"{run.wall_s / 60:.0f} min"
        lines.append(
            f"| {label} | {run.epochs[-1] + 1} | {percent(run.val_dice[best])} ({run.epochs[best] + 1}) | "
            f"{percent(run.val_dice[-1])} | {percent(run.train_dice[-1])} | {test} | {wall} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Write the figure and the table; returns the exit code."""
    args = build_parser().parse_args(argv)
    labels = args.labels or [folder.name for folder in args.runs]
    if len(labels) != len(args.runs):
        print(f"error: {len(labels)} labels for {len(args.runs)} runs", file=sys.stderr)
        return 2
    runs = read_runs(args.runs)
    text = markdown(runs, labels)
    args.out.mkdir(parents=True, exist_ok=True)
    sources = ", ".join(f"`{folder}`" for folder in args.runs)
    (args.out / "compare.md").write_text(
        f"# Runs compared\n\nWritten by `polypnet compare runs` from {sources}. "
        "Dice = global F1 in percent; epochs counted from 1.\n\n"
        f"![Dice per epoch](compare.png)\n\n{text}\n"
    )
    figure = draw_runs(runs, labels, args.out / "compare.png")
    print(text)
    print(f"figure: {figure}\ntable: {args.out / 'compare.md'}")
    return 0
