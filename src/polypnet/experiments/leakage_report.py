"""How the CVC-ClinicDB random split leaks: for each distinct split among the records, how close its
test frames lie to training frames of the same video (by the frame→sequence table shipped with
the package: ``polypnet.data.shipped``)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..data.shipped import cvc_sequences
from .markdown import link


@dataclass(frozen=True)
class Neighbours:
    """How close a split's test frames lie to training frames of the same video."""

    split_files: tuple[Path, ...]  # every record folder that used this split
    test: int
    gaps: tuple[int | None, ...]  # per test frame: frames to the nearest training frame of its video
    kind: str  # the split's kind: random, sequence, ...

    def within(self, frames: int) -> int:
        """Test frames with a training frame of the same video at most ``frames`` frames away."""
        return sum(g is not None and g <= frames for g in self.gaps)

    @property
    def widest(self) -> int | None:
        """The largest gap (None when some test frame's video has no training frame)."""
        return None if None in self.gaps else max(self.gaps, default=0)


def training_neighbours(split: dict[str, Any], sequences: dict[str, int]) -> list[int | None]:
    """For each test frame of a CVC-ClinicDB split, the distance in frame numbers to the nearest
    training frame of the same video sequence (None when its video has no training frame)."""
    by_sequence: dict[int, list[int]] = {}
    for frame in split["train"]:
        by_sequence.setdefault(sequences[frame], []).append(int(frame))
    gaps = []
    for frame in split["test"]:
        near = by_sequence.get(sequences[frame], [])
        gaps.append(min(abs(int(frame) - f) for f in near) if near else None)
    return gaps


def cvc_neighbours(root: Path) -> list[Neighbours]:
    """Every distinct CVC-ClinicDB split among the records' run files, with its test frames' gaps."""
    sequences = cvc_sequences()
    found: dict[tuple[str, tuple[str, ...]], tuple[list[Path], list[int | None]]] = {}
    for path in sorted((root / "results").glob("*/cvc-clinicdb_seed*_run/split.json")):
        split = json.loads(path.read_text())
        key = (split["kind"], tuple(sorted(split["test"])))
        if key not in found:
            found[key] = ([], training_neighbours(split, sequences))
        found[key][0].append(path.relative_to(root))
    return [Neighbours(tuple(paths), len(gaps), tuple(gaps), kind) for (kind, _), (paths, gaps) in found.items()]


def runs_using(split_files: tuple[Path, ...]) -> str:
    """The protocols whose records used one split, each with its number of runs where several did
    (``improved ×2``): a line that grows with protocols, not with every seed run again."""
    runs = Counter(p.parts[1] for p in split_files)
    return ", ".join(f"`{protocol}`" + (f" ×{n}" if n > 1 else "") for protocol, n in runs.items())


def leakage(root: Path, base: Path) -> str:
    """One line per distinct CVC-ClinicDB split: test frames with a training neighbour in the same video."""
    lines = []
    for n in cvc_neighbours(root):
        used = f"{runs_using(n.split_files)}; {link(n.split_files[0], 'split.json', base)}"
        if n.widest is None:
            unseen = sum(g is None for g in n.gaps)
            near = f"{unseen} of {n.test} test frames have no training frame of their video"
        else:
            near = (
                f"every one of the {n.test} test frames has a training frame of the same video within "
                f"±{n.widest} frames ({n.within(1)} of {n.test} within ±1)"
            )
        lines.append(f"- {n.kind} split ({used}): {near}")
    return "\n".join(lines) + "\n"
