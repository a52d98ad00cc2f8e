"""``polypnet models``: list the registered models, the shipped
pretrained weights with their provenance and test scores, or print a model's layer table."""

from __future__ import annotations

import argparse
import sys

from ..experiments.pranet_table import benchmark_text
from ..models import create_model, list_models, model_entry
from ..models.pretrained import WEIGHTS_DIR, list_pretrained, pretrained_info
from ..models.registry import parse_model_kwargs
from ..models.summary import format_summary, summarize


def _scores(entry: dict) -> str:
    """Test F1 / mDice / IoU of per-dataset weights; PraNet's benchmark mDice per test set for the
    weights trained on both datasets."""
    if "benchmark" in entry:
        return f"PraNet's benchmark, mDice: {benchmark_text(entry['benchmark'])} ({entry['test_images']} images)"
    return (
        f"{100 * entry['test_dice_global']:.2f} / {100 * entry['test_dice_per_image']:.2f} / "
        f"{100 * entry['test_iou_global']:.2f} on {entry['test_images']} images"
    )


def format_pretrained(model: str | None = None) -> str:
    """A table of the shipped weights: tag, what trained them, and their test scores (F1 and IoU
    pooled over the test pixels, mDice the mean of per-image Dice)."""
    header = ("model", "pretrained=", "dataset", "protocol", "epochs", "input", "split (seed)", "test F1 / mDice / IoU")
    rows = [header]
    for name, tags in list_pretrained(model).items():
        for tag in tags:
            e = pretrained_info(name, tag)
            rows.append(
                (
                    name,
                    tag,
                    e["dataset"],
                    e["protocol"],
                    str(e["epochs"]),
                    f"{e['image_size']}x{e['image_size']}",
                    f"{e['split']} ({e['split_seed']}), training seed {e['seed']}",
                    _scores(e),
                )
            )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])


def main(argv: list[str] | None = None, prog: str = "polypnet models") -> int:
    """Entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"examples:\n  {prog} list\n  {prog} pretrained\n  {prog} summary iam_unet --set bridge_blocks=2",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the registered models")
    pretrained = sub.add_parser(
        "pretrained",
        help="the shipped weights: create_model(NAME, pretrained=TAG), offline",
    )
    pretrained.add_argument("name", nargs="?", default=None, help="only this model's weights")
    summary = sub.add_parser(
        "summary",
        help="layer table of a model",
        epilog="example: polypnet models summary iam_unet --set attention_position=none",
    )
    summary.add_argument("name", nargs="?", default="iam_unet", help="registered model (default: iam_unet)")
    summary.add_argument("--size", type=int, nargs=2, default=(256, 256), metavar=("H", "W"))
    summary.add_argument(
        "--set",
        dest="kwargs",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a model keyword, e.g. --set bridge_blocks=2 (repeatable)",
    )
    args = parser.parse_args(argv)

    if args.command == "list":
        for name in list_models():
            print(f"{name:28s} {model_entry(name).description}")
        return 0
    if args.command == "pretrained":
        if args.name is not None and not list_pretrained(args.name):
            shipped = ", ".join(list_pretrained()) or "none"
            print(f"error: no shipped weights for model {args.name!r}; models with weights: {shipped}", file=sys.stderr)
            return 2
        print(format_pretrained(args.name))
        print(
            "\nFeed each the input size shown; scores are on the test split of the split shown.\n"
            f"Provenance (command, commit, result file): {WEIGHTS_DIR / 'index.json'}"
        )
        return 0
    try:
        kwargs = parse_model_kwargs(args.kwargs)
        model = create_model(args.name, **kwargs)
        in_channels = int(kwargs.get("in_channels", 3))
        rows = summarize(model, tuple(args.size), in_channels)
    except (KeyError, TypeError, ValueError) as err:
        print(f"error: {err.args[0] if isinstance(err, KeyError) else err}", file=sys.stderr)
        return 2
    extra = "".join(f", {k}={v}" for k, v in kwargs.items())
    print(format_summary(model, rows, title=f"{args.name}{extra} @ {args.size[0]}x{args.size[1]}"))
    return 0
