"""A CSV logger whose resumed runs keep the epochs logged before the checkpoint."""

from __future__ import annotations

import csv
from pathlib import Path

from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter


class _AppendingExperimentWriter(ExperimentWriter):
    """Keeps an existing ``metrics.csv`` and appends to it under the same header."""

    def _check_log_dir_exists(self) -> None:
        # Lightning deletes the file here; we read its header instead, so that later saves append
        # (or rewrite it with a wider header, rows kept) rather than start again.
        if self._fs.isfile(self.metrics_file_path):
            with self._fs.open(self.metrics_file_path, "r", newline="") as file:
                self.metrics_keys = list(next(csv.reader(file), []))


class ResumableCSVLogger(CSVLogger):
    """Lightning's ``CSVLogger``; with ``append=True`` a run resumed into the same folder appends to
    its ``metrics.csv`` instead of deleting it, so the per-epoch history stays whole."""

    def __init__(self, *args, append: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._append = append

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        """The writer: Lightning's, or one that appends when resuming."""
        if self._experiment is not None:
            return self._experiment
        self._fs.makedirs(self.root_dir, exist_ok=True)
        writer = _AppendingExperimentWriter if self._append else ExperimentWriter
        self._experiment = writer(log_dir=self.log_dir)
        return self._experiment


def drop_rows_from_step(metrics_file: Path, step: int) -> int:
    """Remove the rows of ``metrics_file`` logged at global step ``step`` or later; returns how many.

    A run killed mid-epoch may have flushed training-step rows past its last checkpoint; the run
    resumed from that checkpoint logs those steps again, so without this they would appear twice.
    """
    if not metrics_file.is_file():
        return 0
    with metrics_file.open(newline="") as f:
        rows = list(csv.reader(f))
    if not rows or "step" not in rows[0]:
        return 0
    col = rows[0].index("step")
    keep = [r for r in rows[1:] if not (len(r) > col and r[col] and int(r[col]) >= step)]
    dropped = len(rows) - 1 - len(keep)
    if dropped:
        with metrics_file.open("w", newline="") as f:
            csv.writer(f).writerows([rows[0], *keep])
    return dropped
