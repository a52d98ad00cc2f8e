"""polypnet.experiments.goal_report: the accuracy goal's verdicts from the records."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from polypnet.experiments.goal_report import goal_markdown, verdict


@dataclass
class FakeRun:
    protocol: str
    dataset: str
    seed: int
    f1: float
    image_size: int = 256
    split: str = "random"
    epochs: int = 40
    params: int = 571_731
    precision: str = "32-true"
    path: Path = field(init=False)
    metrics: dict[str, float] = field(init=False)

    def __post_init__(self) -> None:
        self.path = Path("results") / self.protocol / f"{self.dataset}_seed{self.seed}.json"
        self.metrics = {"dice_global": self.f1}


def test_verdict_needs_three_seeds_and_compares_the_mean() -> None:
    assert verdict([0.99, 0.99], 0.94) == "undecided (2 of 3 seeds)"
    assert verdict([0.95, 0.94, 0.94], 0.94) == "met"
    assert verdict([0.95, 0.94, 0.92], 0.94) == "not met"


def test_rows_only_for_records_the_goal_can_hold(tmp_path: Path) -> None:
    runs = [FakeRun("improved", "cvc-clinicdb", seed, f1) for seed, f1 in ((42, 0.95), (43, 0.94))] + [
        FakeRun("improved", "cvc-clinicdb", 44, 0.96, precision="bf16-mixed"),
        FakeRun("paper128", "cvc-clinicdb", 42, 0.99, image_size=128),  # not the paper's evaluation
        FakeRun("big", "kvasir-seg", 42, 0.99, params=600_000),  # over the parameter bound
        FakeRun("cpu", "cvc-clinicdb", 42, 0.99, split="sequence"),
        FakeRun("paper", "kvasir-seg", 42, 0.85),
    ]
    sets = [
        {"name": "Kvasir", "metrics": {"mdice": 0.91}},
        {"name": "CVC-ClinicDB", "metrics": {"mdice": 0.80}},
    ]
    folder = tmp_path / "results" / "pranet"
    folder.mkdir(parents=True)
    for seed in (42, 43, 44):
        record = {"format": "polypnet-pranet/1", "seed": seed, "params": 571_731, "image_size": 256, "epochs": 40}
        (folder / f"pranet_seed{seed}.json").write_text(json.dumps({**record, "sets": sets}))
    alone = tmp_path / "results" / "pranet128_kvasir"  # one dataset's part: no entry of the benchmark
    alone.mkdir()
    record = {"format": "polypnet-pranet/1", "seed": 42, "params": 571_731, "image_size": 128, "epochs": 40}
    (alone / "pranet_seed42.json").write_text(
        json.dumps({**record, "sets": sets[:1], "train_datasets": ["kvasir-seg"]})
    )
    text = goal_markdown(runs, tmp_path, ["pranet", "pranet128", "pranet128_kvasir"], Path("docs"))
    assert "pranet128_kvasir" not in text
    assert "paper128" not in text and "`big`" not in text and "`cpu`" not in text
    assert "| CVC-ClinicDB | `improved` (40 epochs) | F1 (global) | 94.00 |" in text
    assert "(../results/improved/cvc-clinicdb_seed44.json)† | 95.00 ± 1.00 | met |" in text  # precisions differ
    assert "\n† the row's seeds trained at different precisions (32-true, bf16-mixed)" in text
    assert (
        "| Kvasir-SEG | `paper` (40 epochs) | F1 (global) | 90.00 | [42](../results/paper/kvasir-seg_seed42.json) | 85.00 | undecided (1 of 3 seeds) |"
        in text
    )
    # PraNet's quoted mDice is 0.898 on Kvasir and 0.899 on CVC-ClinicDB.
    assert "| PraNet's benchmark, Kvasir | `pranet` (256 px, 40 epochs) | mDice | 89.80 (PraNet, quoted) |" in text
    assert "| 91.00 ± 0.00 | met |" in text and "| 80.00 ± 0.00 | not met |" in text


def test_nothing_to_hold(tmp_path: Path) -> None:
    assert goal_markdown([], tmp_path, ["pranet"], Path("docs")) == "No record can be held against the goal yet.\n"
