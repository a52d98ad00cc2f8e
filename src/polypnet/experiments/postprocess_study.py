"""Threshold and mask clean-up chosen on validation: what they change on the test split.

Each image's logits are computed once (torch fp32, the network as trained), resized back to the
image's own size, and then every (threshold, clean-up) variant is scored on them: global Dice
(F1, pooled pixels), mean per-image Dice (mDice) and global IoU. The variant with the best
validation F1 is chosen (the default, 0.5 with no clean-up, wins a tie) and the test split only
reports what that choice gives.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from ..data import PolypDataset
from ..inference.postprocess import POSTPROCESS, apply
from ..inference.predictor import Predictor
from ..models.outputs import logit_threshold

#: Probability thresholds tried.
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7)
#: The variant every prediction uses unless told otherwise.
DEFAULT = "0.5/none"


def variant_key(threshold: float, postprocess: str) -> str:
    """``threshold/clean-up``, e.g. ``0.5/none``: a variant's key in the record."""
    return f"{threshold:g}/{postprocess}"


@torch.no_grad()
def original_size_logits(
    model: nn.Module, dataset: PolypDataset, batch_size: int = 8
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(logits at the image's own size, its {0, 1} mask) for every item of ``dataset``: the same
    resize as ``polypnet evaluate --original-resolution``, so the default variant gives its scores."""
    model = model.eval()
    predictor: Predictor | None = None
    pairs = []
    for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False):
        images = batch["image"]
        if predictor is None:  # the dataset's tensors are already at the network's size
            predictor = Predictor(model, image_size=images.shape[-1], fast=False)
        logits = predictor.logits(images)
        for j in range(len(images)):
            truth = dataset.read_mask(len(pairs))
            up = F.interpolate(logits[j : j + 1], size=truth.shape, mode="bilinear", align_corners=False)
            pairs.append((up[0, 0].numpy(), truth.astype(np.uint8)))
    return pairs


def score_variant(pairs: list[tuple[np.ndarray, np.ndarray]], threshold: float, postprocess: str) -> dict[str, float]:
    """Global Dice and IoU (pixels pooled) and mean per-image Dice of one variant (both empty: Dice 1)."""
    cut = logit_threshold(threshold)
    tp = fp = fn = 0
    dices = []
    for logits, truth in pairs:
        pred = apply(logits > cut, postprocess).astype(bool)
        t = truth.astype(bool)
        i_tp = int(np.logical_and(pred, t).sum())
        i_fp, i_fn = int(pred.sum()) - i_tp, int(t.sum()) - i_tp
        tp, fp, fn = tp + i_tp, fp + i_fp, fn + i_fn
        dices.append(2 * i_tp / (2 * i_tp + i_fp + i_fn) if i_tp + i_fp + i_fn else 1.0)
    return {
        "dice_global": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0,
        "dice_per_image": float(np.mean(dices)) if dices else float("nan"),
        "iou_global": tp / (tp + fp + fn) if tp + fp + fn else 1.0,
    }


def study(
    val: list[tuple[np.ndarray, np.ndarray]],
    test: list[tuple[np.ndarray, np.ndarray]],
    thresholds: tuple[float, ...] = THRESHOLDS,
    postprocess: tuple[str, ...] = POSTPROCESS,
) -> dict[str, Any]:
    """Every variant scored on both splits, and the one chosen on validation F1."""
    variants = [(t, p) for t in thresholds for p in postprocess]
    scores = {
        name: {variant_key(t, p): score_variant(pairs, t, p) for t, p in variants}
        for name, pairs in (("val", val), ("test", test))
    }
    chosen = max(scores["val"], key=lambda k: (scores["val"][k]["dice_global"], k == DEFAULT))
    return {"chosen": chosen, "images": {"val": len(val), "test": len(test)}, **scores}
