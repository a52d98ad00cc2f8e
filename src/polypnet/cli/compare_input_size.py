"""``polypnet compare input-size``: does another input size at test time help trained weights?

    polypnet compare input-size --pretrained cvc-clinicdb-improved kvasir-seg-improved \\
        --data-dir ../shared/data --out results/input_size
    polypnet compare input-size --records results/paper128_multiscale/cvc-clinicdb_seed42.json \\
        --sizes 112 128 144 160 176 192 --data-dir ../shared/data --out results/input_size/paper128_multiscale

For each shipped weights tag it scores the weights' own validation and test split (drawn again
from the package's index on the dataset they were trained on), and for each record of
``polypnet reproduce`` its run's best checkpoint on the split kept beside the record
(``<record>_run/split.json``), at each ``--sizes`` input, with
the evaluation of ``polypnet evaluate`` in PyTorch fp32, the backend of the records. Scores are
compared at each image's original resolution, the only one common to every input size. The size
is chosen on validation (best global F1; the training size on a tie) and the test split only
reports what that choice gives. Writes ``<out>/input_size.json`` (summaries only; per-image
scores are not kept) and ``<out>/input_size.md``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..models.pretrained import pretrained_info, weights_stamp
from . import evaluate as evaluate_cli

#: The metrics kept per evaluation (at the original resolution), in table order.
KEPT = ("dice_global_orig", "dice_per_image_orig", "iou_global_orig")
MODEL = "iam_unet"


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``polypnet compare input-size``."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pretrained", nargs="+", default=[], metavar="TAG", help="shipped weights tags")
    p.add_argument(
        "--records",
        nargs="+",
        type=Path,
        default=[],
        metavar="JSON",
        help="records of polypnet reproduce whose run's checkpoint is still at the recorded path",
    )
    p.add_argument("--data-dir", type=Path, required=True, help="folder holding kvasir-seg/ and cvc-clinicdb/")
    p.add_argument("--sizes", nargs="+", type=int, default=[224, 256, 288, 320, 352, 384], help="input sizes")
    p.add_argument("--out", type=Path, required=True, help="folder for input_size.json and input_size.md")
    p.add_argument("--batch-size", type=int, default=8)
    return p


@dataclass(frozen=True)
class Weights:
    """What is scored: a name for the table, the dataset, the training size and how evaluate loads it."""

    name: str
    dataset: str
    trained_at: int
    source: tuple[str, ...]  # evaluate's arguments that load the weights and their split


def shipped_weights(tag: str) -> Weights:
    """Shipped weights by tag (ValueError naming what is shipped otherwise)."""
    info = pretrained_info(MODEL, tag)
    return Weights(tag, info["dataset"], int(info["image_size"]), ("--pretrained", tag))


def recorded_weights(record: Path) -> Weights:
    """A reproduce record's best checkpoint and split (ValueError when either is missing)."""
    if not record.is_file():
        raise ValueError(f"record not found: {record}")
    r = json.loads(record.read_text())
    checkpoint, split = Path(r["checkpoint"]), record.with_name(record.stem + "_run") / "split.json"
    for path, what in ((checkpoint, "checkpoint"), (split, "split")):
        if not path.is_file():
            raise ValueError(f"{record}: its run's {what} {path} is not on this machine")
    name = f"{record.parent.name}/{record.stem}"
    return Weights(
        name, r["dataset"], int(r["image_size"]), ("--checkpoint", str(checkpoint), "--split-file", str(split))
    )


def score(weights: Weights, data: Path, split: str, size: int, batch_size: int) -> dict[str, float]:
    """:data:`KEPT` of one evaluation (raises SystemExit on evaluate's errors)."""
    with tempfile.TemporaryDirectory() as tmp:
        argv = [*weights.source, "--data", str(data), "--split", split, "--image-size", str(size)]
        argv += ["--original-resolution", "--grid", "0", "--backend", "torch", "--precision", "fp32"]
        argv += ["--batch-size", str(batch_size), "--out", tmp]
        code = evaluate_cli.main(argv)
        if code != 0:
            raise SystemExit(f"error: evaluate failed on {weights.name} ({split}, {size} px), exit {code}")
        metrics = json.loads((Path(tmp) / "metrics.json").read_text())["metrics"]
    return {k: metrics[k] for k in (*KEPT, "images")}


def choose(scores: dict[int, dict[str, float]], trained_at: int) -> int:
    """The input size with the best validation F1; the training size wins a tie."""
    return max(scores, key=lambda s: (scores[s]["dice_global_orig"], s == trained_at))


def table_markdown(rows: list[dict[str, Any]]) -> str:
    """One line per weights tag: validation F1 at every size, then test F1 at the training size and
    at the size chosen on validation, in percent."""
    sizes = sorted({int(s) for r in rows for s in r["val"]})
    head = ["weights", "trained at", *(f"val F1 {s}" for s in sizes), "chosen", "test F1 trained size"]
    head += ["test F1 chosen", "change", "test mDice chosen"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for r in rows:
        val, test = r["val"], r["test"]
        own, chosen = str(r["trained_at"]), str(r["chosen"])
        cells = [f"`{r['weights']}`", f"{r['trained_at']} px"]
        cells += [f"{100 * val[str(s)]['dice_global_orig']:.2f}" if str(s) in val else "–" for s in sizes]
        base, best = 100 * test[own]["dice_global_orig"], 100 * test[chosen]["dice_global_orig"]
        cells += [f"{chosen} px", f"{base:.2f}", f"{best:.2f}", f"{best - base:+.2f}"]
        cells.append(f"{100 * test[chosen]['dice_per_image_orig']:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Score all weights named at every size on validation and test, then write the table."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.pretrained and not args.records:
        parser.error("name weights to score: --pretrained TAG ... and/or --records JSON ...")
    try:
        every = [shipped_weights(tag) for tag in args.pretrained] + [recorded_weights(r) for r in args.records]
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    rows = []
    for weights in every:
        data = args.data_dir / weights.dataset
        sizes = sorted(set(args.sizes) | {weights.trained_at})
        scores = {
            split: {size: score(weights, data, split, size, args.batch_size) for size in sizes}
            for split in ("val", "test")
        }
        chosen = choose(scores["val"], weights.trained_at)
        rows.append(
            {
                "weights": weights.name,
                "dataset": weights.dataset,
                "trained_at": weights.trained_at,
                "chosen": chosen,
                **{split: {str(s): m for s, m in by_size.items()} for split, by_size in scores.items()},
            }
        )
    command = "polypnet compare input-size " + shlex.join(sys.argv[1:] if argv is None else argv)
    args.out.mkdir(parents=True, exist_ok=True)
    record = {"command": command, "weights_sha256": weights_stamp(MODEL, args.pretrained), "rows": rows}
    (args.out / "input_size.json").write_text(json.dumps(record, indent=2) + "\n")
    text = (
        "# Test-time input size\n\n"
        f"Written by `{command}`. F1 = Dice, global over the split's pixels, in percent, scored at each "
        "image's original resolution. *chosen*: the input size with the best validation F1; the test "
        "columns only report what that choice gives.\n\n" + table_markdown(rows)
    )
    (args.out / "input_size.md").write_text(text)
    print(text)
    return 0
