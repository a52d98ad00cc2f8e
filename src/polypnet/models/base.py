"""What every U-Net here shares: one input check (a 4-D batch, the right channels, a divisible size)."""

from __future__ import annotations

import torch
import torch.fx  # loads torch.fx._symbolic_trace, read by _fx_symbolic_tracing
from torch import nn


def tracing() -> bool:
    """True inside TorchScript, torch.export/compile or FX tracing."""
    # Shape checks are Python-side; tracers see symbolic sizes, so the check is skipped there.
    return torch.jit.is_scripting() or torch.jit.is_tracing() or torch.compiler.is_compiling() or _fx_symbolic_tracing()


def _fx_symbolic_tracing() -> bool:
    fx = torch.fx._symbolic_trace
    check = getattr(fx, "is_fx_symbolic_tracing", None) or fx.is_fx_tracing
    return bool(check())


def check_input_batch(x: torch.Tensor, in_channels: int, depth: int, owner: str | None = None) -> None:
    """Raise ValueError unless ``x`` is (B, in_channels, H, W) with H, W multiples of ``2**depth``.

    ``owner`` (a model's name) prefixes the size message when given.
    """
    if x.dim() != 4:
        raise ValueError(f"expected a 4-D batch (B, C, H, W), got shape {tuple(x.shape)}")
    c, h, w = x.shape[1], x.shape[2], x.shape[3]
    if c != in_channels:
        raise ValueError(f"expected {in_channels} input channels, got {c} (shape {tuple(x.shape)})")
    m = 2**depth
    if h % m or w % m:
        prefix = f"{owner}: " if owner else ""
        raise ValueError(
            f"{prefix}input size {h}x{w} is not supported: height and width must be multiples of "
            f"{m} (the encoder halves them {depth} times); resize or pad, e.g. to "
            f"{-(-h // m) * m}x{-(-w // m) * m}"
        )


class SegmentationModel(nn.Module):
    """Base of the networks of polypnet: ``depth`` downsamplings of ``in_channels``-channel images.

    ``forward`` calls ``_check(x)`` first: a clear ValueError for a batch the network cannot take,
    skipped under tracers (the check is Python-side; they see symbolic sizes).
    """

    depth: int
    in_channels: int

    @property
    def size_multiple(self) -> int:
        """What H and W must be multiples of."""
        return 2**self.depth

    def check_input_size(self, x: torch.Tensor) -> None:
        """Raise ValueError unless ``x`` is (B, in_channels, H, W) with H, W multiples of ``size_multiple``."""
        check_input_batch(x, self.in_channels, self.depth, owner=type(self).__name__)

    def _check(self, x: torch.Tensor) -> None:
        if not tracing():
            self.check_input_size(x)
