"""Layout detection and the validation of every pair: each bad input gives an error naming its file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from polypnet.data import DataError, DataWarning, find_pairs, sample_root
from polypnet.data.shipped import kvasir_official

from .conftest import MakeDataset
from .synth import random_image, write

KVASIR_IDS = list(kvasir_official()["train"][:3])
KV, CVC, CVC_SIZE = "kvasir-seg", "cvc-clinicdb", (288, 384)


@pytest.mark.parametrize(
    ("dirs", "exts", "ids", "size", "layout", "dataset"),
    [
        (("images", "masks"), (".jpg", ".jpg"), KVASIR_IDS, (40, 50), KV, KV),
        (("Original", "Ground Truth"), (".tif", ".tif"), ["1", "2", "30"], CVC_SIZE, "cvc-clinicdb-tif", CVC),
        (("images", "masks"), (".png", ".png"), ["1", "2", "612"], CVC_SIZE, "cvc-clinicdb-png", CVC),
        (("PNG/Original", "PNG/Ground Truth"), (".png", ".png"), ["5", "6"], CVC_SIZE, "cvc-clinicdb-png", CVC),
        (("img", "gt"), (".png", ".bmp"), ["a", "b"], (30, 40), "generic", None),
        (("Kvasir-SEG/images", "Kvasir-SEG/masks"), (".jpg", ".jpg"), KVASIR_IDS, (40, 50), KV, KV),
        # numbered frames that are not 384x288 are not CVC-ClinicDB
        (("images", "masks"), (".png", ".png"), ["1", "2"], (30, 40), "generic", None),
    ],
)
def test_layouts_are_detected(
    make_dataset: MakeDataset, dirs: tuple[str, str], exts: tuple[str, str], ids: list[str],
    size: tuple[int, int], layout: str, dataset: str | None,
) -> None:  # fmt: skip
    root = make_dataset(image_dir=dirs[0], mask_dir=dirs[1], image_ext=exts[0], mask_ext=exts[1], ids=ids, size=size)
    found = find_pairs(root)
    assert (found.layout, found.dataset) == (layout, dataset)
    assert found.ids == ids  # natural order: "2" before "30"
    assert found.describe().startswith(f"{layout} ({dirs[0]}/ + {dirs[1]}/)")
    assert all(found.sizes[i] == size for i in ids)


def test_kaggle_cvc_zip_with_png_and_tif_copies_uses_the_official_tifs(make_dataset: MakeDataset) -> None:
    for copy, ext in (("PNG", ".png"), ("TIF", ".tif")):
        root = make_dataset(
            image_dir=f"{copy}/Original", mask_dir=f"{copy}/Ground Truth",
            image_ext=ext, mask_ext=ext, ids=["1"], size=CVC_SIZE,
        )  # fmt: skip
    assert find_pairs(root).layout == "cvc-clinicdb-tif"


def test_bundled_sample() -> None:
    found = find_pairs("sample")
    assert found.root == sample_root()
    assert (found.layout, len(found)) == ("kvasir-seg", 16)
    assert (sample_root() / "NOTICE").read_text().count("CC BY 4.0") == 1
    assert sum(f.stat().st_size for f in sample_root().rglob("*") if f.is_file()) < 1_000_000


def test_hidden_and_non_image_files_are_ignored(make_dataset: MakeDataset) -> None:
    root = make_dataset(n=2)
    (root / "images" / ".DS_Store").write_bytes(b"\0")
    (root / "images" / "._s00.jpg").write_bytes(b"\0")  # macOS AppleDouble debris in zips
    (root / "masks" / "README.txt").write_text("notes")
    found = find_pairs(root)
    assert len(found) == 2 and [p.name for p in found.ignored] == ["README.txt"]


def _error(root: Path | str) -> DataError:
    with pytest.raises(DataError) as info:
        find_pairs(root)
    return info.value


def test_wrong_root_path(tmp_path: Path) -> None:
    err = _error(tmp_path / "nope")
    assert "root folder not found" in str(err) and str(tmp_path / "nope") in str(err)


def test_dataset_name_without_data_dir_says_how_to_set_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("POLYPNET_DATA_DIR", raising=False)
    assert "POLYPNET_DATA_DIR is not set" in str(_error("kvasir-seg"))


def test_dataset_name_resolves_under_data_dir(
    monkeypatch: pytest.MonkeyPatch, make_dataset: MakeDataset, tmp_path: Path
) -> None:
    make_dataset(n=2, name="kvasir-seg", ids=KVASIR_IDS[:2], image_ext=".jpg", mask_ext=".jpg")
    monkeypatch.setenv("POLYPNET_DATA_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path / "kvasir-seg")  # no ./kvasir-seg here: the name must come from the variable
    assert find_pairs("kvasir-seg").root == tmp_path / "kvasir-seg"


def test_empty_root_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert "empty folder" in str(_error(tmp_path / "empty"))


def test_unknown_layout(tmp_path: Path) -> None:
    write(tmp_path / "flat" / "a.jpg", random_image(8, 8))
    (tmp_path / "flat" / "stuff").mkdir()
    err = _error(tmp_path / "flat")
    assert "unknown layout" in str(err) and "stuff/" in str(err) and str(tmp_path / "flat") in str(err)


def test_root_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "data.zip").write_bytes(b"PK")
    assert "not a folder" in str(_error(tmp_path / "data.zip"))


def test_empty_image_and_mask_folders(tmp_path: Path) -> None:
    (tmp_path / "ds" / "images").mkdir(parents=True)
    (tmp_path / "ds" / "masks").mkdir()
    err = _error(tmp_path / "ds")
    assert len(err.problems) == 2
    assert {p.path.name for p in err.problems} == {"images", "masks"}
    assert all("empty folder" in p.message for p in err.problems)


def test_orphans_are_named(make_dataset: MakeDataset) -> None:
    root = make_dataset(n=3)
    (root / "masks" / "s01.png").unlink()
    (root / "images" / "s02.jpg").unlink()
    err = _error(root)
    messages = {p.path.name: p.message for p in err.problems}
    assert messages["s01.jpg"].startswith("image without mask")
    assert messages["s02.png"].startswith("mask without image")


def test_size_mismatch_is_named(make_dataset: MakeDataset) -> None:
    root = make_dataset(n=2, size=(40, 50))
    write(root / "masks" / "s01.png", np.zeros((41, 50), np.uint8))
    (problem,) = _error(root).problems
    assert problem.path == root / "images" / "s01.jpg"
    assert "size mismatch: image 50x40, mask 50x41" in problem.message


def test_two_files_with_one_stem(make_dataset: MakeDataset) -> None:
    root = make_dataset(n=2)
    write(root / "images" / "s00.png", random_image(48, 64))
    assert "same stem: s00.jpg, s00.png" in str(_error(root))


@pytest.mark.parametrize("cut", ["truncate", "garbage", "empty"])
def test_unreadable_or_truncated_files_are_named(make_dataset: MakeDataset, cut: str) -> None:
    root = make_dataset(n=3)
    bad = root / "images" / "s01.jpg"
    data = bad.read_bytes()
    bad.write_bytes({"truncate": data[: len(data) // 2], "garbage": b"<html>404</html>", "empty": b""}[cut])
    (problem,) = _error(root).problems
    assert problem.path == bad and problem.message.startswith("unreadable image")


def test_every_problem_is_listed_in_one_error(make_dataset: MakeDataset) -> None:
    root = make_dataset(n=5)
    (root / "masks" / "s00.png").unlink()  # image without mask
    (root / "images" / "s01.jpg").unlink()  # mask without image
    (root / "images" / "s02.jpg").write_bytes(b"junk")  # unreadable
    write(root / "masks" / "s03.png", np.zeros((10, 10), np.uint8))  # size mismatch
    err = _error(root)
    assert len(err.problems) == 4
    text = str(err)
    assert text.startswith("4 data problems")
    for name in ("s00.jpg", "s01.png", "s02.jpg", "s03.jpg"):
        assert name in text


def test_conversions_warn_once_per_kind_naming_files(make_dataset: MakeDataset) -> None:
    root = make_dataset(n=4, image_ext=".png")
    write(root / "images" / "s00.png", random_image(48, 64, channels=1))
    write(root / "images" / "s01.png", random_image(48, 64, channels=1))
    write(root / "images" / "s02.png", random_image(48, 64, channels=4))
    write(root / "images" / "s03.png", random_image(48, 64, dtype=np.uint16))
    with pytest.warns(DataWarning) as record:
        found = find_pairs(root)
    assert len(found) == 4
    messages = sorted(str(w.message) for w in record)
    assert len(messages) == 3
    assert any("2 file(s) converted (grayscale converted to RGB)" in m and "s01.png" in m for m in messages)
    assert any("RGBA" in m and "s02.png" in m for m in messages)
    assert any("16-bit" in m and "s03.png" in m for m in messages)


def test_validate_false_skips_headers(make_dataset: MakeDataset) -> None:
    root = make_dataset(n=2)
    (root / "images" / "s01.jpg").write_bytes(b"junk")
    assert len(find_pairs(root, validate=False)) == 2
