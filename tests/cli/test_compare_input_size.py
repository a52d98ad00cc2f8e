"""polypnet compare input-size: sizes chosen on validation, test only reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from polypnet.cli.compare_input_size import choose, main, table_markdown
from polypnet.models.pretrained import weights_stamp


def test_choice_is_the_best_validation_f1_and_the_training_size_wins_a_tie() -> None:
    val = {224: {"dice_global_orig": 0.80}, 256: {"dice_global_orig": 0.85}, 320: {"dice_global_orig": 0.86}}
    assert choose(val, 256) == 320
    assert choose(val | {320: {"dice_global_orig": 0.85}}, 256) == 256


def test_table_reports_the_test_score_of_the_validation_choice() -> None:
    m = lambda f1: {"dice_global_orig": f1, "dice_per_image_orig": f1 - 0.05, "iou_global_orig": f1 - 0.1}  # noqa: E731
    row = {"weights": "w", "trained_at": 256, "chosen": 320}
    row |= {"val": {"256": m(0.85), "320": m(0.86)}, "test": {"256": m(0.90), "320": m(0.89)}}
    text = table_markdown([row])
    assert "| `w` | 256 px | 85.00 | 86.00 | 320 px | 90.00 | 89.00 | -1.00 | 84.00 |" in text


def test_unknown_tag_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["--pretrained", "nope", "--data-dir", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "no shipped weights 'nope'" in capsys.readouterr().err


def test_shipped_weights_at_their_own_size_give_their_record(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "o"
    argv = [
        "--pretrained",
        "cvc-clinicdb-improved",
        "--data-dir",
        str(shared_data),
        "--sizes",  # the training size only: the choice among sizes has its own test
        "256",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    written = json.loads((out / "input_size.json").read_text())
    assert written["weights_sha256"] == weights_stamp("iam_unet", ["cvc-clinicdb-improved"])
    [row] = written["rows"]
    assert sorted(row["val"]) == ["256"] and row["chosen"] == 256
    repo = Path(__file__).resolve().parents[2]
    record = json.loads((repo / "results/improved/cvc-clinicdb_seed42.json").read_text())["metrics"]
    assert row["test"]["256"]["dice_global_orig"] == pytest.approx(record["dice_global_orig"], abs=1e-6)
    assert row["test"]["256"]["images"] == record["images"] == 61


def test_a_records_checkpoint_is_scored_on_the_split_kept_beside_it(weights: Path, tmp_path: Path) -> None:
    import torch

    from polypnet.data import sample_root
    from polypnet.data.splits import make_split, save_split

    root = sample_root()  # .../sample/kvasir-seg: the record's dataset under --data-dir
    ids = sorted(p.stem for p in (root / "images").iterdir())
    record = tmp_path / "results" / "proto" / "kvasir-seg_seed7.json"
    save_split(
        make_split(ids, seed=7, val_fraction=0.25, test_fraction=0.25),
        record.with_name(record.stem + "_run") / "split.json",
    )
    checkpoint = tmp_path / "best.ckpt"
    state = torch.load(weights, weights_only=True)
    torch.save(
        {"state_dict": {f"net.{k}": v for k, v in state.items()}, "hyper_parameters": {"model": "iam_unet"}}, checkpoint
    )
    record.write_text(json.dumps({"dataset": "kvasir-seg", "image_size": 64, "checkpoint": str(checkpoint)}))
    out = tmp_path / "o"
    argv = ["--records", str(record), "--data-dir", str(root.parent), "--sizes", "32", "--out", str(out)]
    assert main(argv) == 0
    [row] = json.loads((out / "input_size.json").read_text())["rows"]
    assert row["weights"] == "proto/kvasir-seg_seed7" and row["trained_at"] == 64
    assert sorted(row["val"]) == ["32", "64"] and row["test"]["64"]["images"] == 4  # a quarter of the 16 pairs


def test_a_record_whose_checkpoint_left_the_machine_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    record = tmp_path / "r" / "cvc-clinicdb_seed42.json"
    record.parent.mkdir()
    record.write_text(json.dumps({"dataset": "cvc-clinicdb", "image_size": 128, "checkpoint": "gone.ckpt"}))
    assert main(["--records", str(record), "--data-dir", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "its run's checkpoint gone.ckpt is not on this machine" in capsys.readouterr().err
