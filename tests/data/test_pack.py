"""polypnet.data.pack: a pre-resized copy reads with the unchanged readers and DataModule, as the
same dataset, with the same splits (the real CVC-ClinicDB test skips without ../shared/data)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from polypnet.cli.data import pack_main as main
from polypnet.data import DataError, DecodeCache, PolypDataModule, find_pairs, make_split, read_mask, sample_root
from polypnet.data.layouts import PACK_MANIFEST
from polypnet.data.pack import FORMAT, QUALITIES, pack, psnr
from polypnet.data.readers import read_bytes
from polypnet.data.shipped import cvc_sequences

from .conftest import MakeDataset

SIZE = 64


def same_split(a: dict, b: dict) -> None:
    """Equal in everything but the root folder."""
    assert {k: v for k, v in a.items() if k != "root"} == {k: v for k, v in b.items() if k != "root"}


@pytest.fixture(scope="module")
def sample_pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pack")
    assert main([str(sample_root()), "--out", str(out), "--size", str(SIZE)]) == 0
    return out / "kvasir-seg"


def test_manifest(sample_pack: Path) -> None:
    meta = json.loads((sample_pack / PACK_MANIFEST).read_text())
    assert meta["format"] == FORMAT and meta["dataset"] == "kvasir-seg" and meta["size"] == SIZE
    assert meta["counts"] == {"pairs": 16}
    assert meta["encoding"]["image"]["format"] == "jpeg" and meta["encoding"]["image"]["quality"] == QUALITIES[0]
    assert meta["encoding"]["mask"] == {"format": "png", "bits": 1, "values": [0, 255]}
    files = {p.name: p.stat().st_size for d in ("images", "masks") for p in (sample_pack / d).iterdir()}
    assert len(files) == 32
    assert meta["bytes"]["total"] == sum(files.values()) == meta["bytes"]["images"] + meta["bytes"]["masks"]
    assert 35 < meta["psnr_db"]["min"] <= meta["psnr_db"]["mean"] < 100
    assert meta["source"]["layout"] == "kvasir-seg" and meta["source"]["sha256sums_sha256"] is None
    assert set(meta["original_sizes"]) == set(find_pairs("sample").ids)
    assert (sample_pack / "NOTICE").is_file()  # the sample's CC BY attribution travels with it


def test_pixels_are_the_pipelines_resize_up_to_jpeg(sample_pack: Path) -> None:
    original, packed = find_pairs("sample"), find_pairs(sample_pack)
    assert (packed.layout, packed.dataset, packed.ids) == ("kvasir-seg", "kvasir-seg", original.ids)
    assert set(packed.sizes.values()) == {(SIZE, SIZE)}
    reference = DecodeCache.build(original.pairs, SIZE)
    again = DecodeCache.build(packed.pairs, SIZE)
    # Masks: lossless and binary; images: the manifest's PSNR, and resizing to the pack's own
    # size changes nothing (the cache of the pack holds the JPEG's pixels as they are).
    assert np.array_equal(again.masks, reference.masks)
    values = []
    for k, pair in enumerate(packed.pairs):
        mask = read_mask(pair.mask)
        assert set(np.unique(mask)) <= {0, 1} and np.array_equal(mask, reference.masks[k])
        data = read_bytes(pair.image)
        values.append(psnr(reference.images[k], data))
        assert abs(np.asarray(again.images[k], float) - reference.images[k]).mean() < 2
    meta = json.loads((sample_pack / PACK_MANIFEST).read_text())
    assert meta["psnr_db"]["mean"] == pytest.approx(np.mean(values), abs=1e-3)
    assert meta["psnr_db"]["min"] == pytest.approx(min(values), abs=1e-3)


@pytest.mark.parametrize("seed", [42, 7])
def test_datamodule_reads_the_pack_with_the_same_split(sample_pack: Path, tmp_path: Path, seed: int) -> None:
    runs = {}
    for name, root in (("original", "sample"), ("packed", str(sample_pack))):
        dm = PolypDataModule(root=root, seed=seed, image_size=SIZE, batch_size=4, run_dir=str(tmp_path / name))
        dm.setup("fit")
        runs[name] = json.loads(dm.split_path.read_text())
        batch = next(iter(dm.train_dataloader()))
        assert batch["image"].shape == (4, 3, SIZE, SIZE) and batch["mask"].shape == (4, 1, SIZE, SIZE)
    same_split(runs["original"], runs["packed"])


def _cvc_like(make_dataset: MakeDataset) -> Path:
    # Every 20th frame: 31 frames from most of the 29 sequences, at CVC's own 384x288.
    ids = [i for i in cvc_sequences() if int(i) % 20 == 1]
    return make_dataset(ids=ids, image_ext=".png", size=(288, 384), name="cvc-clinicdb")


def test_a_packed_cvc_is_still_cvc(make_dataset: MakeDataset, tmp_path: Path) -> None:
    root = _cvc_like(make_dataset)
    original = find_pairs(root)
    assert (original.dataset, original.layout) == ("cvc-clinicdb", "cvc-clinicdb-png")
    pack([root], tmp_path / "out", size=SIZE)
    target = tmp_path / "out" / "cvc-clinicdb"
    packed = find_pairs(target)
    assert (packed.dataset, packed.layout, packed.ids) == ("cvc-clinicdb", "cvc-clinicdb-png", original.ids)
    for kind in ("sequence", "random"):
        same_split(make_split(original, kind, seed=3), make_split(packed, kind, seed=3))
    # The manifest is what marks the 64 px copy as CVC-ClinicDB: without it, a generic folder.
    (target / PACK_MANIFEST).unlink()
    assert find_pairs(target).dataset is None


def test_quality_follows_the_budget(make_dataset: MakeDataset, tmp_path: Path) -> None:
    root = make_dataset(n=6, size=(96, 96))
    best = pack([root], tmp_path / "a", size=SIZE)[0]
    assert best["encoding"]["image"]["quality"] == QUALITIES[0]
    tight = pack([root], tmp_path / "b", size=SIZE, budget_mib=best["bytes"]["total"] * 0.8 / 2**20)[0]
    assert tight["encoding"]["image"]["quality"] < QUALITIES[0]
    assert tight["bytes"]["total"] <= best["bytes"]["total"] * 0.8
    assert tight["psnr_db"]["mean"] < best["psnr_db"]["mean"]
    with pytest.raises(DataError, match="over the budget"):
        pack([root], tmp_path / "c", size=SIZE, budget_mib=1e-4)
    fixed = pack([root], tmp_path / "d", size=SIZE, quality=50)[0]
    assert fixed["encoding"]["image"]["quality"] == 50 and fixed["budget"]["quality"] == 50


def test_replaces_a_pack_but_never_other_folders(make_dataset: MakeDataset, tmp_path: Path) -> None:
    root = make_dataset(n=4)
    out = tmp_path / "out"
    pack([root], out, size=SIZE)
    (out / "ds" / "images" / "stale.jpg").write_bytes(b"")
    pack([root], out, size=SIZE)  # an earlier pack is replaced whole
    assert not (out / "ds" / "images" / "stale.jpg").exists()
    (out / "ds" / PACK_MANIFEST).unlink()
    with pytest.raises(DataError, match="not a pack"):
        pack([root], out, size=SIZE)
    assert main([str(root), "--out", str(root.parent), "--size", str(SIZE)]) == 2  # onto itself


def test_real_cvc_pack_has_the_same_splits(shared_data: Path, tmp_path: Path) -> None:
    """The splits of CVC-ClinicDB packed (here at 64 px, any size gives the same ids) equal the
    original's, and the pack is recognised as CVC-ClinicDB."""
    original = find_pairs(shared_data / "cvc-clinicdb")
    meta = pack([shared_data / "cvc-clinicdb"], tmp_path, size=SIZE)[0]
    packed = find_pairs(tmp_path / "cvc-clinicdb")
    assert (packed.dataset, packed.layout, len(packed)) == (original.dataset, original.layout, 612)
    assert meta["source"]["sha256sums_sha256"] is not None and (tmp_path / "cvc-clinicdb" / "sequences.csv").is_file()
    for kind, seed in (("random", 42), ("random", 43), ("sequence", 42), ("sequence", 43)):
        same_split(make_split(original, kind, seed=seed), make_split(packed, kind, seed=seed))
