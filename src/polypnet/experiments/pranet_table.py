"""The PraNet-benchmark table: our records beside PraNet's and Polyp-PVT's published numbers.

Ours come from the JSON records that ``polypnet reproduce --protocol pranet`` writes (format
:data:`RECORD_FORMAT`, one per trained run); the published ones from the committed, cited
``resources/pranet_published.yaml``, and are marked as quoted. :func:`pranet_markdown` is what a
docs generator calls.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from ..data.shipped import CVC, KVASIR, TITLES
from .studies import mean_std

PUBLISHED = Path(__file__).resolve().parent / "resources" / "pranet_published.yaml"
#: ``format`` of a record written by the PraNet protocol of reproduce.
RECORD_FORMAT = "polypnet-pranet/1"
#: ``format`` of a record of another method's saved maps scored here (``polyp_benchmark.main``).
MAPS_RECORD_FORMAT = "polypnet-pranet-maps/1"
#: ``format`` of the published models' parameters and GFLOPs, counted here from the authors' code
#: (``scripts/count_published_models.py``).
COST_RECORD_FORMAT = "polypnet-model-cost/1"
#: (metric key, column title), in the field's order.
COLUMNS = (
    ("mdice", "mDice"), ("miou", "mIoU"), ("s_alpha", "Sα"), ("e_phi_mean", "mean Eφ"),
    ("e_phi_max", "max Eφ"), ("wf_beta", "Fβw"), ("mae", "MAE"),
)  # fmt: skip
SETS = ("Kvasir", "CVC-ClinicDB")
#: The datasets of PraNet's benchmark, in its configs' root order: an entry of the benchmark
#: trains one model on both; a run on one alone is scored on that one's test list.
BENCHMARK_DATASETS = (KVASIR, CVC)
#: Input size at which GFLOPs are compared: the published models' own.
FLOPS_SIZE = 352


def load_published(path: str | os.PathLike = PUBLISHED) -> list[dict[str, Any]]:
    """The quoted models of the published-results file, each with ``name``, ``citation``,
    ``source``, ``scores`` (set -> metric -> value) and optional ``params``/``gflops``."""
    data = yaml.safe_load(Path(path).read_text())
    if not isinstance(data, dict) or data.get("format") != "polypnet-published/1":
        raise ValueError(f"{path}: not a polypnet-published/1 file")
    return list(data["models"])


def records_by_format(folders: Sequence[str | os.PathLike]) -> dict[str, list[tuple[Path, dict[str, Any]]]]:
    """(path, record) of every JSON record in ``folders``, grouped by its ``format``, each file read
    once, by folder then file name; files that are not a record with a format are skipped."""
    found: dict[str, list[tuple[Path, dict[str, Any]]]] = {}
    for folder in folders:
        for path in sorted(Path(folder).glob("*.json")):
            try:
                record = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError):
                continue
            if isinstance(record, dict) and isinstance(record.get("format"), str):
                found.setdefault(record["format"], []).append((path, record))
    return found


def trained_on_both(record: dict[str, Any]) -> bool:
    """Whether a record is an entry of the benchmark: one model trained on both datasets (records
    written before ``train_datasets`` was kept all were)."""
    return set(record.get("train_datasets", BENCHMARK_DATASETS)) == set(BENCHMARK_DATASETS)


def load_records(results_dir: str | os.PathLike, fmt: str = RECORD_FORMAT) -> list[tuple[Path, dict[str, Any]]]:
    """(path, record) of every record of format ``fmt`` in ``results_dir``, by file name; other
    JSON files there are skipped."""
    return records_by_format([results_dir]).get(fmt, [])


def benchmark_scores(record: dict[str, Any]) -> dict[str, Any]:
    """What the weights index keeps of a PraNet-protocol record: mDice and mIoU of each test set
    (``benchmark``) and the test images in all."""
    sets = record["sets"]
    return {
        "test_images": sum(int(s["metrics"]["images"]) for s in sets),
        "benchmark": {s["name"]: {key: s["metrics"][key] for key in ("mdice", "miou")} for s in sets},
    }


def benchmark_text(benchmark: dict[str, dict[str, float]]) -> str:
    """``Kvasir 89.44, CVC-ClinicDB 89.90``: the mDice of each set, in percent."""
    return ", ".join(f"{name} {100 * scores['mdice']:.2f}" for name, scores in benchmark.items())


def _ours(value: float | None) -> str:
    # Four decimals: the field's three would round some of ours up to the next thousandth.
    return "–" if value is None else f"{value:.4f}"


def _quoted(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _setup_name(record: dict[str, Any]) -> str:
    # The protocol names the schedule: pranet128's rows are not the benchmark's full recipe.
    protocol = f" (`{record['protocol']}`)" if record.get("protocol") else ""
    alone = (
        ""
        if trained_on_both(record)
        else f", trained on {' + '.join(TITLES[d] for d in record['train_datasets'])} alone"
    )
    return f"IAM-UNet{protocol}, {record.get('recipe', '?')} recipe{alone}"


def _record_name(record: dict[str, Any]) -> str:
    return f"{_setup_name(record)}, seed {record.get('seed', '?')}"


def _set_metrics(record: dict[str, Any], name: str) -> dict[str, float] | None:
    score = next((s for s in record.get("sets", []) if s.get("name") == name), None)
    return None if score is None else score["metrics"]


def _mean_rows(records: Sequence[dict[str, Any]], name: str) -> list[str]:
    """Per setup (protocol, recipe, training data) with two or more seeds scored on set ``name``:
    a row of each metric's mean ± sample std over those seeds."""
    groups: dict[str, list[tuple[Any, dict[str, float]]]] = {}
    for r in records:
        metrics = _set_metrics(r, name)
        if metrics is not None:
            groups.setdefault(_setup_name(r), []).append((r.get("seed", "?"), metrics))
    rows = []
    for setup, group in groups.items():
        if len(group) < 2:
            continue
        cells = []
        for key, _ in COLUMNS:
            values = [metrics.get(key) for _, metrics in group]
            if any(v is None for v in values):
                cells.append("–")
            else:
                mean, std = mean_std(values)  # type: ignore[arg-type]
                cells.append(f"{mean:.4f} ± {std:.4f}")
        seeds = ", ".join(str(seed) for seed, _ in group)
        images = {int(metrics["images"]) for _, metrics in group}
        rows.append(
            f"| {setup}, mean ± std of {len(group)} seeds ({seeds}) | "
            + " | ".join(cells)
            + f" | {'/'.join(str(i) for i in sorted(images))} |"
        )
    return rows


def _where(path: Path, base: Path | None) -> str:
    if base is not None:
        try:
            return path.resolve().relative_to(base.resolve()).as_posix()
        except ValueError:
            pass
    return path.name


def pranet_markdown(
    results_dir: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
    published: str | os.PathLike = PUBLISHED,
    heading: str = "###",
    relative_to: str | os.PathLike | None = None,
) -> str:
    """Markdown: a model table (parameters, GFLOPs, source) and one score table per test set,
    our records (in ``results_dir``, one folder or several) measured, the published models
    quoted and cited.

    ``heading`` prefixes the per-set headings; ``relative_to`` makes record paths relative to a
    folder (the repository root, say). Without records the tables hold the published rows and say
    that no run was recorded; with records, a test set none of them was scored on has no table.
    """
    quoted = load_published(published)
    if results_dir is None:
        folders: list[str | os.PathLike] = []
    elif isinstance(results_dir, (str, os.PathLike)):
        folders = [results_dir]
    else:
        folders = list(results_dir)
    by_format = records_by_format(folders)
    records = by_format.get(RECORD_FORMAT, [])
    rescored = by_format.get(MAPS_RECORD_FORMAT, [])
    counted = {m["name"]: (path, m) for path, r in by_format.get(COST_RECORD_FORMAT, []) for m in r["models"]}
    base = Path(relative_to) if relative_to is not None else None
    lines = [
        "Our rows are measured (pysodmetrics, each image at its original size; file named in the row).",
        "Rows marked *quoted* are the papers' own numbers, copied from "
        "`polypnet/experiments/resources/pranet_published.yaml`; `–`: not reported there or not quoted.",
        "Rows marked *released maps* are another method's published prediction maps scored here the "
        "same way: a check of the scorer against that method's quoted row.",
        "Figures marked *counted* were counted here from the authors' released model code, with the "
        "counter of our own rows (file named in the row).",
        "",
        f"| model | parameters | GFLOPs at {FLOPS_SIZE} px (multiply-add = 2) | trained at | source |",
        "| --- | --- | --- | --- | --- |",
    ]
    for path, r in records:
        flops = r.get("gflops", {}).get(str(FLOPS_SIZE))
        lines.append(
            f"| {_record_name(r)} | {r['params']:,} | {'–' if flops is None else f'{flops:.2f}'} "
            f"| {r.get('image_size', '?')} px | measured: `{_where(path, base)}` |"
        )
    for m in quoted:
        params = "–" if m.get("params") is None else f"{m['params']}"
        gflops = "–" if m.get("gflops") is None else f"{m['gflops']}"
        source = f"quoted: [{m['name']}]({m['source']})"
        if m["name"] in counted:
            path, c = counted[m["name"]]
            if m.get("params") is None:
                params = f"{c['params']:,} (*counted*)"
            if m.get("gflops") is None and str(FLOPS_SIZE) in c["gflops"]:
                gflops = f"{c['gflops'][str(FLOPS_SIZE)]:.2f} (*counted*)"
            source += f"; counted: `{_where(path, base)}`"
        lines.append(f"| {m['name']} | {params} | {gflops} | {m.get('input_size', '?')} px | {source} |")
    if not records:
        lines += ["", "No PraNet-protocol run is recorded yet (`polypnet reproduce --protocol pranet`)."]
    for name in SETS:
        scored = any(_set_metrics(r, name) is not None for _, r in records + rescored)
        if (records or rescored) and not scored:
            continue  # a protocol trained for one test list: no section of quoted rows alone
        lines += [
            "",
            f"{heading} {name}",
            "",
            "| model | " + " | ".join(t for _, t in COLUMNS) + " | images |",
            "| --- | " + " | ".join("---" for _ in COLUMNS) + " | --- |",
        ]
        for _, r in records:
            metrics = _set_metrics(r, name)
            if metrics is None:
                continue
            cells = [_ours(metrics.get(k)) for k, _ in COLUMNS]
            lines.append(f"| {_record_name(r)} | " + " | ".join(cells) + f" | {int(metrics['images'])} |")
        lines += _mean_rows([r for _, r in records], name)
        for path, r in rescored:
            metrics = _set_metrics(r, name)
            if metrics is None:
                continue
            cells = [_ours(metrics.get(k)) for k, _ in COLUMNS]
            lines.append(
                f"| {r['model']} (*released maps*, `{_where(path, base)}`) | "
                + " | ".join(cells)
                + f" | {int(metrics['images'])} |"
            )
        for m in quoted:
            values = m.get("scores", {}).get(name, {})
            cells = [_quoted(values.get(k)) for k, _ in COLUMNS]
            lines.append(f"| {m['name']} (*quoted*) | " + " | ".join(cells) + " | |")
    lines += ["", "Quoted from:"]
    lines += [f"- {m['name']}: {m['citation']}, {m.get('where', '')} ({m['source']})." for m in quoted]
    return "\n".join(lines) + "\n"
