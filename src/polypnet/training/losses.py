"""Loss names -> segmentation-models-pytorch losses, all taking logits (binary mode)."""

from __future__ import annotations

import torch
from segmentation_models_pytorch import losses as smp_losses
from torch import nn

LOSSES: tuple[str, ...] = ("dice", "tversky", "bce_dice")


class BCEDiceLoss(nn.Module):
    """Binary cross-entropy plus Dice loss, equally weighted (the paper's "BCE+Dice" arm)."""

    def __init__(self) -> None:
        super().__init__()
        self.bce = smp_losses.SoftBCEWithLogitsLoss()
        self.dice = smp_losses.DiceLoss(smp_losses.BINARY_MODE, from_logits=True)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.bce(logits, target) + self.dice(logits, target)


def build_loss(name: str) -> nn.Module:
    """The loss called ``name``: ``dice`` (the paper's best), ``tversky`` or ``bce_dice``.

    Dice is smp's soft Dice over the whole batch. Tversky uses alpha = 0.3 (false positives) and
    beta = 0.7 (false negatives), the common setting of Salehi et al. 2017: the paper does not give
    its values.
    """
    if name == "dice":
        return smp_losses.DiceLoss(smp_losses.BINARY_MODE, from_logits=True)
    if name == "tversky":
        return smp_losses.TverskyLoss(smp_losses.BINARY_MODE, from_logits=True, alpha=0.3, beta=0.7)
    if name == "bce_dice":
        return BCEDiceLoss()
    raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}")
