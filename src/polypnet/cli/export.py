"""``polypnet export``: ONNX and TorchScript files of a model, each checked against PyTorch.

The exported model takes ``image``: float32 (B, 3, H, W), RGB scaled to [0, 1] (/255, no mean or
std), resized to the training size; it returns ``logits`` (B, 1, H, W) (sigmoid -> probability).
ONNX has a dynamic batch and, where the model allows, dynamic H and W (multiples of 16 for
IAM-UNet); TorchScript is traced. After each export the file is run (ONNX in onnxruntime) on
random inputs at the export size and at a second shape, and the largest difference from PyTorch
is printed; exit status 1 when it exceeds --atol, 2 on a usage error.

Files: OUT/NAME.onnx and OUT/NAME.torchscript.pt (OUT default exports/, NAME default the
checkpoint's or model's name); a file of that name is replaced only with --overwrite. The
settings (model, image size, pre-processing) are stored in the ONNX metadata_props and in the
TorchScript extra file polypnet.json.

examples:
  polypnet export --checkpoint runs/paper_kvasir/RUN/checkpoints/best.ckpt
  polypnet export --checkpoint best.ckpt --format onnx --out deploy --name iam_unet_kvasir
  polypnet export --model iam_unet --weights state_dict.pt --image-size 352 --static
  polypnet export --checkpoint best.ckpt --overwrite     # replace exports/best.onnx and .torchscript.pt

  # then, in any Python with onnxruntime:
  #   import onnxruntime as ort
  #   logits = ort.InferenceSession("exports/iam_unet.onnx").run(None, {"image": x})[0]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..inference.checkpoint import CheckpointMismatchError
from ..inference.export import FORMATS, ExportResult, export, export_path
from .model_source import add_model_source, error_text, image_size_of, model_from_args


def build_parser(prog: str = "polypnet export") -> argparse.ArgumentParser:
    """The command line of ``polypnet export`` / ``polypnet export``."""
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_source(p, runtime=False)
    out = p.add_argument_group("export")
    out.add_argument(
        "--format",
        nargs="+",
        choices=FORMATS,
        default=list(FORMATS),
        dest="formats",
        help="one or both (default: both)",
    )
    out.add_argument("--out", type=Path, default=Path("exports"), help="output folder (default: exports)")
    out.add_argument("--name", help="file stem (default: the checkpoint's stem, else the model name)")
    out.add_argument("--overwrite", action="store_true", help="replace export files of the same name in --out")
    out.add_argument("--static", action="store_true", help="fixed input shape (1, 3, S, S) instead of dynamic axes")
    out.add_argument("--opset", type=int, help="ONNX opset (default: the exporter's)")
    out.add_argument(
        "--atol", type=float, default=1e-4, help="largest allowed |export - PyTorch| of the logits (default 1e-4)"
    )
    return p


def main(argv: list[str] | None = None, prog: str = "polypnet export") -> int:
    """Export and check; returns the exit code."""
    args = build_parser(prog).parse_args(argv)
    try:
        net, info = model_from_args(args)
        size = image_size_of(args, info)
        if args.name:
            name = args.name
        elif args.checkpoint or args.weights:
            name = Path(args.checkpoint or args.weights).stem
        else:
            name = info["model"]
        formats = tuple(dict.fromkeys(args.formats))
        taken = [p for p in (export_path(args.out, name, f) for f in formats) if p.exists()]
        if taken and not args.overwrite:  # the output rule of every command: never replace a file unasked
            raise ValueError(f"{taken[0]} exists: pass --overwrite to replace it, or choose another --out or --name")
        print(f"exporting {info['model']} ({info['source']}) at {size}x{size} to {args.out}/ ...", file=sys.stderr)
        results = export(
            net,
            args.out,
            name,
            formats,
            image_size=size,
            dynamic=not args.static,
            opset=args.opset,
            atol=args.atol,
            model_info=info,
        )
    except (CheckpointMismatchError, FileNotFoundError, KeyError, TypeError, ValueError) as err:
        print(f"error: {error_text(err)}", file=sys.stderr)
        return 2
    except RuntimeError as err:  # the exporter could not handle the model at all
        print(f"error: {error_text(err)}", file=sys.stderr)
        return 1
    _print_report(results, args.atol)
    return 0 if all(r.ok for r in results) else 1


def _print_report(results: list[ExportResult], atol: float) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"parity with PyTorch (logits, atol {atol:g})")
    for column in ("format", "input shape", "max |diff|", "result"):
        table.add_column(column)
    for r in results:
        for c in r.checks:
            result = "ok" if c.ok else f"FAIL{': ' + c.error if c.error else ''}"
            table.add_row(r.format, "x".join(map(str, c.shape)), f"{c.max_abs_diff:.2e}", result)
    Console().print(table)
    for r in results:
        print(
            f"{r.format}: {r.path} ({r.path.stat().st_size / 2**20:.1f} MiB, {r.seconds:.0f} s; dynamic: {r.dynamic})"
        )
