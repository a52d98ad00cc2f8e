"""Decoders and header probes on synthetic files: formats, conversions, truncation, thresholds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from polypnet.data import DataWarning, probe, read_image, read_mask
from polypnet.data.readers import ReadError

from .synth import disc_mask, random_image, write


def test_rgb_tiff_tagged_minisblack_reads_as_rgb(tmp_path: Path) -> None:
    rgb = random_image(24, 32)
    path = write(tmp_path / "1.tif", rgb, tiff_rgb_minisblack=True)
    pil = pytest.importorskip("PIL.Image")
    with pytest.raises(pil.UnidentifiedImageError):  # why a Pillow-based reader fails on CVC
        pil.open(path)
    assert probe(path).channels == 3 and (probe(path).height, probe(path).width) == (24, 32)
    np.testing.assert_array_equal(read_image(path), rgb)


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".tif"])
def test_lossless_formats_roundtrip(tmp_path: Path, suffix: str) -> None:
    rgb = random_image(20, 30, seed=3)
    np.testing.assert_array_equal(read_image(write(tmp_path / f"a{suffix}", rgb)), rgb)


def test_jpeg_mask_noise_is_thresholded_not_compared_to_255(tmp_path: Path) -> None:
    mask = disc_mask(64, 64)
    path = write(tmp_path / "m.jpg", np.repeat(mask[..., None], 3, axis=2))
    raw = read_image(path)[..., 0]
    assert not set(np.unique(raw)) <= {0, 255}  # JPEG noise, as in Kvasir-SEG
    binary = read_mask(path)
    assert binary.dtype == np.uint8 and set(np.unique(binary)) == {0, 1}
    assert abs(int(binary.sum()) - int((mask > 127).sum())) < 0.02 * mask.size


def test_soft_edges_threshold_at_127(tmp_path: Path) -> None:
    mask = np.array([[0, 127, 128, 255]], np.uint8)
    np.testing.assert_array_equal(read_mask(write(tmp_path / "m.png", mask)), [[0, 0, 1, 1]])


def test_zero_one_mask_is_read_with_a_warning(tmp_path: Path) -> None:
    path = write(tmp_path / "m.png", (disc_mask(20, 20) > 0).astype(np.uint8))
    with pytest.warns(DataWarning, match="0/1-coded"):
        mask = read_mask(path)
    assert mask.sum() > 0


@pytest.mark.parametrize(
    ("array", "note"),
    [
        (random_image(16, 16, channels=1), "grayscale converted to RGB"),
        (random_image(16, 16, channels=4), "RGBA"),
        (random_image(16, 16, dtype=np.uint16), "16-bit converted to 8-bit"),
        (random_image(16, 16, channels=1, dtype=np.uint16), "16-bit"),
    ],
)
def test_conversions_are_noted_and_give_rgb_uint8(tmp_path: Path, array: np.ndarray, note: str) -> None:
    path = write(tmp_path / "a.png", array)
    assert note in (probe(path).conversion or "")
    image = read_image(path)
    assert image.shape == (16, 16, 3) and image.dtype == np.uint8
    if array.dtype == np.uint16:
        expected = ((array.astype(np.uint32) + 128) // 257).astype(np.uint8)
        np.testing.assert_array_equal(image[..., 0], expected if expected.ndim == 2 else expected[..., 0])


@pytest.mark.parametrize(
    ("suffix", "message"),
    [(".jpg", "truncated JPEG"), (".png", "truncated PNG"), (".tif", "truncated TIFF")],
)
def test_truncated_files_are_detected_from_headers(tmp_path: Path, suffix: str, message: str) -> None:
    path = write(tmp_path / f"a{suffix}", random_image(64, 64))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(ReadError, match=message):
        probe(path)
    with pytest.raises(ReadError, match=message):
        read_image(path)


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".tif", ".bmp"])
def test_garbage_and_empty_files_are_unreadable(tmp_path: Path, suffix: str) -> None:
    garbage = tmp_path / f"g{suffix}"
    garbage.write_bytes(b"this is not an image" * 10)
    empty = tmp_path / f"e{suffix}"
    empty.write_bytes(b"")
    for path in (garbage, empty):
        with pytest.raises(ReadError):
            probe(path)
        with pytest.raises(ReadError):
            read_image(path)
