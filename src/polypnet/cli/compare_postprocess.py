"""``polypnet compare postprocess``: the threshold and mask clean-up chosen on validation, scored on test.

    polypnet compare postprocess --pretrained cvc-clinicdb-improved kvasir-seg-improved \\
        --data-dir ../shared/data --out results/postprocess

For each shipped weights tag it draws the tag's own split again, computes each validation and
test image's logits once (PyTorch fp32, at the tag's input size, resized back to the image's own
size) and scores every threshold x clean-up (none, keep the largest region, fill holes, both:
``polypnet.inference.postprocess``). The variant with the best validation F1 is chosen (0.5 with
no clean-up on a tie); the test split only reports what that choice gives. Writes
``<out>/postprocess.json`` (every variant's scores) and ``<out>/postprocess.md``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from ..data import DataError, PolypDataset, find_pairs
from ..experiments.evaluation import shipped_split
from ..experiments.postprocess_study import DEFAULT, THRESHOLDS, original_size_logits, study
from ..models import create_model
from ..models.pretrained import pretrained_info, weights_stamp
from ..training.host_memory import keep_freed_memory

MODEL = "iam_unet"
FORMAT = "polypnet-postprocess/1"


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``polypnet compare postprocess``."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pretrained", nargs="+", required=True, metavar="TAG", help="shipped weights tags")
    p.add_argument("--data-dir", type=Path, required=True, help="folder holding kvasir-seg/ and cvc-clinicdb/")
    p.add_argument("--thresholds", nargs="+", type=float, default=list(THRESHOLDS), help="probability thresholds")
    p.add_argument("--out", type=Path, required=True, help="folder for postprocess.json and postprocess.md")
    p.add_argument("--batch-size", type=int, default=8)
    return p


def table_markdown(rows: list[dict[str, Any]]) -> str:
    """Every variant of every tag: validation F1, test F1 and mDice; the chosen one in bold."""
    lines = [
        "| weights | threshold / clean-up | val F1 | test F1 | test mDice |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        for key, val in r["val"].items():
            test = r["test"][key]
            mark = "**" if key == r["chosen"] else ""
            cells = [f"`{r['weights']}`", f"{mark}{key}{mark}" + (" (default)" if key == DEFAULT else "")]
            cells += [f"{100 * val['dice_global']:.2f}", f"{100 * test['dice_global']:.2f}"]
            cells.append(f"{100 * test['dice_per_image']:.2f}")
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Score every tag's variants on validation and test, then write the record and the table."""
    keep_freed_memory()  # each batch reuses the heap instead of page-faulting fresh maps
    args = build_parser().parse_args(argv)
    rows = []
    try:
        for tag in args.pretrained:
            info = pretrained_info(MODEL, tag)
            found = find_pairs(args.data_dir / info["dataset"])
            drawn = shipped_split(found, info, tag)
            model = create_model(MODEL, pretrained=tag)
            logits = {
                split: original_size_logits(
                    model,
                    PolypDataset.from_root(
                        found.root, ids=drawn[split], image_size=int(info["image_size"]), cache=False
                    ),
                    args.batch_size,
                )
                for split in ("val", "test")
            }
            result = study(logits["val"], logits["test"], tuple(args.thresholds))
            rows.append({"weights": tag, "dataset": info["dataset"], **result})
            print(f"{tag}: chosen on validation {result['chosen']}", file=sys.stderr)
    except (DataError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    command = "polypnet compare postprocess " + shlex.join(sys.argv[1:] if argv is None else argv)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = weights_stamp(MODEL, args.pretrained)
    record = {"format": FORMAT, "command": command, "weights_sha256": stamp, "default": DEFAULT, "rows": rows}
    (args.out / "postprocess.json").write_text(json.dumps(record, indent=2) + "\n")
    text = (
        "# Threshold and clean-up chosen on validation\n\n"
        f"Written by `{command}`. F1 = Dice, global over the split's pixels; mDice = mean Dice per image; "
        "in percent, at each image's original resolution. Bold: the variant with the best validation F1; "
        "the test columns only report what each variant gives.\n\n" + table_markdown(rows)
    )
    (args.out / "postprocess.md").write_text(text)
    print(text)
    return 0
