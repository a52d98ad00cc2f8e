"""The PraNet split and combined datasets: on the ids of the shipped lists (no image needed), and
through the DataModule on small synthetic copies with real stems."""

from __future__ import annotations

from pathlib import Path

import pytest

from polypnet.data import DataError, PolypDataModule, make_split
from polypnet.data.combined import combine_pairs, combined_id, split_id
from polypnet.data.layouts import Pair, PairSet
from polypnet.data.shipped import CVC, KVASIR, cvc_sequences, kvasir_ids, pranet_test

from .synth import disc_mask, random_image, write

KVASIR_IDS = sorted(kvasir_ids())
CVC_IDS = list(cvc_sequences())
BOTH = [combined_id(KVASIR, i) for i in KVASIR_IDS] + [combined_id(CVC, i) for i in CVC_IDS]
COMBINED = f"{KVASIR}+{CVC}"


def _pranet(ids: list[str], dataset: str | None, seed: int, val_fraction: float) -> dict:
    return make_split(ids, "pranet", seed=seed, val_fraction=val_fraction, dataset=dataset)


def test_shipped_test_lists_are_pranets() -> None:
    kvasir, cvc = pranet_test(KVASIR), pranet_test(CVC)
    assert (len(kvasir), len(set(kvasir)), len(cvc), len(set(cvc))) == (100, 100, 62, 62)
    assert set(kvasir) <= kvasir_ids() and set(cvc) <= set(CVC_IDS)
    assert cvc[:3] == ("14", "21", "25")


def test_combined_split_is_900_plus_550_train_and_the_two_lists_test() -> None:
    sides = _pranet(BOTH, COMBINED, seed=42, val_fraction=0.1)
    assert sorted(sides["test"]) == sorted(
        [combined_id(KVASIR, i) for i in pranet_test(KVASIR)] + [combined_id(CVC, i) for i in pranet_test(CVC)]
    )
    per = {d: [split_id(i)[0] for i in sides["val"]].count(d) for d in (KVASIR, CVC)}
    assert per == {KVASIR: 90, CVC: 55}  # each dataset's own tenth of its 900 / 550
    assert len(sides["train"]) == 1450 - 145
    assert len(set(sides["train"]) | set(sides["val"]) | set(sides["test"])) == len(BOTH)


def test_val_depends_on_the_seed_test_does_not() -> None:
    a = _pranet(BOTH, COMBINED, seed=42, val_fraction=0.1)
    b = _pranet(BOTH, COMBINED, seed=43, val_fraction=0.1)
    assert a["test"] == b["test"] and set(a["val"]) != set(b["val"])
    shuffled = _pranet(list(reversed(BOTH)), COMBINED, seed=42, val_fraction=0.1)
    assert all(shuffled[side] == a[side] for side in ("train", "val", "test"))  # file order is irrelevant


def test_one_dataset_alone_and_without_validation() -> None:
    sides = _pranet(KVASIR_IDS, KVASIR, seed=42, val_fraction=0.0)
    assert (len(sides["train"]), len(sides["val"]), len(sides["test"])) == (900, 0, 100)


def test_refuses_other_data() -> None:
    with pytest.raises(DataError, match="PraNet test lists"):
        _pranet(["a", "b"], None, 42, 0.1)
    with pytest.raises(DataError, match="not of"):
        _pranet(BOTH + ["14"], COMBINED, 42, 0.1)  # a bare stem in a combined set
    with pytest.raises(DataError, match="not of"):
        _pranet(KVASIR_IDS + ["stray"], KVASIR, 42, 0.1)
    train_only = [i for i in CVC_IDS if i not in set(pranet_test(CVC))]
    with pytest.raises(DataError, match="none of the 550"):
        _pranet(train_only, CVC, 42, 0.1)


def pairset(dataset: str | None, ids: list[str], root: Path) -> PairSet:
    pairs = [Pair(i, root / f"{i}.jpg", root / f"{i}_m.jpg") for i in ids]
    return PairSet(root, "x", dataset, root, root, pairs, {i: (2, 3) for i in ids})


def test_combine_prefixes_ids_and_keeps_the_parts(tmp_path: Path) -> None:
    a, b = pairset(KVASIR, KVASIR_IDS[:2], tmp_path / "k"), pairset(CVC, ["1", "2"], tmp_path / "c")
    both = combine_pairs([a, b])
    assert both.ids == [
        combined_id(KVASIR, KVASIR_IDS[0]),
        combined_id(KVASIR, KVASIR_IDS[1]),
        "cvc-clinicdb__1",
        "cvc-clinicdb__2",
    ]
    assert both.dataset == "kvasir-seg+cvc-clinicdb" and both.root == tmp_path and both.parts == [a, b]
    assert both.select(["cvc-clinicdb__2"])[0].image == tmp_path / "c" / "2.jpg"
    assert both.sizes["cvc-clinicdb__1"] == (2, 3) and "4 pairs" in both.describe()
    with pytest.raises(DataError, match="not recognised"):
        combine_pairs([a, pairset(None, ["x"], tmp_path)])
    with pytest.raises(DataError, match="twice"):
        combine_pairs([a, a])
    with pytest.raises(ValueError, match="not a combined id"):
        split_id("14")


def make_both(root: Path, per_dataset: int = 6) -> list[str]:
    """Two of PraNet's test images and ``per_dataset - 2`` others of each dataset, synthetic
    pixels under real stems (CVC frames at CVC's 384x288, which its layout needs)."""
    kvasir_test, cvc_test = pranet_test(KVASIR)[:2], pranet_test(CVC)[:2]
    kvasir = list(kvasir_test) + [i for i in KVASIR_IDS if i not in set(pranet_test(KVASIR))][: per_dataset - 2]
    cvc = list(cvc_test) + [i for i in CVC_IDS if i not in set(pranet_test(CVC))][: per_dataset - 2]
    for k, stem in enumerate(kvasir):
        write(root / KVASIR / "images" / f"{stem}.jpg", random_image(40, 48, k))
        write(root / KVASIR / "masks" / f"{stem}.jpg", disc_mask(40, 48, k))
    for k, stem in enumerate(cvc):
        write(root / CVC / "images" / f"{stem}.png", random_image(288, 384, k))
        write(root / CVC / "masks" / f"{stem}.png", disc_mask(288, 384, k))
    return [combined_id(KVASIR, i) for i in kvasir_test] + [combined_id(CVC, i) for i in cvc_test]


def test_datamodule_trains_on_both_datasets(tmp_path: Path) -> None:
    test_ids = make_both(tmp_path)
    dm = PolypDataModule(
        root=[str(tmp_path / KVASIR), str(tmp_path / CVC)],
        split="pranet",
        image_size=32,
        batch_size=2,
        val_fraction=0.25,
        run_dir=str(tmp_path / "run"),
    )
    dm.setup("fit")
    split = dm.split
    assert split["kind"] == "pranet" and split["dataset"] == COMBINED and split["layout"] == "combined"
    assert sorted(split["test"]) == sorted(test_ids)
    assert split["counts"] == {"train": 6, "val": 2, "test": 4}  # 4 others each: 1 val, 3 train
    assert {split_id(i)[0] for i in split["val"]} == {KVASIR, CVC}
    assert (tmp_path / "run" / "split.json").is_file()
    batch = next(iter(dm.test_dataloader()))
    assert batch["image"].shape == (2, 3, 32, 32) and batch["name"][0] in test_ids
    assert {tuple(s.tolist()) for s in batch["orig_size"]} <= {(40, 48), (288, 384)}
    with pytest.raises(ValueError, match="empty list"):
        PolypDataModule(root=[])
