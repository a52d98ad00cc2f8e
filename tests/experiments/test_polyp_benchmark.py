"""The PraNet benchmark's scorer against hand computations on 4x4 examples.

The toolboxes' conventions are what is checked: mDice and mIoU as the mean over 256 thresholds
of the per-image scores, the per-image min-max normalisation of the map, Dice at 0.5 on the
probability itself.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("py_sod_metrics", reason="pysodmetrics (the evaluation extra) is not installed")

from polypnet.experiments.polyp_benchmark import METRICS, PolypScorer, to_gray  # noqa: E402

# Ground truth: the top-left 2x2 of a 4x4 image.
GT = np.zeros((4, 4), np.uint8)
GT[:2, :2] = 1


def scores(probability: np.ndarray, mask: np.ndarray = GT) -> dict[str, float]:
    scorer = PolypScorer()
    scorer.add(probability, mask)
    return scorer.results()


def test_overlap_is_the_mean_over_256_thresholds() -> None:
    # Foreground 1.0, 1.0, 0.6, 0.2 (grey 255, 255, 153, 51); one background pixel at 0.6, the
    # rest 0. Min 0 and max 1, so the min-max normalisation changes nothing.
    p = np.zeros((4, 4))
    p[0, 0], p[0, 1], p[1, 0], p[1, 1] = 1.0, 1.0, 0.6, 0.2
    p[3, 3] = 0.6
    # A pixel is foreground at threshold t when its grey value is >= t, t = 0..255:
    #   t = 0        all 16 pixels:            TP 4, FP 12, FN 0 -> Dice 8/20, IoU 4/16
    #   t = 1..51    (51 thresholds)  TP 4, FP 1, FN 0 -> Dice 8/9,  IoU 4/5
    #   t = 52..153  (102 thresholds) TP 3, FP 1, FN 1 -> Dice 6/8,  IoU 3/5
    #   t = 154..255 (102 thresholds) TP 2, FP 0, FN 2 -> Dice 4/6,  IoU 2/4
    dice = (8 / 20 + 51 * 8 / 9 + 102 * 6 / 8 + 102 * 4 / 6) / 256
    iou = (4 / 16 + 51 * 4 / 5 + 102 * 3 / 5 + 102 * 2 / 4) / 256
    got = scores(p)
    assert got["mdice"] == pytest.approx(dice, abs=1e-12)
    assert got["miou"] == pytest.approx(iou, abs=1e-12)
    # |p - gt|: 0, 0, 0.4, 0.8 on the foreground, 0.6 on one background pixel.
    assert got["mae"] == pytest.approx((0.4 + 0.8 + 0.6) / 16, abs=1e-12)
    # At probability > 0.5: TP 3 (1, 1, 0.6), FP 1, FN 1.
    assert got["dice_05"] == pytest.approx(6 / 8, abs=1e-12)
    assert set(METRICS) <= set(got) and got["images"] == 1


def test_a_perfect_map_scores_one_but_the_zero_threshold_counts() -> None:
    got = scores(GT.astype(float))
    assert got["s_alpha"] == pytest.approx(1.0)
    assert got["wf_beta"] == pytest.approx(1.0)
    # The toolbox divides the summed alignment by (pixels - 1), not pixels: 16 / 15 here.
    assert got["e_phi_max"] == pytest.approx(16 / 15)
    assert got["mae"] == 0.0 and got["dice_05"] == 1.0
    # Threshold 0 marks every pixel: Dice 8/20 there, 1 at the 255 others.
    assert got["mdice"] == pytest.approx((8 / 20 + 255) / 256, abs=1e-12)


def test_each_map_is_min_max_normalised() -> None:
    # 0.2 on the background, 0.6 on the polyp: stretched to 0 and 1, a perfect map.
    p = np.where(GT > 0, 0.6, 0.2)
    got = scores(p)
    assert got["mae"] == pytest.approx(0.0, abs=1e-12)
    assert got["s_alpha"] == pytest.approx(1.0)
    # The 0.5 threshold sees the probability itself: 0.6 > 0.5 everywhere on the polyp, 0.2 not.
    assert got["dice_05"] == 1.0


def test_an_empty_mask_has_s_alpha_one_minus_the_mean() -> None:
    p = np.zeros((4, 4))
    p[0, :] = 1.0  # a quarter of the image
    got = scores(p, np.zeros((4, 4), np.uint8))
    assert got["s_alpha"] == pytest.approx(1 - 0.25)
    assert got["mae"] == pytest.approx(0.25)


def test_means_are_over_images_and_inputs_are_checked() -> None:
    scorer = PolypScorer()
    scorer.add(GT.astype(float), GT)  # MAE 0
    scorer.add(1.0 - GT, GT)  # every pixel wrong: MAE 1
    assert scorer.results()["mae"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="same"):
        scorer.add(np.zeros((4, 5)), GT)
    with pytest.raises(ValueError, match="no image"):
        PolypScorer().results()
    assert to_gray(np.array([0.0, 0.2, 1.0, 1.2])).tolist() == [0, 51, 255, 255]


def test_saved_maps_of_another_method_are_scored_and_tabled(tmp_path) -> None:
    import json
    import warnings

    import cv2

    from polypnet.data.layouts import find_pairs
    from polypnet.data.readers import read_mask
    from polypnet.experiments.polyp_benchmark import main, score_maps
    from polypnet.experiments.pranet_table import pranet_markdown
    from tests.data.test_pranet_split import make_both

    make_both(tmp_path / "data")
    roots = {"kvasir-seg": tmp_path / "data" / "kvasir-seg", "cvc-clinicdb": tmp_path / "data" / "cvc-clinicdb"}
    maps = tmp_path / "maps"
    for name, dataset in (("Kvasir", "kvasir-seg"), ("CVC-ClinicDB", "cvc-clinicdb")):
        (maps / name).mkdir(parents=True)
        for pair in find_pairs(roots[dataset]):  # every pair, the test ones among them: a perfect map each
            cv2.imwrite(str(maps / name / f"{pair.id}.png"), read_mask(pair.mask) * 255)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 2 of each test list only
        sets = score_maps(maps, roots)
        assert [(s.name, s.metrics["images"], s.metrics["mae"]) for s in sets] == [
            ("Kvasir", 2, 0.0),
            ("CVC-ClinicDB", 2, 0.0),
        ]
        out = tmp_path / "results" / "check.json"
        assert (
            main(
                [
                    str(maps),
                    "--data-dir",
                    str(tmp_path / "data"),
                    "--model",
                    "Perfect",
                    "--source",
                    "here",
                    "--out",
                    str(out),
                ]
            )
            == 0
        )
        record = json.loads(out.read_text())
        assert record["format"] == "polypnet-pranet-maps/1" and record["model"] == "Perfect"
        mdice = record["sets"][0]["metrics"]["mdice"]
        assert f"| Perfect (*released maps*, `check.json`) | {mdice:.4f} |" in pranet_markdown(
            out.parent, relative_to=out.parent
        )
        first = next(iter((maps / "Kvasir").iterdir()))
        cv2.imwrite(str(first), np.zeros((4, 4), np.uint8))
        with pytest.raises(ValueError, match="not at the original size"):
            score_maps(maps, roots)
        first.unlink()
        with pytest.raises(ValueError, match="no map"):
            score_maps(maps, roots)
