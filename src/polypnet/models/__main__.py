"""``python -m polypnet.models``: list the registered models or print a model's layer table."""

from __future__ import annotations

import argparse
import sys

from . import create_model, list_models, model_entry
from .registry import parse_model_kwargs
from .summary import format_summary, summarize


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m polypnet.models", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the registered models")
    summary = sub.add_parser(
        "summary",
        help="layer table of a model",
        epilog="example: python -m polypnet.models summary iam_unet --set attention_position=none",
    )
    summary.add_argument("name", nargs="?", default="iam_unet", help="registered model (default: iam_unet)")
    summary.add_argument("--size", type=int, nargs=2, default=(256, 256), metavar=("H", "W"))
    summary.add_argument("--set", dest="kwargs", action="append", default=[], metavar="KEY=VALUE",
                         help="override a model keyword, e.g. --set bridge_blocks=2 (repeatable)")
    args = parser.parse_args(argv)

    if args.command == "list":
        for name in list_models():
            print(f"{name:28s} {model_entry(name).description}")
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


if __name__ == "__main__":
    sys.exit(main())
