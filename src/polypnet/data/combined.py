"""Several datasets as one :class:`PairSet`: the pairs of each, with ids prefixed by the dataset.

PraNet's benchmark trains one model on Kvasir-SEG and CVC-ClinicDB together. Each root is found
and validated by :func:`find_pairs` as usual; the pairs are then joined under ids
``"<dataset>__<stem>"`` (``kvasir-seg__cju0u82z3cuma0835wlxrnrjv``, ``cvc-clinicdb__14``), so that
the stems of two datasets can never collide and every id says where it came from. The separator
is safe in a file name: ids become mask file names when predictions are saved.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .errors import DataError
from .layouts import Pair, PairSet, find_pairs

#: Joins a dataset name and a stem into a combined id.
SEPARATOR = "__"
#: ``PairSet.layout`` of a combined set.
COMBINED_LAYOUT = "combined"


def combined_id(dataset: str, stem: str) -> str:
    """The id of ``stem`` of ``dataset`` in a combined set."""
    return f"{dataset}{SEPARATOR}{stem}"


def split_id(sample_id: str) -> tuple[str, str]:
    """(dataset, stem) of a combined id; ValueError for an id without the separator."""
    dataset, sep, stem = sample_id.partition(SEPARATOR)
    if not sep or not dataset or not stem:
        raise ValueError(f"{sample_id!r} is not a combined id (<dataset>{SEPARATOR}<stem>)")
    return dataset, stem


def combined_name(datasets: Sequence[str]) -> str:
    """``PairSet.dataset`` of a combination: the member names joined by ``+``."""
    return "+".join(datasets)


def member_datasets(dataset: str | None) -> list[str]:
    """The member datasets named by a ``PairSet.dataset`` (one name for a single dataset)."""
    return dataset.split("+") if dataset else []


@dataclass
class CombinedPairSet(PairSet):
    """A :class:`PairSet` made of several; ``parts`` keeps each as it was found."""

    parts: list[PairSet] = field(default_factory=list)

    def describe(self) -> str:
        """``combined: kvasir-seg (1000 pairs) + cvc-clinicdb (612 pairs), 1612 pairs``."""
        members = " + ".join(f"{p.dataset} ({len(p)} pairs)" for p in self.parts)
        return f"{COMBINED_LAYOUT}: {members}, {len(self)} pairs"


def combine_pairs(parts: Sequence[PairSet]) -> CombinedPairSet:
    """One set of the pairs of ``parts`` (each of a known, distinct dataset), ids prefixed.

    DataError when a part's dataset is unknown (a generic folder: its stems could not be told
    apart from another's) or when two parts are the same dataset.
    """
    if not parts:
        raise ValueError("combine_pairs needs at least one PairSet")
    names = [p.dataset for p in parts]
    unknown = [str(p.root) for p in parts if p.dataset is None]
    if unknown:
        raise DataError(f"only recognised datasets can be combined; not recognised: {', '.join(unknown)}")
    if len(set(names)) != len(names):
        raise DataError(f"the same dataset twice in a combination: {', '.join(map(str, names))}")
    pairs = [Pair(combined_id(p.dataset, q.id), q.image, q.mask) for p in parts for q in p]  # type: ignore[arg-type]
    sizes = {combined_id(p.dataset, k): v for p in parts for k, v in p.sizes.items()}  # type: ignore[arg-type]
    root = Path(os.path.commonpath([str(p.root) for p in parts]))
    return CombinedPairSet(
        root=root,
        layout=COMBINED_LAYOUT,
        dataset=combined_name(names),  # type: ignore[arg-type]
        image_dir=root,
        mask_dir=root,
        pairs=pairs,
        sizes=sizes,
        ignored=[f for p in parts for f in p.ignored],
        parts=list(parts),
    )


def find_combined(roots: Sequence[str | os.PathLike], validate: bool = True) -> CombinedPairSet:
    """The pairs under each of ``roots`` (folders or dataset names), found as :func:`find_pairs`
    finds them, joined by :func:`combine_pairs`."""
    return combine_pairs([find_pairs(root, validate) for root in roots])
