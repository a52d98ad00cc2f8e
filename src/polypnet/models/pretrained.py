"""Trained weights shipped inside the package, listed in ``resources/weights/index.json``.

Each entry names the registered model, the dataset it was trained on, the file (a plain fp32
state dict, loaded with ``weights_only=True``), the keywords the model needs, and how the weights
were made (protocol, split, seed, input size, test scores, command).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from torch import nn

WEIGHTS_DIR = Path(__file__).resolve().parent / "resources" / "weights"


@lru_cache(maxsize=1)
def _index() -> dict[str, dict[str, dict[str, Any]]]:
    path = WEIGHTS_DIR / "index.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def list_pretrained(model: str | None = None) -> dict[str, list[str]]:
    """Shipped weights: model name -> dataset tags (only ``model`` when given)."""
    index = _index()
    return {m: sorted(tags) for m, tags in index.items() if model is None or m == model}


def pretrained_info(model: str, tag: str) -> dict[str, Any]:
    """The index entry of ``model`` trained on ``tag``; ValueError naming what exists otherwise."""
    entry = _index().get(model, {}).get(tag)
    if entry is None:
        available = ", ".join(f"{m}: {', '.join(tags)}" for m, tags in list_pretrained().items()) or "none"
        raise ValueError(f"no shipped weights {tag!r} for model {model!r}; shipped: {available}")
    return entry


def load_pretrained(model: nn.Module, name: str, tag: str) -> nn.Module:
    """Load the shipped weights ``tag`` of registered model ``name`` into ``model`` (strictly)."""
    entry = pretrained_info(name, tag)
    state = torch.load(WEIGHTS_DIR / entry["file"], map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model
