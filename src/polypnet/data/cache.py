"""Decode cache: every pair decoded and resized once, kept as two uint8 arrays.

A full-size Kvasir-SEG JPEG takes 5-10 ms to decode, several times the cost of augmenting a
256 px image, so without a cache every epoch is decode-bound. :class:`DecodeCache` decodes each
file once (in threads: OpenCV and tifffile release the GIL), resizes it to ``image_size`` with the
pipelines' own resize, and keeps images ``(N, S, S, 3)`` and masks ``(N, S, S)`` in two
contiguous arrays: DataLoader workers forked afterwards share them copy-on-write.

With ``cache_dir`` (the DataModule reads ``$POLYPNET_CACHE_DIR``) the arrays are also saved as
``.npy`` files keyed by the sha256 of every file's bytes, the ids, ``image_size`` and the
OpenCV/albumentations versions: a later run on the same data loads them instead of decoding,
and any changed file, size or library gives a new key (stale entries are never reused; delete
the folder to reclaim space).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import albumentations
import cv2
import numpy as np

from .errors import DataError, DataWarning, Problem, summarise
from .layouts import Pair
from .readers import ReadError, decode_image, decode_mask, read_bytes
from .transforms import resize_transform

log = logging.getLogger(__name__)

CACHE_DIR_ENV = "POLYPNET_CACHE_DIR"
_CACHE_FORMAT = 1


def _threads(n: int) -> int:
    return max(1, min(n, os.cpu_count() or 1))


def _file_digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as err:
        raise DataError(Problem(path, f"cannot read file ({err.strerror or err})")) from None


class DecodeCache:
    """Decoded, resized pairs: ``get(id)`` -> (image (S, S, 3), mask (S, S)) uint8 arrays."""

    def __init__(
        self, ids: Sequence[str], images: np.ndarray, masks: np.ndarray, sizes: np.ndarray, image_size: int
    ) -> None:
        self.ids = list(ids)
        self.images = images
        self.masks = masks
        #: (N, 2) original (height, width) of each image.
        self.sizes = sizes
        self.image_size = image_size
        self._index = {i: k for k, i in enumerate(self.ids)}

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, sample_id: object) -> bool:
        return sample_id in self._index

    def get(self, sample_id: str) -> tuple[np.ndarray, np.ndarray]:
        """The cached image and mask of ``sample_id`` (views: do not modify them in place)."""
        k = self._index[sample_id]
        return self.images[k], self.masks[k]

    def size(self, sample_id: str) -> tuple[int, int]:
        """Original (height, width) of ``sample_id``."""
        h, w = self.sizes[self._index[sample_id]]
        return int(h), int(w)

    @property
    def nbytes(self) -> int:
        return self.images.nbytes + self.masks.nbytes

    @classmethod
    def build(
        cls,
        pairs: Sequence[Pair],
        image_size: int,
        cache_dir: str | os.PathLike | None = None,
        threads: int | None = None,
    ) -> DecodeCache:
        """Decode every pair once (or load them from ``cache_dir``).

        Raises one :class:`DataError` listing every file that fails to decode and every
        image/mask size mismatch, so a decode error never surfaces mid-epoch.
        """
        pairs = list(pairs)
        ids = [p.id for p in pairs]
        n_threads = threads or _threads(len(pairs))
        files = None
        if cache_dir is not None:
            key = cls._key(pairs, image_size, n_threads)
            parts = ("images.npy", "masks.npy", "json")
            files = {part: Path(cache_dir) / f"polypnet-{key}.{part}" for part in parts}
            if all(f.exists() for f in files.values()):
                meta = json.loads(files["json"].read_text())
                if meta.get("ids") == ids:
                    log.info("decode cache: loaded %d pairs from %s", len(ids), files["images.npy"])
                    images, masks = np.load(files["images.npy"]), np.load(files["masks.npy"])
                    return cls(ids, images, masks, np.asarray(meta["sizes"], dtype=np.int64), image_size)
        start = time.perf_counter()
        images = np.empty((len(pairs), image_size, image_size, 3), np.uint8)
        masks = np.empty((len(pairs), image_size, image_size), np.uint8)
        sizes = np.zeros((len(pairs), 2), np.int64)
        local = threading.local()  # one Resize per thread: transforms keep per-call state

        def load(k: int) -> tuple[list[Problem], list[Path]]:
            pair = pairs[k]
            problems: list[Problem] = []
            notes: list[Path] = []
            image = mask = None
            for path, kind in ((pair.image, "image"), (pair.mask, "mask")):
                try:
                    data = read_bytes(path)
                    if kind == "image":
                        image = decode_image(data, path.suffix)
                    else:
                        mask, note = decode_mask(data, path.suffix)
                        if note:
                            notes.append(path)
                except ReadError as err:
                    problems.append(Problem(path, f"unreadable {kind}: {err}"))
            if image is not None and mask is not None:
                if image.shape[:2] != mask.shape:
                    h, w = image.shape[:2]
                    sizes_text = f"image {w}x{h}, mask {mask.shape[1]}x{mask.shape[0]} ({pair.mask.name})"
                    problems.append(Problem(pair.image, f"size mismatch: {sizes_text}"))
                else:
                    if not hasattr(local, "resize"):
                        local.resize = resize_transform(image_size)
                    out = local.resize(image=image, mask=mask)
                    images[k], masks[k] = out["image"], out["mask"]
                    sizes[k] = image.shape[:2]
            return problems, notes

        with ThreadPoolExecutor(n_threads) as pool:
            results = list(pool.map(load, range(len(pairs))))
        problems = [p for found, _ in results for p in found]
        if problems:
            raise DataError(problems, context="decode")
        notes = [n for _, found in results for n in found]
        if notes:
            message = f"{len(notes)} 0/1-coded mask(s) read as > 0: {summarise(notes)}"
            warnings.warn(message, DataWarning, stacklevel=2)
        seconds = time.perf_counter() - start
        log.info("decode cache: decoded %d pairs at %d px in %.1f s", len(pairs), image_size, seconds)
        if files is not None:
            cls._save(files, ids, images, masks, sizes)
        return cls(ids, images, masks, sizes, image_size)

    @staticmethod
    def _key(pairs: Sequence[Pair], image_size: int, threads: int) -> str:
        paths = [p for pair in pairs for p in (pair.image, pair.mask)]
        with ThreadPoolExecutor(threads) as pool:
            digests = list(pool.map(_file_digest, paths))
        h = hashlib.sha256()
        h.update(f"{_CACHE_FORMAT}|{image_size}|{cv2.__version__}|{albumentations.__version__}".encode())
        for pair, a, b in zip(pairs, digests[0::2], digests[1::2]):
            h.update(f"|{pair.id}:{a}:{b}".encode())
        return f"{h.hexdigest()[:24]}-{image_size}"

    @staticmethod
    def _save(files: dict[str, Path], ids: list[str], images: np.ndarray, masks: np.ndarray, sizes: np.ndarray) -> None:
        try:
            files["json"].parent.mkdir(parents=True, exist_ok=True)
            for part, array in (("images.npy", images), ("masks.npy", masks)):
                tmp = files[part].with_name(files[part].name + f".{os.getpid()}.tmp")
                with tmp.open("wb") as f:
                    np.save(f, array)
                os.replace(tmp, files[part])
            tmp = files["json"].with_name(files["json"].name + f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"ids": ids, "sizes": sizes.tolist()}))
            os.replace(tmp, files["json"])  # written last: its presence marks a complete entry
        except OSError as err:  # a cache that cannot be written only costs time
            log.warning("decode cache: cannot write %s (%s)", files["json"].parent, err)
