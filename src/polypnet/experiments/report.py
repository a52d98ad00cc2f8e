"""The numbers of the docs, generated from the committed records under ``results/``.

Each generated region of README.md, MODEL_CARD.md and docs/ sits between
``<!-- generated:NAME -->`` and ``<!-- /generated:NAME -->``; the prose around it is written by
hand. ``make docs`` rewrites every region, the scores in the shipped-weights index (which
``polypnet models pretrained`` prints), docs/performance.md and the protocol folders'
``results/<protocol>/README.md``; ``make docs-check`` renders them again and fails on any
difference, so no number in the docs can drift from its record.

Records read: ``results/<protocol>/<dataset>_seed<k>*.json`` (written by ``polypnet reproduce``),
``results/<protocol>/cross/<a>_to_<b>/metrics.json`` (``polypnet evaluate`` on the other dataset),
``results/tta/<name>/tta.json`` (``compare_tta``), the runs' ``split.json``, the weights index, and
each region's own record (named in its module: ablations, baselines' cost, data check and loading,
GPU bundle, input size, PraNet's benchmark).
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..data.shipped import cvc_sequences
from ..models.pretrained import BENCHMARK_DATASET, WEIGHTS_DIR
from .ablation_report import baselines_table, cost_table, studies_table
from .benchmark import performance_markdown
from .data_check_report import data_check_markdown
from .data_loading_report import data_loading_markdown
from .goal_report import goal_markdown
from .gpu_bundle_report import gpu_bundle_markdown
from .gpu_session_report import gpu_sessions_markdown
from .lever_report import levers_markdown
from .markdown import link, table
from .model_summary_report import model_summary_markdown
from .paper import PAPER, PAPER_PARAMS
from .pranet_protocol import PRANET_PROTOCOLS, readme_markdown
from .pranet_table import benchmark_scores, benchmark_text, pranet_markdown
from .protocol_table import protocol_table_markdown
from .shipping_rule import rule_violations
from .studies import percent, seeds_percent

#: Display names of the datasets, in table order.
DATASETS = {"cvc-clinicdb": "CVC-ClinicDB", "kvasir-seg": "Kvasir-SEG"}
#: The protocols of the headline table: the paper's protocol with its recipe and with ours.
HEADLINE_PROTOCOLS = ("paper", "improved")
#: Table order: each protocol with the paper's recipe, then with ours; unknown protocols last.
PROTOCOL_ORDER = ("paper", "improved", "paper128", "paper128_improved", "paper128_multiscale", "cpu", "cpu_improved")
#: Recipes that the protocol's name does not say (``*improved``: ours; otherwise the paper's).
RECIPES = {"paper128_multiscale": "improved + multi-scale", **PRANET_PROTOCOLS}
#: The index fields copied from a shipped run's record: (index key, record metric).
INDEX_SCORES = (
    ("test_dice_global", "dice_global"),
    ("test_dice_per_image", "dice_per_image"),
    ("test_iou_global", "iou_global"),
    ("test_iou_per_image", "iou_per_image"),
)
INDEX_PATH = WEIGHTS_DIR / "index.json"
#: Documents generated whole from one record: (document, record), both relative to the root.
PERFORMANCE = (Path("docs/performance.md"), Path("results/benchmark/cpu.json"))
REGION = re.compile(r"(<!-- generated:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /generated:(?P=name) -->)", re.DOTALL)


@dataclass(frozen=True)
class Run:
    """One training run's record: ``results/<protocol>/<dataset>_seed<k>*.json``."""

    path: Path  # relative to the repository root
    protocol: str
    dataset: str
    split: str
    split_seed: int
    seed: int
    image_size: int
    epochs: int
    precision: str
    params: int
    test_images: int
    wall_time_s: float | None
    metrics: dict[str, float]
    scored_with: str  # the evaluation's runtime and precision (eval_metrics.json)

    @property
    def run_files(self) -> Path:
        """The folder of the run's small files (split, curves, per-image scores) beside the record."""
        return self.path.with_name(self.path.stem + "_run")

    @property
    def recipe(self) -> str:
        """The training recipe's name (``recipe_of``)."""
        return recipe_of(self.protocol)


def recipe_of(protocol: str) -> str:
    """``improved`` (BCE + Dice, deep supervision), ``paper`` (Dice loss) or ``RECIPES``' name."""
    return RECIPES.get(protocol) or ("improved" if protocol.endswith("improved") else "paper")


def load_runs(root: Path) -> list[Run]:
    """Every training record under ``root/results``, sorted by protocol, dataset, split and seed."""
    runs = []
    for path in sorted((root / "results").glob("*/*_seed*.json")):
        r = json.loads(path.read_text())
        # one dataset per record; the PraNet benchmark's records (a "format" key, both datasets) differ
        if "format" in r or r.get("dataset") not in DATASETS or "metrics" not in r:
            continue
        runs.append(
            Run(
                path=path.relative_to(root),
                protocol=r["protocol"],
                dataset=r["dataset"],
                split=r["split"],
                split_seed=int(r.get("split_seed", r["seed"])),
                seed=int(r["seed"]),
                image_size=int(r["image_size"]),
                epochs=int(r["epochs"]),
                precision=str(r.get("precision", "32-true")),
                params=int(r["params"]),
                test_images=int(r["test_images"]),
                wall_time_s=r.get("wall_time_s"),
                metrics={k: float(v) for k, v in r["metrics"].items()},
                scored_with=scored_with(path.with_name(path.stem + "_run") / "eval_metrics.json"),
            )
        )
    return sorted(
        runs, key=lambda r: (list(DATASETS).index(r.dataset), r.split, protocol_rank(r.protocol), r.seed, r.split_seed)
    )


def scored_with(eval_metrics: Path) -> str:
    """``backend precision`` of a record's test evaluation; ``torch fp32`` for evaluations that
    predate the choice of backend (they ran torch in fp32) or runs without the file."""
    evaluated = json.loads(eval_metrics.read_text()) if eval_metrics.is_file() else {}
    return f"{evaluated.get('backend') or 'torch'} {evaluated.get('precision') or 'fp32'}"


def protocol_rank(protocol: str) -> tuple[int, str]:
    """Sort key of a protocol: its place in PROTOCOL_ORDER, then its name."""
    return (PROTOCOL_ORDER.index(protocol) if protocol in PROTOCOL_ORDER else len(PROTOCOL_ORDER), protocol)


def group_runs(runs: Iterable[Run]) -> dict[tuple[str, str, str], list[Run]]:
    """Runs of one protocol, dataset and split kind: the seeds a mean ± std is taken over."""
    groups: dict[tuple[str, str, str], list[Run]] = {}
    for r in runs:
        groups.setdefault((r.protocol, r.dataset, r.split), []).append(r)
    return groups


def paper_numbers() -> tuple[dict[str, dict[str, float]], int]:
    """The paper's reported scores per dataset and its parameter count."""
    return PAPER, PAPER_PARAMS


def split_label(group: list[Run]) -> str:
    """``random`` or ``sequence``, with the split seeds when they are not all 42."""
    seeds = sorted({r.split_seed for r in group})
    return group[0].split + ("" if seeds == [42] else f" (split seeds {', '.join(map(str, seeds))})")


def seed_links(group: list[Run], base: Path) -> str:
    """The training seeds of a group, each linked to its record."""
    return ", ".join(link(r.path, str(r.seed), base) for r in group)


def metric_cells(group: list[Run]) -> list[str]:
    """F1 global, mDice (per image) and IoU global over the group's runs."""
    return [seeds_percent([r.metrics[k] for r in group]) for k in ("dice_global", "dice_per_image", "iou_global")]


def headline(runs: list[Run], base: Path) -> str:
    """Per dataset: the paper's numbers, ours at its protocol with its recipe and with ours, and the
    CVC-ClinicDB sequence split (no video on both sides)."""
    paper, paper_params = paper_numbers()
    groups = group_runs(runs)
    header = [
        "dataset",
        "model",
        "split",
        "size, epochs",
        "n (seeds)",
        "F1 (global)",
        "mDice (per image)",
        "IoU (global)",
        "params",
    ]
    rows = []
    for dataset, name in DATASETS.items():
        rows.append(
            [
                name,
                "the paper (as reported)",
                "random",
                "256, 40",
                "-",
                f"{paper[dataset]['f1']:.2f}",
                "-",
                f"{paper[dataset]['iou']:.2f}",
                f"{paper_params:,}",
            ]
        )
        wanted = [(p, "random") for p in HEADLINE_PROTOCOLS]
        wanted += sorted((p, s) for (p, d, s) in groups if d == dataset and s == "sequence")
        for protocol, split in wanted:
            group = groups.get((protocol, dataset, split))
            if not group:
                continue
            r = group[0]
            rows.append(
                [
                    name,
                    f"ours, {r.recipe} recipe (`{protocol}`)",
                    split_label(group),
                    f"{r.image_size}, {r.epochs}",
                    f"{len(group)} ({seed_links(group, base)})",
                    *metric_cells(group),
                    f"{r.params:,}",
                ]
            )
    return table(header, rows)


def wall(seconds: float | None) -> str:
    """A run's wall time in minutes (``-`` when not recorded)."""
    return "-" if seconds is None else f"{seconds / 60:.0f} min"


def every_run(runs: list[Run], base: Path) -> str:
    """One row per record, with its run files."""
    header = [
        "dataset",
        "protocol",
        "split (seed)",
        "training seed",
        "size",
        "epochs",
        "precision",
        "scored with",
        "F1 (global)",
        "mDice",
        "IoU (global)",
        "mIoU",
        "F1 at original size",
        "wall time",
        "record",
    ]
    rows = [
        [
            DATASETS[r.dataset],
            f"`{r.protocol}`",
            f"{r.split} ({r.split_seed})",
            str(r.seed),
            str(r.image_size),
            str(r.epochs),
            r.precision,
            r.scored_with,
            percent(r.metrics["dice_global"]),
            percent(r.metrics["dice_per_image"]),
            percent(r.metrics["iou_global"]),
            percent(r.metrics["iou_per_image"]),
            percent(r.metrics["dice_global_orig"]) if "dice_global_orig" in r.metrics else "-",
            wall(r.wall_time_s),
            f"{link(r.path, 'json', base)}, {link(r.run_files, 'files', base)}",
        ]
        for r in runs
    ]
    return table(header, rows)


def summary(runs: list[Run], base: Path) -> str:
    """Mean ± std per protocol, dataset and split kind, beside the paper's numbers."""
    paper, _ = paper_numbers()
    header = [
        "dataset",
        "protocol",
        "recipe",
        "split",
        "size, epochs",
        "n (seeds)",
        "F1 (global)",
        "mDice",
        "IoU (global)",
        "paper F1 / IoU",
    ]
    rows = []
    for (protocol, dataset, _split), group in group_runs(runs).items():
        r = group[0]
        rows.append(
            [
                DATASETS[dataset],
                f"`{protocol}`",
                r.recipe,
                split_label(group),
                f"{r.image_size}, {r.epochs}",
                f"{len(group)} ({seed_links(group, base)})",
                *metric_cells(group),
                f"{paper[dataset]['f1']:.2f} / {paper[dataset]['iou']:.2f}",
            ]
        )
    return table(header, rows)


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


def sequence_split(runs: list[Run], base: Path) -> str:
    """One line per protocol run on CVC-ClinicDB's sequence split: scores over its seeds."""
    lines = []
    for (protocol, _dataset, split), group in group_runs(runs).items():
        if split != "sequence":
            continue
        f1, mdice, iou = metric_cells(group)
        r = group[0]
        lines.append(
            f"- `{protocol}` ({r.recipe} recipe, {r.image_size} px, {r.epochs} epochs; n = {len(group)}: "
            f"{seed_links(group, base)}): F1 {f1}, mDice {mdice}, IoU {iou}"
        )
    return "\n".join(lines) + "\n"


def synced_index(root: Path, index: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, dict[str, Any]]]:
    """The weights index with each entry's test scores read again from its record."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for model, tags in index.items():
        for tag, e in tags.items():
            record = json.loads((root / e["result_file"]).read_text())
            if "benchmark" in e:  # trained on PraNet's benchmark: scored per test set
                e = {**e, **benchmark_scores(record)}
            else:
                e = {**e, "test_images": record["test_images"]}
                e.update({key: record["metrics"][metric] for key, metric in INDEX_SCORES})
            out.setdefault(model, {})[tag] = e
    return out


@dataclass(frozen=True)
class Neighbours:
    """How close a split's test frames lie to training frames of the same video."""

    split_files: tuple[Path, ...]  # every record folder that used this split
    test: int
    gaps: tuple[int | None, ...]  # per test frame: frames to the nearest training frame of its video

    def within(self, frames: int) -> int:
        """Test frames with a training frame of the same video at most ``frames`` frames away."""
        return sum(g is not None and g <= frames for g in self.gaps)

    @property
    def widest(self) -> int | None:
        """The largest gap (None when some test frame's video has no training frame)."""
        return None if None in self.gaps else max(self.gaps, default=0)


def training_neighbours(split: dict[str, Any], sequences: dict[str, int]) -> list[int | None]:
    """For each test frame of a CVC-ClinicDB split, the distance in frame numbers to the nearest
    training frame of the same video sequence (None when its video has no training frame)."""
    by_sequence: dict[int, list[int]] = {}
    for frame in split["train"]:
        by_sequence.setdefault(sequences[frame], []).append(int(frame))
    gaps = []
    for frame in split["test"]:
        near = by_sequence.get(sequences[frame], [])
        gaps.append(min(abs(int(frame) - f) for f in near) if near else None)
    return gaps


def cvc_neighbours(root: Path) -> list[Neighbours]:
    """Every distinct CVC-ClinicDB split among the records' run files, with its test frames' gaps."""
    sequences = cvc_sequences()
    found: dict[tuple[str, tuple[str, ...]], tuple[list[Path], list[int | None]]] = {}
    for path in sorted((root / "results").glob("*/cvc-clinicdb_seed*_run/split.json")):
        split = json.loads(path.read_text())
        key = (split["kind"], tuple(sorted(split["test"])))
        if key not in found:
            found[key] = ([], training_neighbours(split, sequences))
        found[key][0].append(path.relative_to(root))
    return [Neighbours(tuple(paths), len(gaps), tuple(gaps)) for paths, gaps in found.values()]


def run_label(split_file: Path, several: bool) -> str:
    """The protocol of ``results/<protocol>/<stem>_run/split.json``, with the run's seed
    (``improved, seed 43``) where ``several`` runs of that protocol share the split."""
    protocol = split_file.parts[1]
    seed = re.search(r"_seed(\d+)", split_file.parent.name) if several else None
    return f"{protocol}, seed {seed.group(1)}" if seed else protocol


def leakage(root: Path, base: Path) -> str:
    """One line per distinct CVC-ClinicDB split: test frames with a training neighbour in the same video."""
    lines = []
    for n in cvc_neighbours(root):
        kind = json.loads((root / n.split_files[0]).read_text())["kind"]
        runs = Counter(p.parts[1] for p in n.split_files)
        used = ", ".join(link(p, run_label(p, runs[p.parts[1]] > 1), base) for p in n.split_files)
        if n.widest is None:
            unseen = sum(g is None for g in n.gaps)
            near = f"{unseen} of {n.test} test frames have no training frame of their video"
        else:
            near = (
                f"every one of the {n.test} test frames has a training frame of the same video within "
                f"±{n.widest} frames ({n.within(1)} of {n.test} within ±1)"
            )
        lines.append(f"- {kind} split ({used}): {near}")
    return "\n".join(lines) + "\n"


def regions(root: Path, index: dict[str, dict[str, dict[str, Any]]]) -> dict[Path, dict[str, Callable[[], str]]]:
    """Per document (relative to the root): its generated regions and how to render each."""
    runs = load_runs(root)
    docs = Path("docs")
    return {
        Path("README.md"): {"headline": lambda: headline(runs, Path("."))},
        docs / "data.md": {
            "data_check": lambda: data_check_markdown(root, docs),
            "data_loading": lambda: data_loading_markdown(root, docs),
        },
        docs / "gpu.md": {
            "gpu_bundle": lambda: gpu_bundle_markdown(root, docs),
            "gpu_sessions": lambda: gpu_sessions_markdown(root, docs),
        },
        docs / "architecture.md": {"model_summary": model_summary_markdown},
        docs / "ablations.md": {
            "studies": lambda: studies_table(root, docs),
            "baselines": lambda: baselines_table(root, docs),
            "baselines_cost": lambda: cost_table(root, docs),
        },
        Path("MODEL_CARD.md"): {
            "weights": lambda: shipped_brief(root, Path("."), index),
            "sequence": lambda: sequence_split(runs, Path(".")),
            "leakage": lambda: leakage(root, Path(".")),
        },
        docs / "results.md": {
            "headline": lambda: headline(runs, docs),
            "summary": lambda: summary(runs, docs),
            "goal": lambda: goal_markdown(runs, root, PRANET_PROTOCOLS, docs),
            "levers": lambda: levers_markdown(runs, docs),
            "runs": lambda: every_run(runs, docs),
            "tta": lambda: tta_rows(root, docs),
            "input_size": lambda: input_size_rows(root, docs),
            "postprocess": lambda: postprocess_rows(root, docs),
            "cross": lambda: cross(root, docs),
            "weights": lambda: shipped(root, docs, index),
            "leakage": lambda: leakage(root, docs),
            "figures": lambda: figures(root, docs),
            "pranet": lambda: pranet_markdown(
                [root / "results" / protocol for protocol in PRANET_PROTOCOLS], heading="###", relative_to=root
            ),
        },
    }


def fill(text: str, rendered: dict[str, Callable[[], str]], where: str = "document") -> str:
    """``text`` with each generated region's body replaced; an unknown or missing region is an error."""
    names = [m.group("name") for m in REGION.finditer(text)]
    unknown = sorted(set(names) - set(rendered))
    missing = sorted(set(rendered) - set(names))
    if unknown or missing:
        raise ValueError(
            f"{where}: generated regions unknown {unknown}, missing {missing} "
            f"(expected <!-- generated:NAME --> ... <!-- /generated:NAME --> for {sorted(rendered)})"
        )
    return REGION.sub(lambda m: m.group(1) + rendered[m.group("name")]() + m.group(4), text)


def render(root: Path, index_path: Path = INDEX_PATH) -> dict[Path, str]:
    """Every generated file's new text (absolute path -> text): the documents, the weights index,
    docs/performance.md (``polypnet benchmark``'s record rendered by its own ``performance_markdown``)
    and the protocol folders' README.md (as ``polypnet reproduce`` writes them)."""
    index = json.loads(index_path.read_text())
    broken = rule_violations(root, index)
    if broken:
        raise ValueError("shipped weights that break the rule of polypnet.models.pretrained:\n  " + "\n  ".join(broken))
    out = {root / doc: fill((root / doc).read_text(), parts, str(doc)) for doc, parts in regions(root, index).items()}
    out[index_path] = (
        json.dumps(synced_index(root, index), indent=2, sort_keys=True) + "\n"
    )  # as ship_weights writes it
    doc, record = PERFORMANCE
    if (root / record).is_file():  # until the benchmark has a record, the page stays as written
        out[root / doc] = performance_markdown(json.loads((root / record).read_text()))
    out.update(protocol_readmes(root))
    return out


def protocol_readmes(root: Path) -> dict[Path, str]:
    """``results/<protocol>/README.md`` as ``polypnet reproduce`` writes it, for every README that it
    wrote (its title says so): the table of the folder's records (PraNet's benchmark for the
    ``pranet`` protocols)."""
    out = {}
    for readme in sorted((root / "results").glob("*/README.md")):
        folder = readme.parent
        if not readme.read_text().startswith("# Results: `"):  # not written by polypnet reproduce
            continue
        out[readme] = (readme_markdown if folder.name in PRANET_PROTOCOLS else protocol_table_markdown)(folder)
    return out


def main(argv: list[str] | None = None) -> int:
    """``make docs`` (write) and ``make docs-check`` (``--check``: exit 1 and a diff when stale)."""
    parser = argparse.ArgumentParser(
        prog="make docs", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when a file is out of date")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the repository root (default: here)")
    parser.add_argument("--index", type=Path, default=INDEX_PATH, help=argparse.SUPPRESS)  # tests: a copy
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    root = args.root.resolve()
    if not (root / "results").is_dir():
        print(f"error: {root} has no results/ folder: run from the repository root or pass --root", file=sys.stderr)
        return 2
    try:
        new = render(root, args.index)
    except (ValueError, KeyError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    stale = [path for path, text in new.items() if not path.is_file() or path.read_text() != text]
    for path in stale:
        shown = os.path.relpath(path, root)
        if args.check:
            before = path.read_text().splitlines() if path.is_file() else []
            diff = difflib.unified_diff(
                before, new[path].splitlines(), f"{shown} (committed)", f"{shown} (from the records)", lineterm=""
            )
            print("\n".join(diff))
        else:
            path.write_text(new[path])
            print(f"wrote {shown}")
    if args.check and stale:
        print(f"out of date: {', '.join(os.path.relpath(p, root) for p in stale)}: run `make docs`", file=sys.stderr)
        return 1
    if not stale:
        print("docs are up to date with the records")
    return 0
