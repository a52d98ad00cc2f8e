"""Videos: an overlay video and a per-frame table."""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .outputs import Progress, Skipped, VideoResult, write_csv, write_image
from .overlays import overlay
from .pipeline import Consumer, StageClock, run_ahead
from .predictor import Prediction, Predictor

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
    Frames the header announces but that do not decode are counted in ``frames_lost``.

    Decoding, the network and overlay + encoding run in three threads that overlap; the result
    carries the wall seconds (``frames_per_s``) and each stage's own."""
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            return Skipped(path, "cannot open video (corrupt file or codec not supported by OpenCV)")
        frame_pixels = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0) * int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
        if frame_pixels > max_pixels:
            return Skipped(
                path,
                f"frames of {frame_pixels / 1e6:.1f} megapixels, over the limit of "
                f"{max_pixels / 1e6:g} megapixels: not decoded (raise it with --max-megapixels)",
            )
        batch_size = max(1, min(batch_size, max_pixels // max(frame_pixels, 1)))
        fps = cap.get(cv2.CAP_PROP_FPS)
        fps = fps if fps and math.isfinite(fps) and fps > 0 else 25.0
        expected = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        suffix = path.suffix.lower() if path.suffix.lower() in _FOURCC else ".mp4"
        overlay_path = out_dir / f"overlay{suffix}"
        writer: cv2.VideoWriter | None = None
        rows: list[dict[str, Any]] = []
        clock = StageClock()
        start = time.perf_counter()

        def write(item: tuple[list[np.ndarray], list[Prediction], int]) -> None:
            frames, preds, first = item
            for index, (frame, pred) in enumerate(zip(frames, preds), start=first):
                assert writer is not None
                clock.timed("overlay_and_encode", _encode, writer, frame, pred.mask)
                if frame_masks:
                    write_image(out_dir / "masks" / f"{index:06d}.png", pred.mask * 255)
                rows.append({"frame": index, "time_s": round(index / fps, 4), **clock.timed("stats", pred.stats)})

        # Decoding runs ahead in one thread, overlay + encoding behind in another, the network in
        # this one: on two cores the three overlap instead of queueing one after the other.
        batches = _batches(cap, batch_size, clock)
        first = next(batches, None)  # read here: the writer needs the frame size before any thread starts
        if first is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            size = (first[0].shape[1], first[0].shape[0])
            writer = cv2.VideoWriter(str(overlay_path), cv2.VideoWriter_fourcc(*_FOURCC[suffix]), fps, size)
            if not writer.isOpened():
                return Skipped(path, f"cannot write {overlay_path} (OpenCV has no {_FOURCC[suffix]} encoder)")
        with Progress(progress).task(path.name, expected) as advance, Consumer(write, depth=2) as encoder:
            done = 0
            for frames in itertools.chain([first] if first else [], run_ahead(batches, depth=2) if first else []):
                preds = clock.timed("network", predictor.predict_batch, frames)
                encoder.submit((frames, preds, done))
                done += len(frames)
                advance(len(frames))
        if writer is not None:
            writer.release()
        seconds = time.perf_counter() - start
        if not rows:
            return Skipped(path, "no decodable frame (corrupt file or codec not supported by OpenCV)")
        table = out_dir / "frames.csv"
        write_csv(table, rows)
        note, lost = None, max(0, expected - len(rows))
        if lost:
            note = f"{lost} of the {expected} frames the header announces did not decode (decoding stopped at frame {len(rows)})"
        return VideoResult(
            path,
            len(rows),
            overlay_path,
            table,
            note,
            frames_lost=lost,
            seconds=seconds,
            stage_seconds=dict(clock.seconds),
        )
    finally:
        cap.release()


def _encode(writer: cv2.VideoWriter, frame: np.ndarray, mask: np.ndarray) -> None:
    writer.write(cv2.cvtColor(overlay(frame, mask), cv2.COLOR_RGB2BGR))


def _batches(cap: cv2.VideoCapture, batch_size: int, clock: StageClock) -> Iterator[list[np.ndarray]]:
    """RGB frames of ``cap`` in lists of ``batch_size``, every frame at the first one's size (the
    writer needs one size)."""
    size: tuple[int, int] | None = None
    while True:
        frames = []
        start = time.perf_counter()
        for _ in range(batch_size):
            ok, frame = cap.read()
            if not ok:
                break
            frame = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            if size is None:
                size = (frame.shape[1], frame.shape[0])
            elif (frame.shape[1], frame.shape[0]) != size:
                frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
            frames.append(frame)
        clock.add("decode", time.perf_counter() - start)
        if not frames:
            return
        yield frames
