"""Segmentation metrics with torchmetrics: global (all pixels of a split) and per-image means.

Names used everywhere (logs, JSON, tables):

* ``dice_global``, ``iou_global``, ``precision_global``, ``recall_global``: torchmetrics' binary
  F1 / Jaccard / precision / recall over every pixel of the split pooled together. ``dice_global``
  is the F1 score the paper reports.
* ``dice_per_image``, ``iou_per_image``: Dice and IoU of each image, then the mean over images.
  An image whose prediction and ground truth are both empty scores 1 (a perfect answer).

Predictions are thresholded at probability 0.5, i.e. logit > 0. The metrics receive integer
predictions so that torchmetrics never inspects their values: no host sync, XLA-friendly.
"""

from __future__ import annotations

import torch
from torchmetrics import Metric, MetricCollection
from torchmetrics.classification import (
    BinaryF1Score,
    BinaryJaccardIndex,
    BinaryPrecision,
    BinaryRecall,
)

METRIC_NAMES: tuple[str, ...] = (
    "dice_global",
    "iou_global",
    "precision_global",
    "recall_global",
    "dice_per_image",
    "iou_per_image",
)


class PerImageScores(Metric):
    """Mean over images of per-image Dice (``kind="dice"``) or IoU (``kind="iou"``).

    Sum states (not lists), so the value is exact across devices and cheap on XLA.
    """

    full_state_update = False
    higher_is_better = True

    def __init__(self, kind: str = "dice", **kwargs: object) -> None:
        super().__init__(**kwargs)
        if kind not in ("dice", "iou"):
            raise ValueError(f"kind must be 'dice' or 'iou', got {kind!r}")
        self.kind = kind
        self.add_state("total", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        """``preds`` and ``target``: {0, 1} tensors of shape (B, ...)."""
        p = preds.reshape(preds.shape[0], -1).float()
        t = target.reshape(target.shape[0], -1).float()
        inter = (p * t).sum(1)
        total = p.sum(1) + t.sum(1)
        if self.kind == "dice":
            num, den = 2 * inter, total
        else:
            num, den = inter, total - inter
        # Both empty: the prediction is right, score 1.
        score = torch.where(den > 0, num / den.clamp_min(1), torch.ones_like(den))
        self.total += score.double().sum()  # summed in float64: equal for any batch split across devices
        self.count += p.shape[0]

    def compute(self) -> torch.Tensor:
        return (self.total / self.count.clamp_min(1)).float()


def segmentation_metrics(prefix: str = "") -> MetricCollection:
    """All metrics of ``METRIC_NAMES`` in one collection; feed it ``(binarize(logits), mask.long())``."""
    common = dict(threshold=0.5, validate_args=False)
    return MetricCollection(
        {
            "dice_global": BinaryF1Score(**common),
            "iou_global": BinaryJaccardIndex(**common),
            "precision_global": BinaryPrecision(**common),
            "recall_global": BinaryRecall(**common),
            "dice_per_image": PerImageScores("dice"),
            "iou_per_image": PerImageScores("iou"),
        },
        prefix=prefix,
        compute_groups=False,
    )
