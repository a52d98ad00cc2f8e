"""hubconf.py: torch.hub.load of a local checkout, untrained, from a weights file, or pretrained."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from polypnet.models import IAMUNet, count_parameters, list_pretrained

REPO_ROOT = Path(__file__).resolve().parents[2]


def _hub(**kwargs: object) -> torch.nn.Module:
    return torch.hub.load(str(REPO_ROOT), "iam_unet", source="local", **kwargs)


def test_hub_load_untrained() -> None:
    model = _hub(pretrained=False)
    assert isinstance(model, IAMUNet) and not model.training
    assert count_parameters(model) == 571_731
    with torch.no_grad():
        assert model(torch.rand(2, 3, 64, 96)).shape == (2, 1, 64, 96)
    variant = torch.hub.load(str(REPO_ROOT), "iam_unet", source="local", attention_position="none")
    assert variant.config["attention_position"] == "none"


def test_hub_load_weights_file(weights: Path) -> None:
    model = _hub(weights=str(weights))
    state = torch.load(weights, map_location="cpu")
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


def test_hub_pretrained_loads_shipped_weights_or_says_none_are_shipped() -> None:
    shipped = list_pretrained("iam_unet").get("iam_unet", [])
    if shipped:
        model = _hub(pretrained=shipped[0])
        assert isinstance(model, IAMUNet) and not model.training
    else:
        with pytest.raises(ValueError, match="no shipped weights 'kvasir-seg'"):
            _hub(pretrained="kvasir-seg")
    with pytest.raises(ValueError, match="ambiguous"):
        _hub(pretrained=True)


def test_hub_lists_every_registered_model() -> None:
    import importlib.util

    from polypnet.models import list_models

    spec = importlib.util.spec_from_file_location("hubconf", REPO_ROOT / "hubconf.py")
    hub = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hub)
    # what torch.hub.list shows: the public callables of hubconf.py
    public = [name for name in dir(hub) if callable(getattr(hub, name)) and not name.startswith("_")]
    assert sorted(public) == sorted(list_models())
    assert "IAM-UNet" in hub.iam_unet.__doc__
