"""The real datasets in ../shared/data (skipped with the reason when absent). Headers of the
full datasets are read once per session; only small subsets are decoded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from polypnet.data import PairSet, PolypDataModule, find_pairs, make_split, read_image, read_mask
from polypnet.data.shipped import cvc_sequences, kvasir_official


def sides(split: dict) -> list[set[str]]:
    return [set(split[s]) for s in ("train", "val", "test")]


def test_kvasir_pairs(kvasir_pairs: PairSet) -> None:
    assert len(kvasir_pairs) == 1000
    assert (kvasir_pairs.layout, kvasir_pairs.dataset) == ("kvasir-seg", "kvasir-seg")
    assert set(kvasir_pairs.ids) == set(kvasir_official()["train"]) | set(kvasir_official()["val"])
    heights = [h for h, _ in kvasir_pairs.sizes.values()]
    widths = [w for _, w in kvasir_pairs.sizes.values()]
    assert (min(widths), max(widths), min(heights), max(heights)) == (332, 1920, 352, 1072)
    assert len(set(kvasir_pairs.sizes.values())) == 333


def test_cvc_pairs(cvc_pairs: PairSet) -> None:
    assert len(cvc_pairs) == 612
    assert (cvc_pairs.layout, cvc_pairs.dataset) == ("cvc-clinicdb-png", "cvc-clinicdb")
    assert set(cvc_pairs.sizes.values()) == {(288, 384)}
    assert cvc_pairs.ids[:3] == ["1", "2", "3"] and cvc_pairs.ids[-1] == "612"


@pytest.mark.parametrize(
    ("which", "kind", "counts"),
    [
        ("kvasir", "random", (800, 100, 100)),
        ("kvasir", "official", (792, 88, 120)),
        ("cvc", "random", (490, 61, 61)),
        ("cvc", "sequence", (490, 61, 61)),
    ],
)
def test_split_sizes_and_disjointness(
    kvasir_pairs: PairSet, cvc_pairs: PairSet, which: str, kind: str, counts: tuple[int, int, int]
) -> None:
    pairs = kvasir_pairs if which == "kvasir" else cvc_pairs
    split = make_split(pairs, kind, seed=42)
    train, val, test = sides(split)
    assert (len(train), len(val), len(test)) == counts
    assert not train & val and not train & test and not val & test
    assert train | val | test == set(pairs.ids)
    assert make_split(pairs, kind, seed=42) == split  # same seed, same split


def test_sequence_split_keeps_sequences_whole(cvc_pairs: PairSet) -> None:
    table = cvc_sequences()
    for seed in (0, 42):
        seqs = [{table[i] for i in side} for side in sides(make_split(cvc_pairs, "sequence", seed=seed))]
        assert not seqs[0] & seqs[1] and not seqs[0] & seqs[2] and not seqs[1] & seqs[2]
        assert len(set().union(*seqs)) == 29


def test_masks_are_binary(kvasir_pairs: PairSet, cvc_pairs: PairSet, shared_data: Path) -> None:
    subset = kvasir_pairs.pairs[::50] + cvc_pairs.pairs[::40]
    for pair in subset:
        mask = read_mask(pair.mask)
        assert mask.dtype == np.uint8 and set(np.unique(mask).tolist()) == {0, 1}, pair.mask
        assert mask.shape == kvasir_pairs.sizes.get(pair.id, cvc_pairs.sizes.get(pair.id))


def test_official_tiff_sample(shared_data: Path) -> None:
    found = find_pairs(shared_data / "cvc-clinicdb-tif-sample")
    assert found.layout == "cvc-clinicdb-tif"
    assert found.ids == ["1", "2", "3", "100", "250", "400", "555", "612"]
    png = shared_data / "cvc-clinicdb"
    for pair in found:
        image = read_image(pair.image)
        assert image.shape == (288, 384, 3) and image.dtype == np.uint8
        # The PNG copy in ../shared is pixel-identical to the official TIFFs.
        np.testing.assert_array_equal(image, read_image(png / "images" / f"{pair.id}.png"))
        np.testing.assert_array_equal(read_mask(pair.mask), read_mask(png / "masks" / f"{pair.id}.png"))


def test_datamodule_on_real_cvc_by_sequence(shared_data: Path, tmp_path: Path) -> None:
    dm = PolypDataModule(
        root=str(shared_data / "cvc-clinicdb"), split="sequence", image_size=128, batch_size=8,
        cache=False, run_dir=str(tmp_path),
    )  # fmt: skip
    dm.setup("fit")
    assert dm.split["counts"] == {"train": 490, "val": 61, "test": 61}
    assert dm.split_path.exists() and len(dm.train_dataloader()) == 61
    batch = next(iter(dm.val_dataloader()))
    assert batch["image"].shape == (8, 3, 128, 128) and batch["orig_size"][0].tolist() == [288, 384]
