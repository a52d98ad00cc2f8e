"""polypnet evaluate (scripts/evaluate.py): numbers equal an independent NumPy computation; clear errors on mismatch."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from polypnet.cli.evaluate import main
from polypnet.data import PolypDataset, read_mask, sample_root
from polypnet.models import create_model
from polypnet.models.pretrained import weights_stamp


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random IAM-UNet whose head bias splits its logits on the sample near 50/50, so that the
    predictions are neither empty nor full."""
    torch.manual_seed(0)
    model = create_model("iam_unet").eval()
    dataset = PolypDataset.from_root("sample", image_size=64, cache=False)
    with torch.no_grad():
        images = torch.stack([dataset[i]["image"] for i in range(len(dataset))])
        model.head.bias -= model(images).median()
    path = tmp_path_factory.mktemp("w") / "state_dict.pt"
    torch.save(model.state_dict(), path)
    return path


def _numpy_scores(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    p, t = pred > 0, truth > 0
    tp = float((p & t).sum())
    fp, fn = float((p & ~t).sum()), float((~p & t).sum())
    return {"tp": tp, "fp": fp, "fn": fn}


def _check_against_numpy(out: Path, truths: dict[str, np.ndarray], suffix: str) -> None:
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    totals = {"tp": 0.0, "fp": 0.0, "fn": 0.0}
    dices, ious = [], []
    for name, truth in truths.items():
        pred = cv2.imread(str(out / "masks" / f"{name}.png"), cv2.IMREAD_GRAYSCALE)
        assert pred.shape == truth.shape
        s = _numpy_scores(pred, truth)
        for k in totals:
            totals[k] += s[k]
        den = 2 * s["tp"] + s["fp"] + s["fn"]
        dices.append(2 * s["tp"] / den if den else 1.0)
        ious.append(s["tp"] / (s["tp"] + s["fp"] + s["fn"]) if den else 1.0)
    tp, fp, fn = totals["tp"], totals["fp"], totals["fn"]
    assert 0 < tp and 0 < fp  # predictions are neither empty nor perfect: the check means something
    assert metrics[f"dice_global{suffix}"] == pytest.approx(2 * tp / (2 * tp + fp + fn), abs=1e-6)
    assert metrics[f"iou_global{suffix}"] == pytest.approx(tp / (tp + fp + fn), abs=1e-6)
    assert metrics[f"precision_global{suffix}"] == pytest.approx(tp / (tp + fp), abs=1e-6)
    assert metrics[f"recall_global{suffix}"] == pytest.approx(tp / (tp + fn), abs=1e-6)
    assert metrics[f"dice_per_image{suffix}"] == pytest.approx(np.mean(dices), abs=1e-6)
    assert metrics[f"iou_per_image{suffix}"] == pytest.approx(np.mean(ious), abs=1e-6)


def test_metrics_equal_numpy_at_input_size(weights: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    args = [
        "--model",
        "iam_unet",
        "--weights",
        str(weights),
        "--data",
        "sample",
        "--split",
        "all",
        "--image-size",
        "64",
        "--save-masks",
        "--out",
        str(out),
        "--grid",
        "4",
    ]
    assert main(args) == 0
    dataset = PolypDataset.from_root("sample", image_size=64, cache=False)
    truths = {dataset[i]["name"]: dataset[i]["mask"][0].numpy().astype(np.uint8) for i in range(len(dataset))}
    _check_against_numpy(out, truths, "")
    rows = list(csv.DictReader((out / "per_image.csv").open()))
    assert len(rows) == 16 and {"name", "dice", "iou", "precision", "recall"} <= set(rows[0])
    assert (out / "overlays.jpg").stat().st_size > 0


def test_metrics_equal_numpy_at_original_resolution(weights: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    args = [
        "--model",
        "iam_unet",
        "--weights",
        str(weights),
        "--data",
        "sample",
        "--split",
        "all",
        "--image-size",
        "64",
        "--original-resolution",
        "--save-masks",
        "--out",
        str(out),
        "--grid",
        "0",
    ]
    assert main(args) == 0
    root = sample_root()
    truths = {p.stem: read_mask(p) for p in sorted((root / "masks").iterdir())}
    assert any(t.shape != (64, 64) for t in truths.values())
    _check_against_numpy(out, truths, "_orig")


def test_checkpoint_that_does_not_fit_the_model_fails_clearly(tmp_path: Path, capsys) -> None:
    small = tmp_path / "small.pt"
    torch.save(create_model("iam_unet", base_width=8).state_dict(), small)
    code = main(["--model", "iam_unet", "--weights", str(small), "--data", "sample", "--split", "all"])
    assert code == 2
    err = capsys.readouterr().err
    assert "does not fit model 'iam_unet'" in err and str(small) in err


def test_missing_split_and_unknown_model_fail_clearly(weights: Path, capsys) -> None:
    assert main(["--model", "iam_unet", "--weights", str(weights), "--data", "sample"]) == 2
    assert "needs a split" in capsys.readouterr().err
    assert main(["--model", "nope", "--weights", str(weights), "--data", "sample", "--split", "all"]) == 2
    assert "unknown model 'nope'" in capsys.readouterr().err


def test_pretrained_weights_bring_their_size_and_refuse_a_split_they_cannot_draw(tmp_path: Path, capsys) -> None:
    # the bundled sample is 16 Kvasir-SEG pairs: not the copy the weights' split was drawn from
    assert main(["--pretrained", "kvasir-seg", "--data", "sample"]) == 2
    assert "holds 16 pairs, not the kvasir-seg copy" in capsys.readouterr().err
    assert main(["--pretrained", "cvc-clinicdb", "--data", "sample"]) == 2
    assert "can draw their own split only on cvc-clinicdb" in capsys.readouterr().err
    assert main(["--pretrained", "kvasir", "--data", "sample", "--split", "all"]) == 2
    assert "no shipped weights 'kvasir'" in capsys.readouterr().err
    assert main(["--pretrained", "kvasir-seg", "--weights", "w.pt", "--data", "sample"]) == 2
    assert "not several" in capsys.readouterr().err

    # a retired tag names its replacement in one line
    assert main(["--pretrained", "kvasir-seg-128", "--data", "sample", "--split", "all"]) == 2
    assert "retired: use 'kvasir-seg'" in capsys.readouterr().err
    # the input size comes from the weights' record (256), not from a default
    assert (
        main(
            ["--pretrained", "kvasir-seg", "--data", "sample", "--split", "all", "--out", str(tmp_path), "--grid", "0"]
        )
        == 0
    )
    record = json.loads((tmp_path / "metrics.json").read_text())
    assert record["pretrained"] == "kvasir-seg" and record["image_size"] == 256 and record["metrics"]["images"] == 16
    assert record["weights_sha256"] == weights_stamp("iam_unet", ["kvasir-seg"])
    assert record["command"].startswith("polypnet evaluate --pretrained kvasir-seg --data sample")


def test_pretrained_weights_score_their_own_test_split_again(shared_data: Path, tmp_path: Path, capsys) -> None:
    from polypnet.models.pretrained import pretrained_info

    info = pretrained_info("iam_unet", "kvasir-seg-improved")
    assert (
        main(
            [
                "--pretrained",
                "kvasir-seg-improved",
                "--data",
                str(shared_data / "kvasir-seg"),
                "--out",
                str(tmp_path),
                "--grid",
                "0",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    assert "as when the 'kvasir-seg-improved' weights were trained" in capsys.readouterr().out
    metrics = json.loads((tmp_path / "metrics.json").read_text())["metrics"]
    assert metrics["images"] == info["test_images"]
    assert metrics["dice_global"] == pytest.approx(info["test_dice_global"], abs=1e-5)


def test_weights_of_the_pranet_benchmark_draw_pranets_test_list_on_either_dataset(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    import shutil

    from polypnet.models import pretrained

    # Shipped as `polypnet ship-weights` ships a PraNet-protocol record (the bytes: other weights).
    folder = tmp_path / "weights"
    folder.mkdir()
    shipped = pretrained.pretrained_info("iam_unet", "cvc-clinicdb")
    shutil.copy(pretrained.WEIGHTS_DIR / shipped["file"], folder / "iam_unet__polyp-pranet.safetensors")
    entry = {
        **{k: shipped[k] for k in ("model_kwargs", "seed", "image_size", "epochs", "sha256")},
        "file": "iam_unet__polyp-pranet.safetensors",
        "dataset": pretrained.BENCHMARK_DATASET,
        "protocol": "pranet",
        "split": "pranet",
        "split_seed": 42,
        "test_images": 162,
        "benchmark": {"CVC-ClinicDB": {"mdice": 0.9, "miou": 0.8}, "Kvasir": {"mdice": 0.9, "miou": 0.8}},
    }
    (folder / "index.json").write_text(json.dumps({"iam_unet": {"polyp-pranet": entry}}))
    monkeypatch.setattr(pretrained, "WEIGHTS_DIR", folder)
    pretrained._index.cache_clear()
    try:
        out = tmp_path / "eval"
        args = ["--pretrained", "polyp-pranet", "--data", str(shared_data / "cvc-clinicdb"), "--image-size", "64"]
        assert main([*args, "--out", str(out), "--grid", "0", "--device", "cpu"]) == 0
        assert "pranet (seed 42), as when the 'polyp-pranet' weights were trained" in capsys.readouterr().out
        names = [row["name"] for row in csv.DictReader((out / "per_image.csv").open())]
        listed = (shared_data / "cvc-clinicdb" / "splits" / "pranet_test62.txt").read_text().split()
        assert sorted(names) == sorted(listed)
        # The bundled sample is 16 Kvasir-SEG training images: none of PraNet's test list, said in one line.
        assert main(["--pretrained", "polyp-pranet", "--data", "sample"]) == 2
        assert "none of the 16 kvasir-seg samples is in PraNet's test list" in capsys.readouterr().err
    finally:
        pretrained._index.cache_clear()
