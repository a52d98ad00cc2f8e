"""Records scored through shipped weights, checked against the weights that ship now.

``polypnet compare input-size``, ``compare postprocess``, ``evaluate --pretrained`` and
``benchmark`` keep the sha256 of each shipped weights file they scored (``weights_sha256``:
``{tag: sha256}``, from ``polypnet.models.pretrained.weights_stamp``). Once ``polypnet ship-weights``
replaces the weights behind a tag, such a record describes weights that no longer ship:
``make docs-check`` fails and names the command that makes the record again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: The field of a record that names the shipped weights it scored.
STAMP = "weights_sha256"


def stale_records(root: Path, index: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    """One line per record under ``root/results`` scored with weights that a tag no longer ships
    (``index`` must hold each entry's ``sha256``)."""
    shipped = {tag: entry.get("sha256") for tags in index.values() for tag, entry in tags.items()}
    problems = []
    for path in sorted((root / "results").rglob("*.json")):
        text = path.read_text()
        if f'"{STAMP}"' not in text:  # most records name no weights: skip parsing them
            continue
        record = json.loads(text)
        changed = sorted(tag for tag, sha in record.get(STAMP, {}).items() if shipped.get(tag) != sha)
        if changed:
            how = f"`{record['command']}`" if "command" in record else "the command that made it"
            problems.append(
                f"{path.relative_to(root)}: scored {', '.join(changed)} with weights that no longer ship "
                f"under that tag: make it again with {how}"
            )
    return problems
