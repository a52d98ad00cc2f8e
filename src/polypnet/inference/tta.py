"""Test-time augmentation by flips."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

# Keeps torch.logit finite when TTA averages probabilities of exactly 0 or 1.
_PROB_EPS = 1e-6


def flip_tta_logits(logits_fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Test-time augmentation: the logit of the mean probability of ``logits_fn`` on ``x`` and on
    its horizontal and vertical flips (each flipped back). Channel 0 only: (B, 1, H, W) float."""
    probs = torch.sigmoid(logits_fn(x)[:, :1].float())
    for dim in (3, 2):  # horizontal, then vertical flip
        probs += torch.sigmoid(logits_fn(x.flip(dim))[:, :1].flip(dim).float())
    return torch.logit(probs / 3, eps=_PROB_EPS)


FLIPS: dict[str, tuple[int, ...]] = {"h": (3,), "v": (2,), "hv": (2, 3)}


class FlippedInput(nn.Module):
    """``model`` seen through a flip: flips the input, runs the model, flips the logits back.

    A robustness check: a model trained with flip augmentation should score about the same on
    flipped inputs. ``flip``: ``"h"`` (horizontal), ``"v"`` (vertical) or ``"hv"`` (both).
    """

    def __init__(self, model: nn.Module, flip: str) -> None:
        super().__init__()
        if flip not in FLIPS:
            raise ValueError(f"flip must be one of {', '.join(FLIPS)}, got {flip!r}")
        self.model, self.dims = model, FLIPS[flip]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.flip(self.dims)).flip(self.dims)
