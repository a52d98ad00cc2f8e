"""The paper's reported numbers ("Improved Attention MobileU-Net untuk Segmentasi Citra Medis Polip")."""

from __future__ import annotations

#: Test F1 and IoU (%) the paper reports per dataset (random 80/10/10 split, 256 px, 40 epochs).
PAPER = {"cvc-clinicdb": {"f1": 92.36, "iou": 86.50}, "kvasir-seg": {"f1": 86.59, "iou": 78.87}}
#: The paper's parameter count of IAM-UNet.
PAPER_PARAMS = 574_579
