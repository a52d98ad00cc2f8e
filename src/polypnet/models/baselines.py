"""Baseline segmentation networks for the paper comparison, written as plain PyTorch modules.

===================  ==========================================================  ============  =========
Model                Reference                                                   Ours (torch)  Published
===================  ==========================================================  ============  =========
``UNet``             Ronneberger, Fischer, Brox, MICCAI 2015 (arXiv:1505.04597)    31,037,633      31.0M
``ResUNet``          Zhang, Liu, Wang, IEEE GRSL 2018 (arXiv:1711.10684)            8,223,809       7.8M
``ResUNetPlusPlus``  Jha et al., IEEE ISM 2019 (arXiv:1911.07067)                   4,062,993      4.07M
===================  ==========================================================  ============  =========

Counts are ``sum(p.numel() for p in model.parameters())`` with ``in_channels=3, out_channels=1``;
``count_parameters(model, "keras")`` adds the BatchNorm moving statistics (ResUNet++: 4,070,385,
the Keras total the 4.07M of the paper rounds). All three return logits (no sigmoid) and keep the
input size; H and W must be multiples of ``model.size_multiple`` (2 ** number of downsamplings).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from .base import SegmentationModel

UpsampleMode = Literal["nearest", "bilinear"]


def _validate_channels(in_channels: int, out_channels: int) -> None:
    for name, value in (("in_channels", in_channels), ("out_channels", out_channels)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")


# --------------------------------------------------------------------------------------- U-Net


class DoubleConv(nn.Sequential):
    """(3x3 conv -> BN -> ReLU) x 2, padded so the size is kept."""

    def __init__(self, cin: int, cout: int) -> None:
        # No conv bias: the BatchNorm right after it has its own shift.
        super().__init__(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )


class UNet(SegmentationModel):
    """U-Net (Ronneberger, Fischer, Brox, "U-Net: Convolutional Networks for Biomedical Image
    Segmentation", MICCAI 2015, arXiv:1505.04597) with the original widths 64-128-256-512-1024.

    As in the paper: two 3x3 convs + ReLU per level, 2x2 max pooling, 2x2 up-convolutions that halve
    the channels, concatenation with the encoder features, a 1x1 head. Deviations, both the common
    practice of polyp-segmentation code: the convs are padded (output size = input size, no
    cropping), and each conv is followed by BatchNorm (which the 2015 paper predates; the conv then
    drops its bias). 31,037,633 parameters with 3 input and 1 output channel (paper: ~31.0M).
    """

    depth = 4

    def __init__(
        self, in_channels: int = 3, out_channels: int = 1, widths: tuple[int, ...] = (64, 128, 256, 512, 1024)
    ) -> None:
        super().__init__()
        _validate_channels(in_channels, out_channels)
        if len(widths) != self.depth + 1 or min(widths) < 1:
            raise ValueError(f"widths must be {self.depth + 1} positive ints, got {widths}")
        self.in_channels = in_channels
        self.config = dict(in_channels=in_channels, out_channels=out_channels, widths=tuple(widths))

        self.encoder = nn.ModuleList()
        cin = in_channels
        for width in widths[:-1]:
            self.encoder.append(DoubleConv(cin, width))
            cin = width
        self.pool = nn.MaxPool2d(2)
        self.bridge = DoubleConv(widths[-2], widths[-1])
        self.up = nn.ModuleList()
        self.decoder = nn.ModuleList()
        for deep, width in zip(reversed(widths[1:]), reversed(widths[:-1])):
            self.up.append(nn.ConvTranspose2d(deep, width, 2, stride=2))
            self.decoder.append(DoubleConv(2 * width, width))
        self.head = nn.Conv2d(widths[0], out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape (B, out_channels, H, W)."""
        self._check(x)
        skips = []
        for level in self.encoder:
            x = level(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bridge(x)
        for up, level, skip in zip(self.up, self.decoder, reversed(skips)):
            x = level(torch.cat([up(x), skip], dim=1))
        return self.head(x)


# ----------------------------------------------------------------------- residual building blocks


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation (Hu et al. 2018) as in the ResUNet++ code: bias-free FC layers, ratio 8."""

    def __init__(self, channels: int, ratio: int = 8) -> None:
        super().__init__()
        hidden = max(1, channels // ratio)
        self.fc = nn.Sequential(
            nn.Linear(channels, hidden, bias=False),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, channels, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = self.fc(x.mean(dim=(2, 3)))
        return x * weights[:, :, None, None]


class ResidualUnit(nn.Module):
    """Pre-activation residual unit (He et al. 2016) as used by ResUNet and ResUNet++.

    Main path BN -> ReLU -> 3x3 conv (``stride``) -> BN -> ReLU -> 3x3 conv; shortcut 1x1 conv
    (``stride``) -> BN; the two are added, then optionally squeeze-and-excitation. With
    ``preactivate=False`` the main path is conv -> BN -> ReLU -> conv: the first unit of both
    networks, whose input is the raw image.
    """

    def __init__(
        self, cin: int, cout: int, stride: int = 1, preactivate: bool = True, se_ratio: int | None = None
    ) -> None:
        super().__init__()
        pre: list[nn.Module] = [nn.BatchNorm2d(cin), nn.ReLU()] if preactivate else []
        # Convs keep their bias: both reference implementations (Keras) do, and so do their counts.
        self.body = nn.Sequential(
            *pre,
            nn.Conv2d(cin, cout, 3, stride=stride, padding=1),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1),
        )
        self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride), nn.BatchNorm2d(cout))
        self.se = SqueezeExcite(cout, se_ratio) if se_ratio else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.se(self.body(x) + self.shortcut(x))


# ------------------------------------------------------------------------------------- ResUNet


class ResUNet(SegmentationModel):
    """Deep Residual U-Net (Zhang, Liu, Wang, "Road Extraction by Deep Residual U-Net", IEEE GRSL
    2018, arXiv:1711.10684), the 7-level network of the paper's Table I.

    Encoder: residual units of 64 (stride 1), 128 and 256 channels (stride 2 in their first conv),
    bridge 512 (stride 2); decoder: 2x upsampling, concatenation with the encoder level, residual
    unit of 256, 128, 64; 1x1 conv head returning logits (the paper's sigmoid is left to the loss).

    8,223,809 parameters (paper: 7.8M, +5.4 %). The 1x1 conv + BN shortcuts account for 434,496 of
    them; the paper does not say how its shortcuts match widths, and its 7.8M fits the 3x3 convs
    alone (7,782,848), so it may count identity shortcuts. The 1x1 projection is what the public
    re-implementations and the ResUNet++ code use. The upsampling mode is not given
    in the paper: ``upsample="nearest"`` (Keras' ``UpSampling2D`` default) or ``"bilinear"``.
    """

    depth = 3

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 1,
        widths: tuple[int, int, int, int] = (64, 128, 256, 512),
        upsample: UpsampleMode = "nearest",
    ) -> None:
        super().__init__()
        _validate_channels(in_channels, out_channels)
        if len(widths) != self.depth + 1 or min(widths) < 1:
            raise ValueError(f"widths must be {self.depth + 1} positive ints, got {widths}")
        if upsample not in ("nearest", "bilinear"):
            raise ValueError(f"upsample must be 'nearest' or 'bilinear', got {upsample!r}")
        self.in_channels = in_channels
        self.config = dict(in_channels=in_channels, out_channels=out_channels, widths=tuple(widths), upsample=upsample)

        self.encoder = nn.ModuleList([ResidualUnit(in_channels, widths[0], preactivate=False)])
        for cin, cout in zip(widths[:-2], widths[1:-1]):
            self.encoder.append(ResidualUnit(cin, cout, stride=2))
        self.bridge = ResidualUnit(widths[-2], widths[-1], stride=2)
        self.up = nn.Upsample(scale_factor=2, mode=upsample)
        self.decoder = nn.ModuleList()
        cin = widths[-1]
        for width in reversed(widths[:-1]):
            self.decoder.append(ResidualUnit(cin + width, width))
            cin = width
        self.head = nn.Conv2d(widths[0], out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape (B, out_channels, H, W)."""
        self._check(x)
        skips = []
        for unit in self.encoder:
            x = unit(x)
            skips.append(x)
        x = self.bridge(x)
        for unit, skip in zip(self.decoder, reversed(skips)):
            x = unit(torch.cat([self.up(x), skip], dim=1))
        return self.head(x)


# ----------------------------------------------------------------------------------- ResUNet++


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling as in the ResUNet++ code: four 3x3 conv -> BN branches with
    dilation 1, 6, 12, 18, *summed* (DeepLab concatenates), then a 1x1 conv."""

    def __init__(self, cin: int, cout: int, rates: tuple[int, ...] = (1, 6, 12, 18)) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Sequential(nn.Conv2d(cin, cout, 3, padding=r, dilation=r), nn.BatchNorm2d(cout)) for r in rates
        )
        self.project = nn.Conv2d(cout, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.branches[0](x)
        for branch in self.branches[1:]:
            y = y + branch(x)
        return self.project(y)


class AttentionGate(nn.Module):
    """ResUNet++'s decoder attention: the encoder feature ``g`` (twice the resolution) and the
    decoder feature ``x`` each go BN -> ReLU -> 3x3 conv (``g`` then 2x2 max-pooled), their sum goes
    BN -> ReLU -> 3x3 conv, and the result multiplies ``x`` (no sigmoid, as in the authors' code)."""

    def __init__(self, g_channels: int, x_channels: int) -> None:
        super().__init__()

        def bn_relu_conv(cin: int) -> nn.Sequential:
            return nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(), nn.Conv2d(cin, x_channels, 3, padding=1))

        self.g_conv = nn.Sequential(bn_relu_conv(g_channels), nn.MaxPool2d(2))
        self.x_conv = bn_relu_conv(x_channels)
        self.out_conv = bn_relu_conv(x_channels)

    def forward(self, g: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.out_conv(self.g_conv(g) + self.x_conv(x)) * x


class ResUNetPlusPlus(SegmentationModel):
    """ResUNet++ (Jha et al., "ResUNet++: An Advanced Architecture for Medical Image Segmentation",
    IEEE ISM 2019, arXiv:1911.07067), following the authors' Keras ``m_resunet.py``
    (github.com/DebeshJha/ResUNetPlusPlus).

    Stem (16) and three residual units with squeeze-and-excitation (32, 64, 128, stride 2), an ASPP
    bridge (256); three decoder stages of attention gate -> nearest 2x upsampling -> concatenation
    with the encoder feature -> SE residual unit (128, 64, 32); ASPP (16) and a 1x1 conv head that
    returns logits (the code's sigmoid is left to the loss).

    4,062,993 parameters; 4,070,385 counting the BatchNorm moving statistics as Keras does, which is
    the paper's 4.07M. Three downsamplings, so H and W need only be multiples of 8.
    """

    depth = 3

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 1,
        widths: tuple[int, int, int, int, int] = (16, 32, 64, 128, 256),
        se_ratio: int = 8,
    ) -> None:
        super().__init__()
        _validate_channels(in_channels, out_channels)
        if len(widths) != self.depth + 2 or min(widths) < 1:
            raise ValueError(f"widths must be {self.depth + 2} positive ints, got {widths}")
        self.in_channels = in_channels
        self.config = dict(in_channels=in_channels, out_channels=out_channels, widths=tuple(widths), se_ratio=se_ratio)
        w0, w1, w2, w3, w4 = widths

        self.encoder = nn.ModuleList([ResidualUnit(in_channels, w0, preactivate=False, se_ratio=se_ratio)])
        for cin, cout in ((w0, w1), (w1, w2), (w2, w3)):
            self.encoder.append(ResidualUnit(cin, cout, stride=2, se_ratio=se_ratio))
        self.bridge = ASPP(w3, w4)
        # Stage i attends with encoder level 2-i and ends at that level's next width up (the
        # authors' choice: 128, 64, 32 rather than the encoder's 64, 32, 16).
        self.attention = nn.ModuleList()
        self.decoder = nn.ModuleList()
        cin = w4
        for skip_width, cout in ((w2, w3), (w1, w2), (w0, w1)):
            self.attention.append(AttentionGate(skip_width, cin))
            self.decoder.append(ResidualUnit(cin + skip_width, cout, se_ratio=se_ratio))
            cin = cout
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.out_aspp = ASPP(w1, w0)
        self.head = nn.Conv2d(w0, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape (B, out_channels, H, W)."""
        self._check(x)
        skips = []
        for unit in self.encoder:
            x = unit(x)
            skips.append(x)
        x = self.bridge(x)
        # The deepest encoder output feeds only the bridge; the decoder attends to the three above.
        for gate, unit, skip in zip(self.attention, self.decoder, reversed(skips[:-1])):
            x = unit(torch.cat([self.up(gate(skip, x)), skip], dim=1))
        return self.head(self.out_aspp(x))
