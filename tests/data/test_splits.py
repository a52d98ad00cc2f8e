"""Splits: sizes and rounding, disjointness and coverage, determinism, kinds, JSON round trip.

The official and sequence kinds are tested on the ids of the shipped lists: no image is needed.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from polypnet.data import DataError, DataWarning, load_split, make_split, save_split, split_counts
from polypnet.data.shipped import cvc_sequences, kvasir_ids, kvasir_official

KVASIR = sorted(kvasir_ids())
CVC = list(cvc_sequences())


def digest(split: dict) -> str:
    return hashlib.sha256(json.dumps([split["train"], split["val"], split["test"]]).encode()).hexdigest()[:16]


def assert_partition(split: dict, ids: list[str]) -> None:
    sides = [set(split[s]) for s in ("train", "val", "test")]
    assert sum(map(len, sides)) == len(ids), "overlap or duplicates"
    assert set().union(*sides) == set(ids), "does not cover the dataset"
    assert split["counts"] == {s: len(split[s]) for s in ("train", "val", "test")}


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (1000, (800, 100, 100)),
        (612, (490, 61, 61)),
        (16, (12, 2, 2)),
        (8, (6, 1, 1)),
        (3, (1, 1, 1)),
        (25, (19, 3, 3)),
        (15, (11, 2, 2)),
    ],  # fmt: skip
)
def test_random_counts_round_half_up_with_at_least_one(n: int, expected: tuple[int, int, int]) -> None:
    assert split_counts(n) == expected
    split = make_split([str(i) for i in range(n)], "random")
    assert (len(split["train"]), len(split["val"]), len(split["test"])) == expected


def test_counts_edge_cases() -> None:
    assert split_counts(10, 0.0, 0.2) == (8, 0, 2)
    with pytest.raises(DataError, match="too few"):
        split_counts(2)
    with pytest.raises(ValueError, match="val_fraction"):
        split_counts(10, 1.0)


def test_random_split_is_pinned_across_machines() -> None:
    # sha256 ordering, no RNG: these digests must never change (a change breaks saved results).
    ids = [f"img{i}" for i in range(100)]
    split = make_split(ids, "random", seed=42)
    assert split["test"] == [f"img{i}" for i in (12, 15, 25, 27, 54, 74, 78, 85, 92, 94)]
    assert digest(split) == "c5746369c89e59d9"
    assert digest(make_split(KVASIR, "random", seed=42)) == "5dad7924ef128b84"
    assert digest(make_split(CVC, "random", seed=42)) == "fc38ba9a3a3bb80b"


def test_random_split_depends_on_seed_and_id_set_not_order() -> None:
    ids = [f"img{i}" for i in range(50)]
    a = make_split(ids, "random", seed=1)
    assert make_split(list(reversed(ids)), "random", seed=1)["test"] == a["test"]
    assert make_split(ids, "random", seed=2)["test"] != a["test"]
    assert_partition(a, ids)


def test_official_kvasir_split() -> None:
    split = make_split(KVASIR, "official", seed=42, dataset="kvasir-seg")
    assert_partition(split, KVASIR)
    assert split["counts"] == {"train": 792, "val": 88, "test": 120}
    assert set(split["test"]) == set(kvasir_official()["val"])
    assert set(split["train"]) | set(split["val"]) == set(kvasir_official()["train"])
    assert digest(split) == "8056926990d705c9"


def test_official_split_errors() -> None:
    with pytest.raises(DataError, match="use split=sequence"):
        make_split(CVC, "official", dataset="cvc-clinicdb")
    with pytest.raises(DataError, match="official val list"):  # e.g. the bundled sample
        make_split(list(kvasir_official()["train"][:16]), "official", dataset="kvasir-seg")


@pytest.mark.parametrize("seed", [0, 1, 42, 123])
def test_sequence_split_keeps_every_sequence_on_one_side(seed: int) -> None:
    split = make_split(CVC, "sequence", seed=seed, dataset="cvc-clinicdb")
    assert_partition(split, CVC)
    table = cvc_sequences()
    sides = {s: {table[i] for i in split[s]} for s in ("train", "val", "test")}
    assert not sides["train"] & sides["val"]
    assert not sides["train"] & sides["test"]
    assert not sides["val"] & sides["test"]
    assert split["counts"] == {"train": 490, "val": 61, "test": 61}


def test_sequence_split_of_a_subset_and_errors() -> None:
    frames = ["1", "2", "3", "100", "250", "400", "555", "612"]  # the TIFF sample in ../shared
    split = make_split(frames, "sequence", dataset="cvc-clinicdb")
    assert_partition(split, frames)
    assert split["val"] and split["test"]
    with pytest.raises(DataError, match="only CVC-ClinicDB"):
        make_split(KVASIR, "sequence", dataset="kvasir-seg")
    with pytest.raises(DataError, match="not CVC-ClinicDB frames"):
        make_split(["1", "999"], "sequence", dataset="cvc-clinicdb")
    assert digest(make_split(CVC, "sequence", seed=42, dataset="cvc-clinicdb")) == "8696c099e632352e"


def test_save_load_round_trip_and_file_kind(tmp_path: Path) -> None:
    ids = [f"x{i}" for i in range(30)]
    split = make_split(ids, "random", seed=7)
    path = save_split(split, tmp_path / "run" / "split.json")
    loaded = load_split(path)
    for side in ("train", "val", "test"):
        assert loaded[side] == split[side]
    assert loaded["kind"] == "random" and loaded["seed"] == 7 and loaded["source"] == str(path)
    again = make_split(ids, "file", split_file=path)
    assert again["test"] == split["test"]


def test_file_split_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DataError, match="not a JSON file") as info:
        load_split(bad)
    assert str(bad) in str(info.value)
    bad.write_text(json.dumps({"train": ["a", "b"], "val": ["b"], "test": []}))
    with pytest.raises(DataError, match="on two sides"):
        load_split(bad)
    with pytest.raises(DataError, match="cannot read split file"):
        load_split(tmp_path / "missing.json")
    ok = save_split({"train": ["a", "b"], "val": ["c"], "test": ["d"]}, tmp_path / "ok.json")
    with pytest.raises(DataError, match="not in the data"):
        make_split(["a", "b", "c"], "file", split_file=ok)
    with pytest.warns(DataWarning, match="on no side"):
        make_split(["a", "b", "c", "d", "e"], "file", split_file=ok)


def test_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown split kind"):
        make_split(["a", "b", "c"], "stratified")
