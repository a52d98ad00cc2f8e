"""ResumableCSVLogger: a resumed run keeps the metrics.csv rows logged before its checkpoint."""

from __future__ import annotations

import csv
from pathlib import Path

from polypnet.loggers import ResumableCSVLogger


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


def test_a_fresh_run_in_the_same_folder_starts_a_new_file(tmp_path: Path) -> None:
    _log(tmp_path, [{"epoch": 0, "val/loss": 0.9}], append=False)
    _log(tmp_path, [{"epoch": 5, "val/loss": 0.1}], append=False)  # Lightning's own behaviour
    assert _epochs_with(tmp_path, "val/loss") == [5]
