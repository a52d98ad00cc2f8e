"""The shipped weights are the recorded run's: scoring them again on its test split gives its numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from polypnet.cli import evaluate as evaluate_cli
from polypnet.data import find_pairs
from polypnet.data.splits import make_split, save_split
from polypnet.inference import load_model
from polypnet.models import list_pretrained
from polypnet.models.pretrained import WEIGHTS_DIR, pretrained_info


@pytest.mark.parametrize("tag", list_pretrained("iam_unet").get("iam_unet", []))
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


def test_pretrained_weights_run_at_their_training_size() -> None:
    tags = list_pretrained("iam_unet").get("iam_unet", [])
    if not tags:
        pytest.skip("no weights shipped")
    _, info = load_model(pretrained=tags[0])
    assert info["image_size"] == pretrained_info("iam_unet", tags[0])["image_size"]
