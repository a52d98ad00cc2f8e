"""The tables of docs/ablations.md, generated from the ablation and baseline records.

Records read: ``results/ablations/v2/cpu/<study>.json`` (written by ``polypnet ablate``: one row per
arm, mean and std over its seeds) and ``results/baselines/cpu_cost.json`` (the baselines' cost, one
benchmark run). :mod:`polypnet.experiments.report` places the rendered tables between the
``<!-- generated:NAME -->`` markers of the page, so ``make docs-check`` catches any drift.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..models.registry import model_entry
from .benchmark import EAGER
from .markdown import link, table
from .studies import percent

#: The folder of the studies' records (``polypnet ablate ... --out results/ablations/v2``, CPU protocol).
STUDIES_DIR = Path("results/ablations/v2/cpu")
#: The paper's four studies, in the page's order.
STUDIES = ("attention_position", "loss", "attention_ratio", "bridge_blocks")
BASELINES = "baselines"
COST_RECORD = Path("results/baselines/cpu_cost.json")
#: Readable names of the arms whose key is terse; any other arm is shown by its key.
ARM_LABELS = {
    "tversky": "Tversky (α 0.3, β 0.7)",
    "dice": "Dice",
    "bce_dice": "BCE + Dice",
    **{f"r{r}": f"r = {r}" for r in (2, 4, 8, 16)},
    **{f"n{n}": f"n = {n}" for n in (1, 2, 3, 4)},
}


#: The benchmark's latency modes, as the table names them.
def _model_name(name: str) -> str:
    """The registry's short name and the key that ``create_model`` takes, e.g. ``U-Net (`unet`)``."""
    return f"{model_entry(name).description.split(',')[0]} (`{name}`)"


def _study(root: Path, name: str) -> dict[str, Any]:
    return json.loads((root / STUDIES_DIR / f"{name}.json").read_text())


def _scores(row: dict[str, Any]) -> list[str]:
    """Best validation Dice, test F1 and IoU (global), test F1 per image: mean ± std over the seeds."""
    n = len(row["seeds"])
    keys = ("best_val_dice", "test_f1", "test_iou", "test_f1_per_image")
    return [percent(row[key], row.get(f"{key}_std"), n) for key in keys]


def _seeds(row: dict[str, Any]) -> str:
    return ", ".join(str(seed) for seed in row["seeds"])


def studies_table(root: Path, base: Path) -> str:
    """The four studies in one table: the paper's arm once (all four share it), then each other arm."""
    studies = {name: _study(root, name) for name in STUDIES}
    paper_rows = [row for study in studies.values() for row in study["rows"] if row["paper_choice"]]
    paper = paper_rows[0]
    if any(row["seeds"] != paper["seeds"] or row["test_f1"] != paper["test_f1"] for row in paper_rows):
        raise ValueError(f"{STUDIES_DIR}: the studies' paper arms differ; they should be one shared run per seed")
    choices = ", ".join(ARM_LABELS.get(row["arm"], row["arm"]) for row in paper_rows)
    rows = [["all four", f"**paper: {choices}**", _seeds(paper), f"{paper['params']:,}", *_scores(paper)]]
    for name, study in studies.items():
        label = link(STUDIES_DIR / f"{name}.md", name.replace("_", " "), base)
        for row in study["rows"]:
            if not row["paper_choice"]:
                arm = ARM_LABELS.get(row["arm"], row["arm"])
                rows.append([label, arm, _seeds(row), f"{row['params']:,}", *_scores(row)])
    header = ["study", "arm", "seeds", "params", "best val Dice", "test F1 (global)", "test IoU (global)"]
    return table(header + ["test F1 (per image)"], rows)


def baselines_table(root: Path, base: Path) -> str:
    """The baselines trained at the studies' protocol, IAM-UNet first."""
    rows = []
    for row in _study(root, BASELINES)["rows"]:
        rows.append([_model_name(row["model"]), _seeds(row), f"{row['params']:,}", *_scores(row)])
    header = ["model", "seeds", "params", "best val Dice", "test F1 (global)", "test IoU (global)"]
    seed_by_seed = link(STUDIES_DIR / f"{BASELINES}.md", "Seed by seed", base)
    return table(header + ["test F1 (per image)"], rows) + f"\n{seed_by_seed}: the study's own table.\n"


def _one_by_one(row: dict, mode: str) -> str:
    """The mark of a batch-16 figure measured as batch-1 calls (OpenVINO could not compile batch 16)."""
    return " (as batch-1 calls)" if mode in row.get("throughput_b16_one_by_one", ()) else ""


def cost_table(root: Path, base: Path) -> str:
    """Parameters, FLOPs, batch-1 latency and batch-16 throughput of the baselines, from one
    ``polypnet benchmark`` run (IAM-UNet as the peer, so the ratios are its speed-up)."""
    record = json.loads((root / COST_RECORD).read_text())
    rows = []
    for row in record["rows"]:
        latency, best = row["latency_b1"], row["best_mode"]
        speedup = row.get("speedup_best_b1_vs_peer_best")
        rows.append(
            [
                _model_name(row["model"]),
                f"{row['params']:,}",
                f"{row['gflops_per_image']:.2f}",
                f"{latency[EAGER]['median_ms']:.1f}",
                f"{latency[best]['median_ms']:.1f} ({best})",
                f"{row['throughput_b16'][best]:.1f}" + _one_by_one(row, best),
                "-" if row["model"] == record["peer"] or not speedup else f"{1 / speedup:.1f}x",
                f"{row['peak_rss_mib']:.0f}",
            ]
        )
    header = ["model", "params", "GFLOP / image", "latency, eager (ms)", "latency, fastest mode (ms)"]
    header += ["batch-16 img/s, fastest mode", "IAM-UNet faster by", "peak RSS (MiB)"]
    machine = record["machine"]
    used = {"torch"} | {mode.split("/")[0] for row in record["rows"] for mode in row["latency_b1"]}
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items() if v and k in used)
    source = (
        f"{record['size']}x{record['size']} input, batch-1 median, {machine['threads']} threads on "
        f"{machine['cpu']} ({machine['logical_cpus']} CPUs), {versions}; fastest modes compared with each other. "
        f"Record {link(COST_RECORD, COST_RECORD.name, base)}, made by `{record['command']}`."
    )
    return table(header, rows) + "\n" + source + "\n"
