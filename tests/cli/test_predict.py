"""polypnet predict: masks at each input's own size, overlays, videos, bad files skipped."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
import torch

from polypnet.cli.predict import main
from polypnet.data import PolypDataset, probe, read_image, sample_root
from polypnet.experiments.evaluation import evaluate
from polypnet.inference import Prediction, Predictor, component_boxes, load_checkpoint, overlay

STAT_FIELDS = {"area_fraction", "confidence", "max_probability", "components", "boxes"}


def _predict(input_path: Path, out: Path, weights: Path, *extra: str) -> int:
    return main(
        [
            str(input_path),
            "--model",
            "iam_unet",
            "--weights",
            str(weights),
            "--image-size",
            "64",
            "--out",
            str(out),
            "--no-progress",
            "--device",
            "cpu",
            *extra,
        ]
    )


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_folder_of_real_kvasir_images_gives_masks_of_each_images_own_size(
    shared_data: Path, weights: Path, tmp_path: Path
) -> None:
    # Four real images of different sizes, in nested folders and as jpg, png and tif.
    chosen, sizes = [], set()
    for path in sorted((shared_data / "kvasir-seg" / "images").glob("*.jpg")):
        info = probe(path)
        if (info.height, info.width) not in sizes:
            sizes.add((info.height, info.width))
            chosen.append(path)
        if len(chosen) == 4:
            break
    src = tmp_path / "frames"
    (src / "day2" / "late").mkdir(parents=True)
    targets = [
        src / chosen[0].name,
        src / "day2" / chosen[1].name,
        src / "day2" / "late" / f"{chosen[2].stem}.png",
        src / f"{chosen[3].stem}.tif",
    ]
    shutil.copy(chosen[0], targets[0])
    shutil.copy(chosen[1], targets[1])
    cv2.imwrite(str(targets[2]), cv2.imread(str(chosen[2])))
    tifffile.imwrite(targets[3], read_image(chosen[3]))
    out = tmp_path / "out"

    assert _predict(src, out, weights) == 0

    table = {row["file"]: row for row in _rows(out / "predictions.csv")}
    assert len(table) == 4
    for target, original in zip(targets, chosen):
        rel = target.relative_to(src)
        height, width = read_image(original).shape[:2]
        mask = cv2.imread(str(out / "masks" / rel.with_suffix(".png")), cv2.IMREAD_UNCHANGED)
        assert mask.shape == (height, width)
        assert set(np.unique(mask)) <= {0, 255}
        assert cv2.imread(str(out / "overlays" / rel.with_suffix(".jpg"))).shape == (height, width, 3)
        row = table[rel.as_posix()]
        assert (int(row["width"]), int(row["height"])) == (width, height)
        assert float(row["area_fraction"]) == pytest.approx((mask > 0).mean(), abs=1e-5)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["images"] == 4 and summary["skipped"] == []


def test_unreadable_files_are_skipped_and_reported(
    weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    src = tmp_path / "frames"
    src.mkdir()
    good = sorted((sample_root() / "images").glob("*.jpg"))[:3]
    for path in good:
        shutil.copy(path, src / path.name)
    (src / "cut.jpg").write_bytes(good[0].read_bytes()[:2000])  # truncated JPEG
    (src / "empty.png").write_bytes(b"")
    (src / "garbage.tif").write_bytes(b"not a tiff at all")
    (src / "notes.txt").write_text("not an image")
    out = tmp_path / "out"

    assert _predict(src, out, weights) == 1  # some inputs skipped, the rest written

    assert sorted(p.name for p in (out / "masks").iterdir()) == sorted(f"{p.stem}.png" for p in good)
    assert len(_rows(out / "predictions.csv")) == 3
    skipped = {Path(s["path"]).name: s["reason"] for s in json.loads((out / "summary.json").read_text())["skipped"]}
    assert set(skipped) == {"cut.jpg", "empty.png", "garbage.tif"}
    assert "truncated" in skipped["cut.jpg"] and "empty" in skipped["empty.png"]
    printed = capsys.readouterr().out
    assert "skipped: 3" in printed
    for name in skipped:
        assert name in printed


@pytest.mark.parametrize("suffix, fourcc", [(".mp4", "mp4v"), (".avi", "MJPG")])
def test_video_gives_overlay_video_with_the_same_frame_count_and_a_per_frame_table(
    weights: Path, tmp_path: Path, suffix: str, fourcc: str
) -> None:
    frames, size = 9, (96, 80)  # width, height: not multiples of 16
    image = cv2.resize(cv2.imread(str(sorted((sample_root() / "images").glob("*.jpg"))[0])), size)
    video = tmp_path / f"clip{suffix}"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*fourcc), 10.0, size)
    for i in range(frames):
        writer.write(np.roll(image, 4 * i, axis=1))
    writer.release()
    out = tmp_path / "out"

    assert _predict(video, out, weights, "--batch-size", "4", "--frame-masks") == 0

    cap = cv2.VideoCapture(str(out / "videos" / "clip" / f"overlay{suffix}"))
    shapes = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        shapes.append(frame.shape)
    cap.release()
    assert shapes == [(size[1], size[0], 3)] * frames
    rows = _rows(out / "videos" / "clip" / "frames.csv")
    assert [int(r["frame"]) for r in rows] == list(range(frames))
    assert {"frame", "time_s"} | STAT_FIELDS == set(rows[0])
    assert float(rows[3]["time_s"]) == pytest.approx(0.3)
    for row in rows:
        boxes = json.loads(row["boxes"])
        assert len(boxes) == int(row["components"])
        assert all(0 <= x and 0 <= y and x + w <= size[0] and y + h <= size[1] for x, y, w, h in boxes)
        assert 0 <= float(row["confidence"]) <= 1
    masks = sorted((out / "videos" / "clip" / "masks").iterdir())
    assert len(masks) == frames and cv2.imread(str(masks[0]), cv2.IMREAD_GRAYSCALE).shape == (size[1], size[0])


def test_an_output_folder_inside_the_input_folder_is_not_read_back(weights: Path, tmp_path: Path) -> None:
    src = tmp_path / "frames"
    src.mkdir()
    for path in sorted((sample_root() / "images").glob("*.jpg"))[:2]:
        shutil.copy(path, src / path.name)
    for extra in ([], ["--overwrite"]):  # the second run sees the first one's masks and overlays under src/out
        assert _predict(src, src / "out", weights, *extra) == 0
        assert len(_rows(src / "out" / "predictions.csv")) == 2


def _lightning_checkpoint(weights: Path, path: Path, image_size: int) -> Path:
    """A state dict rewritten as what Lightning stores, in the fields load_checkpoint reads."""
    state = torch.load(weights, map_location="cpu")
    torch.save(
        {
            "state_dict": {f"net.{k}": v for k, v in state.items()},
            "hyper_parameters": {"model": "iam_unet", "model_kwargs": {}},
            "datamodule_hyper_parameters": {"image_size": image_size},
        },
        path,
    )
    return path


def test_the_image_size_defaults_to_the_checkpoints_training_size(weights: Path, tmp_path: Path) -> None:
    checkpoint = _lightning_checkpoint(weights, tmp_path / "run.ckpt", image_size=48)
    image = sorted((sample_root() / "images").glob("*.jpg"))[0]
    out = tmp_path / "out"
    assert main([str(image), "--checkpoint", str(checkpoint), "--out", str(out), "--no-progress"]) == 0
    settings = json.loads((out / "summary.json").read_text())["settings"]
    assert settings["image_size"] == 48 and settings["model"] == "iam_unet"
    assert cv2.imread(str(out / "masks" / f"{image.stem}.png")).shape[:2] == read_image(image).shape[:2]


def test_a_checkpoint_is_read_once_for_its_weights_and_its_image_size(
    weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from polypnet.inference import load_model

    state = torch.load(weights, map_location="cpu")
    checkpoint = _lightning_checkpoint(weights, tmp_path / "run.ckpt", image_size=48)
    reads: list[str] = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda f, *a, **k: (reads.append(str(f)), real_load(f, *a, **k))[1])
    net, info = load_model(checkpoint=checkpoint)
    assert reads == [str(checkpoint)] and info["image_size"] == 48
    torch.testing.assert_close(net.state_dict(), state)


def test_masks_equal_those_of_evaluate_at_original_resolution(weights: Path, tmp_path: Path) -> None:
    """The same pre-processing as training and the same resize-back as polypnet evaluate."""
    images = sample_root() / "images"
    assert _predict(images, tmp_path / "pred", weights) == 0
    net, _ = load_checkpoint(weights, model="iam_unet")
    dataset = PolypDataset.from_root("sample", image_size=64, cache=False)
    evaluate(net, dataset, original_resolution=True, masks_dir=tmp_path / "eval", progress=False)
    total = differ = foreground = 0
    for name in dataset.names:
        ours = cv2.imread(str(tmp_path / "pred" / "masks" / f"{name}.png"), cv2.IMREAD_GRAYSCALE)
        theirs = cv2.imread(str(tmp_path / "eval" / f"{name}.png"), cv2.IMREAD_GRAYSCALE)
        assert ours.shape == theirs.shape
        total += ours.size
        differ += int((ours != theirs).sum())
        foreground += int((ours > 0).sum())
    assert 0 < foreground < total  # neither empty nor full: the comparison means something
    # predict folds BatchNorm into the convs (float rounding): a pixel at the threshold may flip.
    assert differ / total < 1e-4


def test_tta_averages_the_probabilities_of_the_flipped_passes(weights: Path) -> None:
    net, _ = load_checkpoint(weights, model="iam_unet")
    x = torch.rand(2, 3, 64, 64)
    logits = Predictor(net, image_size=64, tta=True, fast=False).logits(x)
    with torch.no_grad():
        expected = (
            torch.sigmoid(net(x)) + torch.sigmoid(net(x.flip(3)).flip(3)) + torch.sigmoid(net(x.flip(2)).flip(2))
        ) / 3
    torch.testing.assert_close(torch.sigmoid(logits), expected, rtol=1e-4, atol=1e-5)


def test_statistics_boxes_and_overlay_of_a_known_mask() -> None:
    mask = np.zeros((40, 60), np.uint8)
    mask[5:15, 10:30] = 1  # 200 px
    mask[30:35, 50:55] = 1  # 25 px
    prob = np.where(mask > 0, 0.8, 0.1).astype(np.float32)
    prob[0, 0] = 0.45
    stats = Prediction(mask, prob).stats()
    assert component_boxes(mask) == [[10, 5, 20, 10], [50, 30, 5, 5]]
    assert stats["components"] == 2 and json.loads(stats["boxes"]) == [[10, 5, 20, 10], [50, 30, 5, 5]]
    assert stats["area_fraction"] == pytest.approx(225 / 2400)
    assert stats["confidence"] == pytest.approx(0.8) and stats["max_probability"] == pytest.approx(0.8)
    empty = Prediction(np.zeros_like(mask), prob * 0.5).stats()
    assert empty["confidence"] == 0.0 and empty["components"] == 0 and empty["max_probability"] == pytest.approx(0.4)
    image = np.full((40, 60, 3), 100, np.uint8)
    drawn = overlay(image, mask)
    assert (drawn[5, 10] == (0, 255, 0)).all()  # contour pixel: the opaque colour
    assert drawn[10, 20, 1] > 100 and drawn[10, 20, 0] < 100  # inside: tinted green
    assert (drawn[20, 40] == 100).all()  # outside: untouched


@pytest.mark.parametrize(
    "args, message",
    [
        (["missing_folder", "--model", "iam_unet"], "input not found"),
        (["IMAGES", "--model", "iam_unet", "--image-size", "72"], "multiples of 16"),
        (["IMAGES"], "no model"),
        (["IMAGES", "--model", "iam_unet", "--threshold", "1"], "threshold"),
    ],
)
def test_bad_input_is_one_error_line_and_exit_2(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    args = [str(sample_root() / "images") if a == "IMAGES" else a for a in args]
    assert main([*args, "--out", str(tmp_path / "out"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert any(line.startswith("error: ") and message in line for line in err.splitlines())
