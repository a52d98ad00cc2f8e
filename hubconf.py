"""torch.hub entry points of polypnet: IAM-UNet and its alternative readings.

    model = torch.hub.load("OWNER/polypnet", "iam_unet", pretrained=False)          # from GitHub
    model = torch.hub.load("/path/to/polypnet", "iam_unet", source="local")        # a checkout
    model = torch.hub.load(..., "iam_unet", weights="runs/.../best.ckpt")          # your training run
    model = torch.hub.load(..., "iam_unet", pretrained="kvasir-seg")               # shipped weights

Each returns the network in eval mode. It takes float images (B, 3, H, W) in [0, 1] (RGB, /255,
no mean/std; H and W multiples of 16; trained at 256x256) and returns logits (B, 1, H, W).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

dependencies = ["torch", "numpy"]

# torch.hub puts the repository root on sys.path; the package lives under src/.
_SRC = Path(__file__).resolve().parent / "src"
if _SRC.is_dir() and str(_SRC) not in sys.path:
    sys.path.insert(0, str(_SRC))


def _load(name: str, pretrained: bool | str, weights: str | None, kwargs: dict[str, Any]) -> Any:
    from polypnet.models import create_model

    if pretrained and weights:
        raise ValueError("pass pretrained=NAME or weights=PATH, not both")
    if pretrained is True:
        raise ValueError(
            "pretrained=True is ambiguous: name the training data, e.g. pretrained='kvasir-seg' "
            "or 'cvc-clinicdb' (polypnet.models.list_pretrained() lists what is shipped)"
        )
    if pretrained:
        # The registry loads shipped weights offline and names the available ones otherwise.
        return create_model(name, pretrained=pretrained, **kwargs).eval()
    if weights:
        from polypnet.inference import load_checkpoint

        model, _ = load_checkpoint(weights, model=name, model_kwargs=kwargs)
        return model.eval()
    return create_model(name, **kwargs).eval()


def iam_unet(pretrained: bool | str = False, weights: str | None = None, **kwargs: Any) -> Any:
    """IAM-UNet, the paper preset (571,731 parameters).

    pretrained: False (random weights) or the name of shipped weights ("kvasir-seg",
        "cvc-clinicdb"; see polypnet.models.list_pretrained()).
    weights: path to a Lightning checkpoint of `polypnet fit` or a plain state dict.
    kwargs: model keywords (e.g. attention_position="none"), as polypnet.create_model takes them.
    """
    return _load("iam_unet", pretrained, weights, kwargs)


def iam_unet_t6(pretrained: bool | str = False, weights: str | None = None, **kwargs: Any) -> Any:
    """IAM-UNet with sandglass reduction t = 6 (an alternative reading of the paper)."""
    return _load("iam_unet_t6", pretrained, weights, kwargs)


def iam_unet_bridge_c(pretrained: bool | str = False, weights: str | None = None, **kwargs: Any) -> Any:
    """IAM-UNet whose bridge ends with a C block (an alternative reading of the paper)."""
    return _load("iam_unet_bridge_c", pretrained, weights, kwargs)
