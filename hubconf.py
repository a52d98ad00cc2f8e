"""torch.hub entry points of polypnet: one per registered model (``polypnet.models.list_models()``).

    model = torch.hub.load("OWNER/polypnet", "iam_unet")                            # from GitHub
    model = torch.hub.load("/path/to/polypnet", "iam_unet", source="local")        # a checkout
    model = torch.hub.load(..., "iam_unet", weights="runs/.../best.ckpt")          # your training run
    model = torch.hub.load(..., "iam_unet", pretrained="kvasir-seg-improved")      # shipped weights

Each returns the network in eval mode. It takes float images (B, 3, H, W) in [0, 1] (RGB, /255,
no mean/std; trained at 256x256) and returns logits (B, 1, H, W). Weights files are loaded
safely (safetensors, or torch.load with weights_only=True): a file cannot run code.
"""

from __future__ import annotations

import sys as _sys
from pathlib import Path as _Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch.hub lists every public callable here: keep only the models public
    from collections.abc import Callable
    from typing import Any

dependencies = ["torch", "numpy", "safetensors", "segmentation_models_pytorch"]

# torch.hub puts the repository root on sys.path; the package lives under src/.
_SRC = _Path(__file__).resolve().parent / "src"
if _SRC.is_dir() and str(_SRC) not in _sys.path:
    _sys.path.insert(0, str(_SRC))

from polypnet import models as _models  # noqa: E402  (after the path)


def _load(name: str, pretrained: bool | str, weights: str | None, kwargs: dict[str, Any]) -> Any:
    if pretrained and weights:
        raise ValueError("pass pretrained=NAME or weights=PATH, not both")
    if pretrained is True:
        raise ValueError(
            "pretrained=True is ambiguous: name the weights, e.g. pretrained='kvasir-seg-improved' "
            "(polypnet.models.list_pretrained() lists what is shipped)"
        )
    if pretrained:
        # The registry loads shipped weights offline and names the available ones otherwise.
        return _models.create_model(name, pretrained=pretrained, **kwargs).eval()
    if weights:
        from polypnet.inference.checkpoint import load_checkpoint

        model, _ = load_checkpoint(weights, model=name, model_kwargs=kwargs)
        return model.eval()
    return _models.create_model(name, **kwargs).eval()


def _entry_point(name: str) -> Callable[..., Any]:
    def load(pretrained: bool | str = False, weights: str | None = None, **kwargs: Any) -> Any:
        return _load(name, pretrained, weights, kwargs)

    load.__name__ = load.__qualname__ = name
    load.__doc__ = (
        f"{_models.model_entry(name).description}\n\n"
        "pretrained: False (random weights) or the tag of shipped weights (polypnet.models.list_pretrained()).\n"
        "weights: a .safetensors file, a plain state dict, or a Lightning checkpoint of `polypnet fit`.\n"
        "kwargs: model keywords, as polypnet.create_model takes them."
    )
    return load


globals().update({name: _entry_point(name) for name in _models.list_models()})
