"""Registered models: the IAM-UNet presets, the baselines of ``baselines.py`` and smp baselines.

One function per name. IAM-UNet presets differ from ``iam_unet`` (the ``paper`` preset) only in
their defaults, and every knob can still be overridden by keyword.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from .baselines import ResUNet, ResUNetPlusPlus, UNet
from .iam_unet import IAMUNet
from .registry import register_model


@register_model("iam_unet", "IAM-UNet, `paper` preset: base 16, t 4, SE at start r 8, 3 bridge B blocks")
def iam_unet(**kwargs: Any) -> IAMUNet:
    """IAM-UNet with the reference reconstruction's defaults (571,731 parameters)."""
    return IAMUNet(**kwargs)


@register_model("iam_unet_t6", "IAM-UNet with sandglass reduction t = 6 (an alternative reading)")
def iam_unet_t6(**kwargs: Any) -> IAMUNet:
    """IAM-UNet with a narrower sandglass bottleneck (t = 6)."""
    return IAMUNet(**{"t": 6, **kwargs})


@register_model("iam_unet_bridge_c", "IAM-UNet whose bridge ends with a C block (an alternative reading)")
def iam_unet_bridge_c(**kwargs: Any) -> IAMUNet:
    """IAM-UNet with a bridge of A + n x B + C, like the encoder levels."""
    return IAMUNet(**{"bridge_final_c": True, **kwargs})


@register_model("unet", "U-Net, Ronneberger et al. 2015, original widths + BN")
def unet(**kwargs: Any) -> UNet:
    """U-Net with widths 64-1024, padded convs and BatchNorm (31,037,633 parameters)."""
    return UNet(**kwargs)


@register_model("resunet", "ResUNet, Zhang, Liu, Wang 2018 (deep residual U-Net), widths 64-512")
def resunet(**kwargs: Any) -> ResUNet:
    """ResUNet with pre-activation residual units (8,223,809 parameters; paper 7.8M)."""
    return ResUNet(**kwargs)


@register_model("resunet_plusplus", "ResUNet++, Jha et al. 2019, widths 16-256 as the authors' code")
def resunet_plusplus(**kwargs: Any) -> ResUNetPlusPlus:
    """ResUNet++ with SE, ASPP and attention (4,062,993 parameters; Keras count 4,070,385 = paper 4.07M)."""
    return ResUNetPlusPlus(**kwargs)


def _smp(arch: str, encoder: str, in_channels: int, out_channels: int, **kwargs: Any) -> nn.Module:
    # Imported here: smp pulls in timm and huggingface_hub, which IAM-UNet users never need.
    import segmentation_models_pytorch as smp

    # encoder_weights=None: no pretrained download (offline machines, same protocol as IAM-UNet).
    kwargs.setdefault("encoder_weights", None)
    return smp.create_model(arch, encoder_name=encoder, in_channels=in_channels, classes=out_channels, **kwargs)


def _register_smp(name: str, arch: str, encoder: str, description: str) -> None:
    def factory(in_channels: int = 3, out_channels: int = 1, **kwargs: Any) -> nn.Module:
        return _smp(arch, encoder, in_channels, out_channels, **kwargs)

    factory.__name__ = name
    factory.__doc__ = description
    register_model(name, description)(factory)


for _name, _arch, _encoder, _desc in (
    ("smp_unet_mobilenet_v2", "unet", "mobilenet_v2", "smp U-Net with a MobileNetV2 encoder (peer)"),
    ("smp_unet_resnet34", "unet", "resnet34", "smp U-Net with a ResNet-34 encoder"),
    ("smp_unetplusplus_resnet34", "unetplusplus", "resnet34", "smp U-Net++ with a ResNet-34 encoder"),
):
    _register_smp(_name, _arch, _encoder, _desc)
