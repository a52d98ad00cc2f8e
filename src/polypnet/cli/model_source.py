"""The model-source flags that predict, evaluate, export and demo share: one group, one default each."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from torch import nn

from ..inference import load_model, resolve_device
from ..inference.backends import BACKENDS
from ..models import list_pretrained
from ..models.registry import parse_model_kwargs

#: The input size when neither the flags nor the weights' record say one.
DEFAULT_IMAGE_SIZE = 256


def add_model_source(parser: argparse.ArgumentParser, runtime: bool = True) -> argparse._ArgumentGroup:
    """``--checkpoint | --pretrained | --model [--weights]``, ``--set``, ``--image-size`` and, for the
    commands that run the model (``runtime``), ``--device`` and ``--tta``; returns the group so a
    command can add to it."""
    group = parser.add_argument_group("model (one source)")
    group.add_argument(
        "--checkpoint",
        type=Path,
        metavar="PATH",
        help="Lightning checkpoint of `polypnet fit` (knows its model), or a plain state dict (with --model)",
    )
    shipped = "; ".join(f"{m}: {', '.join(tags)}" for m, tags in list_pretrained().items()) or "none yet"
    group.add_argument(
        "--pretrained",
        metavar="TAG",
        help=f"weights shipped with polypnet for --model (default iam_unet); shipped: {shipped}",
    )
    group.add_argument(
        "--model",
        metavar="NAME",
        help="registered model name: with --weights, alone (untrained: random weights), or to check --checkpoint",
    )
    group.add_argument(
        "--weights",
        type=Path,
        metavar="PATH",
        help="weights for --model: a .safetensors file or a state dict / checkpoint",
    )
    group.add_argument(
        "--set",
        dest="model_kwargs",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="model keyword for --model/--weights, e.g. --set attention_position=none (repeatable)",
    )
    group.add_argument(
        "--image-size",
        type=int,
        metavar="N",
        help=f"network input size (default: the size the weights were trained at, else {DEFAULT_IMAGE_SIZE}; "
        "IAM-UNet needs a multiple of 16)",
    )
    if runtime:
        group.add_argument("--device", default="auto", help="auto (CUDA, else MPS, else CPU), cpu, cuda, cuda:1, mps")
        group.add_argument(
            "--tta",
            action="store_true",
            help="test-time augmentation: mean probability of the image and its two flips (3x slower)",
        )
        group.add_argument(
            "--backend",
            choices=("auto", *BACKENDS),
            default="auto",
            help="inference runtime (default auto: openvino on a CPU, torch without it or on a GPU)",
        )
        group.add_argument(
            "--precision",
            choices=("auto", "fp32", "bf16", "int8"),
            default="auto",
            help="auto (bf16 where the CPU has bf16 instructions and the backend runs it, else fp32), "
            "fp32, bf16 (torch, openvino), or int8 (openvino; calibrated from the Python API, "
            "Segmenter(..., calibration=...), and lost test F1 in docs/performance.md)",
        )
    return group


def has_model_source(args: argparse.Namespace) -> bool:
    """Whether the flags name any model at all."""
    return any(getattr(args, k) is not None for k in ("checkpoint", "pretrained", "model", "weights"))


def model_from_args(args: argparse.Namespace) -> tuple[nn.Module, dict[str, Any]]:
    """The network (eval mode) and what is known of it (``model``, ``model_kwargs``, ``source``,
    ``image_size`` when the weights record it, ``device``); ValueError on flags that do not work."""
    if not has_model_source(args):
        raise ValueError("no model: pass --checkpoint PATH, --pretrained TAG, or --model NAME (with --weights PATH)")
    device = resolve_device(args.device) if hasattr(args, "device") else None
    net, info = load_model(
        checkpoint=args.checkpoint,
        model=args.model,
        weights=args.weights,
        pretrained=args.pretrained,
        model_kwargs=parse_model_kwargs(args.model_kwargs),
    )
    if info["source"] == "untrained":
        print(
            f"warning: --model {info['model']} without --weights runs an UNTRAINED network (random weights)",
            file=sys.stderr,
        )
    if device is not None:
        info["device"] = device
    return net, info


def image_size_of(args: argparse.Namespace, info: dict[str, Any]) -> int:
    """``--image-size``, else the size the weights were trained at, else ``DEFAULT_IMAGE_SIZE``."""
    return int(args.image_size or info.get("image_size") or DEFAULT_IMAGE_SIZE)


def error_text(err: Exception) -> str:
    """The error as one line (a KeyError's message without the quotes ``str()`` adds)."""
    text = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
    return " ".join(str(text).split())
