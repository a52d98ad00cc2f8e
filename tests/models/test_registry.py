"""The model registry: names, creation, keyword overrides, parameter conventions."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import polypnet
from polypnet.models import IAMUNet, count_parameters, create_model, list_models, register_model


def test_top_level_api() -> None:
    assert polypnet.create_model is create_model
    assert polypnet.list_models is list_models
    assert polypnet.count_parameters is count_parameters


def test_iam_unet_registered_and_default_is_paper_preset() -> None:
    assert "iam_unet" in list_models()
    model = create_model("iam_unet")
    assert isinstance(model, IAMUNet)
    assert model.config == IAMUNet().config
    assert model.config["attention_position"] == "start"
    assert model.config["attention_ratio"] == 8
    assert model.config["bridge_blocks"] == 3


def test_list_models_pattern() -> None:
    assert set(list_models("iam_unet*")) >= {"iam_unet", "iam_unet_t6", "iam_unet_bridge_c"}
    assert all(name.startswith("smp_") for name in list_models("smp_*"))


def test_keyword_overrides_reach_the_model() -> None:
    model = create_model("iam_unet", attention_position="none", bridge_blocks=1)
    assert model.config["attention_position"] == "none"
    assert len(model.bridge) == 2


def test_unknown_name_suggests_close_matches() -> None:
    with pytest.raises(KeyError, match=r"iam_unte.*Did you mean 'iam_unet'"):
        create_model("iam_unte")


def test_unknown_keyword_names_the_model() -> None:
    with pytest.raises(TypeError, match=r"create_model\('iam_unet'\).*width"):
        create_model("iam_unet", width=3)


def test_register_custom_model_and_duplicate_name() -> None:
    @register_model("_test_tiny", "a tiny test model")
    def tiny(out_channels: int = 1) -> nn.Module:
        return nn.Conv2d(3, out_channels, 1)

    assert "_test_tiny" in list_models()
    assert create_model("_test_tiny", out_channels=2).out_channels == 2
    with pytest.raises(ValueError, match="already registered"):
        register_model("_test_tiny")(tiny)


def test_count_parameters_conventions() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    assert count_parameters(model, "torch") == 3 * 4 * 9 + 4 + 2 * 4
    assert count_parameters(model, "keras") == 3 * 4 * 9 + 4 + 4 * 4
    model[0].weight.requires_grad_(False)
    assert count_parameters(model, trainable_only=True) == 4 + 2 * 4
    with pytest.raises(ValueError, match="convention"):
        count_parameters(model, "tf")


def test_smp_baseline_plugs_into_the_registry() -> None:
    pytest.importorskip("segmentation_models_pytorch")
    model = create_model("smp_unet_mobilenet_v2").eval()
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 64, 64)).shape == (1, 1, 64, 64)


def test_pretrained_unknown_tag_names_what_is_shipped() -> None:
    with pytest.raises(ValueError, match="no shipped weights 'nowhere' for model 'iam_unet'"):
        create_model("iam_unet", pretrained="nowhere")


def test_every_shipped_weight_loads_offline() -> None:
    from polypnet.models import list_pretrained
    from polypnet.models.pretrained import pretrained_info

    for name, tags in list_pretrained().items():
        for tag in tags:
            info = pretrained_info(name, tag)
            model = create_model(name, pretrained=tag).eval()
            size = info["image_size"]
            with torch.no_grad():
                assert model(torch.zeros(1, 3, size, size)).shape == (1, 1, size, size)
            scores = (
                [s["mdice"] for s in info["benchmark"].values()] if "benchmark" in info else [info["test_dice_global"]]
            )
            assert all(0.0 <= s <= 1.0 for s in scores)
            assert info["command"].startswith(("polypnet reproduce ", "python scripts/reproduce.py "))
            assert f"--protocol {info['protocol']} " in info["command"]
