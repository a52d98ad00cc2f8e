"""The tables of the training records: the headline beside the paper, every protocol's mean ±
std over its seeds, every run, and the CVC-ClinicDB sequence split in short."""

from __future__ import annotations

from pathlib import Path

from .markdown import link, table
from .paper import PAPER, PAPER_PARAMS
from .studies import percent, seeds_percent
from .training_records import DATASETS, Run, group_runs

#: The protocols of the headline table: the paper's protocol with its recipe and with ours.
HEADLINE_PROTOCOLS = ("paper", "improved")

#: Marks a row whose seeds trained at different precisions (bf16-mixed on a CPU, fp32 elsewhere).
MIXED = "†"


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


def mixed_precisions(group: list[Run]) -> bool:
    """Whether the group's runs trained at more than one precision."""
    return len({r.precision for r in group}) > 1


def seeds_cell(group: list[Run], base: Path) -> str:
    """How many seeds and their linked records, marked :data:`MIXED` where their precisions differ."""
    return f"{len(group)} ({seed_links(group, base)}){MIXED if mixed_precisions(group) else ''}"


def precision_note(groups: list[list[Run]]) -> str:
    """The footnote of :data:`MIXED`, naming each marked row's precisions; empty where none is mixed."""
    mixed = [g for g in groups if mixed_precisions(g)]
    if not mixed:
        return ""
    names = ", ".join(sorted({r.precision for g in mixed for r in g}))
    return f"\n{MIXED} the row's seeds trained at different precisions ({names}); each record names its own.\n"


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
    rows, shown = [], []
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
            shown.append(group)
            rows.append(
                [
                    name,
                    f"ours, {r.recipe} recipe (`{protocol}`)",
                    split_label(group),
                    f"{r.image_size}, {r.epochs}",
                    seeds_cell(group, base),
                    *metric_cells(group),
                    f"{r.params:,}",
                ]
            )
    return table(header, rows) + precision_note(shown)


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
        "device",
        "precision",
        "layout",
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
            r.device,
            r.precision,
            r.layout,
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
    rows, groups = [], group_runs(runs)
    for (protocol, dataset, _split), group in groups.items():
        r = group[0]
        rows.append(
            [
                DATASETS[dataset],
                f"`{protocol}`",
                r.recipe,
                split_label(group),
                f"{r.image_size}, {r.epochs}",
                seeds_cell(group, base),
                *metric_cells(group),
                f"{paper[dataset]['f1']:.2f} / {paper[dataset]['iou']:.2f}",
            ]
        )
    return table(header, rows) + precision_note(list(groups.values()))


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
