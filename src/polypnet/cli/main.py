"""``polypnet``: one command tree for the whole workflow.

Subcommands are imported only when run, so ``polypnet --help`` stays fast and a subcommand's
heavy dependencies (Lightning for ``fit``) load only when needed. A group (``data``, ``compare``)
holds subcommands of its own: ``polypnet data check sample``.
"""

from __future__ import annotations

import difflib
import importlib
import os
import select
import sys
from dataclasses import dataclass
from typing import Union

from .. import __version__

TRAINER_FLAGS = (
    "short Trainer flags: --max_epochs N, --accelerator cpu|gpu|tpu|auto, --devices N, "
    "--precision bf16-mixed, ... (every Trainer argument, also as --trainer.NAME)"
)


@dataclass(frozen=True)
class Command:
    """A subcommand: the ``main(argv) -> int`` it runs (``module:function``), help and examples."""

    target: str
    summary: str
    examples: tuple[str, ...] = ()
    # The parser takes a ``prog`` keyword and carries its examples in --help already.
    own_prog: bool = False


Tree = dict[str, Union[Command, "Tree"]]

COMMANDS: Tree = {
    "fit": Command(
        "polypnet.cli.fit:main",
        "train a model (LightningCLI); no arguments: the quickstart on the bundled sample",
        (
            "polypnet fit                                   # quickstart: bundled sample, CPU",
            "polypnet fit --config paper_kvasir --data.root data/kvasir-seg --accelerator gpu --devices 1",
            "polypnet fit --config paper_cvc --accelerator tpu --devices 8",
            "polypnet fit --config paper_cvc --ckpt_path last   # resume a killed run",
            TRAINER_FLAGS,
        ),
    ),
    "evaluate": Command(
        "polypnet.cli.evaluate:main",
        "score a model on a split or a folder of image/mask pairs (torchmetrics)",
        (
            "polypnet evaluate --checkpoint runs/paper_kvasir/RUN/checkpoints/best.ckpt",
            "polypnet evaluate --pretrained kvasir-seg --data data/kvasir-seg --split-file split.json",
            "polypnet evaluate --model iam_unet --weights state_dict.pt --data pairs/ --split all",
        ),
    ),
    "predict": Command(
        "polypnet.cli.predict:main",
        "masks, overlays and per-frame tables for an image, a folder or a video",
        own_prog=True,
    ),
    "export": Command("polypnet.cli.export:main", "ONNX and TorchScript files, checked against PyTorch", own_prog=True),
    "demo": Command(
        "polypnet.cli.demo:main", "a local web page: drop an image or a video, see the polyp outlined", own_prog=True
    ),
    "reproduce": Command(
        "polypnet.cli.reproduce:main",
        "train the paper's protocol per dataset and seed, score the test split, write records",
        (
            "polypnet reproduce --protocol paper --datasets cvc-clinicdb --data-dir data --accelerator gpu",
            "polypnet reproduce --protocol improved --seeds 42 43 44 --out results",
            "polypnet reproduce --protocol paper --datasets kvasir-seg --accelerator cpu --precision bf16-mixed "
            "--extra --model.channels_last true",
        ),
    ),
    "ablate": Command(
        "polypnet.cli.ablate:main",
        "run an ablation study (configs/ablations) arm by arm and tabulate it",
        (
            "polypnet ablate loss --seeds 42 43 --data-dir data",
            "polypnet ablate all --summarize-only --out results/ablations",
        ),
    ),
    "benchmark": Command(
        "polypnet.cli.benchmark:main",
        "speed and memory of IAM-UNet against smp peers in one run, with ratios",
        ("polypnet benchmark --out results/benchmark/cpu.json", "polypnet benchmark --quick"),
    ),
    "compare": {
        "runs": Command(
            "polypnet.cli.compare_runs:main",
            "validation curves and scores of several runs side by side",
            (
                "polypnet compare runs results/paper/cvc-clinicdb_seed42_run results/improved/cvc-clinicdb_seed42_run --out cmp",
            ),
        ),
        "tta": Command(
            "polypnet.cli.compare_tta:main",
            "plain vs flipped inputs vs flip TTA of one checkpoint",
            ("polypnet compare tta runs/paper_cvc/RUN/checkpoints/best.ckpt --out results/tta/paper",),
        ),
        "input-size": Command(
            "polypnet.cli.compare_input_size:main",
            "shipped or recorded weights at several test-time input sizes, the size chosen on validation",
            (
                "polypnet compare input-size --pretrained cvc-clinicdb-improved --data-dir ../shared/data "
                "--out results/input_size",
                "polypnet compare input-size --records results/paper128_improved/cvc-clinicdb_seed44_split42.json "
                "--sizes 112 128 160 --data-dir ../shared/data --out results/input_size/paper128_improved",
            ),
        ),
        "postprocess": Command(
            "polypnet.cli.compare_postprocess:main",
            "shipped weights at several thresholds and mask clean-ups, the variant chosen on validation",
            (
                "polypnet compare postprocess --pretrained cvc-clinicdb-improved --data-dir ../shared/data "
                "--out results/postprocess",
            ),
        ),
        "sequences": Command(
            "polypnet.cli.per_sequence:main",
            "CVC-ClinicDB per-image Dice grouped by video sequence",
            ("polypnet compare sequences results/cpu/cvc-clinicdb_seed42_sequence_run/per_image.csv",),
        ),
        "sizes": Command(
            "polypnet.cli.dice_by_size:main",
            "Dice by polyp size of one or more runs",
            ("polypnet compare sizes results/improved/cvc-clinicdb_seed42_run/per_image.csv --out sizes",),
        ),
    },
    "data": {
        "check": Command(
            "polypnet.cli.data:check_main",
            "check a dataset folder: layout, counts, sizes, every problem",
            ("polypnet data check sample", "polypnet data check data/kvasir-seg --headers-only"),
        ),
        "prepare": Command(
            "polypnet.cli.data:prepare_main",
            "download or import Kvasir-SEG / CVC-ClinicDB and verify it against the shipped sha256 list",
            (
                "polypnet data prepare kvasir-seg --dest data",
                "polypnet data prepare cvc-clinicdb --from-archive CVC-ClinicDB.zip",
            ),
        ),
        "pack": Command(
            "polypnet.cli.data:pack_main",
            "pack datasets as square JPEG files for an accelerator machine",
            ("polypnet data pack data/kvasir-seg data/cvc-clinicdb --out .gpu/data",),
        ),
    },
    "models": Command(
        "polypnet.cli.models:main",
        "the registered models, the shipped pretrained weights and their scores, a layer table",
        own_prog=True,
    ),
    "ship-weights": Command(
        "polypnet.cli.ship_weights:main",
        "put a recorded run's weights into the package (safetensors) with their provenance",
        ("polypnet ship-weights results/improved/kvasir-seg_seed42.json --tag kvasir-seg-improved",),
    ),
}


def usage(tree: Tree = COMMANDS, prefix: str = "polypnet") -> str:
    """The text of ``polypnet --help`` (or of a group's)."""
    width = max(map(len, tree))

    def summary(node: Command | Tree) -> str:
        return node.summary if isinstance(node, Command) else "{" + ",".join(node) + "}"

    lines = [
        f"usage: {prefix} COMMAND [options]     ({prefix} COMMAND --help: its options and examples)",
        "",
        "Polyp segmentation with IAM-UNet. Research software, not a medical device.",
        "",
        "commands:",
        *(f"  {name:<{width}}  {summary(node)}" for name, node in tree.items()),
        "",
        "options:",
        "  -h, --help     this help",
    ]
    if tree is COMMANDS:
        lines += [
            "  --version      the polypnet version",
            "",
            "examples:",
            "  polypnet fit                                   # quickstart training on the bundled sample",
            "  polypnet predict frames/ --pretrained kvasir-seg-improved",
            "  polypnet data check sample",
        ]
    return "\n".join(lines)


def _run(prog: str, cmd: Command, argv: list[str]) -> int:
    module_name, function = cmd.target.split(":")
    entry = getattr(importlib.import_module(module_name), function)
    if cmd.own_prog:
        return int(entry(argv, prog=prog) or 0)
    # argparse names a parser without ``prog`` after sys.argv[0]: make that the command's name.
    saved, sys.argv[0] = sys.argv[0], prog
    try:
        if not any(a in ("-h", "--help") for a in argv):
            return int(entry(argv) or 0)
        try:
            code = int(entry(argv) or 0)
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else 0
    finally:
        sys.argv[0] = saved
    sys.stdout.flush()
    if cmd.examples:
        print("\nexamples:\n" + "\n".join(f"  {e}" for e in cmd.examples))
    return code


def _dispatch(tree: Tree, argv: list[str], prefix: str) -> int:
    if not argv:
        print(usage(tree, prefix), file=sys.stderr)
        return 2
    first = argv[0]
    if first in ("-h", "--help", "help"):
        if first == "help" and len(argv) > 1 and argv[1] in tree:
            return _dispatch(tree, [argv[1], "--help"], prefix)
        print(usage(tree, prefix))
        return 0
    if first == "--version" and tree is COMMANDS:
        print(f"polypnet {__version__}")
        return 0
    if first not in tree:
        close = difflib.get_close_matches(first, tree, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        print(f"error: unknown command {first!r}{hint} (commands: {', '.join(tree)})", file=sys.stderr)
        return 2
    node = tree[first]
    if isinstance(node, Command):
        return _run(f"{prefix} {first}", node, argv[1:])
    return _dispatch(node, argv[1:], f"{prefix} {first}")


def main(argv: list[str] | None = None) -> int:
    """Dispatch ``polypnet COMMAND ...``; returns the exit code (2 on an unknown command, 1 when
    the reader of its output went away)."""
    try:
        return _dispatch(COMMANDS, list(sys.argv[1:] if argv is None else argv), "polypnet")
    except BrokenPipeError:
        if not _stdout_closed():  # another pipe broke: that is a real error
            raise
        # ``polypnet ... --help | head``: the reader closed the pipe. Stop quietly, as Unix tools
        # do; stdout goes to /dev/null so that Python's flush at exit does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _stdout_closed() -> bool:
    """Whether stdout is a pipe whose reader has gone (poll reports an error on its write end)."""
    try:
        fd = sys.stdout.fileno()
        poller = select.poll()  # not on Windows
    except (AttributeError, OSError, ValueError):
        return False
    poller.register(fd, select.POLLOUT)
    return any(events & select.POLLERR for _, events in poller.poll(0))


if __name__ == "__main__":
    sys.exit(main())
