"""polypnet.experiments.lever_report: each lever's runs paired by training seed and split."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from polypnet.experiments.configs import config_path
from polypnet.experiments.lever_report import (
    BENCHMARK_LEVERS,
    LEVERS,
    MIXED,
    benchmark_lever_rows,
    benchmark_pairs,
    lever_rows,
    levers_markdown,
    pairs,
)


@dataclass
class FakeRun:
    protocol: str
    seed: int
    f1: float
    mdice: float
    dataset: str = "cvc-clinicdb"
    split: str = "random"
    split_seed: int = 42
    precision: str = "32-true"
    path: Path = field(init=False)
    metrics: dict[str, float] = field(init=False)

    def __post_init__(self) -> None:
        self.path = Path("results") / self.protocol / f"{self.dataset}_seed{self.seed}.json"
        self.metrics = {"dice_global": self.f1, "dice_per_image": self.mdice}


def test_runs_pair_only_with_the_same_split_and_training_seed() -> None:
    runs = [
        FakeRun("paper128_improved", 42, 0.88, 0.80),
        FakeRun("paper128_improved", 43, 0.87, 0.81),
        FakeRun("paper128_multiscale", 42, 0.90, 0.83),
        FakeRun("paper128_multiscale", 43, 0.86, 0.80, split_seed=43),  # another test split: no pair
        FakeRun("paper128_multiscale", 44, 0.90, 0.83),  # no run without the lever
        FakeRun("paper128_multiscale", 42, 0.70, 0.60, split="sequence"),
    ]
    paired = pairs(runs, "paper128_improved", "paper128_multiscale")
    assert [(a.seed, b.seed, b.split) for a, b in paired["cvc-clinicdb"]] == [(42, 42, "random")]


def test_rows_give_signed_changes_their_mean_and_how_many_improved() -> None:
    runs = [
        FakeRun("paper128_improved", 42, 0.88, 0.80),
        FakeRun("paper128_improved", 43, 0.87, 0.81),
        FakeRun("paper128_multiscale", 42, 0.90, 0.83),
        FakeRun("paper128_multiscale", 43, 0.86, 0.82),
    ]
    (row,) = lever_rows(runs, Path("docs"))
    assert row[2] == "`paper128_improved` → `paper128_multiscale`"
    assert row[3] == (
        "[42](../results/paper128_multiscale/cvc-clinicdb_seed42.json): +2.00, "
        "[43](../results/paper128_multiscale/cvc-clinicdb_seed43.json): -1.00"
    )
    assert row[4:] == ["+0.50 ± 2.12", "+2.00 ± 1.41", "1 of 2"]


def test_a_pair_of_precisions_is_marked_and_explained() -> None:
    runs = [
        FakeRun("paper", 43, 0.89, 0.86, precision="32-true"),
        FakeRun("improved", 43, 0.90, 0.85, precision="bf16-mixed"),
    ]
    text = levers_markdown(runs, Path("docs"))
    assert "43]" in text and f"){MIXED}: +1.00" in text and f"\n{MIXED} the pair's two runs" in text
    assert "| +1.00 | -1.00 | 1 of 1 |" in text
    assert levers_markdown([FakeRun("paper", 43, 0.89, 0.86)], Path("docs")).startswith("No lever")


def _flat(config: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


@pytest.mark.parametrize("lever", LEVERS, ids=lambda lever: f"{lever[1]}->{lever[2]}")
@pytest.mark.parametrize("stem", ["cvc", "kvasir"])
def test_each_lever_changes_only_its_own_config_keys(lever: tuple, stem: str) -> None:
    _, without, with_, keys = lever
    a, b = (_flat(yaml.safe_load(config_path(f"{p}_{stem}").read_text())) for p in (without, with_))
    changed = {k for k in a.keys() | b.keys() if a.get(k) != b.get(k)}
    # where the trainer may run is no part of a recipe (cpu* configs pin the CPU, the rest say auto)
    assert changed - {"trainer.accelerator"} == set(keys)


def benchmark_record(protocol: str, seed: int, **mdice: float) -> tuple[Path, dict]:
    """(path, record) of a PraNet-protocol run scored on the test lists named in ``mdice``
    (``Kvasir``, ``CVC``)."""
    names = {"Kvasir": "Kvasir", "CVC": "CVC-ClinicDB"}
    sets = [{"name": names[k], "metrics": {"mdice": v}} for k, v in mdice.items()]
    record = {"protocol": protocol, "seed": seed, "split_seed": 42, "precision": "32-true", "sets": sets}
    return Path("results") / protocol / f"pranet_seed{seed}.json", record


def test_benchmark_runs_pair_on_the_test_lists_both_were_scored_on() -> None:
    records = [
        benchmark_record("pranet128_kvasir", 42, Kvasir=0.70),
        benchmark_record("pranet128_kvasir", 43, Kvasir=0.72),
        benchmark_record("pranet128_cvc", 42, CVC=0.55),
        benchmark_record("pranet128", 42, Kvasir=0.71, CVC=0.62),
    ]
    paired = benchmark_pairs(records, "pranet128_kvasir", "pranet128")
    assert list(paired) == ["Kvasir"] and [(a[1]["seed"], b[1]["seed"]) for a, b in paired["Kvasir"]] == [(42, 42)]
    rows = benchmark_lever_rows(records, Path("docs"))
    assert [row[1:3] for row in rows] == [
        ["Kvasir", "`pranet128_kvasir` → `pranet128`"],
        ["CVC-ClinicDB", "`pranet128_cvc` → `pranet128`"],
    ]
    assert rows[1][3] == "[42](../results/pranet128/pranet_seed42.json): +7.00" and rows[1][4:] == ["+7.00", "1 of 1"]
    text = levers_markdown([], Path("docs"), records)
    assert "On PraNet's split" in text and "| mDice change per training seed |" in text and MIXED not in text


@pytest.mark.parametrize("lever", BENCHMARK_LEVERS, ids=lambda lever: f"{lever[1]}->{lever[2]}")
def test_each_benchmark_lever_changes_only_its_own_config_keys(lever: tuple) -> None:
    _, without, with_, keys = lever
    a, b = (_flat(yaml.safe_load(config_path(p).read_text())) for p in (without, with_))
    changed = {k for k in a.keys() | b.keys() if a.get(k) != b.get(k)}
    # nor how many processes load the data
    assert changed - {"trainer.accelerator", "data.num_workers"} == set(keys)


def _schedule_in_steps(protocol: str) -> tuple[int, list[int]]:
    """(steps of the run, steps after which the LR falls) of a PraNet-split config, from the
    shipped PraNet test lists and dataset ids (the split's sizes), batch size and drop_last."""
    from polypnet.data.combined import combined_id, combined_name
    from polypnet.data.shipped import CVC, KVASIR, cvc_sequences, kvasir_ids
    from polypnet.data.splits import make_split

    config = yaml.safe_load(config_path(protocol).read_text())
    data, stems = config["data"], {KVASIR: sorted(kvasir_ids()), CVC: sorted(cvc_sequences())}
    roots = data["root"]
    if len(roots) == 1:
        ids, dataset = stems[roots[0]], roots[0]
    else:
        ids, dataset = [combined_id(r, s) for r in roots for s in stems[r]], combined_name(roots)
    train = make_split(ids, "pranet", seed=data["seed"], dataset=dataset)["train"]
    per_epoch = len(train) * data["repeats"] // data["batch_size"]
    return config["trainer"]["max_epochs"] * per_epoch, [m * per_epoch for m in config["model"]["milestones"]]


@pytest.mark.parametrize("protocol", ["pranet128_kvasir_steps", "pranet128_cvc_steps"])
def test_an_equal_steps_lever_trains_as_many_steps_as_both_datasets_with_the_lr_falling_alike(protocol: str) -> None:
    steps, falls = _schedule_in_steps(protocol)
    both_steps, both_falls = _schedule_in_steps("pranet128")
    assert both_steps == 3240  # 40 epochs of 1305 samples in batches of 16
    # within one epoch of one dataset's part (50 or 30 steps), the nearest an epoch count can come
    assert abs(steps - both_steps) <= 15 and all(abs(f - g) <= 20 for f, g in zip(falls, both_falls, strict=True))
    short, _ = _schedule_in_steps(protocol.removesuffix("_steps"))
    assert short < 0.7 * both_steps  # what the 40-epoch one-dataset lever lacks


def test_the_long_schedule_doubles_pranet128s_steps_and_moves_its_lr_falls_alike() -> None:
    steps, falls = _schedule_in_steps("pranet128_long")
    both_steps, both_falls = _schedule_in_steps("pranet128")
    assert steps == 2 * both_steps and falls == [2 * f for f in both_falls]
