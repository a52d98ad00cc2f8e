"""``polypnet evaluate``: score a checkpoint on a split or a folder of image/mask pairs.

    polypnet evaluate --checkpoint runs/paper_cvc/RUN/checkpoints/best-....ckpt
    polypnet evaluate --checkpoint CKPT --data other/dataset --split all --original-resolution
    polypnet evaluate --model iam_unet --weights state_dict.pt --data pairs/ --split all
    polypnet evaluate --pretrained kvasir-seg --data ../shared/data/kvasir-seg      # its test split
    polypnet evaluate --pretrained cvc-clinicdb --data my/pairs --split all

A checkpoint inside a run folder brings its own defaults: the data root, image size and the
``split.json`` of that run, so ``--checkpoint`` alone scores the run's own test split. Shipped
weights (``--pretrained``) bring their input size, and on the dataset they were trained on they
draw their own split again (kind and seed from the package's index), so the test split is theirs.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

import torch
import yaml

from ..data import DataError, PolypDataset, find_pairs, load_split
from ..experiments.evaluation import EvalResult, evaluate, overlay_grid, shipped_split
from ..inference import FLIPS, CheckpointError, FlippedInput, run_dir_of
from ..inference.outputs import claim_output_folder
from ..models.pretrained import pretrained_info, weights_stamp
from ..training.host_memory import keep_freed_memory
from .model_source import add_model_source, image_size_of, model_from_args

SPLITS = ("test", "val", "train", "all")
#: What evaluate writes directly under its output folder: all that --overwrite deletes there.
EVAL_OUTPUTS = ("metrics.json", "per_image.csv", "overlays.jpg", "masks")


class UsageError(Exception):
    """Arguments that cannot work together; reported as one ``error:`` line, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    """The command line of evaluate.py."""
    p = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_model_source(p)
    data = p.add_argument_group("data")
    data.add_argument(
        "--data",
        help="dataset root, 'sample', or a folder of image/mask pairs (default: the checkpoint run's data root)",
    )
    data.add_argument("--split", choices=SPLITS, default="test", help="side of the split, or all pairs (default: test)")
    data.add_argument("--split-file", type=Path, help="split JSON (default: the checkpoint run's split.json)")
    out = p.add_argument_group("output")
    out.add_argument(
        "--out",
        type=Path,
        help="output folder (default: RUN/eval-SPLIT for a run's own data, RUN/eval-DATA-SPLIT for other "
        "data, else evaluations/MODEL-WEIGHTS_on_DATA_SPLIT); it must be absent or empty",
    )
    out.add_argument(
        "--overwrite", action="store_true", help="replace the results of an earlier evaluation in the folder"
    )
    out.add_argument(
        "--original-resolution",
        action="store_true",
        help="also score predictions resized back to each image's own size",
    )
    out.add_argument("--save-masks", action="store_true", help="write predicted masks as PNG")
    out.add_argument(
        "--grid",
        type=int,
        default=6,
        metavar="N",
        help="overlay figure of the N/2 worst and N/2 best images (0: none; default 6)",
    )
    p.add_argument("--threshold", type=float, default=0.5, help="probability threshold (default 0.5)")
    p.add_argument(
        "--flip",
        choices=sorted(FLIPS),
        help="robustness check: score the model on flipped inputs (h, v or hv), its output flipped back",
    )
    p.add_argument("--batch-size", type=int, default=8)
    return p


def _run_dir_of(checkpoint: Path) -> Path | None:
    run = run_dir_of(checkpoint)
    return run if (run / "config.yaml").is_file() else None


def _run_config(run_dir: Path | None) -> dict[str, Any]:
    if run_dir is None:
        return {}
    return yaml.safe_load((run_dir / "config.yaml").read_text()) or {}


def _load_model(args: argparse.Namespace) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The network and what is known of it, from the one source the flags name (see load_model)."""
    try:
        model, info = model_from_args(args)
        if args.pretrained is not None:
            info["pretrained_info"] = pretrained_info(info["model"], args.pretrained)
    except ValueError as err:  # several sources, or unknown shipped weights: a usage error
        raise UsageError(str(err)) from None
    return model, info


def _benchmark_members(shipped: dict[str, Any]) -> list[str]:
    """The datasets that weights trained on PraNet's benchmark (``dataset`` ``a+b``) were trained on."""
    return shipped["dataset"].split("+") if "benchmark" in shipped else []


def _dataset(
    args: argparse.Namespace,
    run_dir: Path | None,
    config: dict[str, Any],
    shipped: dict[str, Any] | None = None,
) -> tuple[PolypDataset, dict[str, Any]]:
    """The dataset to score; ``shipped`` (the index entry of ``--pretrained`` weights) brings their
    input size and lets them draw their own split again."""
    data_cfg = config.get("data") or {}
    root = args.data or data_cfg.get("root")
    if root is None:
        raise UsageError("no data: pass --data ROOT")
    # what the shipped weights' index says, else what the run trained at
    image_size = image_size_of(args, {"image_size": (shipped or {}).get("image_size") or data_cfg.get("image_size")})
    found = find_pairs(root)
    ids = None
    split_file = args.split_file or (run_dir / "split.json" if run_dir and args.data is None else None)
    drawn = None
    if args.split != "all":
        if split_file is not None:
            ids = load_split(split_file)[args.split]
        elif shipped is not None and found.dataset in (shipped["dataset"], *_benchmark_members(shipped)):
            try:
                drawn = shipped_split(found, shipped, args.pretrained)
            except ValueError as err:
                raise UsageError(f"{err}; pass --split all or --split-file") from None
            ids = drawn[args.split]
        else:
            hint = (
                f" (the {args.pretrained!r} weights can draw their own split only on "
                f"{' or '.join(_benchmark_members(shipped) or [shipped['dataset']])})"
                if shipped is not None
                else ""
            )
            raise UsageError(
                f"--split {args.split} needs a split: pass --split-file, evaluate a checkpoint "
                f"inside its run folder, or use --split all for every pair under --data{hint}"
            )
    dataset = PolypDataset.from_root(found.root, ids=ids, image_size=image_size, cache=False)
    info = {
        "data": str(found.root),
        "layout": found.layout,
        "split": args.split,
        "split_file": str(split_file) if split_file else None,
        "image_size": image_size,
    }
    if drawn is not None:
        info["split_drawn"] = (
            f"{drawn['kind']} (seed {drawn['seed']}), as when the {args.pretrained!r} weights were trained"
        )
    return dataset, info


def _print_table(result: EvalResult, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    table.add_column("metric")
    table.add_column("at input size", justify="right")
    has_orig = any(k.endswith("_orig") for k in result.summary)
    if has_orig:
        table.add_column("at original size", justify="right")
    for name in ("dice_global", "iou_global", "precision_global", "recall_global", "dice_per_image", "iou_per_image"):
        cells = [name, f"{result.summary[name]:.4f}"]
        if has_orig:
            cells.append(f"{result.summary[name + '_orig']:.4f}")
        table.add_row(*cells)
    Console().print(table)


def default_out(args: argparse.Namespace, run_dir: Path | None, hparams: dict[str, Any], info: dict[str, Any]) -> Path:
    """Where results go without ``--out``: named after the model and the data, so evaluations of
    different weights or data never share a folder. Inside a run folder (``runs/`` is
    git-ignored) ``eval-SPLIT`` for the run's own data, ``eval-DATA-SPLIT`` for other data; else
    ``evaluations/MODEL-WEIGHTS_on_DATA_SPLIT`` (git-ignored too)."""
    data = Path(args.data or info["data"]).name
    if run_dir is not None:
        return run_dir / (f"eval-{args.split}" if args.data is None else f"eval-{data}-{args.split}")
    weights = args.checkpoint or args.weights
    source = Path(weights).stem if weights else args.pretrained or "untrained"
    return Path("evaluations") / f"{hparams.get('model') or args.model}-{source}_on_{data}_{args.split}"


def main(argv: list[str] | None = None) -> int:
    """Evaluate; returns the exit code (2 on bad input, with one clear line)."""
    keep_freed_memory()  # each batch reuses the heap instead of page-faulting fresh maps
    args = build_parser().parse_args(argv)
    try:
        model, hparams = _load_model(args)
        run_dir = _run_dir_of(args.checkpoint) if args.checkpoint else None
        dataset, info = _dataset(args, run_dir, _run_config(run_dir), shipped=hparams.get("pretrained_info"))
        out = args.out or default_out(args, run_dir, hparams, info)
        claim_output_folder(out, EVAL_OUTPUTS, overwrite=args.overwrite)
    except (CheckpointError, DataError, FileNotFoundError, KeyError, UsageError, ValueError) as err:
        message = err.args[0] if isinstance(err, KeyError) else err
        print(f"error: {' '.join(str(message).split())}", file=sys.stderr)
        return 2
    if args.flip:
        model = FlippedInput(model, args.flip)
    result = evaluate(
        model,
        dataset,
        batch_size=args.batch_size,
        device=hparams["device"],
        threshold=args.threshold,
        original_resolution=args.original_resolution,
        masks_dir=out / "masks" if args.save_masks else None,
        tta=args.tta,
        backend=args.backend,
        precision=args.precision,
    )
    extra = {
        "command": "polypnet evaluate " + shlex.join(sys.argv[1:] if argv is None else argv),
        **info,
        "model": hparams.get("model"),
        "model_kwargs": hparams.get("model_kwargs") or {},
        "checkpoint": str(args.checkpoint) if args.checkpoint else None,
        "weights": str(args.weights) if args.weights else None,
        "pretrained": args.pretrained,
        # the weights' sha256, so that make docs-check tells when the tag ships other weights
        "weights_sha256": weights_stamp(hparams["model"], [args.pretrained]) if args.pretrained else {},
        "threshold": args.threshold,
        "tta": args.tta,
        "backend": result.backend,
        "precision": result.precision,
        "flip": args.flip,
    }
    json_path, csv_path = result.save(out, extra)
    _print_table(result, f"{info['split']} split of {info['data']} ({len(result.per_image)} images)")
    if "split_drawn" in info:
        print(f"split: {info['split_drawn']}")
    lines = [f"metrics: {json_path}", f"per image: {csv_path}"]
    if args.grid > 0 and result.per_image:
        ranked = sorted(result.per_image, key=lambda r: r["dice"])
        half = max(1, args.grid // 2)
        names = [r["name"] for r in ranked[:half]] + [r["name"] for r in ranked[-half:] if r not in ranked[:half]]
        grid = overlay_grid(dataset, model, names, out / "overlays.jpg", device=hparams["device"])
        lines.append(f"overlays (worst {half}, best {half}): {grid}")
    if args.save_masks:
        lines.append(f"masks: {out / 'masks'}")
    print("\n".join(lines))
    return 0
