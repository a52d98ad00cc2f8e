"""IAM-UNet (Improved Attention MobileU-Net), the project's reference reconstruction.

Parameter count of the ``paper`` preset (``IAMUNet()`` with its defaults):

=====================================================================  =========
PyTorch ``sum(p.numel() for p in model.parameters())`` (= Keras "Trainable params")  571,731
Keras ``count_params()`` (adds BatchNorm moving mean/variance, 2 per BN channel)     588,483
The paper (convention unstated)                                                       574,579
=====================================================================  =========

Ours is within 0.5 % of the paper's number (trainable convention) but not equal. The paper's
figures are lost and no code is public; the count pins the deepest width (256, hence base width
16) and a bottleneck ratio of about 4 to 8, but not the rest. Every choice below that the paper
does not state is an assumption, listed here and marked ``[assumption]`` in ``blocks.py``:

1. Every conv and linear layer has a bias (Keras' default).
2. The sandglass bottleneck width is ``m = max(1, cin // t)`` with ``t = 4`` (t is never given).
3. The skip block is iResNet's projection: MaxPool 3x3/2 -> 1x1 conv -> BN.
4. Block A has the skip block when it downsamples, an identity shortcut when shapes match, and no
   shortcut in the first block (3 -> 16 channels at stride 1).
5. The decoder's shortcut is ConvTranspose2d(kernel 2, stride 2) -> BN; its upsampling before the
   last depthwise conv is nearest-neighbour x2.
6. Attention "start" sits after the block's first depthwise conv + BN + ReLU; "end" after the last
   depthwise conv, before the residual add.
7. The bridge is A(128 -> 256, stride 2) followed by ``bridge_blocks`` B blocks (no closing C).
8. The head is a 1x1 conv with bias; it returns logits (sigmoid only at inference).
"""

from __future__ import annotations

import torch
from torch import nn

from .base import SegmentationModel
from .blocks import (
    ATTENTION_POSITIONS,
    AttentionPosition,
    SandglassA,
    SandglassB,
    SandglassC,
    TransposedSandglassC,
)

DEPTH = 4
#: H and W must be multiples of this: the encoder halves the resolution ``DEPTH`` times.
SIZE_MULTIPLE = 2**DEPTH


class EncoderLevel(nn.Sequential):
    """One encoder level: A (downsamples unless it is the first level), B, C."""

    def __init__(
        self,
        cin: int,
        cout: int,
        stride: int,
        t: int,
        attention_position: AttentionPosition,
        attention_ratio: int,
    ) -> None:
        super().__init__()
        self.a = SandglassA(cin, cout, stride=stride, t=t)
        self.b = SandglassB(cout, t, attention_position, attention_ratio)
        self.c = SandglassC(cout, t, attention_position, attention_ratio)


class Bridge(nn.Sequential):
    """The bottleneck: A (stride 2, widths double) followed by ``n`` B blocks; optionally a closing C."""

    def __init__(
        self,
        cin: int,
        cout: int,
        n: int,
        t: int,
        attention_position: AttentionPosition,
        attention_ratio: int,
        final_c: bool = False,
    ) -> None:
        super().__init__()
        self.a = SandglassA(cin, cout, stride=2, t=t)
        for i in range(n):
            self.add_module(f"b{i + 1}", SandglassB(cout, t, attention_position, attention_ratio))
        if final_c:
            self.c = SandglassC(cout, t, attention_position, attention_ratio)


class IAMUNet(SegmentationModel):
    """Improved Attention MobileU-Net: a sandglass U-Net of depth 4 with SE channel attention.

    Args:
        in_channels: image channels (3 for RGB).
        out_channels: output channels; the network returns logits, apply a sigmoid for probabilities.
        base_width: filters of level 0; each level doubles them (16 -> 256 in the bridge).
        t: sandglass reduction ratio, bottleneck width ``max(1, cin // t)``.
        attention_position: ``"start"``, ``"end"`` or ``"none"``: where blocks B and C put SE.
        attention_ratio: SE reduction ratio r (hidden width ``channels // r``).
        bridge_blocks: number n of B blocks after the bridge's A.
        bridge_final_c: close the bridge with a C block (an alternative reading, not the paper preset).
        deep_supervision: add a 1x1 logit head after each decoder stage but the last (at 1/8, 1/4
            and 1/2 resolution; 451 parameters) for :meth:`forward_with_aux`. Training-only (the
            ``improved`` recipe): ``forward`` never uses them.

    The defaults are the ``paper`` preset: 571,731 parameters (PyTorch convention); see the module
    docstring for why the paper's 574,579 differs.
    """

    depth = DEPTH

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 1,
        base_width: int = 16,
        t: int = 4,
        attention_position: AttentionPosition = "start",
        attention_ratio: int = 8,
        bridge_blocks: int = 3,
        bridge_final_c: bool = False,
        deep_supervision: bool = False,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        if attention_position not in ATTENTION_POSITIONS:
            raise ValueError(f"attention_position must be one of {ATTENTION_POSITIONS}, got {attention_position!r}")
        for name, value in (
            ("in_channels", in_channels),
            ("out_channels", out_channels),
            ("base_width", base_width),
            ("t", t),
            ("attention_ratio", attention_ratio),
        ):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if bridge_blocks < 0:
            raise ValueError(f"bridge_blocks must be >= 0, got {bridge_blocks}")
        self.config = dict(
            in_channels=in_channels,
            out_channels=out_channels,
            base_width=base_width,
            t=t,
            attention_position=attention_position,
            attention_ratio=attention_ratio,
            bridge_blocks=bridge_blocks,
            bridge_final_c=bridge_final_c,
            deep_supervision=deep_supervision,
        )
        widths = [base_width * 2**i for i in range(DEPTH + 1)]  # 16, 32, 64, 128, 256
        attn = (attention_position, attention_ratio)

        self.encoder = nn.ModuleList()
        cin = in_channels
        for level, width in enumerate(widths[:DEPTH]):
            self.encoder.append(EncoderLevel(cin, width, 1 if level == 0 else 2, t, *attn))
            cin = width
        self.bridge = Bridge(widths[DEPTH - 1], widths[DEPTH], bridge_blocks, t, *attn, bridge_final_c)

        # Each decoder stage upsamples to the next encoder level's width, then the concatenation
        # with that level's output doubles the channels again.
        self.decoder = nn.ModuleList()
        cin = widths[DEPTH]
        for width in reversed(widths[:DEPTH]):
            self.decoder.append(TransposedSandglassC(cin, width, t=t))
            cin = 2 * width
        self.head = nn.Conv2d(cin, out_channels, 1, bias=True)
        if deep_supervision:
            self.aux_heads = nn.ModuleList(
                nn.Conv2d(2 * width, out_channels, 1, bias=True) for width in reversed(widths[1:DEPTH])
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape (B, out_channels, H, W)."""
        return self._run(x)[0]

    def forward_with_aux(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Logits and the auxiliary logits of the decoder stages, coarsest first (H/8, H/4, H/2).

        Needs ``deep_supervision=True``.
        """
        if not hasattr(self, "aux_heads"):
            raise RuntimeError("forward_with_aux needs IAMUNet(deep_supervision=True)")
        return self._run(x, aux=True)

    def _run(self, x: torch.Tensor, aux: bool = False) -> tuple[torch.Tensor, list[torch.Tensor]]:
        self._check(x)
        skips = []
        for level in self.encoder:
            x = level(x)
            skips.append(x)
        x = self.bridge(x)
        features = []
        for stage, skip in zip(self.decoder, reversed(skips)):
            x = torch.cat([stage(x), skip], dim=1)
            features.append(x)
        aux_logits = [head(f) for head, f in zip(self.aux_heads, features)] if aux else []
        return self.head(x), aux_logits
