"""Figures of runs: an ablation study's curves (all epochs and the last 5), its paired differences, runs side by side."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..training.figures import pyplot, save_figure
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
    plt = pyplot()

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
                (line,) = ax.plot(
                    epochs[window],
                    mean[window],
                    marker="o",
                    markersize=3,
                    label=label + (f" ({len(runs)} seeds)" if len(runs) > 1 else ""),
                )
                if len(runs) > 1:
                    ax.fill_between(
                        epochs[window],
                        values.min(axis=0)[window],
                        values.max(axis=0)[window],
                        color=line.get_color(),
                        alpha=0.15,
                    )
                span = "all epochs" if col == 0 else f"last {LAST_EPOCHS} epochs"
                ax.set(title=f"{name}, {span}", xlabel="epoch", ylabel=name)
    from matplotlib.ticker import MaxNLocator

    for ax in axes.flat:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
    fig.suptitle(study.title)
    return save_figure(fig, path)


def _paper_label(choice: str) -> str:
    """The paper arm's name, tagged as the paper's unless it already says so."""
    return choice if choice == "paper" else f"{choice} (paper)"


def draw_paired(study: Study, deltas: dict[str, dict[int, tuple[float, float]]], path: Path) -> Path | None:
    """Write a dot plot of each arm's difference to the paper arm at the same seed (percentage
    points; validation Dice and test F1), one dot per seed and a bar at the mean, so that a change
    whose dots straddle zero reads as noise at a glance. Returns None when nothing is paired."""
    arms = [arm for arm, per_seed in deltas.items() if per_seed]
    if not arms:
        return None
    plt = pyplot()

    seeds = sorted({s for arm in arms for s in deltas[arm]})
    markers = dict(zip(seeds, "osD^v<>ph*"))
    fig, axes = plt.subplots(1, 2, figsize=(11, 1.2 + 0.55 * len(arms)), sharey=True)
    for col, name in enumerate(("best validation Dice", "test F1 (global)")):
        ax = axes[col]
        ax.axvline(0.0, color="black", linewidth=1)
        labelled: set[int] = set()
        for y, arm in enumerate(arms):
            for s, pair in deltas[arm].items():
                ax.plot(
                    100 * pair[col],
                    y,
                    linestyle="none",
                    marker=markers.get(s, "o"),
                    color=f"C{seeds.index(s)}",
                    zorder=3,
                    label=None if s in labelled else f"seed {s}",
                )
                labelled.add(s)
            mean = np.nanmean([100 * pair[col] for pair in deltas[arm].values()])
            ax.plot([mean, mean], [y - 0.3, y + 0.3], color="grey", linewidth=2, zorder=2)
        ax.set(title=f"Δ {name}", xlabel=f"arm minus {_paper_label(study.paper_choice)} at the same seed, points")
        ax.grid(alpha=0.3, axis="x")
    axes[0].set_yticks(range(len(arms)), arms)
    axes[0].set_ylim(len(arms) - 0.4, -0.6)  # top to bottom in table order, the same row height for one arm or many
    axes[1].legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.suptitle(f"{study.title}: paired differences (grey bar: mean)", fontsize=10)
    return save_figure(fig, path)


def draw_runs(runs: list[RunResult], labels: list[str], path: Path) -> Path:
    """Write one panel of Dice per epoch for several runs: validation solid, training dashed in the
    same colour, the best validation epoch marked; for runs of different protocols side by side."""
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(9, 5))
    for run, label in zip(runs, labels):
        epochs = np.array(run.epochs) + 1
        (line,) = ax.plot(epochs, run.val_dice, marker="o", markersize=3, label=f"{label}: validation")
        if any(not np.isnan(v) for v in run.train_dice):
            ax.plot(
                epochs, run.train_dice, linestyle="--", color=line.get_color(), alpha=0.7, label=f"{label}: training"
            )
        if run.val_dice:
            best = run.best_index
            ax.plot(
                epochs[best], run.val_dice[best], marker="*", markersize=14, color=line.get_color(), linestyle="none"
            )
            ax.annotate(
                f"{100 * run.val_dice[best]:.2f}",
                (epochs[best], run.val_dice[best]),
                textcoords="offset points",
                xytext=(0, 9),
                ha="center",
                fontsize=8,
            )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(title="Dice (global F1) per epoch; * best validation", xlabel="epoch", ylabel="Dice")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)
