"""Batch prediction over files: an image, a video, or a folder of both, into an output folder.

Memory is bounded whatever the inputs: an image whose header announces more than ``max_pixels``
is skipped before it is decoded (a 1 MB PNG can hold 400 megapixels, 1.2 GB decoded), and
images are batched by their pixel count, not by their number, so a batch never holds more than
``max_pixels`` of them (or one image).
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..data.readers import (
    IMAGE_SUFFIXES,
    JPEG_SUFFIXES,
    PNG_SUFFIXES,
    TIFF_SUFFIXES,
    ReadError,
    decode_image,
    probe_bytes,
    read_bytes,
)
from .outputs import PredictResult, Progress, Skipped, write_csv, write_image
from .overlays import overlay
from .predictor import Predictor
from .video import predict_video

VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".m4v"})
#: Images with more pixels than this are skipped unread (``polypnet predict --max-megapixels``).
DEFAULT_MAX_PIXELS = 50_000_000


@dataclass(frozen=True)
class Inputs:
    """What one INPUT expands to: image and video files, the folder output paths mirror, files
    that are neither (``ignored``) and links whose target is gone (``dangling``)."""

    root: Path
    images: list[Path]
    videos: list[Path]
    ignored: list[Path] = field(default_factory=list)
    dangling: list[Path] = field(default_factory=list)


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
    images, videos, ignored, dangling = [], [], [], []
    for file in sorted(path.rglob("*")):
        rel = file.relative_to(path)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if file.is_symlink() and not file.exists():
            dangling.append(file)  # its target is gone: reported, not silently left out
            continue
        if not file.is_file():
            continue
        if exclude is not None and file.resolve().is_relative_to(exclude):
            continue
        suffix = file.suffix.lower()
        (images if suffix in IMAGE_SUFFIXES else videos if suffix in VIDEO_SUFFIXES else ignored).append(file)
    return Inputs(path, images, videos, ignored, dangling)


def header_pixels(path: Path) -> int | None:
    """Width x height from the image's header alone (no decode); None when it cannot be read
    (the decoder then says why). Pillow opens lazily and reads only the header."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # we apply our own limit
            with Image.open(path) as im:
                width, height = im.size
        return width * height
    except Image.DecompressionBombError as err:  # over twice Pillow's own limit; its message says the count
        found = re.search(r"\((\d+) pixels\)", str(err))
        return int(found.group(1)) if found else 2 * (Image.MAX_IMAGE_PIXELS or 0) + 1
    except Exception:  # not an image Pillow knows, or corrupt
        return None


def pixel_batches(pixels: Sequence[int | None], batch_size: int, max_pixels: int) -> list[list[int]]:
    """Indices of consecutive items grouped into batches of at most ``batch_size`` items and
    ``max_pixels`` pixels in all (an item alone may exceed it); an unknown count (None) is
    taken as ``max_pixels``, so such an item gets a batch of its own."""
    batches: list[list[int]] = []
    current: list[int] = []
    total = 0
    for i, n in enumerate(pixels):
        n = max_pixels if n is None else n
        if current and (len(current) == batch_size or total + n > max_pixels):
            batches.append(current)
            current, total = [], 0
        current.append(i)
        total += n
    if current:
        batches.append(current)
    return batches


def _too_large(pixels: int, max_pixels: int) -> str:
    return (
        f"{pixels / 1e6:.1f} megapixels, over the limit of {max_pixels / 1e6:g} megapixels: not decoded "
        "(raise it with --max-megapixels)"
    )


def output_stems(files: Sequence[Path], root: Path) -> dict[Path, Path]:
    """Each file's output path without suffix, relative to the output folder: its path under
    ``root`` with the stem kept; ``a.jpg`` and ``a.png`` side by side become ``a_jpg``, ``a_png``."""
    stems = {f: f.relative_to(root).with_suffix("") for f in files}
    seen: dict[Path, int] = {}
    for stem in stems.values():
        seen[stem] = seen.get(stem, 0) + 1
    return {f: s.with_name(f"{s.name}_{f.suffix.lower().lstrip('.')}") if seen[s] > 1 else s for f, s in stems.items()}


def _read(path: Path, max_pixels: int) -> np.ndarray | Skipped:
    """The decoded image, or why not; the pixel limit is checked on the header of the very bytes
    that are decoded (``header_pixels`` only planned the batches)."""
    try:
        data = read_bytes(path)
        suffix = path.suffix.lower()
        if suffix in JPEG_SUFFIXES | PNG_SUFFIXES | TIFF_SUFFIXES:
            info = probe_bytes(data, suffix)  # header parsers: no decode
            pixels: int | None = info.width * info.height
        else:  # BMP, WebP: their probe decodes, so ask Pillow for the header
            pixels = header_pixels(path)
        if pixels is not None and pixels > max_pixels:
            return Skipped(path, _too_large(pixels, max_pixels))
        return decode_image(data, suffix)
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
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> tuple[int, Path | None, list[Skipped]]:
    """Masks (``out/masks/REL.png``, 0/255), overlays (``out/overlays/REL.jpg``) and
    ``out/predictions.csv`` for image files; returns (images written, table, skipped files).

    Images over ``max_pixels`` are skipped undecoded; a batch holds at most ``batch_size``
    images and ``max_pixels`` pixels (see the module docstring)."""
    if not files:
        return 0, None, []
    stems = output_stems(files, root)
    table = out / "predictions.csv"
    rows: list[dict[str, Any]] = []
    skipped: list[Skipped] = []
    sizes = [header_pixels(p) for p in files]
    skipped += [Skipped(p, _too_large(n, max_pixels)) for p, n in zip(files, sizes) if n is not None and n > max_pixels]
    kept = [(p, n) for p, n in zip(files, sizes) if n is None or n <= max_pixels]
    batches = [[kept[i][0] for i in b] for b in pixel_batches([n for _, n in kept], batch_size, max_pixels)]
    advance_skipped = len(files) - len(kept)
    with ThreadPoolExecutor(max_workers=4) as pool, Progress(progress).task("images", len(files)) as advance:
        advance(advance_skipped)

        def submit(batch: list[Path]) -> list[Future]:
            return [pool.submit(_read, p, max_pixels) for p in batch]

        pending = submit(batches[0]) if batches else []
        writes: list[Future] = []
        for k, batch in enumerate(batches):
            decoded = [f.result() for f in pending]
            # Decode the next batch while the network runs on this one.
            pending = submit(batches[k + 1]) if k + 1 < len(batches) else []
            ok = [(p, img) for p, img in zip(batch, decoded) if not isinstance(img, Skipped)]
            skipped += [img for img in decoded if isinstance(img, Skipped)]
            preds = predictor.predict_batch([img for _, img in ok])
            # One batch of writes in flight at most: each holds full-size arrays until written.
            for f in writes:
                f.result()  # re-raise a write error (disk full, permissions): that is not a bad input
            writes = []
            for (path, image), pred in zip(ok, preds):
                stem = stems[path]
                writes.append(pool.submit(write_image, out / "masks" / f"{stem}.png", pred.mask * 255))
                if overlays:
                    writes.append(
                        pool.submit(
                            write_image, out / "overlays" / f"{stem}.{overlay_format}", overlay(image, pred.mask)
                        )
                    )
                height, width = pred.mask.shape
                rows.append(
                    {"file": path.relative_to(root).as_posix(), "width": width, "height": height, **pred.stats()}
                )
            del decoded, ok, preds
            advance(len(batch))
        for f in writes:
            f.result()
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
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> PredictResult:
    """Predict every image, then every video, of ``inputs`` into ``out``; bad files, images over
    ``max_pixels`` and dangling links are skipped and listed."""
    if batch_size < 1:
        raise ValueError(f"batch size must be >= 1, got {batch_size}")
    if max_pixels < 1:
        raise ValueError(f"the pixel limit must be positive, got {max_pixels}")
    if overlay_format not in ("jpg", "png"):
        raise ValueError(f"overlay format must be jpg or png, got {overlay_format!r}")
    result = PredictResult(out, ignored=list(inputs.ignored))
    result.images, result.image_table, result.skipped = predict_images(
        predictor,
        inputs.images,
        inputs.root,
        out,
        batch_size=batch_size,
        overlays=overlays,
        overlay_format=overlay_format,
        progress=progress,
        max_pixels=max_pixels,
    )
    result.skipped += [
        Skipped(p, f"dangling symbolic link (its target {os.readlink(p)} does not exist)") for p in inputs.dangling
    ]
    stems = output_stems(inputs.videos, inputs.root)
    for video in inputs.videos:
        done = predict_video(
            predictor,
            video,
            out / "videos" / stems[video],
            batch_size=batch_size,
            frame_masks=frame_masks,
            progress=progress,
            max_pixels=max_pixels,
        )
        (result.skipped if isinstance(done, Skipped) else result.videos).append(done)  # type: ignore[arg-type]
    return result
