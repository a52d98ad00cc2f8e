"""Where the records stand against the accuracy goal (docs/results.md, section "The accuracy goal").

The goal: at most 0.58 M parameters, no test-time augmentation, the mean of at least three
training seeds; test F1 over pooled pixels of at least 94 % on CVC-ClinicDB and 90 % on Kvasir-SEG
at the paper's evaluation (256 px, random 80/10/10 split), and per-image mDice at least PraNet's
published figure on each test set of PraNet's benchmark. Every training record is considered; a
row is a protocol (one recipe and schedule) and its seeds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from .markdown import link, table
from .pranet_table import load_published, load_records, trained_on_both
from .run_tables import MIXED, mixed_precisions, precision_note, seed_links
from .studies import mean_std, seeds_percent
from .training_records import DATASETS, Run

MAX_PARAMS = 580_000
MIN_SEEDS = 3
#: Test F1 (pooled pixels) to reach at the paper's evaluation, per dataset.
F1_GOAL = {"cvc-clinicdb": 0.94, "kvasir-seg": 0.90}
#: The published model whose mDice is the bar on PraNet's benchmark.
PRANET_BAR = "PraNet"


def verdict(values: Sequence[float], goal: float) -> str:
    """``met``/``not met`` over at least MIN_SEEDS seeds; with fewer, how many are missing."""
    if len(values) < MIN_SEEDS:
        return f"undecided ({len(values)} of {MIN_SEEDS} seeds)"
    return "met" if mean_std(list(values))[0] >= goal else "not met"


def f1_groups(runs: Iterable[Run]) -> dict[tuple[str, str], list[Run]]:
    """The runs evaluated as the paper does, within the parameter bound, by dataset and protocol."""
    groups: dict[tuple[str, str], list[Run]] = {}
    for r in runs:
        if r.image_size == 256 and r.split == "random" and r.params <= MAX_PARAMS:
            groups.setdefault((r.dataset, r.protocol), []).append(r)
    return groups


def f1_rows(groups: dict[tuple[str, str], list[Run]], base: Path) -> list[list[str]]:
    """One row per group of :func:`f1_groups`, its seeds marked where their precisions differ."""
    rows = []
    for (dataset, protocol), group in groups.items():
        values = [r.metrics["dice_global"] for r in group]
        seeds = seed_links(group, base) + (MIXED if mixed_precisions(group) else "")
        rows.append(
            [
                DATASETS[dataset],
                f"`{protocol}` ({group[0].epochs} epochs)",
                "F1 (global)",
                f"{100 * F1_GOAL[dataset]:.2f}",
                seeds,
                seeds_percent(values),
                verdict(values, F1_GOAL[dataset]),
            ]
        )
    return rows


def pranet_rows(root: Path, protocols: Iterable[str], base: Path) -> list[list[str]]:
    """One row per test set and PraNet-benchmark protocol, against PraNet's quoted mDice."""
    bar = next(m for m in load_published() if m["name"] == PRANET_BAR)["scores"]
    rows = []
    for protocol in protocols:
        records = [
            (p, r)
            for p, r in load_records(root / "results" / protocol)
            if r["params"] <= MAX_PARAMS and trained_on_both(r)  # the benchmark's entries only
        ]
        if not records:
            continue
        for name in (s["name"] for s in records[0][1]["sets"]):
            values = [next(s for s in r["sets"] if s["name"] == name)["metrics"]["mdice"] for _, r in records]
            seeds = ", ".join(link(p.relative_to(root), str(r["seed"]), base) for p, r in records)
            goal = bar[name]["mdice"]
            rows.append(
                [
                    f"PraNet's benchmark, {name}",
                    f"`{protocol}` ({records[0][1]['image_size']} px, {records[0][1]['epochs']} epochs)",
                    "mDice",
                    f"{100 * goal:.2f} ({PRANET_BAR}, quoted)",
                    seeds,
                    seeds_percent(values),
                    verdict(values, goal),
                ]
            )
    return rows


def goal_markdown(runs: Iterable[Run], root: Path, pranet_protocols: Iterable[str], base: Path) -> str:
    """The goal's table: every protocol that could meet it, its seeds and mean, and the verdict."""
    groups = f1_groups(runs)
    rows = f1_rows(groups, base) + pranet_rows(root, pranet_protocols, base)
    header = ["test", "protocol", "metric", "goal", "seeds", "ours (mean ± std)", "verdict"]
    if not rows:
        return "No record can be held against the goal yet.\n"
    return table(header, rows) + precision_note(list(groups.values()))
