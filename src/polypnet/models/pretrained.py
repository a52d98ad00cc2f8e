"""Trained weights shipped inside the package, listed in ``resources/weights/index.json``.

Each entry names the registered model, the dataset it was trained on, the file (an fp32 state
dict in safetensors: no pickle, nothing to execute), the keywords the model needs, and how the
weights were made (protocol, split, seed, input size, test scores, commit, command, record).

Tags say dataset and recipe: ``cvc-clinicdb`` and ``kvasir-seg`` are the paper's recipe,
``*-improved`` ours; all are 256 px. The rule that picks them: each tag holds, among the recorded
256 px runs of its recipe on its dataset, the one with the best validation Dice (never the test score);
``make docs-check`` fails when a record that the rule prefers has landed
(``polypnet.experiments.shipping_rule``). Tags retired since (CHANGELOG.md) name their replacement.
``polyp-pranet`` is the tag for a model trained on both datasets at PraNet's benchmark
(``polypnet ship-weights`` of a ``--protocol pranet`` record), picked by the same rule.

Each entry holds its file's sha256: loading refuses a file that does not match it, and records
scored through a tag keep it (``weights_stamp``) so that ``make docs-check`` can tell when
``ship-weights`` has since replaced the weights behind the tag.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from safetensors.torch import load
from torch import nn

WEIGHTS_DIR = Path(__file__).resolve().parent / "resources" / "weights"
#: The ``dataset`` of weights trained on PraNet's benchmark: Kvasir-SEG and CVC-ClinicDB together.
BENCHMARK_DATASET = "kvasir-seg+cvc-clinicdb"
#: Tags that were shipped once -> the tag that replaces them (their files left the package).
RETIRED = {
    "cvc-clinicdb-128": "cvc-clinicdb",
    "cvc-clinicdb-cpu": "cvc-clinicdb",
    "cvc-clinicdb-improved-128": "cvc-clinicdb-improved",
    "cvc-clinicdb-improved-cpu": "cvc-clinicdb-improved",
    "kvasir-seg-128": "kvasir-seg",
    "kvasir-seg-cpu": "kvasir-seg",
    "kvasir-seg-improved-cpu": "kvasir-seg-improved",
    "kvasir-seg-improved-256": "kvasir-seg-improved",
}


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
    if entry is None and tag in RETIRED:
        raise ValueError(f"shipped weights {tag!r} were retired: use {RETIRED[tag]!r} (see CHANGELOG.md)")
    if entry is None:
        available = ", ".join(f"{m}: {', '.join(tags)}" for m, tags in list_pretrained().items()) or "none"
        raise ValueError(f"no shipped weights {tag!r} for model {model!r}; shipped: {available}")
    return entry


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes, in hex."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def weights_stamp(model: str, tags: Iterable[str]) -> dict[str, str]:
    """``{tag: sha256}`` of shipped weights, kept in a record scored through them."""
    return {tag: pretrained_info(model, tag)["sha256"] for tag in tags}


def load_pretrained(model: nn.Module, name: str, tag: str) -> nn.Module:
    """Load the shipped weights ``tag`` of registered model ``name`` into ``model`` (strictly);
    ValueError when the file does not match the sha256 that index.json lists for it."""
    entry = pretrained_info(name, tag)
    data = (WEIGHTS_DIR / entry["file"]).read_bytes()
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise ValueError(f"shipped weights {tag!r}: {entry['file']} does not match its sha256 in index.json")
    state = load(data)
    model.load_state_dict(state, strict=True)
    return model
