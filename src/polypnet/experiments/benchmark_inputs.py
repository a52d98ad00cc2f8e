"""What ``polypnet benchmark`` measures on: the models, the data and split that shipped weights
were trained on (drawn again as ``evaluate --pretrained`` draws it), and int8's calibration images
(training images only, never val or test)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import torch

from ..models import create_model
from ..models.pretrained import pretrained_info

#: The shipped weights whose speed and video frames/s the benchmark measures.
LATENCY_WEIGHTS = "cvc-clinicdb"


def model_for(name: str, weights: str | None = None) -> torch.nn.Module:
    """``name`` in eval mode, with shipped ``weights`` when given."""
    if weights is None:
        return create_model(name).eval()
    from ..inference import load_model

    net, _ = load_model(model=name, pretrained=weights)
    return net.eval()


def shipped_data(args: dict[str, Any], tag: str) -> tuple[Path, dict[str, Any]] | None:
    """The copy under ``--data-dir`` of the dataset that ``tag``'s weights were trained on and the
    split they were trained on, drawn again (``shipped_split``); None when that data is absent."""
    from ..data import find_pairs
    from .evaluation import shipped_split

    info = pretrained_info("iam_unet", tag)
    root = Path(args["data_dir"]) / info["dataset"]
    if not root.is_dir():
        return None
    found = find_pairs(root)
    return found.root, shipped_split(found, info, tag)


def split_name(drawn: dict[str, Any]) -> str:
    """How a record names a drawn split: its kind and seed."""
    return f"{drawn['kind']} (seed {drawn['seed']})"


def has_nncf() -> bool:
    """Whether NNCF, which int8 quantisation needs (``polypnet[int8]``), is installed."""
    return importlib.util.find_spec("nncf") is not None


def int8_notice(backends: list[str], no_int8: bool) -> str | None:
    """The line that says int8 is left out because NNCF is missing; None where it is not."""
    if "openvino" in backends and not no_int8 and not has_nncf():
        return "int8 left out: it needs NNCF (pip install 'polypnet[int8]')"
    return None


def calibration_source(
    args: dict[str, Any], tag: str, data: tuple[Path, dict[str, Any]] | None = None
) -> tuple[Any, str] | tuple[None, None]:
    """A lazy loader of the first N training images of ``tag``'s split, and its cache tag;
    (None, None), so that int8 is left out, when the data or NNCF (``polypnet[int8]``) is absent.
    ``data`` is ``shipped_data(args, tag)`` where the caller has drawn it already."""
    wanted = args["calibration_images"] >= 1 and has_nncf()
    if wanted and data is None:
        data = shipped_data(args, tag)
    if not wanted or data is None:
        return None, None
    (root, drawn), n, size = data, args["calibration_images"], args["size"]

    def images() -> list[Any]:
        from ..data import PolypDataset

        ids = drawn["train"][:n]  # training images only: never val or test
        data = PolypDataset.from_root(root, ids=ids, image_size=size, cache=False)
        return [data[i]["image"][None].numpy() for i in range(len(data))]

    return images, f"{tag}:train:first{n}:size{size}"
