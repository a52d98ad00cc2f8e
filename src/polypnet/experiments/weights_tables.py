"""The shipped weights' tables (results page and model card) and the weights index kept in step
with the records its test scores come from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..models.pretrained import BENCHMARK_DATASET, file_sha256
from .markdown import link, table
from .pranet_table import benchmark_scores, benchmark_text
from .studies import percent
from .training_records import DATASETS, recipe_of

#: The index fields copied from a shipped run's record: (index key, record metric).
INDEX_SCORES = (
    ("test_dice_global", "dice_global"),
    ("test_dice_per_image", "dice_per_image"),
    ("test_iou_global", "iou_global"),
    ("test_iou_per_image", "iou_per_image"),
)


def dataset_name(dataset: str) -> str:
    """How the tables name what shipped weights were trained on."""
    if dataset == BENCHMARK_DATASET:
        return " + ".join(DATASETS.values())
    return DATASETS[dataset]


def score_cells(root: Path, entry: dict[str, Any]) -> list[str]:
    """F1 (global), mDice and IoU (global) of shipped weights, read from their record; weights
    trained on PraNet's benchmark have none of these but PraNet's mDice per test set."""
    record = json.loads((root / entry["result_file"]).read_text())
    if "benchmark" in entry:
        return ["-", f"PraNet's benchmark: {benchmark_text(benchmark_scores(record)['benchmark'])}", "-"]
    m = record["metrics"]
    return [percent(m["dice_global"]), percent(m["dice_per_image"]), percent(m["iou_global"])]


def shipped(root: Path, base: Path, index: dict[str, dict[str, dict[str, Any]]]) -> str:
    """The shipped weights (``create_model(name, pretrained=TAG)``) with their run's test scores."""
    header = [
        "model",
        "pretrained=",
        "dataset",
        "protocol",
        "size",
        "epochs",
        "F1 (global)",
        "mDice",
        "IoU (global)",
        "record",
    ]
    rows = []
    for model, tags in index.items():
        for tag, e in sorted(tags.items()):
            rows.append(
                [
                    f"`{model}`",
                    f"`{tag}`",
                    dataset_name(e["dataset"]),
                    f"`{e['protocol']}`",
                    str(e["image_size"]),
                    str(e["epochs"]),
                    *score_cells(root, e),
                    link(Path(e["result_file"]), "json", base),
                ]
            )
    return table(header, rows)


def shipped_brief(root: Path, base: Path, index: dict[str, dict[str, dict[str, Any]]]) -> str:
    """The shipped weights in short (the model card): each tag linked to its record."""
    header = ["pretrained=", "trained on", "recipe", "input", "F1 (global)", "mDice", "IoU (global)"]
    rows = []
    for model, tags in index.items():
        for tag, e in sorted(tags.items()):
            recipe = recipe_of(e["protocol"])
            name = tag if model == "iam_unet" else f"{model}: {tag}"
            rows.append(
                [
                    link(Path(e["result_file"]), f"`{name}`", base),
                    dataset_name(e["dataset"]),
                    recipe,
                    f"{e['image_size']} px, {e['epochs']} epochs",
                    *score_cells(root, e),
                ]
            )
    return table(header, rows)


def synced_index(
    root: Path, index: dict[str, dict[str, dict[str, Any]]], weights_dir: Path
) -> dict[str, dict[str, dict[str, Any]]]:
    """The weights index with each entry's test scores read again from its record and its file's
    sha256 from ``weights_dir``."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for model, tags in index.items():
        for tag, e in tags.items():
            e = {**e, "sha256": file_sha256(weights_dir / e["file"])}
            record = json.loads((root / e["result_file"]).read_text())
            if "benchmark" in e:  # trained on PraNet's benchmark: scored per test set
                e = {**e, **benchmark_scores(record)}
            else:
                e = {**e, "test_images": record["test_images"]}
                e.update({key: record["metrics"][metric] for key, metric in INDEX_SCORES})
            out.setdefault(model, {})[tag] = e
    return out
