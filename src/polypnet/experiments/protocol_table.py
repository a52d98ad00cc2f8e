"""``results/<protocol>/README.md``: the runs of one ``polypnet reproduce`` protocol against the paper,
and mean ± std over runs that differ only in their seeds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .studies import mean_std


def protocol_table_markdown(out: Path) -> str:
    """The text of ``out/README.md``: every result JSON of the folder against the paper's numbers."""
    rows = [json.loads(p.read_text()) for p in sorted(out.glob("*.json"))]
    lines = [
        f"# Results: `{out.name}` protocol",
        "",
        "Written by `polypnet reproduce` from the JSON files beside this one. F1 = Dice. *global*:",
        "over all test pixels pooled (the F1 of the paper); *per image*: mean over test images.",
        "*orig*: predictions resized back to each image's original size before scoring.",
        "",
        "| dataset | split (its seed) | training seed | size | epochs | precision | params | F1 global | IoU global | F1 per image | IoU per image | F1 global (orig) | IoU global (orig) | paper F1 / IoU | device | wall time | commit |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        m = r["metrics"]
        wall = "-" if r["wall_time_s"] is None else f"{r['wall_time_s'] / 60:.0f} min"
        lines.append(
            f"| {r['dataset']} | {r['split']} ({r.get('split_seed', '?')}) | {r['seed']} | {r['image_size']} | {r['epochs']} "
            f"| {precision_of(r)} | {r['params']:,} "
            f"| {100 * m['dice_global']:.2f} | {100 * m['iou_global']:.2f} | {100 * m['dice_per_image']:.2f} "
            f"| {100 * m['iou_per_image']:.2f} | {100 * m['dice_global_orig']:.2f} | {100 * m['iou_global_orig']:.2f} "
            f"| {r['paper']['f1']:.2f} / {r['paper']['iou']:.2f} | {r['accelerator']} | {wall} | `{r['git_commit'][:12]}` |"
        )
    lines += summary_lines(rows)
    return "\n".join(lines) + "\n"


def precision_of(record: dict[str, Any]) -> str:
    """The Trainer precision a result was trained at (records written before it was kept: 32-true)."""
    return str(record.get("precision", "32-true"))


#: The scores averaged over runs, as (record key, column title).
SUMMARY_METRICS = (
    ("dice_global", "F1 global"),
    ("iou_global", "IoU global"),
    ("dice_per_image", "F1 per image"),
    ("iou_per_image", "IoU per image"),
)


def summary_lines(rows: list[dict[str, Any]]) -> list[str]:
    """Mean ± std of the scores over the runs that share dataset, split kind, model, size, epochs and
    precision.

    Only groups of two or more runs are listed: one run's scores are already in the table above.
    On the sequence split each split seed draws other test sequences, so its spread is the spread
    over test sets as much as over training seeds.
    """
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in rows:
        key = (r["dataset"], r["split"], r["model"], r["image_size"], r["epochs"], precision_of(r))
        groups.setdefault(key, []).append(r)
    groups = {k: v for k, v in groups.items() if len(v) > 1}
    if not groups:
        return []
    lines = [
        "",
        "## Mean ± std over runs",
        "",
        "Runs with the same dataset, split kind, model, image size, epochs and precision; sample standard deviation.",
        "",
        "| dataset | split | model | size | epochs | precision | runs (split seed / training seed) | "
        + " | ".join(title for _, title in SUMMARY_METRICS)
        + " |",
        "| --- | --- | --- | --- | --- | --- | --- | " + " | ".join("---" for _ in SUMMARY_METRICS) + " |",
    ]
    for (dataset, split, model, size, epochs, precision), group in groups.items():
        runs = ", ".join(f"{r.get('split_seed', '?')}/{r['seed']}" for r in group)
        cells = []
        for key, _ in SUMMARY_METRICS:
            mean, std = mean_std([float(r["metrics"][key]) for r in group])
            cells.append(f"{100 * mean:.2f} ± {100 * std:.2f}")
        lines.append(
            f"| {dataset} | {split} | {model} | {size} | {epochs} | {precision} | {len(group)}: {runs} | "
            + " | ".join(cells)
            + " |"
        )
    return lines
