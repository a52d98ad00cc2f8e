"""Batch prediction over files: an image, a video, or a folder of both, into an output folder."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..data.readers import IMAGE_SUFFIXES, ReadError, read_image
from .outputs import PredictResult, Progress, Skipped, write_csv, write_image
from .overlays import overlay
from .predictor import Predictor
from .video import predict_video

VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".m4v"})


@dataclass(frozen=True)
class Inputs:
    """What one INPUT expands to: image and video files, and the folder output paths mirror."""

    root: Path
    images: list[Path]
    videos: list[Path]
    ignored: list[Path] = field(default_factory=list)


def collect_inputs(path: str | Path, exclude: Path | None = None) -> Inputs:
    """An image, a video, or a folder searched recursively for both (hidden entries and anything
    under ``exclude``, e.g. the output folder, are left out)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"input not found: {path}")
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix in IMAGE_SUFFIXES:
            return Inputs(path.parent, [path], [])
        if suffix in VIDEO_SUFFIXES:
            return Inputs(path.parent, [], [path])
        known = ", ".join(sorted(IMAGE_SUFFIXES | VIDEO_SUFFIXES))
        raise ValueError(f"{path}: not an image or video file (known suffixes: {known})")
    exclude = exclude.resolve() if exclude is not None else None
    images, videos, ignored = [], [], []
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        rel = file.relative_to(path)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if exclude is not None and file.resolve().is_relative_to(exclude):
            continue
        suffix = file.suffix.lower()
        (images if suffix in IMAGE_SUFFIXES else videos if suffix in VIDEO_SUFFIXES else ignored).append(file)
    return Inputs(path, images, videos, ignored)


def output_stems(files: Sequence[Path], root: Path) -> dict[Path, Path]:
    """Each file's output path without suffix, relative to the output folder: its path under
    ``root`` with the stem kept; ``a.jpg`` and ``a.png`` side by side become ``a_jpg``, ``a_png``."""
    stems = {f: f.relative_to(root).with_suffix("") for f in files}
    seen: dict[Path, int] = {}
    for stem in stems.values():
        seen[stem] = seen.get(stem, 0) + 1
    return {f: s.with_name(f"{s.name}_{f.suffix.lower().lstrip('.')}") if seen[s] > 1 else s
            for f, s in stems.items()}



def _read(path: Path) -> np.ndarray | Skipped:
    try:
        return read_image(path)
    except ReadError as err:
        return Skipped(path, str(err))
    except Exception as err:  # a folder must never abort on one bad file, whatever the decoder raises
        return Skipped(path, f"cannot read ({type(err).__name__}: {err})")


def predict_images(
    predictor: Predictor,
    files: Sequence[Path],
    root: Path,
    out: Path,
    *,
    batch_size: int = 8,
    overlays: bool = True,
    overlay_format: str = "jpg",
    progress: bool = True,
) -> tuple[int, Path | None, list[Skipped]]:
    """Masks (``out/masks/REL.png``, 0/255), overlays (``out/overlays/REL.jpg``) and
    ``out/predictions.csv`` for image files; returns (images written, table, skipped files)."""
    if not files:
        return 0, None, []
    stems = output_stems(files, root)
    table = out / "predictions.csv"
    rows: list[dict[str, Any]] = []
    skipped: list[Skipped] = []
    batches = [list(files[i : i + batch_size]) for i in range(0, len(files), batch_size)]
    with ThreadPoolExecutor(max_workers=4) as pool, Progress(progress).task("images", len(files)) as advance:
        def submit(batch: list[Path]) -> list[Future]:
            return [pool.submit(_read, p) for p in batch]

        pending = submit(batches[0])
        writes: list[Future] = []
        for k, batch in enumerate(batches):
            decoded = [f.result() for f in pending]
            # Decode the next batch while the network runs on this one.
            pending = submit(batches[k + 1]) if k + 1 < len(batches) else []
            ok = [(p, img) for p, img in zip(batch, decoded) if not isinstance(img, Skipped)]
            skipped += [img for img in decoded if isinstance(img, Skipped)]
            preds = predictor.predict_batch([img for _, img in ok])
            for (path, image), pred in zip(ok, preds):
                stem = stems[path]
                writes.append(pool.submit(write_image, out / "masks" / f"{stem}.png", pred.mask * 255))
                if overlays:
                    writes.append(pool.submit(write_image, out / "overlays" / f"{stem}.{overlay_format}",
                                              overlay(image, pred.mask)))
                height, width = pred.mask.shape
                rows.append({"file": path.relative_to(root).as_posix(), "width": width, "height": height,
                             **pred.stats()})
            advance(len(batch))
        for f in writes:
            f.result()  # re-raise a write error (disk full, permissions): that is not a bad input
    if rows:
        write_csv(table, rows)
    return len(rows), table if rows else None, skipped



def run(
    predictor: Predictor,
    inputs: Inputs,
    out: Path,
    *,
    batch_size: int = 8,
    overlays: bool = True,
    overlay_format: str = "jpg",
    frame_masks: bool = False,
    progress: bool = True,
) -> PredictResult:
    """Predict every image, then every video, of ``inputs`` into ``out``; bad files are skipped."""
    if batch_size < 1:
        raise ValueError(f"batch size must be >= 1, got {batch_size}")
    if overlay_format not in ("jpg", "png"):
        raise ValueError(f"overlay format must be jpg or png, got {overlay_format!r}")
    result = PredictResult(out, ignored=list(inputs.ignored))
    result.images, result.image_table, result.skipped = predict_images(
        predictor, inputs.images, inputs.root, out, batch_size=batch_size, overlays=overlays,
        overlay_format=overlay_format, progress=progress,
    )
    stems = output_stems(inputs.videos, inputs.root)
    for video in inputs.videos:
        done = predict_video(predictor, video, out / "videos" / stems[video], batch_size=batch_size,
                             frame_masks=frame_masks, progress=progress)
        (result.skipped if isinstance(done, Skipped) else result.videos).append(done)  # type: ignore[arg-type]
    return result
