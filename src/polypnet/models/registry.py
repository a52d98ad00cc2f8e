"""Model registry: names -> factories, ``create_model``, ``list_models``, ``count_parameters``.

Modelled on segmentation-models-pytorch's ``create_model`` and timm's registry: a model is
registered once with ``@register_model("name")`` and built anywhere by name and keywords, so the
training, evaluation and benchmark code never import a model class directly.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from torch import nn

Factory = Callable[..., nn.Module]


@dataclass(frozen=True)
class ModelEntry:
    """A registered model: its factory and a one-line description."""

    name: str
    factory: Factory
    description: str


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(name: str, description: str = "") -> Callable[[Factory], Factory]:
    """Decorator that registers ``factory`` under ``name`` (names are unique)."""

    def decorate(factory: Factory) -> Factory:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is already registered")
        first_doc_line = (factory.__doc__ or "").strip().split("\n", 1)[0]
        _REGISTRY[name] = ModelEntry(name, factory, description or first_doc_line)
        return factory

    return decorate


def list_models(pattern: str | None = None) -> list[str]:
    """Sorted names of the registered models, optionally filtered by a glob ``pattern``."""
    names = sorted(_REGISTRY)
    return [n for n in names if fnmatch.fnmatch(n, pattern)] if pattern else names


def model_entry(name: str) -> ModelEntry:
    """The registry entry of ``name``; KeyError with close matches when it is unknown."""
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, _REGISTRY, n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise KeyError(f"unknown model {name!r}.{hint} Registered models: {', '.join(list_models())}") from None


def create_model(name: str, pretrained: str | None = None, **kwargs: Any) -> nn.Module:
    """Build the registered model ``name`` with keyword overrides of its defaults.

    ``pretrained`` names shipped weights (e.g. ``"cvc-clinicdb"``, see ``list_pretrained()``),
    loaded offline from the package; their model keywords are applied first, and keywords that
    change the structure then fail the strict load with a clear error.
    """
    entry = model_entry(name)
    if pretrained:
        from .pretrained import load_pretrained, pretrained_info

        kwargs = {**pretrained_info(name, pretrained).get("model_kwargs", {}), **kwargs}
    try:
        model = entry.factory(**kwargs)
    except TypeError as err:
        raise TypeError(f"create_model({name!r}): {err}") from err
    if pretrained:
        try:
            load_pretrained(model, name, pretrained)
        except RuntimeError as err:
            raise ValueError(
                f"create_model({name!r}, pretrained={pretrained!r}): the weights do not fit these "
                f"keywords {kwargs}: {' '.join(str(err).split())[:300]}"
            ) from None
    return model


def parse_model_kwargs(pairs: list[str]) -> dict[str, Any]:
    """``["KEY=VALUE", ...]`` (the ``--set`` flags of the commands) to keywords for ``create_model``;
    values are read as YAML (``2`` -> int, ``none`` -> "none"); ValueError on a malformed pair."""
    import yaml

    kwargs: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--set expects KEY=VALUE, got {pair!r}")
        kwargs[key.replace("-", "_")] = yaml.safe_load(value)
    return kwargs


# BatchNorm's running statistics are weights in Keras ("non-trainable params") but buffers in
# PyTorch; the paper's TensorFlow count may include them, so both conventions are offered.
_KERAS_BN_STATS = ("running_mean", "running_var")


def count_parameters(
    model: nn.Module, convention: Literal["torch", "keras"] = "torch", trainable_only: bool = False
) -> int:
    """Number of parameters of ``model``.

    ``"torch"``: ``sum(p.numel() for p in model.parameters())``, equal to Keras' "Trainable params"
    for a model whose parameters all train. ``"keras"``: as Keras' ``count_params()``, i.e. also the
    BatchNorm moving mean and variance (2 per BN channel). ``trainable_only`` skips parameters
    with ``requires_grad=False`` (and, for "keras", the BN statistics, which never train).
    """
    if convention not in ("torch", "keras"):
        raise ValueError(f"convention must be 'torch' or 'keras', got {convention!r}")
    total = sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
    if convention == "keras" and not trainable_only:
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                total += sum(
                    getattr(module, stat).numel() for stat in _KERAS_BN_STATS if getattr(module, stat, None) is not None
                )
    return total
