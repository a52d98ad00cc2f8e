"""Videos: an overlay video and a per-frame table."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import cv2

from .outputs import Progress, Skipped, VideoResult, write_csv, write_image
from .overlays import overlay
from .predictor import Predictor

# Containers OpenCV writes without extra codecs; anything else gets an mp4.
_FOURCC = {".mp4": "mp4v", ".avi": "MJPG"}


def predict_video(
    predictor: Predictor,
    path: Path,
    out_dir: Path,
    *,
    batch_size: int = 8,
    frame_masks: bool = False,
    progress: bool = True,
    max_pixels: int = 50_000_000,
) -> VideoResult | Skipped:
    """``out_dir/overlay.mp4`` (``.avi`` for an avi input), ``out_dir/frames.csv`` (one row per
    frame: ``frame``, ``time_s`` and ``STAT_COLUMNS``), and with ``frame_masks`` each frame's mask
    as ``out_dir/masks/NNNNNN.png``. A video OpenCV cannot open or decode, or whose frames have
    more than ``max_pixels``, is returned as Skipped; a batch holds at most ``max_pixels`` pixels.
    Frames the header announces but that do not decode are counted in ``frames_lost``."""
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            return Skipped(path, "cannot open video (corrupt file or codec not supported by OpenCV)")
        frame_pixels = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0) * int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
        if frame_pixels > max_pixels:
            return Skipped(path, f"frames of {frame_pixels / 1e6:.1f} megapixels, over the limit of "
                                 f"{max_pixels / 1e6:g} megapixels: not decoded (raise it with --max-megapixels)")
        batch_size = max(1, min(batch_size, max_pixels // max(frame_pixels, 1)))
        fps = cap.get(cv2.CAP_PROP_FPS)
        fps = fps if fps and math.isfinite(fps) and fps > 0 else 25.0
        expected = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        suffix = path.suffix.lower() if path.suffix.lower() in _FOURCC else ".mp4"
        overlay_path = out_dir / f"overlay{suffix}"
        writer: cv2.VideoWriter | None = None
        rows: list[dict[str, Any]] = []
        size: tuple[int, int] | None = None
        with Progress(progress).task(path.name, expected) as advance:
            while True:
                frames = []
                for _ in range(batch_size):
                    ok, frame = cap.read()
                    if not ok:
                        break
                    frame = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
                    if size is None:
                        size = (frame.shape[1], frame.shape[0])
                    elif (frame.shape[1], frame.shape[0]) != size:  # the writer needs one frame size
                        frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
                    frames.append(frame)
                if not frames:
                    break
                if writer is None:
                    out_dir.mkdir(parents=True, exist_ok=True)
                    writer = cv2.VideoWriter(str(overlay_path), cv2.VideoWriter_fourcc(*_FOURCC[suffix]), fps, size)
                    if not writer.isOpened():
                        return Skipped(path, f"cannot write {overlay_path} (OpenCV has no {_FOURCC[suffix]} encoder)")
                for frame, pred in zip(frames, predictor.predict_batch(frames)):
                    index = len(rows)
                    writer.write(cv2.cvtColor(overlay(frame, pred.mask), cv2.COLOR_RGB2BGR))
                    if frame_masks:
                        write_image(out_dir / "masks" / f"{index:06d}.png", pred.mask * 255)
                    rows.append({"frame": index, "time_s": round(index / fps, 4), **pred.stats()})
                advance(len(frames))
        if writer is not None:
            writer.release()
        if not rows:
            return Skipped(path, "no decodable frame (corrupt file or codec not supported by OpenCV)")
        table = out_dir / "frames.csv"
        write_csv(table, rows)
        note, lost = None, max(0, expected - len(rows))
        if lost:
            note = f"{lost} of the {expected} frames the header announces did not decode (decoding stopped at frame {len(rows)})"
        return VideoResult(path, len(rows), overlay_path, table, note, frames_lost=lost)
    finally:
        cap.release()

