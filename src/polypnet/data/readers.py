"""Read one image or mask file: header probes and decoders for JPEG, PNG, TIFF (and BMP/WebP).

JPEG and PNG headers are parsed here (a few bytes, no decode) so that a whole dataset can be
checked in a fraction of a second; TIFFs go through ``tifffile`` because the official CVC-ClinicDB
images are RGB TIFFs tagged "MinIsBlack" that Pillow refuses and OpenCV reads as one channel.
Everything decodes to ``uint8``: images to RGB ``(H, W, 3)``, masks to ``{0, 1}`` ``(H, W)``.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import tifffile

from .errors import DataWarning

JPEG_SUFFIXES = frozenset({".jpg", ".jpeg"})
PNG_SUFFIXES = frozenset({".png"})
TIFF_SUFFIXES = frozenset({".tif", ".tiff"})
#: Files with these suffixes (any case) are images; everything else in a folder is ignored.
IMAGE_SUFFIXES = JPEG_SUFFIXES | PNG_SUFFIXES | TIFF_SUFFIXES | {".bmp", ".webp"}

#: Mask pixels above this (on the 8-bit scale) are foreground. Never ``== 255``: JPEG masks are noisy.
MASK_THRESHOLD = 127

Kind = Literal["image", "mask"]


class ReadError(Exception):
    """A file that cannot be read; the message says why (the caller adds the path)."""


@dataclass(frozen=True)
class ImageInfo:
    """What a header says: size, channels, bits per sample, and the conversion a decode applies."""

    height: int
    width: int
    channels: int
    bits: int
    conversion: str | None = None


# --------------------------------------------------------------------------------------------
# Header probes


_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # C4/C8/CC are DHT/JPG/DAC, not frames


def _jpeg_header(data: bytes) -> tuple[int, int, int, int]:
    if data[:2] != b"\xff\xd8":
        raise ReadError("not a JPEG file (no start-of-image marker)")
    # Scan data cannot contain FF D9 (FF is byte-stuffed), so a file cut anywhere after its
    # header lacks the end-of-image marker near its end; a few padding bytes after it are allowed.
    if b"\xff\xd9" not in data[-64:]:
        raise ReadError("truncated JPEG (no end-of-image marker)")
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            raise ReadError(f"corrupt JPEG header (byte {i})")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            i += 2
            continue
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if marker in _JPEG_SOF:
            if i + 10 > len(data):
                break
            bits = data[i + 4]
            height = int.from_bytes(data[i + 5 : i + 7], "big")
            width = int.from_bytes(data[i + 7 : i + 9], "big")
            return height, width, data[i + 9], bits
        if marker == 0xDA:  # start of scan before any frame header
            break
        i += 2 + length
    raise ReadError("corrupt JPEG header (no frame header)")


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# PNG colour type -> channels after a decode (palette expands to RGB)
_PNG_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}


def _png_header(data: bytes) -> tuple[int, int, int, int, bool]:
    if data[:8] != _PNG_SIGNATURE or data[12:16] != b"IHDR" or len(data) < 33:
        raise ReadError("not a PNG file (bad signature or header)")
    if b"IEND" not in data[-64:]:
        raise ReadError("truncated PNG (no IEND chunk at the end)")
    width = int.from_bytes(data[16:20], "big")
    height = int.from_bytes(data[20:24], "big")
    bits, colour = data[24], data[25]
    if colour not in _PNG_CHANNELS:
        raise ReadError(f"corrupt PNG header (colour type {colour})")
    return height, width, _PNG_CHANNELS[colour], bits, colour == 3


def _tiff_header(data: bytes) -> tuple[int, int, int, int]:
    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            series = tif.series[0]
            for page in series.pages:
                ends = [o + c for o, c in zip(page.dataoffsets, page.databytecounts)]
                if not ends or max(ends) > len(data):
                    raise ReadError("truncated TIFF (image data runs past the end of the file)")
            shape, bits = series.shape, series.dtype.itemsize * 8
    except ReadError:
        raise
    except Exception as err:  # tifffile raises many types for garbage input
        raise ReadError(f"not a readable TIFF file ({err})") from None
    # The same reading of the axes as _decode_raw: (H, W), (H, W, C), or planar (C, H, W).
    if len(shape) == 2:
        return shape[0], shape[1], 1, bits
    if len(shape) == 3 and shape[2] <= 4:
        return shape[0], shape[1], shape[2], bits
    if len(shape) == 3 and shape[0] <= 4:
        return shape[1], shape[2], shape[0], bits
    raise ReadError(f"unsupported TIFF shape {tuple(shape)} (several pages?)")


def _conversion(kind: Kind, channels: int, bits: int, palette: bool = False) -> str | None:
    notes = []
    if bits == 16:
        notes.append("16-bit converted to 8-bit")
    elif bits not in (1, 2, 4, 8):
        raise ReadError(f"unsupported bit depth {bits}")
    if kind == "image":
        if palette:
            notes.append("palette converted to RGB")
        elif channels == 1:
            notes.append("grayscale converted to RGB")
        elif channels == 2:
            notes.append("grayscale+alpha converted to RGB")
        elif channels == 4:
            notes.append("RGBA/CMYK converted to RGB")
    elif channels in (2, 4):
        notes.append("alpha channel ignored")
    elif palette:
        notes.append("palette mask converted to gray")
    if channels not in (1, 2, 3, 4):
        raise ReadError(f"unsupported number of channels ({channels})")
    return "; ".join(notes) or None


def probe_bytes(data: bytes, suffix: str, kind: Kind = "image") -> ImageInfo:
    """Header-only facts of a file's bytes; :class:`ReadError` when it is not a readable image."""
    if not data:
        raise ReadError("empty file (0 bytes)")
    suffix = suffix.lower()
    palette = False
    if suffix in JPEG_SUFFIXES:
        height, width, channels, bits = _jpeg_header(data)
    elif suffix in PNG_SUFFIXES:
        height, width, channels, bits, palette = _png_header(data)
    elif suffix in TIFF_SUFFIXES:
        height, width, channels, bits = _tiff_header(data)
    else:  # BMP/WebP: rare here, so a full decode stands in for a header parser
        array = _decode_raw(data, suffix)
        height, width = array.shape[:2]
        channels = 1 if array.ndim == 2 else array.shape[2]
        bits = array.dtype.itemsize * 8
    if height <= 0 or width <= 0:
        raise ReadError(f"invalid image size {width}x{height}")
    return ImageInfo(height, width, channels, bits, _conversion(kind, channels, bits, palette))


def probe(path: str | Path, kind: Kind = "image") -> ImageInfo:
    """Header-only facts of ``path`` (size, channels, bits, conversion); checks for truncation."""
    path = Path(path)
    return probe_bytes(read_bytes(path), path.suffix, kind)


# --------------------------------------------------------------------------------------------
# Decoders


def read_bytes(path: Path) -> bytes:
    """The bytes of ``path``; :class:`ReadError` (with the OS's reason) when it cannot be read."""
    try:
        return path.read_bytes()
    except OSError as err:
        raise ReadError(f"cannot read file ({err.strerror or err})") from None


def _decode_raw(data: bytes, suffix: str) -> np.ndarray:
    """The stored array, RGB(A) channel order, native dtype."""
    if suffix.lower() in TIFF_SUFFIXES:
        try:
            array = tifffile.imread(io.BytesIO(data))
        except Exception as err:
            raise ReadError(f"cannot decode TIFF ({err})") from None
        if array.ndim == 3 and array.shape[0] <= 4 < array.shape[2]:
            array = np.moveaxis(array, 0, -1)  # planar (separate) TIFF samples
        return array
    array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if array is None:
        raise ReadError("cannot decode image (corrupt or unsupported file)")
    if array.ndim == 3 and array.shape[2] == 3:
        array = array[..., ::-1]
    elif array.ndim == 3 and array.shape[2] == 4:
        array = array[..., [2, 1, 0, 3]]
    return array


def _to_uint8(array: np.ndarray) -> np.ndarray:
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.uint16:
        return ((array.astype(np.uint32) + 128) // 257).astype(np.uint8)
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    raise ReadError(f"unsupported pixel type {array.dtype}")


def decode_image(data: bytes, suffix: str) -> np.ndarray:
    """RGB ``uint8`` (H, W, 3) from a file's bytes; grayscale, RGBA and 16-bit are converted."""
    probe_bytes(data, suffix, "image")  # truncation checks: decoders fill missing data silently
    array = _to_uint8(_decode_raw(data, suffix))
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim == 2:
        return np.ascontiguousarray(np.repeat(array[..., None], 3, axis=2))
    if array.ndim != 3 or array.shape[2] not in (2, 3, 4):
        raise ReadError(f"unsupported image shape {array.shape}")
    if array.shape[2] == 2:  # gray + alpha
        return np.ascontiguousarray(np.repeat(array[..., :1], 3, axis=2))
    return np.ascontiguousarray(array[..., :3])


def mask_levels(data: bytes, suffix: str) -> np.ndarray:
    """The 8-bit single-channel (H, W) values of a mask file, before the threshold.

    Colour masks keep their brightest channel (so red-on-black annotations work too); alpha is dropped.
    """
    probe_bytes(data, suffix, "mask")
    array = _to_uint8(_decode_raw(data, suffix))
    if array.ndim == 3:
        channels = array.shape[2]
        colour = array[..., : 3 if channels >= 3 else 1]  # drop alpha
        array = colour.max(axis=2) if colour.shape[2] > 1 else colour[..., 0]
    if array.ndim != 2:
        raise ReadError(f"unsupported mask shape {array.shape}")
    return array


def binarize_mask(levels: np.ndarray) -> tuple[np.ndarray, str | None]:
    """``{0, 1}`` ``uint8`` from ``mask_levels``, and a note when it needed a special rule.

    Foreground is ``> MASK_THRESHOLD``. A mask whose largest value is 1 is 0/1-coded: thresholding
    it at 127 would empty it silently, so it is read as ``> 0`` and the note says so.
    """
    if levels.max(initial=0) == 1:
        return (levels > 0).astype(np.uint8), "0/1-coded mask read as > 0"
    return (levels > MASK_THRESHOLD).astype(np.uint8), None


def decode_mask(data: bytes, suffix: str) -> tuple[np.ndarray, str | None]:
    """``{0, 1}`` ``uint8`` (H, W) from a file's bytes, and a note when it needed a special rule."""
    return binarize_mask(mask_levels(data, suffix))


def read_image(path: str | Path) -> np.ndarray:
    """RGB ``uint8`` (H, W, 3) of the file at ``path``; :class:`ReadError` when unreadable."""
    path = Path(path)
    return decode_image(read_bytes(path), path.suffix)


def read_mask(path: str | Path) -> np.ndarray:
    """Binary ``{0, 1}`` ``uint8`` (H, W) mask of the file at ``path`` (threshold > 127)."""
    path = Path(path)
    mask, note = decode_mask(read_bytes(path), path.suffix)
    if note:
        warnings.warn(f"{path}: {note}", DataWarning, stacklevel=2)
    return mask
