"""Files shipped inside the package (the `resources/` folder, installed as package data): official
split lists, PraNet's test lists, the CVC sequence table, sha256 manifests and the bundled
Kvasir-SEG sample."""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

RESOURCES = Path(__file__).resolve().parent / "resources"

KVASIR = "kvasir-seg"
CVC = "cvc-clinicdb"
#: Dataset names that ``root`` may be given as, resolved under ``$POLYPNET_DATA_DIR``.
DATASET_NAMES = (KVASIR, CVC)
#: How documents and tables write each dataset's name.
TITLES = {CVC: "CVC-ClinicDB", KVASIR: "Kvasir-SEG"}


def resource(*parts: str) -> Path:
    """Path of a shipped resource file."""
    return RESOURCES.joinpath(*parts)


def sample_root() -> Path:
    """Root of the bundled sample: 16 downscaled Kvasir-SEG pairs (HyperKvasir, CC BY 4.0)."""
    return resource("sample", KVASIR)


def _read_list(path: Path) -> tuple[str, ...]:
    return tuple(line.strip() for line in path.read_text().splitlines() if line.strip())


@cache
def kvasir_official() -> dict[str, tuple[str, ...]]:
    """Kvasir-SEG's official split: ``{"train": 880 stems, "val": 120 stems}``."""
    return {name: _read_list(resource(KVASIR, f"{name}.txt")) for name in ("train", "val")}


@cache
def kvasir_ids() -> frozenset[str]:
    """The 1000 Kvasir-SEG stems."""
    lists = kvasir_official()
    return frozenset(lists["train"]) | frozenset(lists["val"])


@cache
def cvc_sequences() -> dict[str, int]:
    """CVC-ClinicDB's frame -> sequence table (stems ``"1"`` .. ``"612"``; 29 sequences)."""
    with resource(CVC, "sequences.csv").open(newline="") as f:
        return {row["frame"]: int(row["sequence"]) for row in csv.DictReader(f)}


#: Each dataset's list of PraNet's test subset (Fan et al., MICCAI 2020), under resources/.
PRANET_TEST_FILES = {KVASIR: (KVASIR, "pranet_test100.txt"), CVC: (CVC, "pranet_test62.txt")}


@cache
def pranet_test(dataset: str) -> tuple[str, ...]:
    """The stems of PraNet's test subset of ``dataset``: Kvasir-SEG 100, CVC-ClinicDB 62."""
    if dataset not in PRANET_TEST_FILES:
        raise KeyError(f"no PraNet test list for {dataset!r}; known: {', '.join(PRANET_TEST_FILES)}")
    return _read_list(resource(*PRANET_TEST_FILES[dataset]))


def sha256_manifest(name: str) -> Path:
    """The per-file sha256 manifest of a dataset's official release (``sha256sum`` format)."""
    files = {KVASIR: (KVASIR, "sha256sums.txt"), CVC: (CVC, "sha256sums_official_tif.txt")}
    if name not in files:
        raise KeyError(f"no sha256 manifest for {name!r}; known: {', '.join(files)}")
    return resource(*files[name])


def read_manifest(path: str | Path) -> dict[str, str]:
    """``{relative path: sha256}`` from a ``sha256sum``-format file."""
    entries = {}
    for line in Path(path).read_text().splitlines():
        if not line.strip():
            continue
        digest, name = line.split(maxsplit=1)
        entries[name.lstrip("*").removeprefix("./")] = digest.lower()
    return entries
