"""polypnet compare postprocess: threshold and clean-up chosen on validation, test only reported."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from polypnet.cli.compare_postprocess import main, table_markdown
from polypnet.experiments.postprocess_study import DEFAULT, score_variant, study
from polypnet.inference.postprocess import apply, fill_holes, largest_component
from polypnet.models.pretrained import weights_stamp


def _disc(shape: tuple[int, int], centre: tuple[int, int], radius: int) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return ((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius**2).astype(np.uint8)


def test_clean_ups_keep_the_largest_region_and_fill_enclosed_holes() -> None:
    mask = _disc((40, 40), (15, 15), 8) | _disc((40, 40), (35, 35), 2)
    mask[15, 15] = 0  # a hole
    mask[0:3, 0] = 0  # background touching the border stays background
    assert largest_component(mask).sum() == _disc((40, 40), (15, 15), 8).sum() - 1
    assert fill_holes(mask)[15, 15] == 1 and fill_holes(mask).sum() == mask.sum() + 1
    assert apply(mask, "largest+fill").sum() == _disc((40, 40), (15, 15), 8).sum()
    assert apply(np.zeros((5, 5)), "largest+fill").sum() == 0
    with pytest.raises(ValueError, match="unknown post-processing"):
        apply(mask, "open")


def test_scores_pool_pixels_and_average_images_and_the_default_wins_a_tie() -> None:
    truth = _disc((32, 32), (16, 16), 6)
    logits = np.where(truth > 0, 2.0, -2.0).astype(np.float32)
    logits[0, 0] = 0.1  # a stray pixel of probability 0.52: kept at 0.5, removed by "largest"
    pairs = [(logits, truth), (np.full((8, 8), -3.0, np.float32), np.zeros((8, 8), np.uint8))]
    plain, largest = score_variant(pairs, 0.5, "none"), score_variant(pairs, 0.5, "largest")
    tp = int(truth.sum())
    assert plain["dice_global"] == pytest.approx(2 * tp / (2 * tp + 1))
    assert plain["dice_per_image"] == pytest.approx((2 * tp / (2 * tp + 1) + 1.0) / 2)  # the empty pair scores 1
    assert largest["dice_global"] == 1.0 and largest["iou_global"] == 1.0
    result = study(pairs, pairs, thresholds=(0.5, 0.6))
    assert result["chosen"] == "0.5/largest" and result["images"] == {"val": 2, "test": 2}
    clean = [(np.where(truth > 0, 2.0, -2.0).astype(np.float32), truth)]
    assert study(clean, clean, thresholds=(0.4, 0.5))["chosen"] == DEFAULT  # every variant ties


def test_table_marks_the_choice_and_the_default() -> None:
    s = {"dice_global": 0.9, "dice_per_image": 0.8, "iou_global": 0.7}
    row = {
        "weights": "w",
        "chosen": "0.4/fill",
        "val": {DEFAULT: s, "0.4/fill": s},
        "test": {DEFAULT: s, "0.4/fill": s},
    }
    text = table_markdown([row])
    assert "| `w` | 0.5/none (default) | 90.00 | 90.00 | 80.00 |" in text
    assert "| `w` | **0.4/fill** | 90.00 | 90.00 | 80.00 |" in text


def test_unknown_tag_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["--pretrained", "nope", "--data-dir", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "no shipped weights 'nope'" in capsys.readouterr().err


def test_the_default_variant_gives_the_shipped_record(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "o"
    argv = ["--pretrained", "cvc-clinicdb-improved", "--data-dir", str(shared_data), "--thresholds", "0.5"]
    assert main([*argv, "--out", str(out)]) == 0
    written = json.loads((out / "postprocess.json").read_text())
    assert written["weights_sha256"] == weights_stamp("iam_unet", ["cvc-clinicdb-improved"])
    [row] = written["rows"]
    repo = Path(__file__).resolve().parents[2]
    record = json.loads((repo / "results/improved/cvc-clinicdb_seed42.json").read_text())["metrics"]
    assert row["test"][DEFAULT]["dice_global"] == pytest.approx(record["dice_global_orig"], abs=1e-6)
    assert row["test"][DEFAULT]["dice_per_image"] == pytest.approx(record["dice_per_image_orig"], abs=1e-6)
    assert row["images"] == {"val": 61, "test": 61}
