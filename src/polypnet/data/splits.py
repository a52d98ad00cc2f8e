"""Reproducible train/val/test splits, saved as JSON and reloadable by path.

Kinds:

``random``
    The paper's protocol, 80/10/10 by default. ``n_val = max(1, floor(val_fraction * n + 0.5))``,
    the same for test, train = the rest (Kvasir-SEG 800/100/100, CVC-ClinicDB 490/61/61, the
    16-pair sample 12/2/2). Ids are ordered by ``sha256(f"{seed}:{id}")``; the first ``n_test``
    are test, the next ``n_val`` val. No RNG is involved, so the split is the same on every
    machine, Python and NumPy version, and it depends only on the set of ids, not on file order.
``official``
    Kvasir-SEG only. Test = the official 120-image ``val.txt`` (the set papers report on);
    val = ``round_half_up(val_fraction * 880)`` = 88 ids of the official ``train.txt``, chosen
    as in ``random``; train = the other 792.
``sequence``
    CVC-ClinicDB only. Whole video sequences (the dataset's frame -> sequence table) go to one
    side, so near-duplicate consecutive frames never straddle train and test. Sequences are
    ordered by ``sha256(f"{seed}:{sequence}")``; test takes the subset of sequences whose frame
    count is closest to the ``random`` test count (the first such subset in that order), then val
    does the same with the sequences left, and train takes the rest. On the full dataset this
    gives exactly 490/61/61 frames for every seed tried.
``pranet``
    PraNet's benchmark (Fan et al., MICCAI 2020): Kvasir-SEG, CVC-ClinicDB, or both combined
    (:mod:`~polypnet.data.combined`, ids ``<dataset>__<stem>``). Test = the ids in PraNet's shipped
    lists (Kvasir-SEG 100, CVC-ClinicDB 62); val = ``round_half_up(val_fraction * n)`` of each
    dataset's other ids (90 of 900, 55 of 550), chosen as in ``random``, so both datasets are
    watched; train = the rest (810 + 495). As in PraNet's protocol the CVC-ClinicDB test frames
    have neighbours of the same video in train.
``file``
    A split saved earlier (:func:`save_split`), checked against the ids found.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import warnings
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .combined import SEPARATOR, member_datasets
from .errors import DataError, DataWarning, Problem, summarise
from .layouts import PairSet, natural_key
from .shipped import CVC, KVASIR, PRANET_TEST_FILES, cvc_sequences, kvasir_ids, kvasir_official, pranet_test

SPLIT_KINDS = ("random", "official", "sequence", "pranet", "file")
SIDES = ("train", "val", "test")
FORMAT = "polypnet-split/1"


def round_half_up(x: float) -> int:
    """Rounding that does not depend on parity (Python's ``round(2.5)`` is 2)."""
    return math.floor(x + 0.5)


def split_counts(n: int, val_fraction: float = 0.1, test_fraction: float = 0.1) -> tuple[int, int, int]:
    """(train, val, test) sizes for ``n`` ids: val/test = ``max(1, round_half_up(f * n))``
    (0 when the fraction is 0), train = the rest; DataError when train would be empty."""
    for name, f in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= f < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {f}")
    n_val = max(1, round_half_up(val_fraction * n)) if val_fraction > 0 else 0
    n_test = max(1, round_half_up(test_fraction * n)) if test_fraction > 0 else 0
    n_train = n - n_val - n_test
    if n_train < 1:
        raise DataError(
            f"{n} samples are too few for a split with {n_val} val and {n_test} test samples "
            "and at least 1 train sample"
        )
    return n_train, n_val, n_test


def _hash_order(items: Sequence[Any], seed: int) -> list[Any]:
    def key(item: Any) -> tuple[str, str]:
        return hashlib.sha256(f"{seed}:{item}".encode()).hexdigest(), str(item)

    return sorted(items, key=key)


def _sorted(ids: Sequence[str]) -> list[str]:
    return sorted(ids, key=natural_key)


def _random(ids: list[str], seed: int, val_fraction: float, test_fraction: float) -> dict[str, list[str]]:
    _, n_val, n_test = split_counts(len(ids), val_fraction, test_fraction)
    order = _hash_order(ids, seed)
    return {"test": order[:n_test], "val": order[n_test : n_test + n_val], "train": order[n_test + n_val :]}


def _official(ids: list[str], seed: int, val_fraction: float) -> dict[str, list[str]]:
    lists = kvasir_official()
    train_all, test_all = set(lists["train"]), set(lists["val"])
    unknown = [i for i in ids if i not in train_all and i not in test_all]
    if unknown:
        raise DataError(
            f"official split: {len(unknown)} ids are not in Kvasir-SEG's official lists: {summarise(unknown)}"
        )
    test = [i for i in ids if i in test_all]
    pool = [i for i in ids if i in train_all]
    if not test:
        raise DataError(
            f"official split: none of the {len(ids)} samples is in Kvasir-SEG's official val list "
            "(the test side); the bundled sample holds official train images only: use split=random"
        )
    n_val = max(1, round_half_up(val_fraction * len(pool))) if val_fraction > 0 else 0
    if len(pool) - n_val < 1:
        raise DataError(f"official split: {len(pool)} official train samples are too few for {n_val} val samples")
    order = _hash_order(pool, seed)
    return {"test": test, "val": order[:n_val], "train": order[n_val:]}


def _sequence(ids: list[str], seed: int, val_fraction: float, test_fraction: float) -> dict[str, list[str]]:
    table = cvc_sequences()
    unknown = [i for i in ids if i not in table]
    if unknown:
        raise DataError(f"sequence split: {len(unknown)} ids are not CVC-ClinicDB frames 1..612: {summarise(unknown)}")
    frames: dict[int, list[str]] = defaultdict(list)
    for i in ids:
        frames[table[i]].append(i)
    _, target_val, target_test = split_counts(len(ids), val_fraction, test_fraction)
    left = _hash_order(sorted(frames), seed)
    sides: dict[str, list[str]] = {}
    for side, target in (("test", target_test), ("val", target_val)):
        chosen = _closest_subset([(seq, len(frames[seq])) for seq in left], target)
        sides[side] = [i for seq in chosen for i in frames[seq]]
        left = [seq for seq in left if seq not in chosen]
    sides["train"] = [i for seq in left for i in frames[seq]]
    if not sides["train"]:
        raise DataError(f"sequence split: {len(frames)} sequences are too few to leave one for training")
    return sides


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
        if len(members) == 1 and SEPARATOR not in i:
            member, stem = members[0], i
        else:
            member, _, stem = i.partition(SEPARATOR)
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


def _closest_subset(groups: list[tuple[int, int]], target: int) -> set[int]:
    """Groups whose sizes sum closest to ``target`` (ties: the smaller sum); among subsets with
    the same sum, the one found first in the given (seeded) order, so seeds vary the choice."""
    if target <= 0 or not groups:
        return set()
    limit = target + max(size for _, size in groups)
    reach: dict[int, tuple[int, ...]] = {0: ()}
    for key, size in groups:
        for total, chosen in list(reach.items()):
            if total + size <= limit and total + size not in reach:
                reach[total + size] = chosen + (key,)
    best = min((t for t in reach if t > 0), key=lambda t: (abs(t - target), t))
    return set(reach[best])


def make_split(
    pairs: PairSet | Sequence[str],
    kind: str = "random",
    seed: int = 42,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    split_file: str | os.PathLike | None = None,
    dataset: str | None = None,
) -> dict[str, Any]:
    """A split of ``pairs`` (a :class:`PairSet` or plain ids): ``{"train", "val", "test"}`` lists
    of ids (naturally sorted) plus metadata (kind, seed, fractions, counts, dataset, layout, root).

    ``dataset`` overrides the dataset detected from the layout (needed for ``official``,
    ``sequence`` and ``pranet`` when only ids are given; ``kvasir-seg+cvc-clinicdb`` for combined
    ids). ``kind="file"`` loads ``split_file``.
    """
    if isinstance(pairs, PairSet):
        ids, meta = pairs.ids, {"dataset": pairs.dataset, "layout": pairs.layout, "root": str(pairs.root)}
    else:
        ids, meta = list(pairs), {"dataset": None, "layout": None, "root": None}
    if dataset is not None:
        meta["dataset"] = dataset
    if len(set(ids)) != len(ids):
        raise DataError("make_split: duplicate ids")
    if kind == "file":
        if split_file is None:
            raise ValueError("split='file' needs split_file (the path of a saved split JSON)")
        split = load_split(split_file)
        check_split(split, ids, source=Path(split_file))
        return split
    if kind == "random":
        sides = _random(ids, seed, val_fraction, test_fraction)
    elif kind == "official":
        if meta["dataset"] != KVASIR:
            hint = " (CVC-ClinicDB: use split=sequence)" if meta["dataset"] == CVC else ""
            raise DataError(
                f"official split: only Kvasir-SEG has an official split, this is "
                f"{meta['dataset'] or 'an unknown dataset'}{hint}"
            )
        sides = _official(ids, seed, val_fraction)
    elif kind == "sequence":
        if meta["dataset"] != CVC:
            raise DataError(
                f"sequence split: only CVC-ClinicDB has a frame -> sequence table, this is "
                f"{meta['dataset'] or 'an unknown dataset'} (use split=random or official)"
            )
        sides = _sequence(ids, seed, val_fraction, test_fraction)
    elif kind == "pranet":
        sides = _pranet(ids, meta["dataset"], seed, val_fraction)
    else:
        raise ValueError(f"unknown split kind {kind!r}; choose one of {', '.join(SPLIT_KINDS)}")
    split: dict[str, Any] = {
        "format": FORMAT,
        "kind": kind,
        "seed": seed,
        "val_fraction": val_fraction,
        "test_fraction": test_fraction,
        **meta,
        "counts": {side: len(sides[side]) for side in SIDES},
    }
    for side in SIDES:
        split[side] = _sorted(sides[side])
    return split


def check_split(split: dict[str, Any], ids: Sequence[str], source: Path | None = None) -> None:
    """DataError when a split's sides overlap or name ids that are not in ``ids``; a warning
    when some of ``ids`` are on no side (a split of a subset is allowed, but never silent)."""
    problems = []
    seen: dict[str, str] = {}
    for side in SIDES:
        for i in split[side]:
            if i in seen:
                problems.append(Problem(source, f"id {i!r} is on two sides: {seen[i]} and {side}"))
            seen[i] = side
    missing = [i for i in seen if i not in set(ids)]
    if missing:
        text = f"{len(missing)} ids of the split are not in the data: {summarise(missing)}"
        problems.append(Problem(source, text))
    if problems:
        raise DataError(problems, context="split")
    unused = [i for i in ids if i not in seen]
    if unused:
        text = f"{source or 'split'}: {len(unused)} samples are on no side of the split: {summarise(unused)}"
        warnings.warn(text, DataWarning, stacklevel=3)


def save_split(split: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write ``split`` as JSON to ``path`` (atomically; parent folders created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(split, indent=1) + "\n")
    os.replace(tmp, path)
    return path


def load_split(path: str | os.PathLike) -> dict[str, Any]:
    """A split saved by :func:`save_split` (or any JSON with ``train``/``val``/``test`` id lists);
    DataError naming the file when it is missing, not JSON, malformed, or its sides overlap."""
    path = Path(path)
    try:
        split = json.loads(path.read_text())
    except OSError as err:
        raise DataError(Problem(path, f"cannot read split file ({err.strerror or err})")) from None
    except json.JSONDecodeError as err:
        raise DataError(Problem(path, f"not a JSON file ({err})")) from None
    if not isinstance(split, dict) or not all(isinstance(split.get(s), list) for s in SIDES):
        raise DataError(Problem(path, "not a split: expected an object with train, val and test lists of ids"))
    for side in SIDES:
        split[side] = [str(i) for i in split[side]]
    split.setdefault("kind", "file")
    split["source"] = str(path)
    check_split(split, [i for s in SIDES for i in split[s]], source=path)
    return split
