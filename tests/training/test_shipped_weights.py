"""The shipped weights are the recorded run's: scoring them again on its test split (or, for weights
trained on both datasets, on PraNet's benchmark) gives its numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from polypnet.cli import evaluate as evaluate_cli
from polypnet.data import find_pairs
from polypnet.data.splits import make_split, save_split
from polypnet.experiments.polyp_benchmark import TEST_SETS, benchmark
from polypnet.inference import load_model
from polypnet.inference.predictor import Predictor
from polypnet.models import list_pretrained
from polypnet.models.pretrained import WEIGHTS_DIR, pretrained_info


def _tags(on_benchmark: bool) -> list[str]:
    """Shipped tags of one dataset's split (False) or of PraNet's benchmark (True, ``benchmark`` scores)."""
    tags = list_pretrained("iam_unet").get("iam_unet", [])
    return [t for t in tags if ("benchmark" in pretrained_info("iam_unet", t)) is on_benchmark]


@pytest.mark.parametrize("tag", _tags(on_benchmark=False))
def test_shipped_weights_score_what_their_index_records(tag: str, shared_data: Path, tmp_path: Path) -> None:
    info = pretrained_info("iam_unet", tag)
    found = find_pairs(shared_data / info["dataset"])
    split_file = save_split(
        make_split(found, info["split"], info.get("split_seed", info["seed"]), 0.1, 0.1), tmp_path / "split.json"
    )
    code = evaluate_cli.main(
        [
            "--model",
            "iam_unet",
            "--weights",
            str(WEIGHTS_DIR / info["file"]),
            "--data",
            str(found.root),
            "--split-file",
            str(split_file),
            "--image-size",
            str(info["image_size"]),
            "--out",
            str(tmp_path / "eval"),
            "--grid",
            "0",
            "--device",
            "cpu",
        ]
    )
    assert code == 0
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())["metrics"]
    assert metrics["images"] == info["test_images"]
    assert metrics["dice_global"] == pytest.approx(info["test_dice_global"], abs=1e-5)
    assert metrics["iou_global"] == pytest.approx(info["test_iou_global"], abs=1e-5)


@pytest.mark.parametrize("tag", _tags(on_benchmark=True))
def test_benchmark_weights_score_what_their_index_records(tag: str, shared_data: Path) -> None:
    info = pretrained_info("iam_unet", tag)
    net, _ = load_model(pretrained=tag)
    predictor = Predictor(net, image_size=info["image_size"], device="cpu")
    sets = benchmark(predictor, {d: shared_data / d for d in TEST_SETS.values()})
    assert sum(s.metrics["images"] for s in sets) == info["test_images"]
    assert {s.name for s in sets} == set(info["benchmark"])
    for s in sets:
        assert s.metrics["mdice"] == pytest.approx(info["benchmark"][s.name]["mdice"], abs=1e-5), s.name
        assert s.metrics["miou"] == pytest.approx(info["benchmark"][s.name]["miou"], abs=1e-5), s.name


def test_pretrained_weights_run_at_their_training_size() -> None:
    tags = list_pretrained("iam_unet").get("iam_unet", [])
    if not tags:
        pytest.skip("no weights shipped")
    _, info = load_model(pretrained=tags[0])
    assert info["image_size"] == pretrained_info("iam_unet", tags[0])["image_size"]
