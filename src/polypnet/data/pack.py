"""``pack-data``: small pre-resized copies of datasets, for a machine that cannot take the originals.

    polypnet data pack cvc-clinicdb kvasir-seg --data-dir ../shared/data --out .gpu/data

The GPU machine of ``docs/gpu.md`` takes at most 64 MiB of files with a command; the two datasets
are 110 MiB. A pack holds every pair resized once to ``size`` x ``size`` by the pipelines' own
decode and resize (:class:`~polypnet.data.cache.DecodeCache`: area averaging when downscaling
images, nearest neighbour for masks after the > 127 threshold), the image as a JPEG (4:4:4
chroma where OpenCV can write it), the mask as a lossless 1-bit PNG of {0, 255}. File stems are
kept, so every split (hash-ordered ids, CVC sequences, Kvasir's official lists) equals the
original's, and ``pack.json`` names the dataset, which :mod:`~polypnet.data.layouts` needs to
recognise a resized CVC-ClinicDB. ``--quality auto`` takes the highest of :data:`QUALITIES` at
which all the datasets of one call fit ``--budget-mib`` together.

``pack.json`` records counts, sizes in bytes, the encoding, the PSNR of each decoded JPEG
against the lossless resized image it encodes (mean and min), each pair's original size and the
sha256 of the source's ``sha256sums.txt``. Training at ``image_size`` = the pack's size sees the
originals' pixels up to the JPEG error (resizing to the same size is the identity); an
"original resolution" evaluation of a pack is at the pack's size.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import albumentations
import cv2
import numpy as np

from .. import __version__
from .cache import DecodeCache, _file_digest
from .cache import _threads as cache_threads
from .errors import DataError, Problem
from .layouts import PACK_MANIFEST, PairSet, find_pairs
from .readers import decode_image

FORMAT = "polypnet-pack/1"
DEFAULT_SIZE = 256
#: Both datasets at 256 px: 4:4:4 JPEG q95 is about 40 MiB + 1 MiB of masks.
DEFAULT_BUDGET_MIB = 45.0
QUALITIES = (98, 95, 92, 90, 85, 80, 75, 70)
#: Small files of a source copied unchanged: CVC's sequence table, Kvasir's split lists, the
#: bundled sample's attribution.
EXTRAS = ("sequences.csv", "splits", "NOTICE")
#: PSNR reported for a JPEG that decodes to exactly its source (JSON has no infinity).
PSNR_CAP = 100.0
MIB = 2**20


@dataclass
class Resized:
    """One source decoded and resized: the pairs, their pixels and the output folder name."""

    name: str
    pairs: PairSet
    cache: DecodeCache


@dataclass
class Encoded:
    """One source's files at one JPEG quality, with the PSNR of each image."""

    quality: int
    images: list[bytes]
    masks: list[bytes]
    psnr: list[float]

    @property
    def nbytes(self) -> int:
        return sum(map(len, self.images)) + sum(map(len, self.masks))


def _threads() -> int:
    return cache_threads(4)


def jpeg_params(quality: int) -> tuple[list[int], str]:
    """cv2.imencode parameters and the chroma subsampling they give (4:4:4 keeps the colour
    resolution that 4:2:0, OpenCV's default, halves; older OpenCV lacks the flag)."""
    params = [cv2.IMWRITE_JPEG_QUALITY, quality]
    if hasattr(cv2, "IMWRITE_JPEG_SAMPLING_FACTOR"):
        return params + [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444], "4:4:4"
    return params, "4:2:0"


def encode_image(image: np.ndarray, quality: int) -> bytes:
    """JPEG bytes of an RGB uint8 image."""
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), jpeg_params(quality)[0])
    if not ok:
        raise RuntimeError("cv2.imencode failed to write a JPEG")
    return buf.tobytes()


def encode_mask(mask: np.ndarray) -> bytes:
    """1-bit PNG bytes of a {0, 1} mask, stored as {0, 255} (read back > 127: the same mask)."""
    params = [cv2.IMWRITE_PNG_BILEVEL, 1, cv2.IMWRITE_PNG_COMPRESSION, 9]
    ok, buf = cv2.imencode(".png", (mask > 0).astype(np.uint8) * 255, params)
    if not ok:
        raise RuntimeError("cv2.imencode failed to write a PNG")
    return buf.tobytes()


def psnr(reference: np.ndarray, data: bytes) -> float:
    """PSNR in dB of JPEG ``data``, decoded by the pipeline's reader, against ``reference``."""
    decoded = decode_image(data, ".jpg").astype(np.float64)
    mse = float(np.mean((decoded - reference) ** 2))
    return PSNR_CAP if mse == 0 else min(PSNR_CAP, 10 * math.log10(255.0**2 / mse))


def load(source: str | os.PathLike, size: int, threads: int | None = None) -> Resized:
    """The pairs of ``source`` (a folder, ``"sample"`` or a dataset name), decoded and resized."""
    pairs = find_pairs(source)
    cache = DecodeCache.build(pairs.pairs, size, threads=threads or _threads())
    return Resized(pairs.dataset or pairs.root.name, pairs, cache)


def encode(resized: Resized, quality: int, threads: int | None = None) -> Encoded:
    """Every pair of ``resized`` as files, at JPEG ``quality``."""
    cache = resized.cache

    def one(k: int) -> tuple[bytes, bytes, float]:
        image = cache.images[k]
        data = encode_image(image, quality)
        return data, encode_mask(cache.masks[k]), psnr(image, data)

    with ThreadPoolExecutor(threads or _threads()) as pool:
        files = list(pool.map(one, range(len(cache))))
    return Encoded(quality, [f[0] for f in files], [f[1] for f in files], [f[2] for f in files])


def choose(
    sets: Sequence[Resized], quality: int | None, budget_mib: float, threads: int | None = None
) -> list[Encoded]:
    """The sets encoded at ``quality``, or (``None``) at the highest of :data:`QUALITIES` whose
    files fit ``budget_mib`` all together; DataError when even the lowest does not fit."""
    total = 0
    for q in QUALITIES if quality is None else (quality,):
        encoded = [encode(s, q, threads) for s in sets]
        total = sum(e.nbytes for e in encoded)
        if quality is not None or total <= budget_mib * MIB:
            return encoded
    raise DataError(
        f"pack: at JPEG quality {QUALITIES[-1]} the files take {total / MIB:.1f} MiB, over the "
        f"budget of {budget_mib:g} MiB: raise --budget-mib or lower --size"
    )


def _sha256(path: Path) -> str | None:
    return _file_digest(path) if path.is_file() else None


def manifest(resized: Resized, encoded: Encoded, budget: dict[str, Any]) -> dict[str, Any]:
    """The content of ``pack.json`` (see the module docstring)."""
    pairs, cache = resized.pairs, resized.cache
    images, masks = sum(map(len, encoded.images)), sum(map(len, encoded.masks))
    worst = int(np.argmin(encoded.psnr))
    return {
        "format": FORMAT,
        "dataset": pairs.dataset,
        "name": resized.name,
        "size": cache.image_size,
        "counts": {"pairs": len(pairs)},
        "source": {
            "root": str(pairs.root),
            "layout": pairs.layout,
            "sha256sums_sha256": _sha256(pairs.root / "sha256sums.txt"),
        },
        "resize": "polypnet.data.transforms.resize_transform (images INTER_AREA when downscaling, "
        "else INTER_LINEAR; masks INTER_NEAREST after the > 127 threshold)",
        "encoding": {
            "image": {"format": "jpeg", "quality": encoded.quality, "subsampling": jpeg_params(1)[1]},
            "mask": {"format": "png", "bits": 1, "values": [0, 255]},
        },
        "bytes": {"images": images, "masks": masks, "total": images + masks},
        "psnr_db": {
            "mean": round(float(np.mean(encoded.psnr)), 3),
            "min": round(encoded.psnr[worst], 3),
            "min_id": cache.ids[worst],
        },
        "budget": budget,
        "versions": {"polypnet": __version__, "opencv": cv2.__version__, "albumentations": albumentations.__version__},
        "original_sizes": {i: list(cache.size(i)) for i in cache.ids},
    }


def write(resized: Resized, encoded: Encoded, meta: dict[str, Any], out: Path) -> Path:
    """Write ``out/<name>/`` (images/, masks/, extras, pack.json) and check that it reads back as
    the same dataset with the same ids. An earlier pack there is replaced; any other folder is
    left alone (DataError)."""
    target = out / resized.name
    source = resized.pairs.root
    if target.resolve() == source.resolve() or source.resolve() in target.resolve().parents:
        raise DataError(Problem(target, "the pack would be written inside its own source"))
    if target.exists() and not (target / PACK_MANIFEST).is_file():
        raise DataError(Problem(target, f"exists and is not a pack (no {PACK_MANIFEST}): not replacing it"))
    tmp = out / f".{resized.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "images").mkdir(parents=True)
    (tmp / "masks").mkdir()
    for sample_id, image, mask in zip(resized.cache.ids, encoded.images, encoded.masks):
        (tmp / "images" / f"{sample_id}.jpg").write_bytes(image)
        (tmp / "masks" / f"{sample_id}.png").write_bytes(mask)
    for name in EXTRAS:
        path = source / name
        if path.is_dir():
            shutil.copytree(path, tmp / name)
        elif path.is_file():
            shutil.copy2(path, tmp / name)
    (tmp / PACK_MANIFEST).write_text(json.dumps(meta, indent=1) + "\n")
    if target.exists():
        shutil.rmtree(target)
    os.replace(tmp, target)
    back = find_pairs(target)
    if back.ids != resized.pairs.ids or back.dataset != resized.pairs.dataset:
        raise DataError(
            Problem(target, f"reads back as {back.describe()}, not as its source {resized.pairs.describe()}")
        )
    return target


def pack(
    sources: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    size: int = DEFAULT_SIZE,
    quality: int | None = None,
    budget_mib: float = DEFAULT_BUDGET_MIB,
    threads: int | None = None,
) -> list[dict[str, Any]]:
    """Pack every source into ``out/<dataset>/``; returns their manifests. ``quality=None``:
    the highest of :data:`QUALITIES` at which all of them fit ``budget_mib`` together."""
    sets = [load(s, size, threads) for s in sources]
    names = [s.name for s in sets]
    if len(set(names)) != len(names):
        raise DataError(f"pack: two sources would be written to the same folder ({', '.join(names)})")
    encoded = choose(sets, quality, budget_mib, threads)
    budget = {"quality": "auto" if quality is None else quality, "mib": budget_mib, "packed_with": names}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    metas = []
    for resized, files in zip(sets, encoded):
        meta = manifest(resized, files, budget)
        write(resized, files, meta, out)
        metas.append(meta)
    return metas
