"""polypnet compare runs on small synthetic run folders (no training, no real data)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from polypnet.cli.compare_runs import main


def _run(
    folder: Path, val: list[float], train: list[float], test: float | None = None, wall_s: float | None = None
) -> Path:
    """A run folder as fit.py leaves it: an LR row, then per epoch a training row and a validation row."""
    folder.mkdir(parents=True)
    lines = ["epoch,lr-Adam,step,train/dice_global,val/loss,val/dice_global", ",0.001,0,,,"]
    for epoch, (v, t) in enumerate(zip(val, train)):
        lines += [f"{epoch},,{epoch},{t},,", f"{epoch},,{epoch},,{1 - v},{v}"]
    (folder / "metrics.csv").write_text("\n".join(lines) + "\n")
    if test is not None:
        (folder / "test_metrics.json").write_text(
            json.dumps({"metrics": {"test/dice_global": test, "test/iou_global": test / 2}})
        )
    if wall_s is not None:
        (folder / "wall_clock.json").write_text(json.dumps({"seconds": wall_s, "parts": 1}))
    return folder


def test_table_and_figure_of_two_runs(tmp_path: Path) -> None:
    short = _run(tmp_path / "short", val=[0.5, 0.7], train=[0.6, 0.8], test=0.72, wall_s=600)
    long = _run(tmp_path / "long", val=[0.5, 0.8, 0.75], train=[0.6, 0.85, 0.9])
    out = tmp_path / "cmp"
    assert main([str(short), str(long), "--labels", "20 epochs", "40 epochs", "--out", str(out)]) == 0
    table = (out / "compare.md").read_text()
    assert "| 20 epochs | 2 | 70.00 (2) | 70.00 | 80.00 | 72.00 / 36.00 | 10 min |" in table
    # The best epoch is not the last one; a run without test metrics or a clock says so.
    assert "| 40 epochs | 3 | 80.00 (2) | 75.00 | 90.00 | - | - |" in table
    assert (out / "compare.png").stat().st_size > 10_000


def test_bad_inputs_name_the_folder_and_the_problem(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit, match="nowhere: no metrics.csv"):
        main([str(tmp_path / "nowhere"), "--out", str(tmp_path / "cmp")])
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "metrics.csv").write_text("epoch,train/dice_global\n0,0.5\n")
    with pytest.raises(SystemExit, match="no validation rows"):
        main([str(empty), "--out", str(tmp_path / "cmp")])
    run = _run(tmp_path / "run", val=[0.5], train=[0.6])
    assert main([str(run), "--labels", "a", "b", "--out", str(tmp_path / "cmp")]) == 2
    assert "2 labels for 1 runs" in capsys.readouterr().err


def test_a_result_folder_shows_its_recorded_evaluation_not_fits_own_test(tmp_path: Path) -> None:
    # reproduce.py keeps evaluate.py's scores (fp32) beside fit's test (at the training precision)
    run = _run(tmp_path / "kept", val=[0.5, 0.7], train=[0.6, 0.8], test=0.90)
    (run / "eval_metrics.json").write_text(json.dumps({"metrics": {"dice_global": 0.88, "iou_global": 0.40}}))
    assert main([str(run), "--labels", "bf16 run", "--out", str(tmp_path / "cmp")]) == 0
    assert (
        "| bf16 run | 2 | 70.00 (2) | 70.00 | 80.00 | 88.00 / 40.00 | - |"
        in (tmp_path / "cmp" / "compare.md").read_text()
    )
