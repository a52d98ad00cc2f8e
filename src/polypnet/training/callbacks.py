"""Lightning callbacks: training curves as PNG, the wall time of a run across resumes."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import lightning as L

from .figures import pyplot, save_figure

#: (metric key in trainer.callback_metrics, label) pairs drawn by ``CurvePlot``.
CURVES: tuple[tuple[str, str], ...] = (
    ("train/loss_epoch", "train loss"),
    ("val/loss", "val loss"),
    ("train/dice_global", "train Dice"),
    ("val/dice_global", "val Dice"),
)


class CurvePlot(L.Callback):
    """Draws train/val loss and Dice per epoch (like the paper's figures 8-9) to ``curves.png``.

    The history is part of the checkpoint (``state_dict``), so a resumed run draws whole curves,
    and the PNG is redrawn after every epoch, so a crash loses nothing.
    """

    def __init__(self, filename: str = "curves.png") -> None:
        self.filename = filename
        self.history: list[dict[str, float]] = []

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        row = {"epoch": float(trainer.current_epoch)}
        for key, _ in CURVES:
            value = trainer.callback_metrics.get(key)
            if value is not None:
                row[key] = float(value)
        self.history = [h for h in self.history if h["epoch"] != row["epoch"]] + [row]
        log_dir = trainer.log_dir  # a broadcast under DDP: every rank must ask, not only rank 0
        if trainer.is_global_zero and log_dir:
            self.draw(Path(log_dir) / self.filename)

    def draw(self, path: Path) -> None:
        """Write the figure to ``path``."""
        plt = pyplot()

        fig, (ax_loss, ax_dice) = plt.subplots(1, 2, figsize=(10, 4))
        epochs = [h["epoch"] + 1 for h in self.history]
        for (key, label), ax in zip(CURVES, (ax_loss, ax_loss, ax_dice, ax_dice)):
            ys = [h.get(key, float("nan")) for h in self.history]
            ax.plot(epochs, ys, marker="o", markersize=3, label=label)
        ax_loss.set(title="Loss", xlabel="epoch", ylabel="loss")
        ax_dice.set(title="Dice (global F1)", xlabel="epoch", ylabel="Dice", ylim=(0, 1))
        for ax in (ax_loss, ax_dice):
            ax.grid(alpha=0.3)
            ax.legend()
        save_figure(fig, path)

    def state_dict(self) -> dict[str, Any]:
        return {"history": self.history}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = list(state_dict.get("history", []))


#: The file ``WallClock`` writes in a run's log folder.
WALL_CLOCK_FILE = "wall_clock.json"


def read_wall_clock(folder: Path) -> float | None:
    """A run's wall time in seconds over all its parts, from the ``WallClock`` file in ``folder``;
    None for a folder without a readable one (a run older than the clock)."""
    try:
        return float(json.loads((Path(folder) / WALL_CLOCK_FILE).read_text())["seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


class WallClock(L.Callback):
    """The wall time of a whole run, summed over its parts, in ``wall_clock.json`` of the log folder.

    The count is part of the checkpoint, so a run killed and resumed from its last checkpoint goes on
    counting from there (the unfinished epoch that the resume repeats is not counted twice). The file
    is rewritten after every epoch and at the end of fit and test: ``{"seconds": ..., "parts": ...}``,
    where ``parts`` is the number of fit calls that trained the run. A run resumed from a checkpoint
    made before the clock existed has no known total: its ``seconds`` is null.
    """

    def __init__(self, filename: str = WALL_CLOCK_FILE) -> None:
        self.filename = filename
        self.earlier_s = 0.0  # seconds of the parts before this one
        self.parts = 0
        self._start: float | None = None
        self._restored: dict[str, Any] | None = None

    def seconds(self) -> float:
        """Seconds of the run so far, this part included."""
        return self.earlier_s + (0.0 if self._start is None else time.monotonic() - self._start)

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self._start is None:
            self._start = time.monotonic()

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Applied here, not in load_state_dict: testing the best checkpoint restores callback
        # states too, and must not wind the clock back to that epoch.
        if self._restored is not None:
            self.earlier_s = float(self._restored.get("seconds", 0.0))
            self.parts = int(self._restored.get("parts", 0))
            self._restored = None
        elif trainer.current_epoch > 0:  # resumed from a checkpoint without a clock: earlier parts unknown
            self.earlier_s = math.nan
        self.parts += 1

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._write(trainer)

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._write(trainer)

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._write(trainer)

    def _write(self, trainer: L.Trainer) -> None:
        log_dir = trainer.log_dir  # a broadcast under DDP: every rank must ask, not only rank 0
        if trainer.is_global_zero and log_dir:
            path = Path(log_dir) / self.filename
            path.parent.mkdir(parents=True, exist_ok=True)
            seconds = self.seconds()
            path.write_text(
                json.dumps({"seconds": None if math.isnan(seconds) else round(seconds, 1), "parts": self.parts}) + "\n"
            )

    def state_dict(self) -> dict[str, Any]:
        return {"seconds": self.seconds(), "parts": self.parts}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._restored = dict(state_dict)
