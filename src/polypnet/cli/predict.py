"""``polypnet predict INPUT``: masks, overlays and per-frame tables for images, folders and videos.

INPUT is an image (jpg, png, tif, bmp, webp), a video (mp4, avi, mov, mkv; read by OpenCV) or a
folder, searched recursively for both. Every image gets a binary mask at its ORIGINAL size and
an overlay with the contour drawn; every video an overlay video and a per-frame table.

Output (OUT, default predictions/INPUT_NAME):
  OUT/masks/REL.png           0/255 mask, same size and stem as the input (REL: path under INPUT)
  OUT/overlays/REL.jpg        the image with the mask tinted and its contour drawn
  OUT/predictions.csv         one row per image (columns below)
  OUT/videos/REL/overlay.mp4  the video with the masks drawn (same frame count; .avi for avi input)
  OUT/videos/REL/frames.csv   one row per frame: frame, time_s, then the columns below
  OUT/summary.json            counts, settings, and the files that were skipped

Columns: area_fraction (mask pixels / all pixels), confidence (the MEAN PROBABILITY OVER THE
PREDICTED MASK's pixels; 0 when the mask is empty), max_probability (the largest pixel
probability: a polyp score for frames without a mask), components (number of 8-connected
regions), boxes (JSON list of [x, y, width, height] per region, in original pixels, largest first).

Each input is resized to --image-size for the network (as in training), its logits are resized
back to the original size (bilinear) and thresholded there. Unreadable files, dangling links and
images over --max-megapixels (read from the header, never decoded) are skipped and listed in
summary.json; exit status 0 when every input was processed, 1 when some were skipped or video
frames did not decode (the rest is written), 2 on a usage error. OUT must be absent or empty:
--overwrite replaces an earlier run's results (docs/security.md).

examples:
  polypnet predict frame.jpg --checkpoint runs/paper_kvasir/RUN/checkpoints/best.ckpt
  polypnet predict my_frames/ --checkpoint best.ckpt --out masks_out --tta --device cuda
  polypnet predict colonoscopy.mp4 --checkpoint best.ckpt --threshold 0.6 --batch-size 16
  polypnet predict my_frames/ --model iam_unet --weights state_dict.pt --image-size 352
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..inference import CheckpointError, Predictor
from ..inference.files import DEFAULT_MAX_PIXELS, collect_inputs, run
from ..inference.outputs import claim_output_folder
from ..training.host_memory import keep_freed_memory
from .model_source import add_model_source, error_text, image_size_of, model_from_args

#: What predict writes directly under OUT: all that --overwrite deletes there.
PREDICT_OUTPUTS = ("masks", "overlays", "videos", "predictions.csv", "summary.json")


def build_parser(prog: str = "polypnet predict") -> argparse.ArgumentParser:
    """The command line of ``polypnet predict`` / ``polypnet predict``."""
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", type=Path, help="image, video, or folder (recursive)")
    add_model_source(p)
    out = p.add_argument_group("output")
    out.add_argument("--out", type=Path, help="output folder (default: predictions/INPUT_NAME)")
    out.add_argument("--no-overlays", action="store_true", help="masks and tables only, no overlay images")
    out.add_argument(
        "--overlay-format", choices=("jpg", "png"), default="jpg", help="overlay images' format (default jpg)"
    )
    out.add_argument("--frame-masks", action="store_true", help="also write each video frame's mask as PNG")
    out.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the results of an earlier run in OUT (without it, a non-empty OUT is refused)",
    )
    run_ = p.add_argument_group("inference")
    run_.add_argument("--threshold", type=float, default=0.5, help="probability threshold of the mask (default 0.5)")
    run_.add_argument("--batch-size", type=int, default=8, help="images or frames per forward pass (default 8)")
    run_.add_argument("--no-progress", action="store_true", help="no progress bar")
    run_.add_argument(
        "--max-megapixels",
        type=float,
        default=DEFAULT_MAX_PIXELS / 1e6,
        metavar="MP",
        help="skip images (videos) with more pixels per image (frame), read from the header before "
        f"decoding; a batch holds at most this many pixels (default {DEFAULT_MAX_PIXELS / 1e6:g})",
    )
    return p


def main(argv: list[str] | None = None, prog: str = "polypnet predict") -> int:
    """Predict; returns the exit code (1 when some inputs were skipped, 2 on bad input)."""
    keep_freed_memory()  # each batch reuses the heap instead of page-faulting fresh maps
    args = build_parser(prog).parse_args(argv)
    out = args.out or Path("predictions") / (args.input.stem if args.input.is_file() else args.input.resolve().name)
    try:
        if args.batch_size < 1:
            raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
        if not 0 < args.threshold < 1:
            raise ValueError(f"--threshold must be in (0, 1), got {args.threshold}")
        max_pixels = int(args.max_megapixels * 1e6)
        if max_pixels < 1:
            raise ValueError(f"--max-megapixels must be positive, got {args.max_megapixels:g}")
        inputs = collect_inputs(args.input, exclude=out)
        if not inputs.images and not inputs.videos and not inputs.dangling:
            raise ValueError(f"{args.input}: no image or video files found")
        net, info = model_from_args(args)
        size = image_size_of(args, info)
        predictor = Predictor(
            net,
            image_size=size,
            device=info.pop("device"),
            threshold=args.threshold,
            tta=args.tta,
            backend=args.backend,
            precision=args.precision,
        )
        predictor.check()
        claim_output_folder(out, PREDICT_OUTPUTS, overwrite=args.overwrite)
    except (CheckpointError, FileNotFoundError, KeyError, TypeError, ValueError) as err:
        print(f"error: {error_text(err)}", file=sys.stderr)
        return 2
    result = run(
        predictor,
        inputs,
        out,
        batch_size=args.batch_size,
        overlays=not args.no_overlays,
        overlay_format=args.overlay_format,
        frame_masks=args.frame_masks,
        progress=not args.no_progress,
        max_pixels=max_pixels,
    )
    settings = {
        "input": str(args.input),
        **info,
        "image_size": size,
        "threshold": args.threshold,
        "tta": args.tta,
        "device": str(predictor.device),
        "backend": predictor.backend,
        "precision": predictor.precision,
        "max_megapixels": args.max_megapixels,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps({"settings": settings, **result.to_json()}, indent=2) + "\n")
    _print_summary(result, out, overlays=not args.no_overlays)
    return 0 if result.complete else 1


def _print_summary(result: Any, out: Path, overlays: bool) -> None:
    lines = []
    if result.images:
        where = f"masks {out / 'masks'}" + (f", overlays {out / 'overlays'}" if overlays else "")
        lines.append(f"images:  {result.images} ({where}; table {result.image_table})")
    for video in result.videos:
        lines.append(
            f"video:   {video.path}: {video.frames} frames -> {video.overlay}, {video.table} "
            f"({video.frames_per_s:.1f} frames/s end to end)"
        )
        if video.note:
            lines.append(f"         {'lost' if video.frames_lost else 'note'}: {video.note}")
    if result.ignored:
        lines.append(
            f"ignored: {len(result.ignored)} files that are neither images nor videos, e.g. {result.ignored[0]}"
        )
    lines.append(f"skipped: {len(result.skipped)}" + (" (unreadable inputs, listed below)" if result.skipped else ""))
    lines += [f"  - {s}" for s in result.skipped]
    lines.append(f"summary: {out / 'summary.json'}")
    print("\n".join(lines))
