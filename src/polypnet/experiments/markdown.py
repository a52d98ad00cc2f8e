"""Markdown pieces shared by the generated docs: a table, and a link relative to a document."""

from __future__ import annotations

import os
from pathlib import Path


def link(target: Path, text: str, base: Path) -> str:
    """A Markdown link to ``target`` (relative to the root) from a document in folder ``base``."""
    return f"[{text}]({Path(os.path.relpath(target, base)).as_posix()})"


def table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
