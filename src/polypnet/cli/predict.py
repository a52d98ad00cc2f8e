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
back to the original size (bilinear) and thresholded there. Unreadable files are reported and
skipped; exit status 0 when every input was processed, 1 when some were skipped (the rest is
written), 2 on a usage error.

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

from ..models import list_pretrained
from ..models.registry import parse_model_kwargs
from ..inference import CheckpointMismatchError, Predictor, load_model, resolve_device
from ..inference.files import collect_inputs, run

DEFAULT_IMAGE_SIZE = 256


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """``--checkpoint`` / ``--model`` (+ ``--weights``) / ``--pretrained`` / ``--set`` / ``--image-size``."""
    group = parser.add_argument_group("model (one source)")
    group.add_argument("--checkpoint", type=Path, metavar="PATH",
                       help="Lightning checkpoint of `polypnet fit` (knows its model), or a plain state dict (with --model)")
    group.add_argument("--model", metavar="NAME",
                       help="registered model name: with --weights, alone (untrained: random weights), "
                            "or to check --checkpoint")
    group.add_argument("--weights", type=Path, metavar="PATH", help="state dict (or checkpoint) for --model")
    shipped = "; ".join(f"{m}: {', '.join(tags)}" for m, tags in list_pretrained().items()) or "none yet"
    group.add_argument("--pretrained", metavar="NAME",
                       help=f"weights shipped with polypnet for --model (default iam_unet), e.g. kvasir-seg; shipped: {shipped}")
    group.add_argument("--set", dest="model_kwargs", action="append", default=[], metavar="KEY=VALUE",
                       help="model keyword for --model/--weights, e.g. --set attention_position=none (repeatable)")
    group.add_argument("--image-size", type=int, metavar="N",
                       help=f"network input size (default: the checkpoint's training size, else {DEFAULT_IMAGE_SIZE}; "
                            "IAM-UNet needs a multiple of 16)")


def model_from_args(args: argparse.Namespace) -> tuple[Any, dict[str, Any], int]:
    """The network, its description, and the image size to run it at; ValueError on bad flags."""
    if args.checkpoint is None and args.model is None and args.pretrained is None and args.weights is None:
        raise ValueError("no model: pass --checkpoint PATH, or --model NAME (with --weights PATH)")
    net, info = load_model(checkpoint=args.checkpoint, model=args.model, weights=args.weights,
                           pretrained=args.pretrained, model_kwargs=parse_model_kwargs(args.model_kwargs))
    if info["source"] == "untrained":
        print(f"warning: --model {info['model']} without --weights runs an UNTRAINED network (random weights)",
              file=sys.stderr)
    size = args.image_size or info.get("image_size") or DEFAULT_IMAGE_SIZE
    return net, info, int(size)


def error_text(err: Exception) -> str:
    """The error as one line (a KeyError's message without the quotes ``str()`` adds)."""
    text = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
    return " ".join(str(text).split())


def build_parser(prog: str = "polypnet predict") -> argparse.ArgumentParser:
    """The command line of ``polypnet predict`` / ``scripts/predict.py``."""
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", type=Path, help="image, video, or folder (recursive)")
    add_model_arguments(p)
    out = p.add_argument_group("output")
    out.add_argument("--out", type=Path, help="output folder (default: predictions/INPUT_NAME)")
    out.add_argument("--no-overlays", action="store_true", help="masks and tables only, no overlay images")
    out.add_argument("--overlay-format", choices=("jpg", "png"), default="jpg", help="overlay images' format (default jpg)")
    out.add_argument("--frame-masks", action="store_true", help="also write each video frame's mask as PNG")
    run_ = p.add_argument_group("inference")
    run_.add_argument("--threshold", type=float, default=0.5, help="probability threshold of the mask (default 0.5)")
    run_.add_argument("--batch-size", type=int, default=8, help="images or frames per forward pass (default 8)")
    run_.add_argument("--device", default="auto", help="auto (CUDA, else MPS, else CPU), cpu, cuda, cuda:1, mps")
    run_.add_argument("--tta", action="store_true",
                      help="test-time augmentation: average the probabilities of identity, horizontal and vertical flips (3x slower)")
    run_.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None, prog: str = "polypnet predict") -> int:
    """Predict; returns the exit code (1 when some inputs were skipped, 2 on bad input)."""
    args = build_parser(prog).parse_args(argv)
    out = args.out or Path("predictions") / (args.input.stem if args.input.is_file() else args.input.resolve().name)
    try:
        if args.batch_size < 1:
            raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
        if not 0 < args.threshold < 1:
            raise ValueError(f"--threshold must be in (0, 1), got {args.threshold}")
        device = resolve_device(args.device)
        inputs = collect_inputs(args.input, exclude=out)
        if not inputs.images and not inputs.videos:
            raise ValueError(f"{args.input}: no image or video files found")
        net, info, size = model_from_args(args)
        predictor = Predictor(net, image_size=size, device=device,
                              threshold=args.threshold, tta=args.tta)
        predictor.check()
    except (CheckpointMismatchError, FileNotFoundError, KeyError, TypeError, ValueError) as err:
        print(f"error: {error_text(err)}", file=sys.stderr)
        return 2
    result = run(predictor, inputs, out, batch_size=args.batch_size, overlays=not args.no_overlays,
                 overlay_format=args.overlay_format, frame_masks=args.frame_masks, progress=not args.no_progress)
    settings = {"input": str(args.input), **info, "image_size": size, "threshold": args.threshold,
                "tta": args.tta, "device": str(predictor.device)}
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps({"settings": settings, **result.to_json()}, indent=2) + "\n")
    _print_summary(result, out, overlays=not args.no_overlays)
    return 1 if result.skipped else 0


def _print_summary(result: Any, out: Path, overlays: bool) -> None:
    lines = []
    if result.images:
        where = f"masks {out / 'masks'}" + (f", overlays {out / 'overlays'}" if overlays else "")
        lines.append(f"images:  {result.images} ({where}; table {result.image_table})")
    for video in result.videos:
        lines.append(f"video:   {video.path}: {video.frames} frames -> {video.overlay}, {video.table}")
        if video.note:
            lines.append(f"         note: {video.note}")
    if result.ignored:
        lines.append(f"ignored: {len(result.ignored)} files that are neither images nor videos, e.g. {result.ignored[0]}")
    lines.append(f"skipped: {len(result.skipped)}" + (" (unreadable inputs, listed below)" if result.skipped else ""))
    lines += [f"  - {s}" for s in result.skipped]
    lines.append(f"summary: {out / 'summary.json'}")
    print("\n".join(lines))
