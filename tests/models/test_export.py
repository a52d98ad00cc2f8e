"""Deployment paths: torch.export and TorchScript tracing. IAM-UNet's ONNX export is checked in
onnxruntime through the product's exporter (tests/cli/test_export_cli.py): one ONNX export takes
tens of seconds on two cores, and the suite makes that one only."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from polypnet.models import IAMUNet


@pytest.fixture(scope="module")
def model() -> IAMUNet:
    torch.manual_seed(0)
    m = IAMUNet().eval()
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.2, 0.2)
            mod.running_var.uniform_(0.8, 1.2)
    return m


def test_torch_export_matches_eager(model: IAMUNet) -> None:
    x = torch.randn(2, 3, 64, 64)
    exported = torch.export.export(model, (x,))
    with torch.no_grad():
        torch.testing.assert_close(exported.module()(x), model(x), rtol=1e-5, atol=1e-5)


# torch deprecates torch.jit; the TorchScript export polypnet still ships must keep matching.
@pytest.mark.filterwarnings(r"ignore:`torch\.jit\.\w+` is deprecated:FutureWarning")
def test_torchscript_trace_matches_eager(model: IAMUNet, tmp_path: Path) -> None:
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        traced = torch.jit.trace(model, x)
    path = tmp_path / "iam_unet.pt"
    traced.save(str(path))
    loaded = torch.jit.load(str(path))
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), rtol=1e-5, atol=1e-5)
