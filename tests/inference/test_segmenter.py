"""polypnet.inference: BatchNorm folding and the Segmenter's torch backend."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from polypnet.inference import FlippedInput, Segmenter, count_batchnorms, fold_batchnorm
from polypnet.models import create_model


@pytest.fixture(scope="module")
def model() -> nn.Module:
    torch.manual_seed(0)
    m = create_model("iam_unet").eval()
    for mod in m.modules():  # non-trivial running statistics, so folding has work to do
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.3, 0.3)
            mod.running_var.uniform_(0.5, 1.5)
            mod.weight.data.uniform_(0.5, 1.5)
            mod.bias.data.uniform_(-0.2, 0.2)
    return m


def test_folding_removes_conv_batchnorms_and_keeps_outputs(model: nn.Module) -> None:
    folded = fold_batchnorm(model)
    # 96 BNs; those after a conv fold, the pre-activation and post-add BNs (BN -> ReLU) stay.
    assert count_batchnorms(model) == 96
    assert count_batchnorms(folded) < 30
    x = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), model(x), rtol=1e-5, atol=1e-5)
    assert count_batchnorms(model) == 96  # the original is untouched


def test_segmenter_returns_probabilities_equal_to_the_model(model: nn.Module) -> None:
    seg = Segmenter(model)
    x = torch.rand(3, 3, 64, 64)
    probs = seg(x)
    assert probs.shape == (3, 1, 64, 64) and probs.min() >= 0 and probs.max() <= 1
    with torch.no_grad():
        torch.testing.assert_close(probs, torch.sigmoid(model(x)), rtol=1e-5, atol=1e-5)


def test_segmenter_rejects_bad_input_and_backend(model: nn.Module) -> None:
    with pytest.raises(ValueError, match="backend"):
        Segmenter(model, backend="tensorrt")
    with pytest.raises(ValueError, match="expected a batch"):
        Segmenter(model)(torch.rand(3, 64, 64))


def test_unfoldable_model_falls_back_with_a_warning() -> None:
    class Dynamic(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 1, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(x) if x.sum() > 0 else -self.conv(x)  # data-dependent: FX cannot trace

    with pytest.warns(UserWarning, match="BatchNorm folding skipped"):
        folded = fold_batchnorm(Dynamic())
    assert isinstance(folded, Dynamic)


def test_flipped_input_flips_in_and_back_out() -> None:
    class LeftColumn(nn.Module):  # marks column 0 of its input: not flip-equivariant
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = torch.zeros_like(x[:, :1])
            out[..., 0] = 1.0
            return out

    x = torch.rand(2, 3, 4, 5)
    assert torch.equal(FlippedInput(LeftColumn(), "h")(x)[..., -1], torch.ones(2, 1, 4))
    assert torch.equal(FlippedInput(LeftColumn(), "v")(x), LeftColumn()(x))
    identity = nn.Conv2d(3, 1, 1)  # pointwise: flip-equivariant, so flipping changes nothing
    assert torch.allclose(FlippedInput(identity, "hv")(x), identity(x))
    with pytest.raises(ValueError, match="flip must be one of"):
        FlippedInput(identity, "d")
