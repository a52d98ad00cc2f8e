"""Ablation studies: study files, the fit.py arguments of each arm, and the results of its runs.

A study is a YAML file in ``configs/ablations/``: a title, the paper's choice, and arms, each a
mapping of fit.py options (dotted, without ``--``) to values, applied on top of one base config
so that every arm shares the split, seed, schedule and image size::

    study: attention_position
    title: Attention position in blocks B and C (paper fig. 4)
    paper_choice: start
    arms:
      none: {model.model_kwargs: {attention_position: none}}
      start: {}

Runs are read back from their folders (``metrics.csv`` per epoch, ``test_metrics.json``), so a
study can be summarised again without training, and an interrupted study resumes arm by arm.
"""

from __future__ import annotations

import csv
import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..models import count_parameters, create_model
from ..training.callbacks import read_wall_clock


class StudyError(ValueError):
    """A study file that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class Study:
    """One ablation study: named arms of fit.py overrides."""

    name: str
    title: str
    arms: dict[str, dict[str, Any]]
    paper_choice: str | None = None
    note: str = ""
    path: Path | None = None


def load_study(path: Path) -> Study:
    """Read and check a study file."""
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as err:
        raise StudyError(f"{path}: cannot read the study file ({err})") from err
    if not isinstance(raw, dict) or not isinstance(raw.get("arms"), dict) or not raw["arms"]:
        raise StudyError(f"{path}: a study file needs a non-empty 'arms' mapping")
    arms: dict[str, dict[str, Any]] = {}
    for arm, overrides in raw["arms"].items():
        overrides = overrides or {}
        if not isinstance(overrides, dict):
            raise StudyError(f"{path}: arm {arm!r} must map fit.py options to values, got {overrides!r}")
        arms[str(arm)] = overrides
    choice = raw.get("paper_choice")
    if choice is not None and str(choice) not in arms:
        raise StudyError(f"{path}: paper_choice {choice!r} is not one of the arms {list(arms)}")
    return Study(
        name=str(raw.get("study") or Path(path).stem),
        title=str(raw.get("title") or Path(path).stem),
        arms=arms,
        paper_choice=None if choice is None else str(choice),
        note=str(raw.get("note") or ""),
        path=Path(path),
    )


def arm_argv(overrides: dict[str, Any]) -> list[str]:
    """fit.py arguments for an arm: ``--key value``, mappings and lists as JSON."""
    argv: list[str] = []
    for key, value in overrides.items():
        text = json.dumps(value) if isinstance(value, (dict, list, bool)) or value is None else str(value)
        argv += [f"--{key}", text]
    return argv


@dataclass
class RunResult:
    """What one finished (or partly finished) run of an arm produced."""

    arm: str
    seed: int
    run_dir: Path
    epochs: list[int] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_dice: list[float] = field(default_factory=list)
    train_dice: list[float] = field(default_factory=list)  # per epoch of ``epochs``; nan where not logged
    test: dict[str, float] = field(default_factory=dict)
    wall_s: float = math.nan  # from wall_clock.json; runs older than the clock have none

    @property
    def finished(self) -> bool:
        return bool(self.test)

    @property
    def best_val_dice(self) -> float:
        return max(self.val_dice) if self.val_dice else math.nan

    @property
    def best_index(self) -> int:
        """Position in ``epochs`` of the best validation Dice (the first where several tie; NaN skipped)."""
        return max((i for i, v in enumerate(self.val_dice) if not math.isnan(v)), key=self.val_dice.__getitem__)


def read_run(run_dir: Path, arm: str, seed: int) -> RunResult:
    """Per-epoch validation loss and Dice (and training Dice) from ``metrics.csv``, test metrics from
    ``test_metrics.json``, the wall time from ``wall_clock.json``."""
    result = RunResult(arm, seed, run_dir)
    metrics_csv = run_dir / "metrics.csv"
    if metrics_csv.is_file():
        per_epoch: dict[int, dict[str, float]] = {}
        train_dice: dict[int, float] = {}
        with metrics_csv.open(newline="") as f:
            for row in csv.DictReader(f):
                if row.get("train/dice_global") and row.get("epoch"):
                    train_dice[int(row["epoch"])] = float(row["train/dice_global"])
                if row.get("val/loss"):
                    per_epoch[int(row["epoch"])] = {
                        "loss": float(row["val/loss"]),
                        "dice": float(row.get("val/dice_global") or "nan"),
                    }
        # A resumed run appends to the same CSV: the last row of an epoch wins.
        for epoch in sorted(per_epoch):
            result.epochs.append(epoch)
            result.val_loss.append(per_epoch[epoch]["loss"])
            result.val_dice.append(per_epoch[epoch]["dice"])
            result.train_dice.append(train_dice.get(epoch, math.nan))
    test_json = run_dir / "test_metrics.json"
    if test_json.is_file():
        metrics = json.loads(test_json.read_text())["metrics"]
        result.test = {k.removeprefix("test/"): float(v) for k, v in metrics.items()}
    wall_s = read_wall_clock(run_dir)
    if wall_s is not None:
        result.wall_s = wall_s
    return result


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value, NaN for none)."""
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return math.nan, math.nan
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def arm_model(base_config: dict[str, Any], overrides: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The model name and keywords an arm trains: the base config's, with the arm's overrides."""
    model = dict(base_config.get("model") or {})
    name = str(overrides.get("model.model", model.get("model", "iam_unet")))
    kwargs = dict(model.get("model_kwargs") or {}) if name == model.get("model", "iam_unet") else {}
    kwargs.update(overrides.get("model.model_kwargs") or {})
    return name, kwargs


def summarize_arm(study: Study, arm: str, runs: list[RunResult], base_config: dict[str, Any]) -> dict[str, Any]:
    """One table row: parameters, best validation Dice and test scores, mean and std over seeds."""
    name, kwargs = arm_model(base_config, study.arms[arm])
    finished = [r for r in runs if r.finished]
    row: dict[str, Any] = {
        "arm": arm,
        "paper_choice": arm == study.paper_choice,
        "model": name,
        "model_kwargs": kwargs,
        "loss": study.arms[arm].get("model.loss", (base_config.get("model") or {}).get("loss", "dice")),
        "params": count_parameters(create_model(name, **kwargs)),
        "seeds": [r.seed for r in finished],
        "epochs": max((len(r.epochs) for r in finished), default=0),
    }
    for key, values in (
        ("best_val_dice", [r.best_val_dice for r in finished]),
        ("final_val_loss", [r.val_loss[-1] if r.val_loss else math.nan for r in finished]),
        ("test_f1", [r.test.get("dice_global", math.nan) for r in finished]),
        ("test_iou", [r.test.get("iou_global", math.nan) for r in finished]),
        ("test_f1_per_image", [r.test.get("dice_per_image", math.nan) for r in finished]),
        ("wall_min", [r.wall_s / 60 for r in finished]),
    ):
        row[key], row[key + "_std"] = mean_std(values)
    return row


def paired_deltas(study: Study, runs_by_arm: dict[str, list[RunResult]]) -> dict[str, dict[int, tuple[float, float]]]:
    """Per arm (not the paper's), per seed: (best val Dice, test F1 global) minus the paper arm's
    at the same seed, as fractions. Seeds where either run is unfinished are left out."""
    paper = {r.seed: r for r in runs_by_arm.get(study.paper_choice or "", []) if r.finished}
    deltas: dict[str, dict[int, tuple[float, float]]] = {}
    for arm, runs in runs_by_arm.items():
        if arm == study.paper_choice:
            continue
        deltas[arm] = {
            r.seed: (
                r.best_val_dice - paper[r.seed].best_val_dice,
                r.test.get("dice_global", math.nan) - paper[r.seed].test.get("dice_global", math.nan),
            )
            for r in runs
            if r.finished and r.seed in paper
        }
    return deltas


def per_seed_markdown(study: Study, runs_by_arm: dict[str, list[RunResult]]) -> str:
    """Each arm's best validation Dice and test F1 seed by seed, and its difference to the paper arm.

    At one seed the arms share the split, the sample order and, where the network is the same, the
    initial weights, so the paired difference is a sharper comparison than two seed means.
    Returns "" when no arm finished more than one seed.
    """
    seeds = sorted({r.seed for runs in runs_by_arm.values() for r in runs if r.finished})
    if len(seeds) < 2:
        return ""
    deltas = paired_deltas(study, runs_by_arm)
    head = ["arm", *(f"seed {s}: val / test" for s in seeds), *(f"seed {s}: Δ val / Δ test" for s in seeds)]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for arm, runs in runs_by_arm.items():
        done = {r.seed: r for r in runs if r.finished}
        values = [
            f"{100 * done[s].best_val_dice:.2f} / {100 * done[s].test.get('dice_global', math.nan):.2f}"
            if s in done
            else "-"
            for s in seeds
        ]
        paired = deltas.get(arm, {})
        cells = [f"{100 * paired[s][0]:+.2f} / {100 * paired[s][1]:+.2f}" if s in paired else "-" for s in seeds]
        name = f"**{arm}** (paper)" if arm == study.paper_choice else arm
        lines.append("| " + " | ".join([name, *values, *cells]) + " |")
    return "\n".join(lines)


def percent(mean: float | None, std: float | None = None, seeds: int = 1) -> str:
    """A fraction as percent with two decimals, ``± std`` when several seeds ran; ``-`` when missing."""
    if mean is None or math.isnan(mean):
        return "-"
    return f"{100 * mean:.2f} ± {100 * std:.2f}" if seeds > 1 and std is not None else f"{100 * mean:.2f}"


def seeds_percent(values: Sequence[float]) -> str:
    """Scores of one setting's seeds (fractions) as ``percent``: mean ± sample std, or the one score."""
    return percent(*mean_std(list(values)), seeds=len(values))


def _minutes(mean: float, std: float) -> str:
    if math.isnan(mean):
        return "-"
    return f"{mean:.1f}" + (f" ± {std:.1f}" if std > 0 else "")


def table_markdown(
    study: Study, rows: list[dict[str, Any]], extra_columns: dict[str, dict[str, str]] | None = None
) -> str:
    """The study's table: arm, params, best val Dice, final val loss, test F1/IoU (percent)."""
    extra_columns = extra_columns or {}
    extra_names = sorted({c for cols in extra_columns.values() for c in cols})
    timed = any(not math.isnan(r.get("wall_min", math.nan)) for r in rows)
    head = [
        "arm",
        "params",
        *extra_names,
        "seeds",
        "epochs",
        "best val Dice",
        "final val loss",
        "test F1 (global)",
        "test IoU (global)",
        "test F1 (per image)",
        *(["wall time (min), timed runs"] if timed else []),
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for r in rows:
        n = len(r["seeds"])
        loss = (
            "-"
            if math.isnan(r["final_val_loss"])
            else (
                f"{r['final_val_loss']:.4f} ± {r['final_val_loss_std']:.4f}" if n > 1 else f"{r['final_val_loss']:.4f}"
            )
        )
        arm = f"**{r['arm']}** (paper)" if r["paper_choice"] else r["arm"]
        cells = [
            arm,
            f"{r['params']:,}",
            *(extra_columns.get(r["arm"], {}).get(c, "-") for c in extra_names),
            ", ".join(map(str, r["seeds"])) or "-",
            str(r["epochs"]),
            percent(r["best_val_dice"], r["best_val_dice_std"], n),
            loss,
            percent(r["test_f1"], r["test_f1_std"], n),
            percent(r["test_iou"], r["test_iou_std"], n),
            percent(r["test_f1_per_image"], r["test_f1_per_image_std"], n),
        ]
        if timed:
            cells.append(_minutes(r.get("wall_min", math.nan), r.get("wall_min_std", math.nan)))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
