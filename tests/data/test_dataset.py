"""PolypDataset, the decode cache (memory and disk) and the transforms."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from polypnet.data import (
    DataError,
    DecodeCache,
    PolypDataset,
    build_transforms,
    find_pairs,
    read_image,
    read_mask,
)
from polypnet.data.transforms import seed_transform

from .conftest import MakeDataset


@pytest.fixture
def pairs(make_dataset: MakeDataset):
    # mixed sizes and formats, Kvasir-style 3-channel JPEG masks, RGB-as-MinIsBlack TIFFs
    make_dataset(n=3, size=(60, 90), image_ext=".jpg", mask_ext=".jpg", name="mix")
    make_dataset(n=2, size=(40, 30), image_ext=".tif", mask_ext=".tif", ids=["t0", "t1"], name="mix")
    return find_pairs(make_dataset(n=1, size=(33, 47), image_ext=".png", ids=["p0"], name="mix")).pairs


def test_cache_returns_the_arrays_of_a_fresh_decode(pairs) -> None:
    cache = DecodeCache.build(pairs, image_size=32)
    resize = build_transforms(32).transforms[0]
    for pair in pairs:
        image, mask = read_image(pair.image), read_mask(pair.mask)
        fresh = resize(image=image, mask=mask)
        cached_image, cached_mask = cache.get(pair.id)
        np.testing.assert_array_equal(cached_image, fresh["image"])
        np.testing.assert_array_equal(cached_mask, fresh["mask"])
        assert cache.size(pair.id) == image.shape[:2]
    assert cache.images.shape == (6, 32, 32, 3) and cache.masks.shape == (6, 32, 32)


def test_cached_and_uncached_items_are_equal(pairs) -> None:
    cached = PolypDataset(pairs, image_size=32, cache=DecodeCache.build(pairs, 32))
    plain = PolypDataset(pairs, image_size=32)
    for i in range(len(pairs)):
        a, b = cached[i], plain[i]
        assert a["name"] == b["name"] == pairs[i].id
        torch.testing.assert_close(a["image"], b["image"], rtol=0, atol=0)
        torch.testing.assert_close(a["mask"], b["mask"], rtol=0, atol=0)
        original = list(read_image(pairs[i].image).shape[:2])
        assert a["orig_size"].tolist() == b["orig_size"].tolist() == original


def test_items_shapes_ranges_and_binary_masks(pairs) -> None:
    dataset = PolypDataset(pairs, image_size=48, train=True, cache=DecodeCache.build(pairs, 48))
    for i in range(len(dataset)):
        item = dataset[i]
        assert item["image"].shape == (3, 48, 48) and item["image"].dtype == torch.float32
        assert 0.0 <= item["image"].min() and item["image"].max() <= 1.0
        assert item["mask"].shape == (1, 48, 48) and item["mask"].dtype == torch.float32
        assert set(item["mask"].unique().tolist()) <= {0.0, 1.0}


def test_repeats_and_read_mask_at_original_size(pairs) -> None:
    dataset = PolypDataset(pairs, image_size=32, repeats=4)
    assert len(dataset) == 4 * len(pairs)
    assert dataset[len(pairs) + 1]["name"] == pairs[1].id
    mask = dataset.read_mask(1)
    assert mask.dtype == np.uint8 and mask.shape == read_image(pairs[1].image).shape[:2]
    assert set(np.unique(mask).tolist()) <= {0, 1}
    with pytest.raises(IndexError):
        dataset[len(dataset)]


def test_augmentation_follows_torch_seed(pairs) -> None:
    def names_and_sums(seed: int) -> list[float]:
        torch.manual_seed(seed)
        dataset = PolypDataset(pairs, image_size=32, train=True, repeats=4)
        return [float(dataset[i]["mask"].sum() + dataset[i]["image"].sum()) for i in range(len(dataset))]

    assert names_and_sums(0) == names_and_sums(0)
    assert names_and_sums(0) != names_and_sums(1)


def _orientation(image: torch.Tensor) -> str:
    """Where the single bright pixel (top right in the source) ended up."""
    row, col = divmod(int(image[0].argmax()), image.shape[-1])
    return {(0, 7): "none", (0, 0): "h", (7, 7): "v", (7, 0): "hv"}.get((row, col), "rotated")


@pytest.mark.parametrize("how", ["seed_transform", "dataset item seed"])
def test_flips_are_drawn_independently_of_each_other(tmp_path: Path, how: str) -> None:
    # albumentations' own Compose.set_random_seed made both flips fire together: only "none" and
    # "hv" ever came out, and the model never saw a horizontally flipped polyp alone.
    image = np.zeros((8, 8, 3), np.uint8)
    image[0, 7] = 255
    mask = np.zeros((8, 8), np.uint8)
    transform = build_transforms(8, train=True, rotate_limit=0)
    if how == "seed_transform":
        seen = []
        for seed in range(400):
            seed_transform(transform, seed)
            seen.append(_orientation(transform(image=image, mask=mask)["image"]))
    else:
        import cv2

        (tmp_path / "images").mkdir()
        (tmp_path / "masks").mkdir()
        cv2.imwrite(str(tmp_path / "images" / "a.png"), image)
        cv2.imwrite(str(tmp_path / "masks" / "a.png"), mask * 255)
        dataset = PolypDataset(find_pairs(tmp_path).pairs, image_size=8, train=True, transform=transform)
        seen = [_orientation(dataset[(0, seed)]["image"]) for seed in range(400)]
    counts = {k: seen.count(k) for k in ("none", "h", "v", "hv")}
    assert sum(counts.values()) == 400
    assert all(60 <= n <= 140 for n in counts.values()), counts  # each about 100 of 400
    seed_transform(transform, 7)
    first = transform(image=image, mask=mask)["image"]
    seed_transform(transform, 7)
    assert torch.equal(first, transform(image=image, mask=mask)["image"])


def test_file_failing_later_raises_an_error_naming_it(pairs) -> None:
    dataset = PolypDataset(pairs, image_size=32)  # no cache: decodes per item
    pairs[2].image.write_bytes(b"broken after setup")
    with pytest.raises(DataError, match="unreadable image") as info:
        dataset[2]
    assert str(pairs[2].image) in str(info.value)


def test_cache_build_lists_every_decode_failure(pairs) -> None:
    pairs[0].image.write_bytes(b"x")
    pairs[4].mask.write_bytes(b"y")
    with pytest.raises(DataError) as info:
        DecodeCache.build(pairs, 32)
    assert {p.path for p in info.value.problems} == {pairs[0].image, pairs[4].mask}


def test_disk_cache_is_reused_and_keyed_by_content(pairs, tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    first = DecodeCache.build(pairs, 32, cache_dir=folder)
    assert len(list(folder.glob("*.json"))) == 1
    second = DecodeCache.build(pairs, 32, cache_dir=folder)
    np.testing.assert_array_equal(first.images, second.images)
    np.testing.assert_array_equal(first.masks, second.masks)
    np.testing.assert_array_equal(first.sizes, second.sizes)
    assert second.images.flags.writeable
    DecodeCache.build(pairs, 40, cache_dir=folder)  # another size: another entry
    mask = read_mask(pairs[0].mask)
    mask[:5] = 1
    from .synth import write

    write(pairs[0].mask, mask * 255)  # changed content: another entry
    third = DecodeCache.build(pairs, 32, cache_dir=folder)
    assert len(list(folder.glob("*.json"))) == 3
    assert not np.array_equal(third.masks[0], first.masks[0])


def test_from_root_on_the_sample() -> None:
    dataset = PolypDataset.from_root("sample", image_size=64)
    assert len(dataset) == 16 and dataset.cache is not None
    assert dataset[0]["image"].shape == (3, 64, 64)
