"""PROTOTYPE (moves into splits.py and shipped.py once the layout commit lands): the PraNet split."""

from __future__ import annotations

from collections import defaultdict
from functools import lru_cache

from .combined import SEPARATOR, member_datasets, split_id
from .errors import DataError, summarise
from .shipped import CVC, KVASIR, _read_list, cvc_sequences, kvasir_ids, resource
from .splits import _hash_order, round_half_up

#: The file of each dataset's PraNet test list (Fan et al., MICCAI 2020), under resources/.
PRANET_TEST_FILES = {KVASIR: (KVASIR, "pranet_test100.txt"), CVC: (CVC, "pranet_test62.txt")}


@lru_cache(maxsize=None)
def pranet_test(dataset: str) -> tuple[str, ...]:
    """The stems of PraNet's test subset of ``dataset``: Kvasir-SEG 100, CVC-ClinicDB 62."""
    if dataset not in PRANET_TEST_FILES:
        raise KeyError(f"no PraNet test list for {dataset!r}; known: {', '.join(PRANET_TEST_FILES)}")
    return _read_list(resource(*PRANET_TEST_FILES[dataset]))


def _stems_of(dataset: str) -> frozenset[str]:
    return kvasir_ids() if dataset == KVASIR else frozenset(cvc_sequences())


def _pranet(ids: list[str], dataset: str | None, seed: int, val_fraction: float) -> dict[str, list[str]]:
    members = member_datasets(dataset)
    if not members or any(m not in PRANET_TEST_FILES for m in members):
        raise DataError(
            "pranet split: only Kvasir-SEG, CVC-ClinicDB or both together (root: [kvasir-seg, "
            f"cvc-clinicdb]) have PraNet test lists, this is {dataset or 'an unknown dataset'}"
        )
    by_member: dict[str, list[tuple[str, str]]] = defaultdict(list)
    unknown = []
    for i in ids:
        member, stem = (members[0], i) if len(members) == 1 and SEPARATOR not in i else split_id(i)
        if member not in members or stem not in _stems_of(member):
            unknown.append(i)
        else:
            by_member[member].append((i, stem))
    if unknown:
        raise DataError(f"pranet split: {len(unknown)} ids are not of {dataset}: {summarise(unknown)}")
    sides: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for member in members:
        listed = set(pranet_test(member))
        test = [i for i, stem in by_member[member] if stem in listed]
        pool = [i for i, stem in by_member[member] if stem not in listed]
        if not test:
            raise DataError(
                f"pranet split: none of the {len(by_member[member])} {member} samples is in PraNet's "
                f"test list of {len(listed)}"
            )
        # Validation is drawn from each dataset's training part alone, so both are watched.
        n_val = max(1, round_half_up(val_fraction * len(pool))) if val_fraction > 0 else 0
        if len(pool) - n_val < 1:
            raise DataError(f"pranet split: {len(pool)} {member} training samples are too few for {n_val} val")
        order = _hash_order(pool, seed)
        sides["test"] += test
        sides["val"] += order[:n_val]
        sides["train"] += order[n_val:]
    return sides
