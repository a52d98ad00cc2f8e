"""``polypnet data check ROOT``: the layout found, counts, size range, foreground fraction, every problem.

``summarize`` collects the facts into a ``DataSummary`` (which can be saved as a JSON record),
``report_lines`` turns one into the printed report, and ``check`` does both.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import Problem
from .layouts import Pair, _list_images, scan_pairs
from .near_duplicates import MAX_BITS, difference_hash, near_duplicate_pairs
from .readers import ReadError, binarize_mask, decode_image, mask_levels, read_bytes


@dataclass
class DataSummary:
    """What ``polypnet data check`` found in one folder; problems and conversions as one line each."""

    root: str
    layout: str | None = None
    dataset: str | None = None
    pairs: int = 0
    image_files: int = 0
    mask_files: int = 0
    widths: tuple[int, int] | None = None
    heights: tuple[int, int] | None = None
    distinct_sizes: int = 0
    common_size: str | None = None
    common_size_count: int = 0
    foreground: dict[str, float] | None = None
    empty_masks: int = 0
    #: (id, id, differing hash bits) of near-duplicate images; None when images were not decoded
    near_duplicates: list[tuple[str, str, int]] | None = None
    #: masks with values other than 0 and 255 (JPEG noise, soft edges), read by the > 127 threshold
    soft_masks: int = 0
    images_decoded: bool = True
    ignored: list[str] = field(default_factory=list)
    conversions: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DataSummary:
        """Read back ``to_dict``'s output (tuples come back from JSON as lists)."""
        data = dict(data)
        for key in ("widths", "heights"):
            if data.get(key) is not None:
                data[key] = tuple(data[key])
        if data.get("near_duplicates") is not None:
            data["near_duplicates"] = [tuple(pair) for pair in data["near_duplicates"]]
        return cls(**data)


def _decode(pair: Pair, images: bool) -> tuple[float | None, bool, np.ndarray | None, list[Problem], list[Problem]]:
    """Foreground fraction, whether the mask has levels other than 0 and 255, the image's hash,
    problems, notes."""
    problems, notes = [], []
    image_hash = None
    if images:
        try:
            image_hash = difference_hash(decode_image(read_bytes(pair.image), pair.image.suffix))
        except ReadError as err:
            problems.append(Problem(pair.image, f"unreadable image: {err}"))
    try:
        levels = mask_levels(read_bytes(pair.mask), pair.mask.suffix)
    except ReadError as err:
        problems.append(Problem(pair.mask, f"unreadable mask: {err}"))
        return None, False, image_hash, problems, notes
    mask, note = binarize_mask(levels)
    if note:
        notes.append(Problem(pair.mask, note))
    soft = note is None and bool(((levels > 0) & (levels < 255)).any())
    return float(mask.mean()), soft, image_hash, problems, notes


def summarize(root: str | Path, decode_images: bool = True) -> tuple[DataSummary, list[Problem]]:
    """Scan, validate and decode the data under ``root``; returns the summary and every problem."""
    found, problems, notes = scan_pairs(root, validate=True)
    summary = DataSummary(root=str(found.root if found else root), images_decoded=decode_images)
    if found is None:
        summary.problems = [str(p) for p in problems]
        return summary, problems
    summary.layout = found.describe().rsplit(", ", 2)[0]  # without the dataset and the count
    summary.dataset = found.dataset
    summary.pairs = len(found)
    summary.image_files, summary.mask_files = (
        sum(map(len, _list_images(d)[0].values())) for d in (found.image_dir, found.mask_dir)
    )
    if found.sizes:
        heights = [h for h, _ in found.sizes.values()]
        widths = [w for _, w in found.sizes.values()]
        summary.widths, summary.heights = (min(widths), max(widths)), (min(heights), max(heights))
        summary.distinct_sizes = len(set(found.sizes.values()))
        summary.common_size, summary.common_size_count = Counter(
            f"{w}x{h}" for h, w in found.sizes.values()
        ).most_common(1)[0]
    fractions: list[float] = []
    hashes: list[np.ndarray] = []
    hashed: list[str] = []
    if found.pairs:
        with ThreadPoolExecutor() as pool:
            decoded = pool.map(lambda p: _decode(p, decode_images), found.pairs)
            for pair, (fraction, soft, image_hash, found_problems, found_notes) in zip(found.pairs, decoded):
                problems += [p for p in found_problems if p not in problems]
                notes += found_notes
                summary.soft_masks += soft
                if fraction is not None:
                    fractions.append(fraction)
                if image_hash is not None:
                    hashes.append(image_hash)
                    hashed.append(pair.id)
    if decode_images:
        summary.near_duplicates = near_duplicate_pairs(hashes, hashed)
    if fractions:
        summary.foreground = {
            "min": min(fractions),
            "median": statistics.median(fractions),
            "max": max(fractions),
        }
        summary.empty_masks = sum(f == 0 for f in fractions)
    summary.ignored = [str(p) for p in found.ignored]
    summary.conversions = [str(n) for n in notes]
    summary.problems = [str(p) for p in problems]
    return summary, problems


def report_lines(summary: DataSummary) -> list[str]:
    """The printed report of one summary."""
    lines = [f"root:        {summary.root}"]
    if summary.layout is None:
        lines.append("layout:      none")
        return lines + _problem_lines(summary.problems)
    lines.append(f"layout:      {summary.layout}, dataset {summary.dataset or 'unknown (generic)'}")
    lines.append(f"pairs:       {summary.pairs} (image files {summary.image_files}, mask files {summary.mask_files})")
    if summary.widths and summary.heights:
        (w0, w1), (h0, h1) = summary.widths, summary.heights
        lines.append(
            f"image size:  width {w0}..{w1}, height {h0}..{h1} ({summary.distinct_sizes} distinct; "
            f"most common {summary.common_size}, {summary.common_size_count} images)"
        )
    if summary.foreground:
        fg, empty = summary.foreground, summary.empty_masks
        lines.append(
            f"foreground:  min {fg['min']:.1%}, median {fg['median']:.1%}, max {fg['max']:.1%} of each mask "
            f"(> 127); {empty} empty mask{'s' if empty != 1 else ''}"
        )
        lines.append(f"mask values: {summary.soft_masks} of {summary.pairs} masks hold values other than 0 and 255")
    lines += _duplicate_lines(summary.near_duplicates)
    decoded = "images and masks decoded" if summary.images_decoded else "masks decoded, image headers only"
    lines.append(f"checked:     every header; {decoded}")
    if summary.ignored:
        lines.append(f"ignored:     {len(summary.ignored)} non-image files, e.g. {summary.ignored[0]}")
    if summary.conversions:
        lines.append(f"conversions: {len(summary.conversions)} (accepted, with a warning when loaded)")
        lines += [f"  - {note}" for note in summary.conversions]
    return lines + _problem_lines(summary.problems)


def _duplicate_lines(pairs: list[tuple[str, str, int]] | None, shown: int = 20) -> list[str]:
    if pairs is None:
        return ["near-dups:   not checked (image headers only)"]
    lines = [f"near-dups:   {len(pairs)} image pair{'s' if len(pairs) != 1 else ''} within {MAX_BITS} of 256 hash bits"]
    lines += [f"  - {a} / {b} ({bits} bit{'s' if bits != 1 else ''})" for a, b, bits in pairs[:shown]]
    if len(pairs) > shown:
        lines.append(f"  ... and {len(pairs) - shown} more")
    return lines


def _problem_lines(problems: list[str]) -> list[str]:
    if not problems:
        return ["problems:    none"]
    return [f"problems:    {len(problems)}"] + [f"  - {problem}" for problem in problems]


def check(root: str | Path, decode_images: bool = True, out: Callable[[str], None] = print) -> list[Problem]:
    """Report on the data under ``root`` through ``out``; returns every problem found."""
    summary, problems = summarize(root, decode_images)
    for line in report_lines(summary):
        out(line)
    return problems
