"""The training records, ``results/<protocol>/<dataset>_seed<k>*.json`` (written by ``polypnet
reproduce``), read as :class:`Run` for the generated tables: protocols, recipes and their order."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..data.shipped import TITLES
from .pranet_protocol import PRANET_PROTOCOLS

#: Display names of the datasets, in table order.
DATASETS = TITLES
#: Table order: each protocol with the paper's recipe, then with ours; unknown protocols last.
PROTOCOL_ORDER = ("paper", "improved", "paper128", "paper128_improved", "paper128_multiscale", "cpu", "cpu_improved")
#: Recipes that the protocol's name does not say (``*improved``: ours; otherwise the paper's).
RECIPES = {"paper128_multiscale": "improved + multi-scale", **PRANET_PROTOCOLS}


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
    layout: str = "-"  # the memory layout it trained in (memory_layout)
    device: str = "-"  # what trained it, as reproduce named it ("NVIDIA H200", "CPU (x86_64, 2 threads)")

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
        run_files = path.with_name(path.stem + "_run")
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
                scored_with=scored_with(run_files / "eval_metrics.json"),
                layout=memory_layout(run_files / "config.yaml"),
                device=str(r.get("accelerator") or "-"),
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


def memory_layout(config: Path) -> str:
    """``channels_last`` or ``NCHW``, the layout a run trained in (its ``config.yaml``, as fit
    saved it); ``-`` where the run kept no config. It changes the speed, not the computation."""
    if not config.is_file():
        return "-"
    model = (yaml.safe_load(config.read_text()) or {}).get("model") or {}
    return "channels_last" if model.get("channels_last") else "NCHW"


def protocol_rank(protocol: str) -> tuple[int, str]:
    """Sort key of a protocol: its place in PROTOCOL_ORDER, then its name."""
    return (PROTOCOL_ORDER.index(protocol) if protocol in PROTOCOL_ORDER else len(PROTOCOL_ORDER), protocol)


def group_runs(runs: Iterable[Run]) -> dict[tuple[str, str, str], list[Run]]:
    """Runs of one protocol, dataset and split kind: the seeds a mean ± std is taken over."""
    groups: dict[tuple[str, str, str], list[Run]] = {}
    for r in runs:
        groups.setdefault((r.protocol, r.dataset, r.split), []).append(r)
    return groups
