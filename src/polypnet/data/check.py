"""``check_data ROOT``: the layout found, counts, size range, foreground fraction, every problem.

Exit status 0 when the data is usable, 1 when there is any problem, 2 on a usage error.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .errors import Problem
from .layouts import Pair, _list_images, scan_pairs
from .readers import ReadError, decode_image, decode_mask, read_bytes


def _decode(pair: Pair, images: bool) -> tuple[float | None, list[Problem], list[Problem]]:
    problems, notes = [], []
    if images:
        try:
            decode_image(read_bytes(pair.image), pair.image.suffix)
        except ReadError as err:
            problems.append(Problem(pair.image, f"unreadable image: {err}"))
    try:
        mask, note = decode_mask(read_bytes(pair.mask), pair.mask.suffix)
    except ReadError as err:
        problems.append(Problem(pair.mask, f"unreadable mask: {err}"))
        return None, problems, notes
    if note:
        notes.append(Problem(pair.mask, note))
    return float(mask.mean()), problems, notes


def check(root: str | Path, decode_images: bool = True, out: Callable[[str], None] = print) -> list[Problem]:
    """Report on the data under ``root`` through ``out``; returns every problem found."""
    found, problems, notes = scan_pairs(root, validate=True)
    out(f"root:        {found.root if found else root}")
    if found is None:
        out("layout:      none")
        return _report_problems(problems, out)
    layout = found.describe().rsplit(", ", 2)[0]  # without the dataset and the count
    out(f"layout:      {layout}, dataset {found.dataset or 'unknown (generic)'}")
    folders = (found.image_dir, found.mask_dir)
    n_images, n_masks = (sum(map(len, _list_images(d)[0].values())) for d in folders)
    out(f"pairs:       {len(found)} (image files {n_images}, mask files {n_masks})")
    if found.sizes:
        heights = [h for h, _ in found.sizes.values()]
        widths = [w for _, w in found.sizes.values()]
        common, count = Counter(f"{w}x{h}" for h, w in found.sizes.values()).most_common(1)[0]
        out(
            f"image size:  width {min(widths)}..{max(widths)}, height {min(heights)}..{max(heights)} "
            f"({len(set(found.sizes.values()))} distinct; most common {common}, {count} images)"
        )
    fractions: list[float] = []
    if found.pairs:
        with ThreadPoolExecutor() as pool:
            results = pool.map(lambda p: _decode(p, decode_images), found.pairs)
            for fraction, found_problems, found_notes in results:
                problems += [p for p in found_problems if p not in problems]
                notes += found_notes
                if fraction is not None:
                    fractions.append(fraction)
    if fractions:
        empty = sum(f == 0 for f in fractions)
        out(
            f"foreground:  min {min(fractions):.1%}, median {statistics.median(fractions):.1%}, "
            f"max {max(fractions):.1%} of each mask (> 127); {empty} empty mask{'s' if empty != 1 else ''}"
        )
    decoded = "images and masks decoded" if decode_images else "masks decoded, image headers only"
    out(f"checked:     every header; {decoded}")
    if found.ignored:
        out(f"ignored:     {len(found.ignored)} non-image files, e.g. {found.ignored[0]}")
    if notes:
        out(f"conversions: {len(notes)} (accepted, with a warning when loaded)")
        for note in notes:
            out(f"  - {note}")
    return _report_problems(problems, out)


def _report_problems(problems: list[Problem], out: Callable[[str], None]) -> list[Problem]:
    if not problems:
        out("problems:    none")
    else:
        out(f"problems:    {len(problems)}")
        for problem in problems:
            out(f"  - {problem}")
    return problems
