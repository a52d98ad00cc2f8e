"""``polypnet compare tta``: does test-time flipping help? Is the model flip-robust at all?

    polypnet compare tta runs/ablate/cpu/base/seed42/checkpoints/best-*.ckpt --out results/tta/cpu

For each checkpoint (of a polypnet fit run, which brings its own data root, image size and
split) and each split (default: val, then test), evaluate.py runs plain, on flipped inputs
(``--flip h``, ``v``, ``hv``: a model trained with flip augmentation scores about the same on
each) and with ``--tta`` (mean probability of the image and its horizontal and vertical flips).
The table (``<out>/tta.md`` and ``tta.json``) gives F1 and IoU, global and per image. Decide on
validation; the test rows only confirm.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from . import evaluate as evaluate_cli

MODES = ("plain", "h", "v", "hv", "tta")


def build_parser() -> argparse.ArgumentParser:
    """The command line of compare_tta.py."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", nargs="+", type=Path, help="Lightning checkpoints inside fit.py run folders")
    p.add_argument("--splits", nargs="+", default=["val", "test"], choices=["val", "test"])
    p.add_argument("--out", type=Path, required=True, help="folder for the table and every evaluation")
    p.add_argument("--batch-size", type=int, default=16)
    return p


def run_label(checkpoint: Path) -> str:
    """A readable name for a checkpoint: its run folder relative to ``runs/`` when it is under it."""
    run = checkpoint.parent.parent
    parts = run.parts
    return "/".join(parts[parts.index("runs") + 1 :]) if "runs" in parts else run.name


def score(checkpoint: Path, split: str, mode: str, out: Path, batch_size: int) -> dict[str, float]:
    """evaluate.py's summary for one checkpoint, split and mode (raises on its errors)."""
    argv = [
        "--checkpoint",
        str(checkpoint),
        "--split",
        split,
        "--out",
        str(out),
        "--grid",
        "0",
        "--batch-size",
        str(batch_size),
        # the network as trained, as every record is scored: not a CPU runtime's bf16
        "--backend",
        "torch",
        "--precision",
        "fp32",
    ]
    argv += {"plain": [], "tta": ["--tta"]}.get(mode, ["--flip", mode])
    code = evaluate_cli.main(argv)
    if code != 0:
        raise SystemExit(f"error: evaluate.py failed on {checkpoint} ({split}, {mode}), exit {code}")
    return json.loads((out / "metrics.json").read_text())["metrics"]


def table_markdown(rows: list[dict[str, Any]]) -> str:
    """One line per checkpoint and split, in percent."""
    head = [
        "run",
        "split",
        "images",
        "F1 plain",
        "F1 h-flipped input",
        "F1 v-flipped",
        "F1 hv-flipped",
        "F1 flip TTA",
        "TTA change",
        "IoU plain",
        "IoU TTA",
        "F1 per image plain",
        "F1 per image TTA",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for r in rows:
        f1 = {mode: 100 * r[mode]["dice_global"] for mode in MODES}
        cells = [f"`{r['run']}`", r["split"], str(int(r["plain"]["images"]))]
        cells += [f"{f1[m]:.2f}" for m in MODES] + [f"{f1['tta'] - f1['plain']:+.2f}"]
        cells += [f"{100 * r[m][k]:.2f}" for k in ("iou_global", "dice_per_image") for m in ("plain", "tta")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run every evaluation, then write the table; returns the exit code."""
    args = build_parser().parse_args(argv)
    missing = [str(c) for c in args.checkpoints if not c.is_file()]
    if missing:
        print(f"error: no such checkpoint: {', '.join(missing)}", file=sys.stderr)
        return 2
    rows = []
    for checkpoint in args.checkpoints:
        label = run_label(checkpoint)
        for split in args.splits:
            base = args.out / label.replace("/", "__") / split
            row: dict[str, Any] = {"run": label, "checkpoint": str(checkpoint), "split": split}
            row.update({mode: score(checkpoint, split, mode, base / mode, args.batch_size) for mode in MODES})
            rows.append(row)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "tta.json").write_text(json.dumps(rows, indent=2) + "\n")
    command = "polypnet compare tta " + " ".join(sys.argv[1:] if argv is None else argv)
    text = (
        "# Flip robustness and test-time flips\n\n"
        f"Written by `{command}`. F1 = Dice, global over the split's pixels unless marked, in percent. "
        "*h/v/hv-flipped*: the input flipped, the prediction flipped back. *flip TTA*: mean probability "
        "of the image and its horizontal and vertical flips; *TTA change* = TTA - plain.\n\n" + table_markdown(rows)
    )
    (args.out / "tta.md").write_text(text)
    print(text)
    return 0
