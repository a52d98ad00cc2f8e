"""Baselines (U-Net, ResUNet, ResUNet++): shapes, parameter counts vs the papers, gradients, registry.

Expected counts are the measured ``count_parameters`` (PyTorch convention, 3 -> 1 channels); each
must also stay within 10 % of the published number: U-Net ~31.0M (Ronneberger et al. 2015),
ResUNet 7.8M (Zhang et al. 2018; ours is +5.4 %, the 1x1 projection shortcuts, see baselines.py),
ResUNet++ 4.07M (Jha et al. 2019; the Keras count incl. BatchNorm statistics, 4,070,385).
"""

from __future__ import annotations

import pytest
import torch
import torch.fx
from torch import nn

from polypnet.models import count_parameters, create_model, list_models
from polypnet.models.baselines import ResUNet, ResUNetPlusPlus, UNet

# name, class, measured count (torch), measured count (keras), published count, size multiple
CASES = [
    ("unet", UNet, 31_037_633, 31_049_409, 31.0e6, 16),
    ("resunet", ResUNet, 8_223_809, 8_233_025, 7.8e6, 8),
    ("resunet_plusplus", ResUNetPlusPlus, 4_062_993, 4_070_385, 4.07e6, 8),
]
NAMES = [case[0] for case in CASES]
PUBLISHED_TOLERANCE = 0.10


@pytest.fixture(scope="module", params=CASES, ids=NAMES)
def case(request: pytest.FixtureRequest) -> tuple:
    name, cls, *rest = request.param
    torch.manual_seed(0)
    return (name, cls, create_model(name), *rest)


def test_registered_by_name(case: tuple) -> None:
    name, cls, model, *_ = case
    assert name in list_models()
    assert type(model) is cls


def test_output_shape_keeps_input_size(case: tuple) -> None:
    _, _, model, *_ = case
    model.eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 64, 64))
    assert out.shape == (2, 1, 64, 64)
    assert torch.isfinite(out).all()


def test_parameter_count_measured_and_near_published(case: tuple) -> None:
    _, _, model, torch_count, keras_count, published, _ = case
    assert count_parameters(model) == torch_count
    assert count_parameters(model, "keras") == keras_count
    assert abs(torch_count - published) / published <= PUBLISHED_TOLERANCE
    assert abs(keras_count - published) / published <= PUBLISHED_TOLERANCE


def test_resunet_plusplus_keras_count_rounds_to_the_paper() -> None:
    assert round(CASES[2][3] / 1e6, 2) == 4.07


def test_gradients_reach_the_first_conv(case: tuple) -> None:
    _, _, model, *_ = case
    model.train()
    model.zero_grad()
    model(torch.randn(2, 3, 32, 32)).mean().backward()
    first_conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    assert first_conv.in_channels == 3
    grad = first_conv.weight.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0
    model.zero_grad()


def test_bad_size_and_channels_raise(case: tuple) -> None:
    _, cls, model, *_, multiple = case
    assert model.size_multiple == multiple
    with pytest.raises(ValueError, match=rf"{cls.__name__}: input size 60x64 .*multiples of {multiple}"):
        model(torch.zeros(1, 3, 60, 64))
    with pytest.raises(ValueError, match="expected 3 input channels, got 1"):
        model(torch.zeros(1, 1, 64, 64))
    with pytest.raises(ValueError, match="4-D"):
        model(torch.zeros(3, 64, 64))


def test_fx_tracing_skips_the_size_check(case: tuple) -> None:
    _, _, model, *_ = case
    traced = torch.fx.symbolic_trace(model.eval())
    assert any(node.op == "call_module" for node in traced.graph.nodes)


def test_resunets_need_only_multiples_of_8() -> None:
    model = ResUNetPlusPlus().eval()
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 40, 24)).shape == (1, 1, 40, 24)


@pytest.mark.parametrize("name", NAMES)
def test_create_model_passes_keywords(name: str) -> None:
    model = create_model(name, in_channels=1, out_channels=2)
    assert model.config["in_channels"] == 1 and model.config["out_channels"] == 2
    assert model.head.out_channels == 2
    with pytest.raises(TypeError, match=rf"create_model\('{name}'\)"):
        create_model(name, not_a_knob=1)


def test_small_variant_forward_with_other_channels() -> None:
    model = create_model("resunet", in_channels=1, out_channels=3, widths=(8, 16, 32, 64), upsample="bilinear")
    model.eval()
    with torch.no_grad():
        assert model(torch.zeros(2, 1, 16, 16)).shape == (2, 3, 16, 16)


def test_bad_constructor_arguments() -> None:
    with pytest.raises(ValueError, match="out_channels"):
        UNet(out_channels=0)
    with pytest.raises(ValueError, match="upsample"):
        ResUNet(upsample="bicubic")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="widths"):
        ResUNetPlusPlus(widths=(16, 32, 64, 128))  # type: ignore[arg-type]
