"""Each lever of the accuracy goal against the protocol it changes, paired by training seed
(docs/results.md, section "The accuracy goal").

Two protocols of a lever differ in that one change (their configs say so), and runs with the same
dataset, split, split seed and training seed share the test images and start from the same seed,
so the difference within a pair is the lever's effect plus the training's own noise, without the
noise of drawing another test split. The table gives each pair's difference and their mean ±
sample standard deviation; it says how many pairs improved and leaves the verdict to the reader,
as a few pairs cannot settle a change of a point.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .markdown import link, table
from .run_tables import MIXED  # here it marks a pair whose two runs trained at different precisions
from .studies import mean_std
from .training_records import DATASETS, Run

RECIPE = ("model.loss", "model.deep_supervision")
SCHEDULE = ("trainer.max_epochs", "model.milestones")
#: One dataset's part for as many steps as both datasets' parts take in 40 epochs.
EQUAL_STEPS = ("data.root", *SCHEDULE)
#: (lever, protocol without it, protocol with it, the config keys it changes): tests check that the
#: two protocols' configs differ in those keys alone, on each dataset.
LEVERS = (
    ("our recipe (BCE + Dice, deep supervision 0.4)", "paper", "improved", RECIPE),
    ("our recipe (BCE + Dice, deep supervision 0.4)", "paper128", "paper128_improved", RECIPE),
    ("40 epochs, not 20 (paper recipe)", "cpu", "paper128", SCHEDULE),
    ("40 epochs, not 20 (our recipe)", "cpu_improved", "paper128_improved", SCHEDULE),
    ("multi-scale training (0.75, 1, 1.25)", "paper128_improved", "paper128_multiscale", ("model.train_scales",)),
)
#: Levers measured on PraNet's split, where the records (of ``polypnet reproduce --protocol
#: pranet*``) hold each test list's per-image scores: (lever, protocol without it, protocol with
#: it, the config keys it changes), compared by mDice on each test list both runs were scored on.
BENCHMARK_LEVERS = (
    ("both datasets, not one (40 epochs either way: more steps)", "pranet128_kvasir", "pranet128", ("data.root",)),
    ("both datasets, not one (40 epochs either way: more steps)", "pranet128_cvc", "pranet128", ("data.root",)),
    ("both datasets, not one (equal steps)", "pranet128_kvasir_steps", "pranet128", EQUAL_STEPS),
    ("both datasets, not one (equal steps)", "pranet128_cvc_steps", "pranet128", EQUAL_STEPS),
    # The equal-steps runs against their 40-epoch namesakes: the same images for longer.
    ("65 epochs, not 40 (Kvasir's part alone)", "pranet128_kvasir", "pranet128_kvasir_steps", SCHEDULE),
    ("108 epochs, not 40 (CVC-ClinicDB's part alone)", "pranet128_cvc", "pranet128_cvc_steps", SCHEDULE),
    ("80 epochs, not 40 (both datasets)", "pranet128", "pranet128_long", SCHEDULE),
    ("256 px training, not 128", "pranet128", "pranet", ("data.image_size",)),
)
#: (path relative to the repository, record) of a PraNet-protocol run.
Record = tuple[Path, dict[str, Any]]


def pairs(runs: Iterable[Run], without: str, with_: str) -> dict[str, list[tuple[Run, Run]]]:
    """Per dataset, the (without, with) runs that share split, split seed and training seed."""

    def key(r: Run) -> tuple[str, str, int, int]:
        return (r.dataset, r.split, r.split_seed, r.seed)

    runs = list(runs)
    base = {key(r): r for r in runs if r.protocol == without}
    out: dict[str, list[tuple[Run, Run]]] = {}
    for r in runs:
        if r.protocol == with_ and key(r) in base:
            out.setdefault(r.dataset, []).append((base[key(r)], r))
    return out


def signed(mean: float, std: float | None = None) -> str:
    """A difference of fractions in percentage points, signed, ``± std`` when given."""
    return f"{100 * mean:+.2f}" + ("" if std is None else f" ± {100 * std:.2f}")


def difference(values: Sequence[float]) -> str:
    """The mean difference of several pairs with its sample std, or the one pair's difference."""
    mean, std = mean_std(list(values))
    return signed(mean, std if len(values) > 1 else None)


def seed_cell(path: Path, seed: int, mixed: bool, change: float, base: Path) -> str:
    """One pair's part of a per-seed cell: the with-lever run's seed linked to its record, the mark
    of mixed precisions, the signed change."""
    return f"{link(path, str(seed), base)}{MIXED if mixed else ''}: {signed(change)}"


def lever_rows(runs: Iterable[Run], base: Path) -> list[list[str]]:
    """One row per lever and dataset that has at least one pair of runs."""
    runs = list(runs)
    rows = []
    for lever, without, with_, _keys in LEVERS:
        for dataset, paired in pairs(runs, without, with_).items():
            f1 = [b.metrics["dice_global"] - a.metrics["dice_global"] for a, b in paired]
            mdice = [b.metrics["dice_per_image"] - a.metrics["dice_per_image"] for a, b in paired]
            per_seed = ", ".join(
                seed_cell(b.path, b.seed, a.precision != b.precision, d, base) for (a, b), d in zip(paired, f1)
            )
            rows.append(
                [
                    lever,
                    DATASETS[dataset],
                    f"`{without}` → `{with_}`",
                    per_seed,
                    difference(f1),
                    difference(mdice),
                    f"{sum(d > 0 for d in f1)} of {len(f1)}",
                ]
            )
    return rows


def benchmark_pairs(records: Iterable[Record], without: str, with_: str) -> dict[str, list[tuple[Record, Record]]]:
    """Per test list, the (without, with) PraNet-protocol runs that share split seed and training
    seed and were both scored on it."""

    def key(record: Record) -> tuple[int, int]:
        return (record[1]["split_seed"], record[1]["seed"])

    def scored(record: Record) -> list[str]:
        return [s["name"] for s in record[1]["sets"]]

    records = list(records)
    base = {key(r): r for r in records if r[1]["protocol"] == without}
    out: dict[str, list[tuple[Record, Record]]] = {}
    for r in records:
        if r[1]["protocol"] == with_ and key(r) in base:
            for name in scored(r):
                if name in scored(base[key(r)]):
                    out.setdefault(name, []).append((base[key(r)], r))
    return out


def mdice(record: Record, test: str) -> float:
    """The record's per-image mDice on the test list named ``test``."""
    return next(s for s in record[1]["sets"] if s["name"] == test)["metrics"]["mdice"]


def benchmark_lever_rows(records: Iterable[Record], base: Path) -> list[list[str]]:
    """One row per lever of :data:`BENCHMARK_LEVERS` and test list that has a pair of runs."""
    records = list(records)
    rows = []
    for lever, without, with_, _keys in BENCHMARK_LEVERS:
        for test, paired in benchmark_pairs(records, without, with_).items():
            changes = [mdice(b, test) - mdice(a, test) for a, b in paired]
            per_seed = ", ".join(
                seed_cell(b[0], b[1]["seed"], a[1]["precision"] != b[1]["precision"], d, base)
                for (a, b), d in zip(paired, changes)
            )
            better = f"{sum(d > 0 for d in changes)} of {len(changes)}"
            rows.append([lever, test, f"`{without}` → `{with_}`", per_seed, difference(changes), better])
    return rows


def levers_markdown(runs: Iterable[Run], base: Path, benchmark_records: Iterable[Record] = ()) -> str:
    """The levers' tables, at the paper's evaluation and on PraNet's split, with the mark of mixed
    precisions explained where a pair has it."""
    rows = lever_rows(runs, base)
    benchmark_rows = benchmark_lever_rows(benchmark_records, base)
    if not rows and not benchmark_rows:
        return "No lever has a pair of runs yet.\n"
    parts = []
    if rows:
        parts.append(paper_levers_table(rows))
    if benchmark_rows:
        parts.append(
            f"On PraNet's split (its test lists, each image scored at its original size):\n\n{benchmark_levers_table(benchmark_rows)}"
        )
    text = "\n".join(parts)
    if any(MIXED in row[3] for row in rows + benchmark_rows):
        text += f"\n{MIXED} the pair's two runs trained at different precisions (bf16-mixed, 32-true).\n"
    return text


def benchmark_levers_table(rows: list[list[str]]) -> str:
    """The table of :func:`benchmark_lever_rows`."""
    header = [
        "lever",
        "test",
        "protocols",
        "mDice change per training seed",
        "mDice change (mean ± std)",
        "mDice better in",
    ]
    return table(header, rows)


def paper_levers_table(rows: list[list[str]]) -> str:
    """The table of :func:`lever_rows`."""
    header = [
        "lever",
        "test",
        "protocols",
        "F1 change per training seed",
        "F1 change (mean ± std)",
        "mDice change (mean ± std)",
        "F1 better in",
    ]
    return table(header, rows)
