"""The numbers of the docs, generated from the committed records under ``results/``.

Each generated region of README.md, MODEL_CARD.md and docs/ sits between
``<!-- generated:NAME -->`` and ``<!-- /generated:NAME -->``; the prose around it is written by
hand. ``make docs`` rewrites every region, the scores in the shipped-weights index (which
``polypnet models pretrained`` prints), docs/performance.md and the protocol folders'
``results/<protocol>/README.md``; ``make docs-check`` renders them again and fails on any
difference, so no number in the docs can drift from its record. This module places the regions;
the tables are rendered by the modules named in :func:`regions`.

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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..models.pretrained import WEIGHTS_DIR
from .ablation_report import baselines_table, cost_table, studies_table
from .data_check_report import data_check_markdown
from .data_loading_report import data_loading_markdown
from .goal_report import goal_markdown
from .gpu_bundle_report import gpu_bundle_markdown
from .gpu_session_report import gpu_sessions_markdown
from .leakage_report import leakage
from .lever_report import levers_markdown
from .model_summary_report import model_summary_markdown
from .performance_page import performance_markdown, training_markdown
from .pranet_protocol import PRANET_PROTOCOLS, readme_markdown
from .pranet_table import load_records, pranet_markdown
from .protocol_table import protocol_table_markdown
from .run_tables import every_run, headline, sequence_split, summary
from .scored_weights import stale_records
from .shipping_rule import rule_violations
from .study_tables import cross, figures, input_size_rows, postprocess_rows, tta_rows
from .training_records import load_runs
from .weights_tables import shipped, shipped_brief, synced_index

INDEX_PATH = WEIGHTS_DIR / "index.json"
#: Documents generated whole from one record: (document, record), both relative to the root.
PERFORMANCE = (Path("docs/performance.md"), Path("results/benchmark/cpu.json"))
#: The training step timed on a CPU without bf16 instructions (``polypnet benchmark --train-only``).
TRAINING_CPU = Path("results/benchmark/train_avx2.json")
REGION = re.compile(r"(<!-- generated:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /generated:(?P=name) -->)", re.DOTALL)


def benchmark_records(root: Path) -> list[tuple[Path, dict[str, Any]]]:
    """(path relative to ``root``, record) of every PraNet-protocol run under ``root/results``."""
    return [
        (path.relative_to(root), record)
        for protocol in PRANET_PROTOCOLS
        for path, record in load_records(root / "results" / protocol)
    ]


def training_cpu(root: Path, docs: Path) -> str:
    """docs/results.md's training-speed rows from ``TRAINING_CPU``."""
    record = json.loads((root / TRAINING_CPU).read_text())
    return training_markdown(record, os.path.relpath(root / TRAINING_CPU, root / docs))


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
            "levers": lambda: levers_markdown(runs, docs, benchmark_records(root)),
            "runs": lambda: every_run(runs, docs),
            "training_cpu": lambda: training_cpu(root, docs),
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
    synced = synced_index(root, index, index_path.parent)
    stale = stale_records(root, synced)
    if stale:
        raise ValueError("records scored with weights that no longer ship:\n  " + "\n  ".join(stale))
    out = {root / doc: fill((root / doc).read_text(), parts, str(doc)) for doc, parts in regions(root, index).items()}
    out[index_path] = json.dumps(synced, indent=2, sort_keys=True) + "\n"  # as ship_weights writes it
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
