"""PraNet's polyp benchmark, scored the field's way with pysodmetrics.

Test sets: PraNet's 100 Kvasir-SEG and 62 CVC-ClinicDB images (lists shipped in
``polypnet/data/resources``), each scored at its own original size. Probabilities come from the
one :class:`~polypnet.inference.predictor.Predictor`: logits resized bilinearly to the image's
size, then the sigmoid, as PraNet's own ``MyTest.py`` does. Each map is then handled as PraNet's
test script and the field's toolboxes handle a saved prediction PNG: min-max normalised per image
(``MyTest.py`` before saving; pysodmetrics' ``mapminmax(im2double(...))``), quantised to 0..255,
ground truth > 128. Scoring PraNet's own released maps this way (:func:`score_maps`,
``results/pranet/pranet_released_maps.json``) gives its published CVC-ClinicDB row to the third
decimal; its Kvasir row comes out about 0.004 lower on every metric against these masks.

Metrics (all means over the images of a set):

``mdice``, ``miou``
    PraNet's ``meanDic`` / ``meanIoU``: per-image Dice (IoU) of ``map >= t`` at each of the 256
    grey levels t, averaged over images and then over the thresholds (pysodmetrics' dynamic
    curve, its mean; the toolbox's ``mean(mean(threshold_Dice, 1))``).
``s_alpha``
    Structure measure Sα (alpha 0.5).
``e_phi_mean``, ``e_phi_max``
    Enhanced-alignment measure Eφ: the mean and the maximum of its curve over thresholds (papers
    report one or the other; PraNet's Table 1 the maximum).
``wf_beta``
    Weighted F-measure Fβw (beta 1).
``mae``
    Mean absolute error between the normalised map and the mask.
``dice_05``
    Per-image Dice of the mask thresholded at probability 0.5 (the project's own per-image
    mDice, not a field metric), for comparison with the project's other tables.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..data.errors import DataWarning
from ..data.layouts import PACK_MANIFEST, Pair, find_pairs
from ..data.readers import read_image, read_mask
from ..data.shipped import CVC, KVASIR

if TYPE_CHECKING:
    from ..inference.predictor import Predictor

#: Metric keys of :meth:`PolypScorer.results`, in table order.
METRICS = ("mdice", "miou", "s_alpha", "e_phi_mean", "e_phi_max", "wf_beta", "mae", "dice_05")
#: The benchmark's test sets: name -> dataset; names as the field writes them.
TEST_SETS = {"Kvasir": KVASIR, "CVC-ClinicDB": CVC}


def to_gray(probability: np.ndarray) -> np.ndarray:
    """A probability map in [0, 1] as the 0..255 uint8 image that a saved prediction PNG holds."""
    return np.clip(np.rint(np.asarray(probability, dtype=np.float64) * 255), 0, 255).astype(np.uint8)


class PolypScorer:
    """Accumulates (probability, mask) pairs of one test set; :meth:`results` gives :data:`METRICS`."""

    def __init__(self) -> None:
        import py_sod_metrics as sod  # the evaluation extra; imported here so the package loads without it

        self._overlap = sod.FmeasureV2(
            metric_handlers={
                "dice": sod.DICEHandler(with_dynamic=True, with_adaptive=False),
                "iou": sod.IOUHandler(with_dynamic=True, with_adaptive=False),
            }
        )
        self._binary = sod.FmeasureV2(
            metric_handlers={"dice": sod.DICEHandler(with_dynamic=False, with_adaptive=False, with_binary=True)}
        )
        self._sm, self._em, self._wfm, self._mae = sod.Smeasure(), sod.Emeasure(), sod.WeightedFmeasure(), sod.MAE()
        self.images = 0

    def add(self, probability: np.ndarray, mask: np.ndarray) -> None:
        """One image: ``probability`` (H, W) in [0, 1] and its {0, 1} ``mask`` (H, W), same size."""
        probability = np.asarray(probability, dtype=np.float64)
        mask = np.asarray(mask)
        if probability.shape != mask.shape or probability.ndim != 2:
            raise ValueError(f"probability {probability.shape} and mask {mask.shape} must be the same (H, W)")
        # PraNet's MyTest.py, just before it saves the map as a PNG.
        lo, hi = probability.min(), probability.max()
        pred = to_gray((probability - lo) / (hi - lo + 1e-8))
        gt = (mask > 0).astype(np.uint8) * 255
        for metric in (self._overlap, self._sm, self._em, self._wfm, self._mae):
            metric.step(pred, gt)  # normalize=True: the toolbox reads a PNG (min-max again, gt > 128)
        # The project's own threshold, on the probability itself (no min-max).
        self._binary.step(np.clip(probability, 0.0, 1.0), mask > 0, normalize=False)
        self.images += 1

    def results(self) -> dict[str, float]:
        """:data:`METRICS` over the images added so far, plus ``images``."""
        if not self.images:
            raise ValueError("no image was scored")
        overlap = self._overlap.get_results()
        curve = self._em.get_results()["em"]["curve"]
        return {
            "mdice": float(overlap["dice"]["dynamic"].mean()),
            "miou": float(overlap["iou"]["dynamic"].mean()),
            "s_alpha": float(self._sm.get_results()["sm"]),
            "e_phi_mean": float(curve.mean()),
            "e_phi_max": float(curve.max()),
            "wf_beta": float(self._wfm.get_results()["wfm"]),
            "mae": float(self._mae.get_results()["mae"]),
            "dice_05": float(self._binary.get_results()["dice"]["binary"]),
            "images": float(self.images),
        }


def pranet_test_pairs(root: str | Path, dataset: str, limit: int | None = None) -> list[Pair]:
    """The pairs of PraNet's test list of ``dataset`` found under ``root``, in the list's order
    (``limit``: the first ``limit`` of them, for quick checks).

    ValueError for a pre-resized copy (``polypnet.data.pack``: its masks are not at the original
    size) and when no listed image is there; a DataWarning when only some are (a partial set is
    scored, and its ``images`` count says so).
    """
    from ..data.shipped import pranet_test

    found = find_pairs(root)
    if (found.image_dir.parent / PACK_MANIFEST).is_file():
        raise ValueError(
            f"{found.root} is a resized copy (pack.json): the benchmark scores each image at its original "
            "size; score the checkpoint where the original datasets are"
        )
    listed = pranet_test(dataset)
    present = set(found.ids)
    stems = [s for s in listed if s in present][:limit]
    if not stems:
        raise ValueError(f"none of PraNet's {len(listed)} {dataset} test images is under {found.root}")
    missing = len(listed) - sum(s in present for s in listed)
    if missing:
        warnings.warn(
            f"{found.root}: {missing} of PraNet's {len(listed)} {dataset} test images are missing; scoring the others",
            DataWarning,
            stacklevel=2,
        )
    return found.select(stems)


@dataclass
class SetScore:
    """One test set's scores and where its images came from."""

    name: str
    dataset: str
    metrics: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dataset": self.dataset, "metrics": self.metrics}


def _score(items: Iterable[tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    scorer = PolypScorer()
    for probability, mask in items:
        scorer.add(probability, mask)
    return scorer.results()


def score_pairs(
    predictor: Predictor,
    pairs: Sequence[Pair],
    batch_size: int = 8,
    on_batch: Callable[[int], None] | None = None,
) -> dict[str, float]:
    """:data:`METRICS` of ``predictor`` on ``pairs``, each image at its original size."""

    def items() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for start in range(0, len(pairs), batch_size):
            batch = pairs[start : start + batch_size]
            images = [read_image(p.image) for p in batch]
            for pair, pred in zip(batch, predictor.predict_batch(images)):
                yield pred.probability, read_mask(pair.mask)
            if on_batch is not None:
                on_batch(len(batch))

    return _score(items())


def read_map(path: str | Path) -> np.ndarray:
    """A prediction map saved as an image (another method's, say): its first channel in [0, 1],
    as the toolbox reads it; a ReadError names a file that is not a readable image."""
    return read_image(path)[..., 0].astype(np.float64) / 255.0


def score_maps(maps_dir: str | Path, roots: Mapping[str, str | Path]) -> list[SetScore]:
    """Scores of saved prediction maps in PraNet's layout, ``maps_dir/<set>/<stem>.png`` (the maps
    PraNet released, for one): each of :data:`TEST_SETS` with a folder there and a root in
    ``roots``. ValueError when a map is missing or not at its image's original size."""
    maps_dir = Path(maps_dir)
    scores = []
    for name, dataset in TEST_SETS.items():
        folder = maps_dir / name
        if dataset not in roots or not folder.is_dir():
            continue
        pairs = pranet_test_pairs(roots[dataset], dataset)

        def items(pairs: list[Pair] = pairs, folder: Path = folder) -> Iterator[tuple[np.ndarray, np.ndarray]]:
            for pair in pairs:
                path = folder / f"{pair.id}.png"
                if not path.is_file():
                    raise ValueError(f"{path}: no map for test image {pair.id}")
                probability, mask = read_map(path), read_mask(pair.mask)
                if probability.shape != mask.shape:
                    raise ValueError(
                        f"{path}: map {probability.shape[::-1]}, image {mask.shape[::-1]}: not at the original size"
                    )
                yield probability, mask

        scores.append(SetScore(name, dataset, _score(items())))
    if not scores:
        raise ValueError(f"{maps_dir}: no folder named {' or '.join(TEST_SETS)} with a matching root")
    return scores


def benchmark(
    predictor: Predictor,
    roots: Mapping[str, str | Path],
    batch_size: int = 8,
    limit: int | None = None,
) -> list[SetScore]:
    """Scores on each of :data:`TEST_SETS` whose dataset has a root in ``roots`` (dataset -> folder)."""
    scores = []
    for name, dataset in TEST_SETS.items():
        if dataset in roots:
            pairs = pranet_test_pairs(roots[dataset], dataset, limit)
            scores.append(SetScore(name, dataset, score_pairs(predictor, pairs, batch_size)))
    if not scores:
        raise ValueError(f"no root given for any of {', '.join(TEST_SETS.values())}")
    return scores


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m polypnet.experiments.polyp_benchmark MAPS --data-dir D --model NAME --source S
    --out FILE``: score another method's saved maps and write the record the PraNet table reads."""
    import argparse
    import json
    import shlex
    import sys
    from importlib.metadata import version

    from .pranet_table import MAPS_RECORD_FORMAT

    p = argparse.ArgumentParser(prog="python -m polypnet.experiments.polyp_benchmark", description=main.__doc__)
    p.add_argument("maps", type=Path, help="folder holding Kvasir/ and CVC-ClinicDB/ of <stem>.png maps")
    p.add_argument("--data-dir", type=Path, required=True, help="folder holding kvasir-seg/ and cvc-clinicdb/")
    p.add_argument("--model", required=True, help="whose maps these are, e.g. PraNet")
    p.add_argument("--source", required=True, help="where the maps come from (repository, commit, path)")
    p.add_argument("--out", type=Path, required=True, help="the record to write (JSON)")
    args = p.parse_args(argv)
    roots = {d: args.data_dir / d for d in TEST_SETS.values()}
    sets = score_maps(args.maps, roots)
    record = {
        "format": MAPS_RECORD_FORMAT,
        "model": args.model,
        "maps": args.source,
        "command": "python -m polypnet.experiments.polyp_benchmark "
        + shlex.join(sys.argv[1:] if argv is None else argv),
        "scorer": f"pysodmetrics {version('pysodmetrics')}",
        "scored_at": "each image's original size",
        "sets": [s.as_dict() for s in sets],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    for s in sets:
        print(s.name, {k: round(v, 4) for k, v in s.metrics.items()})
    print(f"recorded {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
