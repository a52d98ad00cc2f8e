"""ResumableCSVLogger: a resumed run keeps the metrics.csv rows logged before its checkpoint."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from polypnet.training.loggers import ResumableCSVLogger


def _log(run_dir: Path, rows: list[dict[str, float]], append: bool) -> None:
    logger = ResumableCSVLogger(save_dir=str(run_dir), name="", version="", append=append)
    for step, row in enumerate(rows):
        logger.log_metrics(row, step=step)
    logger.save()


def _epochs_with(run_dir: Path, key: str) -> list[int]:
    with (run_dir / "metrics.csv").open(newline="") as f:
        return [int(r["epoch"]) for r in csv.DictReader(f) if r.get(key)]


def test_resumed_logger_appends_and_widens_the_header(tmp_path: Path) -> None:
    _log(tmp_path, [{"epoch": 0, "val/loss": 0.9}, {"epoch": 1, "val/loss": 0.8}], append=False)
    # The resumed run logs a key the first one never did: the header widens, old rows stay.
    _log(tmp_path, [{"epoch": 2, "val/loss": 0.7, "val/dice_global": 0.5}], append=True)
    assert _epochs_with(tmp_path, "val/loss") == [0, 1, 2]
    assert _epochs_with(tmp_path, "val/dice_global") == [2]
    _log(tmp_path, [{"epoch": 3, "val/loss": 0.6}], append=True)  # same keys: a plain append
    assert _epochs_with(tmp_path, "val/loss") == [0, 1, 2, 3]


# Lightning warns that the second logger will replace the first one's file: what this test checks.
@pytest.mark.filterwarnings("ignore:Experiment logs directory .* exists and is not empty")
def test_a_fresh_run_in_the_same_folder_starts_a_new_file(tmp_path: Path) -> None:
    _log(tmp_path, [{"epoch": 0, "val/loss": 0.9}], append=False)
    _log(tmp_path, [{"epoch": 5, "val/loss": 0.1}], append=False)  # Lightning's own behaviour
    assert _epochs_with(tmp_path, "val/loss") == [5]


def test_rows_past_the_resumed_checkpoint_are_dropped(tmp_path: Path) -> None:
    from polypnet.training.loggers import drop_rows_from_step

    metrics = tmp_path / "metrics.csv"
    metrics.write_text(
        "epoch,lr-Adam,step,train/loss_step,val/loss\n0,,4,0.9,\n0,,9,0.8,\n0,,9,,0.7\n,0.001,10,,\n1,,14,0.6,\n"
    )
    # the checkpoint of epoch 0 ends at global step 10: rows from step 10 on are the killed epoch's
    assert drop_rows_from_step(metrics, 10) == 2
    with metrics.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["step"] for r in rows] == ["4", "9", "9"] and rows[2]["val/loss"] == "0.7"
    assert drop_rows_from_step(metrics, 10) == 0  # nothing left to drop: the file stays as it is
    assert drop_rows_from_step(tmp_path / "missing.csv", 0) == 0


def test_fit_drops_the_rows_past_the_checkpoint_it_resumes_from(tmp_path: Path) -> None:
    import torch

    from polypnet.cli.fit import _forget_steps_after

    (tmp_path / "checkpoints").mkdir()
    torch.save({"global_step": 10}, tmp_path / "checkpoints" / "last.ckpt")
    metrics = tmp_path / "metrics.csv"
    metrics.write_text("epoch,step,train/loss_step\n0,4,0.9\n0,9,0.8\n1,14,0.6\n")
    _forget_steps_after("last", tmp_path)  # 'last' is the run's own last.ckpt
    assert metrics.read_text().splitlines()[-1].startswith("0,9,")
    metrics.write_text("epoch,step,train/loss_step\n0,4,0.9\n")
    _forget_steps_after(str(tmp_path / "checkpoints" / "last.ckpt"), tmp_path)  # an explicit path
    assert metrics.read_text().splitlines()[-1].startswith("0,4,")
