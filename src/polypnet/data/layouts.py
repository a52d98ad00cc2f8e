"""Find image/mask pairs under a root folder, whatever layout the user downloaded.

Recognised layouts (checked in the root, then up to two folder levels below it, so the folder an
archive extracts to works too, e.g. ``Kvasir-SEG/images``):

=====================  ==============================================================  ========
layout                 folders                                                         dataset
=====================  ==============================================================  ========
``kvasir-seg``         ``images/*.jpg`` + ``masks/*.jpg`` (stems of Kvasir-SEG)         Kvasir-SEG
``cvc-clinicdb-tif``   ``Original/*.tif`` + ``Ground Truth/*.tif`` (official release)   CVC-ClinicDB
``cvc-clinicdb-png``   ``images/*.png`` + ``masks/*.png``, or ``PNG/Original`` + ...     CVC-ClinicDB
``generic``            any image folder + mask folder (names below), pairs by file stem  -
=====================  ==============================================================  ========

A pre-resized copy written by :mod:`polypnet.data.pack` (``pack.json`` beside its ``images/`` +
``masks/``) is recognised as the dataset it was made from, whatever its image size.

Folder names are matched case-insensitively (:data:`IMAGE_DIRS`, :data:`MASK_DIRS`); a pair is an
image and a mask with the same file stem, whatever their formats. A new layout is one more name
in those tuples or one more rule in :func:`_dataset_of`.
"""

from __future__ import annotations

import json
import os
import warnings
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .errors import DataError, DataWarning, Problem, summarise
from .readers import IMAGE_SUFFIXES, TIFF_SUFFIXES, ImageInfo, ReadError, probe
from .shipped import CVC, DATASET_NAMES, KVASIR, cvc_sequences, kvasir_ids, sample_root

#: Image folder names, in order of preference (compared in lower case).
IMAGE_DIRS = ("images", "image", "imgs", "img", "original", "originals", "frames", "inputs", "input")
#: Mask folder names, in order of preference (compared in lower case).
MASK_DIRS = (
    "masks", "mask", "ground truth", "groundtruth", "ground_truth", "gt", "gts",
    "labels", "label", "annotations", "segmentations", "segmentation",
)  # fmt: skip
#: Environment variable naming the folder that holds ``kvasir-seg/`` and ``cvc-clinicdb/``.
DATA_DIR_ENV = "POLYPNET_DATA_DIR"
# Archive debris and OS files that are never data.
_JUNK = {"__macosx", "thumbs.db", "desktop.ini"}
CVC_SIZE = (288, 384)
#: Manifest that ``polypnet.data.pack`` writes beside ``images/`` + ``masks/`` of a resized copy.
PACK_MANIFEST = "pack.json"


@dataclass(frozen=True)
class Pair:
    """One sample: its id (the shared file stem), image file and mask file."""

    id: str
    image: Path
    mask: Path


@dataclass
class PairSet:
    """The pairs found under ``root`` and the layout they were found in."""

    root: Path
    layout: str
    dataset: str | None
    image_dir: Path
    mask_dir: Path
    pairs: list[Pair]
    #: (height, width) of each id's image from its header; empty when not validated.
    sizes: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: Files in the image/mask folders that are not images (skipped).
    ignored: list[Path] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.pairs)

    def __iter__(self) -> Iterator[Pair]:
        return iter(self.pairs)

    def __getitem__(self, index: int) -> Pair:
        return self.pairs[index]

    @property
    def ids(self) -> list[str]:
        return [p.id for p in self.pairs]

    def select(self, ids: list[str]) -> list[Pair]:
        """The pairs of ``ids``, in that order (KeyError naming the first unknown id)."""
        by_id = {p.id: p for p in self.pairs}
        return [by_id[i] for i in ids]

    def describe(self) -> str:
        """``kvasir-seg (images/ + masks/), dataset kvasir-seg, 1000 pairs``."""

        def rel(p: Path) -> str:
            return str(p.relative_to(self.root)) if p.is_relative_to(self.root) else str(p)

        dataset = self.dataset or "unknown"
        return (
            f"{self.layout} ({rel(self.image_dir)}/ + {rel(self.mask_dir)}/), "
            f"dataset {dataset}, {len(self.pairs)} pairs"
        )


def natural_key(text: str) -> tuple:
    """Sort key that puts ``"2"`` before ``"10"`` (CVC frames are numbers)."""
    return (0, int(text), "") if text.isdigit() else (1, 0, text)


def resolve_root(root: str | os.PathLike) -> Path:
    """``"sample"`` -> the bundled sample; a dataset name -> ``$POLYPNET_DATA_DIR/<name>``;
    otherwise the folder itself. Raises :class:`DataError` when it does not exist."""
    text = str(root)
    if text == "sample":
        return sample_root()
    path = Path(text).expanduser()
    if path.exists():
        return path.resolve()
    if os.sep not in text and "/" not in text:
        base = os.environ.get(DATA_DIR_ENV)
        if base and (Path(base).expanduser() / text).exists():
            return (Path(base).expanduser() / text).resolve()
        state = f" = {Path(base) / text} does not exist" if base else f" but {DATA_DIR_ENV} is not set"
        where = f"${DATA_DIR_ENV}/{text}{state}"
        hint = f" (as a dataset name it means {where}; known names: sample, {', '.join(DATASET_NAMES)})"
    else:
        hint = ""
    raise DataError(Problem(path, f"root folder not found{hint}"))


def _visible(path: Path) -> bool:
    return not path.name.startswith(".") and path.name.lower() not in _JUNK


def _subdirs(folder: Path) -> list[Path]:
    return sorted((d for d in folder.iterdir() if d.is_dir() and _visible(d)), key=lambda d: d.name)


def _match_dirs(folder: Path) -> tuple[Path, Path] | None:
    by_name = {d.name.lower(): d for d in _subdirs(folder)}
    image = next((by_name[n] for n in IMAGE_DIRS if n in by_name), None)
    mask = next((by_name[n] for n in MASK_DIRS if n in by_name), None)
    return (image, mask) if image and mask else None


def _candidates(folder: Path, depth: int) -> list[tuple[Path, Path]]:
    match = _match_dirs(folder)
    if match:
        return [match]
    if depth == 0:
        return []
    return [c for sub in _subdirs(folder) for c in _candidates(sub, depth - 1)]


def _locate(root: Path) -> tuple[Path, Path]:
    """The (image folder, mask folder) under ``root``; DataError when none or several."""
    if not root.is_dir():
        raise DataError(Problem(root, "not a folder (an archive? import it with prepare-data --from-archive)"))
    entries = [e for e in root.iterdir() if _visible(e)]
    if not entries:
        raise DataError(Problem(root, "empty folder"))
    found = _candidates(root, depth=2)
    if len(found) > 1:
        # Kaggle's CVC-ClinicDB zip holds the same frames twice, PNG/ and TIF/: take the
        # official TIFFs, the copy that prepare-data can verify against the sha256 manifest.
        tif = [c for c in found if c[0].parent.name.upper() == "TIF"]
        if len(found) == 2 and {c[0].parent.name.upper() for c in found} == {"PNG", "TIF"}:
            return tif[0]
        names = ", ".join(f"{c[0].parent.relative_to(root)}/" for c in found)
        raise DataError(Problem(root, f"several datasets found ({names}): pass one of them as the root"))
    if not found:
        dirs = [e.name + "/" for e in entries if e.is_dir()]
        files = [e for e in entries if e.is_file()]
        holds = ", ".join(dirs[:10]) or "no subfolders"
        images = sum(f.suffix.lower() in IMAGE_SUFFIXES for f in files)
        raise DataError(
            Problem(
                root,
                "unknown layout: no image folder + mask folder pair found "
                f"(looked for {'/'.join(IMAGE_DIRS[:4])}/... + {'/'.join(MASK_DIRS[:4])}/... "
                f"up to two levels down, e.g. images/ + masks/ or Original/ + Ground Truth/); "
                f"it holds {holds} and {len(files)} files ({images} images)",
            )
        )
    return found[0]


def _list_images(folder: Path) -> tuple[dict[str, list[Path]], list[Path]]:
    stems: dict[str, list[Path]] = defaultdict(list)
    ignored = []
    for entry in sorted(folder.iterdir()):
        if not entry.is_file() or not _visible(entry):
            continue
        if entry.suffix.lower() in IMAGE_SUFFIXES:
            stems[entry.stem].append(entry)
        else:
            ignored.append(entry)
    return stems, ignored


def _packed_dataset(folder: Path) -> str | None:
    """The dataset named by a pack manifest in ``folder`` (a pre-resized copy), else None."""
    try:
        dataset = json.loads((folder / PACK_MANIFEST).read_text()).get("dataset")
    except (OSError, ValueError, AttributeError):
        return None
    return dataset if isinstance(dataset, str) else None


def _dataset_of(ids: list[str], first_size: tuple[int, int] | None, packed: str | None = None) -> str | None:
    if ids and set(ids) <= kvasir_ids():
        return KVASIR
    # Numbers 1..612 alone would match any numbered folder; the 384x288 frame size pins CVC,
    # or, for a resized copy, the manifest that polypnet.data.pack wrote from the original.
    if ids and set(ids) <= cvc_sequences().keys() and (first_size in (None, CVC_SIZE) or packed == CVC):
        return CVC
    return None


def scan_pairs(root: str | os.PathLike, validate: bool = True) -> tuple[PairSet | None, list[Problem], list[Problem]]:
    """Find the pairs under ``root`` without raising: (pairs or None, problems, notes).

    ``validate`` reads every file's header: unreadable or truncated files and image/mask size
    mismatches become problems; conversions (grayscale, RGBA, 16-bit) become notes. A folder
    that is missing, empty or of an unknown layout gives ``None`` and its problem.
    """
    try:
        root = resolve_root(root)
        image_dir, mask_dir = _locate(root)
    except DataError as err:
        return None, err.problems, []
    problems: list[Problem] = []
    notes: list[Problem] = []
    images, ignored_images = _list_images(image_dir)
    masks, ignored_masks = _list_images(mask_dir)
    for folder, files in ((image_dir, images), (mask_dir, masks)):
        if not files:
            kinds = ", ".join(sorted(IMAGE_SUFFIXES))
            problems.append(Problem(folder, f"empty folder: no image files ({kinds})"))
        for paths in files.values():
            if len(paths) > 1:
                names = ", ".join(p.name for p in paths)
                problems.append(Problem(paths[0], f"several files with the same stem: {names}"))
    for stem in sorted(images.keys() - masks.keys(), key=natural_key):
        problems.append(Problem(images[stem][0], f"image without mask (no {stem}.* in {mask_dir})"))
    for stem in sorted(masks.keys() - images.keys(), key=natural_key):
        problems.append(Problem(masks[stem][0], f"mask without image (no {stem}.* in {image_dir})"))

    ids = sorted(images.keys() & masks.keys(), key=natural_key)
    pairs = [Pair(i, images[i][0], masks[i][0]) for i in ids]
    sizes: dict[str, tuple[int, int]] = {}
    if validate:
        for pair in pairs:
            infos: list[ImageInfo | None] = []
            for path, kind in ((pair.image, "image"), (pair.mask, "mask")):
                try:
                    info = probe(path, kind)  # type: ignore[arg-type]
                except ReadError as err:
                    problems.append(Problem(path, f"unreadable {kind}: {err}"))
                    info = None
                else:
                    if info.conversion:
                        notes.append(Problem(path, info.conversion))
                infos.append(info)
            image, mask = infos
            if image and mask and (image.height, image.width) != (mask.height, mask.width):
                problems.append(
                    Problem(
                        pair.image,
                        f"size mismatch: image {image.width}x{image.height}, "
                        f"mask {mask.width}x{mask.height} ({pair.mask.name})",
                    )
                )
            if image:
                sizes[pair.id] = (image.height, image.width)
    first_size = sizes.get(ids[0]) if ids else None
    dataset = _dataset_of(ids, first_size, _packed_dataset(image_dir.parent))
    if dataset == KVASIR:
        layout = KVASIR
    elif dataset == CVC:
        tiff = bool(pairs) and pairs[0].image.suffix.lower() in TIFF_SUFFIXES
        layout = "cvc-clinicdb-tif" if tiff else "cvc-clinicdb-png"
    else:
        layout = "generic"
    found = PairSet(root, layout, dataset, image_dir, mask_dir, pairs, sizes, ignored_images + ignored_masks)
    return found, problems, notes


def warn_notes(notes: list[Problem]) -> None:
    """One :class:`DataWarning` per kind of conversion, naming the files."""
    by_note: dict[str, list[Path]] = defaultdict(list)
    for note in notes:
        by_note[note.message].append(note.path)  # type: ignore[arg-type]
    for message, paths in by_note.items():
        text = f"{len(paths)} file(s) converted ({message}): {summarise(paths)}"
        warnings.warn(text, DataWarning, stacklevel=3)


def find_pairs(root: str | os.PathLike, validate: bool = True) -> PairSet:
    """All image/mask pairs under ``root`` (a folder, ``"sample"`` or a dataset name).

    Detects the layout (``PairSet.layout``), pairs files by stem and, with ``validate``, reads
    every header. Raises one :class:`DataError` listing every problem with its file; warns
    (:class:`DataWarning`) once per kind of conversion.
    """
    found, problems, notes = scan_pairs(root, validate)
    if problems:
        context = found.describe() if found else None
        raise DataError(problems, context=f"{context} at {found.root}" if found else None)
    warn_notes(notes)
    assert found is not None
    return found
