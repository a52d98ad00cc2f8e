"""What predict writes: images and tables on disk, records of skipped inputs, progress bars."""

from __future__ import annotations

import csv
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np


def write_image(path: Path, rgb_or_gray: np.ndarray, quality: int = 92) -> None:
    """Write PNG/JPEG through ``cv2.imencode`` (works for any path, unlike ``cv2.imwrite``)."""
    array = rgb_or_gray if rgb_or_gray.ndim == 2 else cv2.cvtColor(rgb_or_gray, cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if path.suffix.lower() in (".jpg", ".jpeg") else []
    ok, buf = cv2.imencode(path.suffix, array, params)
    if not ok:
        raise OSError(f"cannot encode {path.suffix} image for {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.tobytes())


def claim_output_folder(out: Path, owned: Sequence[str], overwrite: bool = False) -> None:
    """The one rule of every command's output folder: no run destroys another's records.

    A command writes only into a folder that is absent or empty. With ``overwrite`` it first
    deletes the entries it writes itself (``owned``: file and folder names directly under
    ``out``) and leaves anything else there alone. ValueError (one line) otherwise.
    """
    if not out.exists():
        return
    if not out.is_dir():
        raise ValueError(f"output folder {out} is a file")
    entries = sorted(p.name for p in out.iterdir())
    if not entries:
        return
    if not overwrite:
        shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
        raise ValueError(
            f"output folder {out} already holds results ({shown}): pass --overwrite to replace "
            "them, or choose another --out"
        )
    for name in owned:
        target = out / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()


@dataclass
class Skipped:
    """An input that could not be processed, and why."""

    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass
class VideoResult:
    """One processed video: frames written, its overlay video and per-frame table."""

    path: Path
    frames: int
    overlay: Path
    table: Path
    note: str | None = None
    frames_lost: int = 0  # announced by the header, not decodable
    seconds: float = 0.0  # wall time, decoding to the last frame encoded
    stage_seconds: dict[str, float] = field(default_factory=dict)  # each stage's own (they overlap)

    @property
    def frames_per_s(self) -> float:
        """Frames per wall second, end to end."""
        return self.frames / self.seconds if self.seconds > 0 else 0.0


@dataclass
class PredictResult:
    """Everything one ``run`` wrote, and what it skipped."""

    out: Path
    images: int = 0
    image_table: Path | None = None
    videos: list[VideoResult] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    ignored: list[Path] = field(default_factory=list)

    @property
    def frames_lost(self) -> int:
        """Video frames announced but not decoded, over all videos."""
        return sum(v.frames_lost for v in self.videos)

    @property
    def complete(self) -> bool:
        """Nothing skipped and no frame lost (``polypnet predict`` exits 1 otherwise)."""
        return not self.skipped and not self.frames_lost

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready summary (paths as strings)."""
        return {
            "out": str(self.out),
            "images": self.images,
            "image_table": str(self.image_table) if self.image_table else None,
            "videos": [
                {
                    "path": str(v.path),
                    "frames": v.frames,
                    "frames_lost": v.frames_lost,
                    "overlay": str(v.overlay),
                    "table": str(v.table),
                    "note": v.note,
                    "seconds": round(v.seconds, 3),
                    "frames_per_s": round(v.frames_per_s, 2),
                    "stage_seconds": {k: round(t, 3) for k, t in v.stage_seconds.items()},
                }
                for v in self.videos
            ],
            "frames_lost": self.frames_lost,
            "skipped": [{"path": str(s.path), "reason": s.reason} for s in self.skipped],
            "ignored": [str(p) for p in self.ignored],
        }


# --------------------------------------------------------------------------------------------
# Progress


class Progress:
    """A rich progress bar on stderr, or nothing."""

    def __init__(self, enabled: bool) -> None:
        self._bar = None
        if enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=False,
            )

    @contextmanager
    def task(self, description: str, total: int | None) -> Iterator[Callable[[int], None]]:
        if self._bar is None:
            yield lambda n: None
            return
        with self._bar:
            task_id = self._bar.add_task(description, total=total or None)
            yield lambda n: self._bar.advance(task_id, n)  # type: ignore[union-attr]


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write ``rows`` (dicts with the same keys) as a CSV table with a header."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
