"""Building blocks of IAM-UNet: channel attention, skip block and the sandglass blocks A, B, C, TC.

Each block follows ``shared/design/architecture.md`` (the project's reference reconstruction of the
paper "Improved Attention MobileU-Net untuk Segmentasi Citra Medis Polip", whose figures are lost).
The paper describes the blocks in words only:

* MobileNeXt's sandglass block: depthwise 3x3 -> pointwise reduce -> pointwise expand -> depthwise 3x3.
* iResNet's ordering of conv / BN / ReLU: A = original order ("start" block), B = pre-activation
  ("middle" block), C = pre-activation plus a final BN + ReLU ("end" block).
* Squeeze-excitation attention after the first depthwise conv (position "start") of every block
  except A and the decoder's transposed C.

Assumptions that the paper leaves open are marked ``[assumption]`` next to the code they shape.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

AttentionPosition = Literal["none", "start", "end"]
ATTENTION_POSITIONS: tuple[str, ...] = ("none", "start", "end")


def reduced_width(channels: int, t: int) -> int:
    """Width of the sandglass bottleneck: ``max(1, channels // t)`` [assumption: t = 4 in `paper`]."""
    return max(1, channels // t)


def depthwise(channels: int, stride: int = 1) -> nn.Conv2d:
    """Depthwise 3x3 conv with bias (Keras' default, [assumption] as for every conv here)."""
    return nn.Conv2d(channels, channels, 3, stride=stride, padding=1, groups=channels, bias=True)


def pointwise(cin: int, cout: int) -> nn.Conv2d:
    """1x1 conv with bias."""
    return nn.Conv2d(cin, cout, 1, bias=True)


def bn_relu(channels: int) -> nn.Sequential:
    """BatchNorm followed by ReLU: the pre-activation unit of iResNet."""
    return nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(inplace=True))


def _check_attention_position(position: str) -> None:
    if position not in ATTENTION_POSITIONS:
        raise ValueError(f"attention_position must be one of {ATTENTION_POSITIONS}, got {position!r}")


class ChannelAttention(nn.Module):
    """Squeeze-excitation: avg-pool -> Linear(c, c//r) -> ReLU -> Linear(c//r, c) -> sigmoid -> scale.

    The hidden width is ``max(1, channels // ratio)`` so that very narrow variants stay valid.
    """

    def __init__(self, channels: int, ratio: int = 8) -> None:
        super().__init__()
        if ratio < 1:
            raise ValueError(f"attention_ratio must be >= 1, got {ratio}")
        self.channels = channels
        self.ratio = ratio
        self.hidden = max(1, channels // ratio)
        self.fc1 = nn.Linear(channels, self.hidden)
        self.fc2 = nn.Linear(self.hidden, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean(dim=(2, 3))
        s = torch.sigmoid(self.fc2(F.relu(self.fc1(s))))
        return x * s[:, :, None, None]


def _attention_or_identity(channels: int, position: str, wanted: str, ratio: int) -> nn.Module:
    """SE module when the block's attention sits at ``wanted``, else an identity placeholder."""
    return ChannelAttention(channels, ratio) if position == wanted else nn.Identity()


class SkipBlock(nn.Module):
    """Projection shortcut for a downsampling block: MaxPool 3x3/2 -> pw(cin->cout) -> BN.

    [assumption] iResNet's "improved projection shortcut" (pool first, then a 1x1 conv at stride 1),
    the reading the paper's phrase "skip block" suggests.
    """

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.conv = pointwise(cin, cout)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(self.pool(x)))


class SandglassA(nn.Module):
    """Sandglass block A, iResNet's "start" order (no pre-activation, no attention).

    dw(cin) -> BN -> ReLU -> pw(cin->m) -> BN -> pw(m->cout) -> BN -> ReLU -> dw(cout, stride) -> BN
    -> + shortcut.

    Shortcut [assumption]: the skip block whenever ``stride == 2``; identity when ``stride == 1`` and
    ``cin == cout``; none when ``stride == 1`` and channels change (only the network's very first
    block, 3 -> 16, where a projection of raw RGB would add little).
    """

    def __init__(self, cin: int, cout: int, stride: int = 1, t: int = 4) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        m = reduced_width(cin, t)
        self.dw1 = depthwise(cin)
        self.bn1 = nn.BatchNorm2d(cin)
        self.reduce = pointwise(cin, m)
        self.bn2 = nn.BatchNorm2d(m)
        self.expand = pointwise(m, cout)
        self.bn3 = nn.BatchNorm2d(cout)
        self.dw2 = depthwise(cout, stride)
        self.bn4 = nn.BatchNorm2d(cout)
        if stride == 2:
            self.shortcut: nn.Module | None = SkipBlock(cin, cout)
        elif cin == cout:
            self.shortcut = nn.Identity()
        else:
            self.shortcut = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.dw1(x)))
        y = self.bn2(self.reduce(y))
        y = F.relu(self.bn3(self.expand(y)))
        y = self.bn4(self.dw2(y))
        if self.shortcut is not None:
            y = y + self.shortcut(x)
        return y


class SandglassB(nn.Module):
    """Sandglass block B, iResNet's pre-activation "middle" order, identity shortcut.

    BN -> ReLU -> dw(c) -> BN -> ReLU -> [SE if "start"] -> pw(c->m) -> BN -> pw(m->c) -> BN -> ReLU
    -> dw(c) -> [SE if "end"] -> + x.
    """

    def __init__(
        self,
        channels: int,
        t: int = 4,
        attention_position: AttentionPosition = "start",
        attention_ratio: int = 8,
    ) -> None:
        super().__init__()
        _check_attention_position(attention_position)
        m = reduced_width(channels, t)
        self.pre = bn_relu(channels)
        self.dw1 = depthwise(channels)
        self.bn1 = nn.BatchNorm2d(channels)
        self.attn_start = _attention_or_identity(channels, attention_position, "start", attention_ratio)
        self.reduce = pointwise(channels, m)
        self.bn2 = nn.BatchNorm2d(m)
        self.expand = pointwise(m, channels)
        self.bn3 = nn.BatchNorm2d(channels)
        self.dw2 = depthwise(channels)
        self.attn_end = _attention_or_identity(channels, attention_position, "end", attention_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dw1(self.pre(x))
        y = self.attn_start(F.relu(self.bn1(y)))
        y = self.bn2(self.reduce(y))
        y = F.relu(self.bn3(self.expand(y)))
        y = self.attn_end(self.dw2(y))
        return x + y


class SandglassC(SandglassB):
    """Sandglass block C, iResNet's "end" block: block B followed by BN -> ReLU after the add."""

    def __init__(
        self,
        channels: int,
        t: int = 4,
        attention_position: AttentionPosition = "start",
        attention_ratio: int = 8,
    ) -> None:
        super().__init__(channels, t, attention_position, attention_ratio)
        self.post = bn_relu(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.post(super().forward(x))


class TransposedSandglassC(nn.Module):
    """Decoder block: sandglass C that upsamples x2 before its last depthwise conv (no attention).

    BN -> ReLU -> dw(cin) -> BN -> ReLU -> pw(cin->m) -> BN -> pw(m->cout) -> BN -> ReLU
    -> nearest upsample x2 -> dw(cout) -> + shortcut -> BN -> ReLU, with m = cin // t.

    Shortcut [assumption]: ConvTranspose2d(cin->cout, kernel 2, stride 2) -> BN, the transposed
    counterpart of the encoder's projection.
    """

    def __init__(self, cin: int, cout: int, t: int = 4) -> None:
        super().__init__()
        m = reduced_width(cin, t)
        self.pre = bn_relu(cin)
        self.dw1 = depthwise(cin)
        self.bn1 = nn.BatchNorm2d(cin)
        self.reduce = pointwise(cin, m)
        self.bn2 = nn.BatchNorm2d(m)
        self.expand = pointwise(m, cout)
        self.bn3 = nn.BatchNorm2d(cout)
        self.dw2 = depthwise(cout)
        self.shortcut = nn.Sequential(nn.ConvTranspose2d(cin, cout, 2, stride=2, bias=True), nn.BatchNorm2d(cout))
        self.post = bn_relu(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.dw1(self.pre(x))))
        y = self.bn2(self.reduce(y))
        y = F.relu(self.bn3(self.expand(y)))
        y = F.interpolate(y, scale_factor=2.0, mode="nearest")
        y = self.dw2(y)
        return self.post(y + self.shortcut(x))
