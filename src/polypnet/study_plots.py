"""The paper-style figure of an ablation study: validation curves over all epochs and the last 5."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .studies import RunResult, Study

LAST_EPOCHS = 5


def _curves(runs: list[RunResult], attr: str) -> tuple[np.ndarray, np.ndarray]:
    """Epoch numbers (1-based) and a (seeds, epochs) array over the epochs every run reached."""
    n = min(len(getattr(r, attr)) for r in runs)
    values = np.array([getattr(r, attr)[:n] for r in runs], dtype=float)
    return np.arange(1, n + 1), values


def draw_study(study: Study, runs_by_arm: dict[str, list[RunResult]], path: Path) -> Path:
    """Write a 2x2 figure: validation loss and Dice, all epochs and the last ``LAST_EPOCHS``.

    With several seeds an arm is drawn as its mean with a min-max band. Loss values of different
    loss functions are not comparable (the paper compared them); the Dice panels are.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    for arm, runs in runs_by_arm.items():
        runs = [r for r in runs if r.val_loss]
        if not runs:
            continue
        label = f"{arm} (paper)" if arm == study.paper_choice else arm
        for row, (attr, name) in enumerate((("val_loss", "validation loss"), ("val_dice", "validation Dice"))):
            epochs, values = _curves(runs, attr)
            mean = values.mean(axis=0)
            for col, window in enumerate((slice(None), slice(-LAST_EPOCHS, None))):
                ax = axes[row, col]
                (line,) = ax.plot(epochs[window], mean[window], marker="o", markersize=3,
                                  label=label + (f" ({len(runs)} seeds)" if len(runs) > 1 else ""))
                if len(runs) > 1:
                    ax.fill_between(epochs[window], values.min(axis=0)[window], values.max(axis=0)[window],
                                    color=line.get_color(), alpha=0.15)
                span = "all epochs" if col == 0 else f"last {LAST_EPOCHS} epochs"
                ax.set(title=f"{name}, {span}", xlabel="epoch", ylabel=name)
    from matplotlib.ticker import MaxNLocator

    for ax in axes.flat:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
    fig.suptitle(study.title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
