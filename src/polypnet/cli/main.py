"""``polypnet``: one command for the whole workflow; each subcommand is one of the scripts.

Subcommands are imported only when run, so ``polypnet --help`` stays fast and a subcommand's
heavy dependencies (Lightning for ``fit``) load only when needed.
"""

from __future__ import annotations

import difflib
import importlib
import sys
from dataclasses import dataclass

from .. import __version__


@dataclass(frozen=True)
class Command:
    """A subcommand: the ``main(argv) -> int`` it runs, the script it mirrors, help and examples."""

    target: str  # "module:function"
    script: str
    summary: str
    examples: tuple[str, ...] = ()
    # Our own parsers take the ``polypnet NAME`` prog and carry their examples in --help already.
    own_prog: bool = False


COMMANDS: dict[str, Command] = {
    "fit": Command(
        "polypnet.cli.fit:main", "scripts/fit.py",
        "train a model (LightningCLI); no arguments: the quickstart on the bundled sample",
        ("polypnet fit",
         "polypnet fit --config configs/paper_kvasir.yaml --accelerator gpu --devices 1",
         "polypnet fit --config configs/paper_cvc.yaml --ckpt_path last   # resume a killed run"),
    ),
    "evaluate": Command(
        "polypnet.cli.evaluate:main", "scripts/evaluate.py",
        "score a checkpoint on a split or a folder of image/mask pairs",
        ("polypnet evaluate --checkpoint runs/paper_kvasir/RUN/checkpoints/best.ckpt",
         "polypnet evaluate --checkpoint CKPT --data other/dataset --split all --original-resolution",
         "polypnet evaluate --model iam_unet --weights state_dict.pt --data pairs/ --split all"),
    ),
    "predict": Command(
        "polypnet.cli.predict:main", "scripts/predict.py",
        "masks, overlays and per-frame tables for an image, a folder or a video",
        own_prog=True,
    ),
    "export": Command(
        "polypnet.cli.export:main", "scripts/export.py",
        "ONNX and TorchScript files, checked against PyTorch",
        own_prog=True,
    ),
    "models": Command(
        "polypnet.models.__main__:main", "python -m polypnet.models",
        "the registered models, the shipped pretrained weights and their scores, a layer table",
        own_prog=True,
    ),
    "check-data": Command(
        "polypnet.data.check:main", "scripts/check_data.py",
        "check a dataset folder: layout, counts, sizes, foreground, every problem",
        ("polypnet check-data sample",
         "polypnet check-data data/kvasir-seg --headers-only"),
    ),
    "prepare-data": Command(
        "polypnet.data.prepare:main", "scripts/prepare_data.py",
        "download or import Kvasir-SEG / CVC-ClinicDB and verify it against the shipped sha256 list",
        ("polypnet prepare-data kvasir-seg --dest data",
         "polypnet prepare-data cvc-clinicdb --from-archive CVC-ClinicDB.zip",
         "polypnet prepare-data kvasir-seg --verify-only"),
    ),
    "benchmark": Command(
        "polypnet.cli.benchmark:main", "scripts/benchmark.py",
        "speed and memory of IAM-UNet against smp peers in one run, with ratios",
        ("polypnet benchmark --out docs/benchmark_cpu.json",
         "polypnet benchmark --quick"),
    ),
}


def usage() -> str:
    """The text of ``polypnet --help``."""
    width = max(map(len, COMMANDS))
    lines = [
        "usage: polypnet COMMAND [options]     (polypnet COMMAND --help: its options and examples)",
        "",
        "Polyp segmentation with IAM-UNet. Research software, not a medical device.",
        "",
        "commands:",
        *(f"  {name:<{width}}  {cmd.summary}" for name, cmd in COMMANDS.items()),
        "",
        "options:",
        "  -h, --help     this help",
        "  --version      the polypnet version",
        "",
        "examples:",
        "  polypnet fit                                   # quickstart training on the bundled sample",
        "  polypnet predict frames/ --checkpoint best.ckpt",
        "  polypnet export --checkpoint best.ckpt",
        "",
        "Each command is also a script: python scripts/fit.py, scripts/predict.py, ...",
    ]
    return "\n".join(lines)


def _run(name: str, argv: list[str]) -> int:
    cmd = COMMANDS[name]
    module_name, function = cmd.target.split(":")
    entry = getattr(importlib.import_module(module_name), function)
    if cmd.own_prog:
        return int(entry(argv, prog=f"polypnet {name}") or 0)
    if not any(a in ("-h", "--help") for a in argv):
        return int(entry(argv) or 0)
    # The wrapped parsers name themselves after their script; say how they map, and add examples.
    print(f"polypnet {name}: the same options as {cmd.script}\n")
    try:
        code = int(entry(argv) or 0)
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else 0
    sys.stdout.flush()
    if cmd.examples:
        print("\nexamples:\n" + "\n".join(f"  {e}" for e in cmd.examples))
    return code


def main(argv: list[str] | None = None) -> int:
    """Dispatch ``polypnet COMMAND ...``; returns the exit code (2 on an unknown command)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        print(usage(), file=sys.stderr)
        return 2
    first = argv[0]
    if first in ("-h", "--help", "help"):
        if first == "help" and len(argv) > 1 and argv[1] in COMMANDS:
            return _run(argv[1], ["--help"])
        print(usage())
        return 0
    if first == "--version":
        print(f"polypnet {__version__}")
        return 0
    if first not in COMMANDS:
        close = difflib.get_close_matches(first, COMMANDS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        print(f"error: unknown command {first!r}{hint} (commands: {', '.join(COMMANDS)})", file=sys.stderr)
        return 2
    return _run(first, argv[1:])


if __name__ == "__main__":
    sys.exit(main())
