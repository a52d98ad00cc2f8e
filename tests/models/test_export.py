"""Deployment paths: ONNX export checked in onnxruntime, torch.export and TorchScript tracing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
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


def test_onnx_export_matches_pytorch_in_onnxruntime(model: IAMUNet, tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    path = tmp_path / "iam_unet.onnx"
    # torch.export-based exporter, dynamic in batch and in H, W (kept multiples of 16).
    batch = torch.export.Dim("batch", min=1, max=1024)
    h16 = torch.export.Dim("h16", min=1, max=256)
    w16 = torch.export.Dim("w16", min=1, max=256)
    torch.onnx.export(
        model,
        (torch.randn(1, 3, 128, 128),),
        str(path),
        input_names=["image"],
        output_names=["logits"],
        dynamic_shapes={"x": {0: batch, 2: 16 * h16, 3: 16 * w16}},
        dynamo=True,
        verbose=False,
    )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for shape in ((1, 3, 128, 128), (2, 3, 64, 96)):
        xb = torch.randn(*shape)
        with torch.no_grad():
            expected = model(xb).numpy()
        (got,) = session.run(None, {"image": xb.numpy()})
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


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
