"""The ``polypnet data check`` transcripts of docs/data.md, from the command's own records."""

from __future__ import annotations

import json
from pathlib import Path

from ..data.check import DataSummary, report_lines
from .markdown import link

RECORDS = (Path("results/data/kvasir-seg_check.json"), Path("results/data/cvc-clinicdb_check.json"))
FORMAT = "polypnet-data-check/1"


def data_check_markdown(root: Path, base: Path) -> str:
    """Each record's command and report as a console block, then where it came from and how long it took."""
    blocks, sources = [], []
    for path in RECORDS:
        record = json.loads((root / path).read_text())
        if record.get("format") != FORMAT:
            raise ValueError(f"{path}: format {record.get('format')!r}, expected {FORMAT!r}")
        summary = DataSummary.from_dict(record["summary"])
        command = record["command"].split(" --out ")[0]
        blocks.append("\n".join([f"$ {command}", *report_lines(summary)]))
        sources.append(f"{link(path, path.name, base)} ({record['seconds']:.1f} s on {record['cpus']} CPUs)")
    return "```\n" + "\n\n".join(blocks) + "\n```\n\nRecords: " + ", ".join(sources) + ".\n"
