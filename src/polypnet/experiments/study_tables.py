"""The tables of the studies run on shipped weights and records: test-time flips
(``results/tta``), input size (``results/input_size``), threshold and clean-up
(``results/postprocess``), cross-dataset scores (``results/<protocol>/cross``) and the list of
figures (``compare.md``, ``size.md``)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from .markdown import link, table
from .studies import percent
from .training_records import DATASETS, protocol_rank


def tta_rows(root: Path, base: Path) -> str:
    """Plain against test-time flips (mean of the image and its flips), on validation and test."""
    header = [
        "dataset",
        "protocol",
        "run",
        "val F1 plain",
        "val F1 flips",
        "test F1 plain",
        "test F1 flips",
        "test mDice plain",
        "test mDice flips",
        "test IoU flips",
        "table",
    ]
    rows = []
    for path in sorted((root / "results" / "tta").glob("*/tta.json")):
        by_run: dict[str, dict[str, dict[str, Any]]] = {}
        for entry in json.loads(path.read_text()):
            by_run.setdefault(entry["run"], {})[entry["split"]] = entry
        for run, splits in by_run.items():
            val, test = splits.get("val"), splits.get("test")
            if val is None or test is None:
                continue
            protocol, name = run.split("/")[-2:]  # runs/<...>/<protocol>/<dataset>_<split>_seed<k>
            dataset = name.split("_")[0]
            rows.append(
                [
                    DATASETS.get(dataset, dataset),
                    f"`{protocol}`",
                    f"`{name}`",
                    percent(val["plain"]["dice_global"]),
                    percent(val["tta"]["dice_global"]),
                    percent(test["plain"]["dice_global"]),
                    percent(test["tta"]["dice_global"]),
                    percent(test["plain"]["dice_per_image"]),
                    percent(test["tta"]["dice_per_image"]),
                    percent(test["tta"]["iou_global"]),
                    link(path.relative_to(root).with_name("tta.md"), "tta.md", base),
                ]
            )
    rows.sort(key=lambda row: (row[0], protocol_rank(row[1].strip("`")), row[2]))
    return table(header, rows)


def input_size_rows(root: Path, base: Path) -> str:
    """Shipped weights at their training input size against the test-time size chosen on
    validation (``polypnet compare input-size``), scored at the original resolution."""
    header = [
        "dataset",
        "weights",
        "trained at",
        "chosen on val",
        "val F1 trained size",
        "val F1 chosen",
        "test F1 trained size",
        "test F1 chosen",
        "test mDice chosen",
        "table",
    ]
    rows = []
    for path in sorted((root / "results").glob("input_size/**/input_size.json")):
        for r in json.loads(path.read_text())["rows"]:
            own, chosen = str(r["trained_at"]), str(r["chosen"])
            rows.append(
                [
                    DATASETS.get(r["dataset"], r["dataset"]),
                    f"`{r['weights']}`",
                    f"{own} px",
                    f"{chosen} px",
                    percent(r["val"][own]["dice_global_orig"]),
                    percent(r["val"][chosen]["dice_global_orig"]),
                    percent(r["test"][own]["dice_global_orig"]),
                    percent(r["test"][chosen]["dice_global_orig"]),
                    percent(r["test"][chosen]["dice_per_image_orig"]),
                    link(path.with_name("input_size.md").relative_to(root), "input_size.md", base),
                ]
            )
    if not rows:
        return "No input-size study is recorded yet (`polypnet compare input-size`).\n"
    return table(header, sorted(rows))


def postprocess_rows(root: Path, base: Path) -> str:
    """Shipped weights with the default threshold and no clean-up against the variant chosen on
    validation (``polypnet compare postprocess``), scored at the original resolution."""
    header = ["dataset", "weights", "chosen on val", "val F1 default", "val F1 chosen", "test F1 default"]
    header += ["test F1 chosen", "test mDice default", "test mDice chosen", "table"]
    rows = []
    for path in sorted((root / "results").glob("postprocess/**/postprocess.json")):
        record = json.loads(path.read_text())
        default = record["default"]
        for r in record["rows"]:
            chosen = r["chosen"]
            rows.append(
                [
                    DATASETS.get(r["dataset"], r["dataset"]),
                    f"`{r['weights']}`",
                    chosen,
                    percent(r["val"][default]["dice_global"]),
                    percent(r["val"][chosen]["dice_global"]),
                    percent(r["test"][default]["dice_global"]),
                    percent(r["test"][chosen]["dice_global"]),
                    percent(r["test"][default]["dice_per_image"]),
                    percent(r["test"][chosen]["dice_per_image"]),
                    link(path.with_name("postprocess.md").relative_to(root), "postprocess.md", base),
                ]
            )
    if not rows:
        return "No threshold and clean-up study is recorded yet (`polypnet compare postprocess`).\n"
    return table(header, sorted(rows))


def cross(root: Path, base: Path) -> str:
    """Weights trained on one dataset, scored on every image of the other."""
    header = ["trained on", "scored on", "protocol", "size", "images", "F1 (global)", "mDice", "IoU (global)", "record"]
    rows = []
    for path in sorted((root / "results").glob("*/cross/*_to_*/metrics.json")):
        r = json.loads(path.read_text())
        src, dst = path.parent.name.split("_to_")
        m = r["metrics"]
        rows.append(
            [
                DATASETS[src],
                DATASETS[dst],
                f"`{path.parts[-4]}`",
                str(r["image_size"]),
                f"{m['images']:.0f}",
                percent(m["dice_global"]),
                percent(m["dice_per_image"]),
                percent(m["iou_global"]),
                link(path.relative_to(root), "json", base),
            ]
        )
    rows.sort(key=lambda row: (row[0], protocol_rank(row[2].strip("`"))))
    return table(header, rows)


def figures(root: Path, base: Path) -> str:
    """The side-by-side curves (compare_runs) and Dice-by-size tables (dice_by_size), with their inputs."""
    lines = []
    for path in sorted((root / "results").glob("*/*/*.md")):
        if path.name not in ("compare.md", "size.md"):
            continue
        text = path.read_text()
        written = next((line for line in text.splitlines() if line.startswith("Written by")), "")
        sources = re.findall(r"`(results/[^`]+)`", written.partition(" from ")[2])
        what = "Dice per epoch" if path.name == "compare.md" else "Dice by polyp size"
        shown = path.relative_to(root)
        lines.append(
            f"- {link(shown, f'{shown.parts[1]}/{shown.parts[2]}', base)} ({what}): "
            + ", ".join(f"`{Path(s).parts[1]}/{Path(s).parts[2].removesuffix('_run')}`" for s in sources)
        )
    return "\n".join(lines) + "\n"
