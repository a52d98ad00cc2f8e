"""Models: the IAM-UNet blocks and network, the registry, and the registered models.

This package imports neither Lightning nor ``polypnet.data``: take the network alone into any
PyTorch code with ``from polypnet.models import create_model``.
"""

from . import zoo as _zoo  # noqa: F401  (registers the models)
from .blocks import (
    ChannelAttention,
    SandglassA,
    SandglassB,
    SandglassC,
    SkipBlock,
    TransposedSandglassC,
)
from .iam_unet import SIZE_MULTIPLE, IAMUNet
from .pretrained import list_pretrained
from .registry import count_parameters, create_model, list_models, model_entry, register_model

__all__ = [
    "ChannelAttention",
    "IAMUNet",
    "SIZE_MULTIPLE",
    "SandglassA",
    "SandglassB",
    "SandglassC",
    "SkipBlock",
    "TransposedSandglassC",
    "count_parameters",
    "create_model",
    "list_models",
    "list_pretrained",
    "model_entry",
    "register_model",
]
