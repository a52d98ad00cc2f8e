"""Fast inference: ``Segmenter`` turns float image batches into polyp probabilities.

The network is memory-bound on CPU (BatchNorm passes are a third of the time), so the torch
backend folds every BatchNorm that follows a convolution into that convolution (the
pre-activation BNs of blocks B/C and the decoder cannot be folded: a ReLU sits between them and
the next conv), runs in channels_last, and skips autograd. The ``onnxruntime`` backend exports
the model once to ONNX and lets ONNX Runtime run it.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Literal

import torch
from torch import nn

Backend = Literal["torch", "onnxruntime"]

def fold_batchnorm(model: nn.Module) -> nn.Module:
    """An eval-mode copy of ``model`` with each conv -> BatchNorm pair fused into one conv.

    Uses torch.fx; a model that FX cannot trace is returned as an unfused eval copy, with a warning.
    """
    from torch.fx.experimental.optimization import fuse

    model = copy.deepcopy(model).eval()
    try:
        return fuse(model, inplace=True)
    except Exception as err:  # FX tracing fails in many ways on third-party models
        warnings.warn(f"BatchNorm folding skipped: {type(model).__name__} is not FX-traceable ({err})", stacklevel=2)
        return model


def count_batchnorms(model: nn.Module) -> int:
    """Number of BatchNorm layers left in ``model``."""
    return sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


class Segmenter:
    """Probabilities (B, 1, H, W) from float images (B, 3, H, W) in [0, 1].

    Args:
        model: any segmentation network returning logits (e.g. ``create_model("iam_unet")``).
        backend: ``"torch"`` (BN folded, channels_last) or ``"onnxruntime"``.
        fold_bn: fold BatchNorm into convs (torch backend).
        channels_last: run in channels_last memory format (torch backend).
        onnx_path: where the onnxruntime backend writes (or finds, if it exists) the ONNX file;
            default: a temporary file.
        device: torch device for the torch backend.
    """

    def __init__(
        self,
        model: nn.Module,
        backend: Backend = "torch",
        fold_bn: bool = True,
        channels_last: bool = True,
        onnx_path: str | Path | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        if backend not in ("torch", "onnxruntime"):
            raise ValueError(f"backend must be 'torch' or 'onnxruntime', got {backend!r}")
        self.backend = backend
        self.device = torch.device(device)
        self.channels_last = channels_last and backend == "torch"
        if backend == "torch":
            net = fold_batchnorm(model) if fold_bn else copy.deepcopy(model).eval()
            net = net.to(self.device)
            if self.channels_last:
                net = net.to(memory_format=torch.channels_last)
            self.net: nn.Module | None = net
            self.session = None
        else:
            self.net = None
            self.session = _onnx_session(model, onnx_path)

    @torch.inference_mode()
    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """Raw logits (B, 1, H, W)."""
        if images.dim() != 4:
            raise ValueError(f"expected a batch (B, 3, H, W), got shape {tuple(images.shape)}")
        if self.session is not None:
            (out,) = self.session.run(None, {self.session.get_inputs()[0].name: images.float().cpu().numpy()})
            return torch.from_numpy(out)
        assert self.net is not None
        x = images.to(self.device, torch.float32)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.net(x)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """Probabilities (B, 1, H, W)."""
        return torch.sigmoid(self.logits(images))


def _onnx_session(model: nn.Module, onnx_path: str | Path | None):  # -> onnxruntime.InferenceSession
    import tempfile

    import onnxruntime as ort

    from .export import export_onnx

    if onnx_path is None:
        onnx_path = Path(tempfile.mkdtemp(prefix="polypnet-")) / "model.onnx"
    onnx_path = Path(onnx_path)
    if not onnx_path.is_file():
        export_onnx(model, onnx_path)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
