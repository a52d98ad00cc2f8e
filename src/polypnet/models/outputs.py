"""From logits to masks: every network here returns logits (B, C, H, W); channel 0 is the polyp."""

from __future__ import annotations

import math

import torch


def logit_threshold(threshold: float = 0.5) -> float:
    """The logit equal to probability ``threshold``: thresholding logits there is thresholding
    ``sigmoid(logits)`` at ``threshold``, without computing the sigmoid."""
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    return math.log(threshold / (1 - threshold))


def binarize(logits: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Hard predictions {0, 1} (int64) from logits: probability > ``threshold``."""
    return (logits > logit_threshold(threshold)).long()
