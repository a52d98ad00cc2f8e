"""Model sources: Lightning checkpoints, plain state dicts, shipped weights, untrained models.

Every file a user names goes through ``safe_load`` (``read_checkpoint`` builds on it), the one
place a checkpoint is read. Checkpoints come from strangers, and unpickling may call any function
the file names, so files are read with ``torch.load(weights_only=True)``: tensors, containers,
plain values and the few classes PyTorch allows by default (``collections.Counter``,
``OrderedDict``, ...) are built; any other global is refused before it is called. Lightning
checkpoints of ``polypnet fit`` need nothing more: their hyper-parameters are plain values.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..models import create_model


class CheckpointError(ValueError):
    """A checkpoint or weights file that cannot be used; the message (one line) names it and says why."""


class UnsafeCheckpointError(CheckpointError):
    """The file names Python objects that weights never need; building them could run its code."""


class CheckpointMismatchError(CheckpointError):
    """The weights do not fit the requested model (name, keywords or shapes differ)."""


def safe_load(path: str | Path) -> Any:
    """The contents of a file written by ``torch.save``, read onto the CPU without running code.

    Raises FileNotFoundError when ``path`` is not a file, :class:`UnsafeCheckpointError` when it
    names a global outside the weights-only allowlist (nothing is called), and
    :class:`CheckpointError` when it is truncated or not a ``torch.save`` file at all.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if path.suffix == ".safetensors":  # the shipped format: tensors only, nothing to unpickle
        from safetensors.torch import load_file

        try:
            return load_file(path)
        except Exception as err:  # safetensors raises its own SafetensorError for a bad header
            raise CheckpointError(
                f"{path}: not a readable safetensors file (truncated or corrupt: {_first_line(err)})"
            ) from None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(err))
        if found:
            raise UnsafeCheckpointError(
                f"{path}: refused: it asks to build {found.group(1)}, which is not a tensor or plain value; "
                "unpickling it could run code from the file, so polypnet loads only weights (docs/security.md)"
            ) from None
        raise CheckpointError(f"{path}: not a readable checkpoint (truncated or corrupt: {_first_line(err)})") from None
    except (RuntimeError, EOFError, OSError, ValueError, TypeError, AttributeError) as err:
        # What a file cut short or not written by torch.save raises (zip reader, unpickler).
        raise CheckpointError(f"{path}: not a readable checkpoint (truncated or corrupt: {_first_line(err)})") from None


def _first_line(err: Exception) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text.split(". ")[0][:200]


def load_checkpoint(
    path: str | Path, model: str | None = None, model_kwargs: dict[str, Any] | None = None
) -> tuple[nn.Module, dict[str, Any]]:
    """Build the model stored in a Lightning checkpoint (or a plain state dict) and load its weights.

    A Lightning checkpoint of ``PolypSegModule`` knows its model name and keywords; ``model`` and
    ``model_kwargs`` are then optional and, when given, must agree with it. A plain state dict
    (``torch.save(model.state_dict())``) needs ``model``. Returns the model in eval mode and the
    checkpoint's hyperparameters.
    """
    return model_from_checkpoint(read_checkpoint(path), path, model=model, model_kwargs=model_kwargs)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The contents of a Lightning checkpoint or a plain state dict, read once onto the CPU."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    blob = safe_load(path)
    if not isinstance(blob, dict):
        raise CheckpointMismatchError(f"{path} is neither a Lightning checkpoint nor a state dict")
    return blob


def model_from_checkpoint(
    blob: dict[str, Any], path: str | Path, model: str | None = None, model_kwargs: dict[str, Any] | None = None
) -> tuple[nn.Module, dict[str, Any]]:
    """``load_checkpoint`` on contents already read by ``read_checkpoint`` (``path`` names them in errors)."""
    if "state_dict" in blob:  # Lightning: the network's weights sit under "net."
        hparams: dict[str, Any] = dict(blob.get("hyper_parameters") or {})
        state = {k[len("net.") :]: v for k, v in blob["state_dict"].items() if k.startswith("net.")}
        # Deep supervision's auxiliary heads only served training: the loaded model goes without.
        state = {k: v for k, v in state.items() if not k.startswith("aux_heads.")}
    else:
        hparams, state = {}, blob
    name = hparams.get("model")
    if model is not None and name is not None and model != name:
        raise CheckpointMismatchError(
            f"{path} was trained with model {name!r}, not {model!r}; drop --model or pass the right name"
        )
    name = name or model
    if name is None:
        raise CheckpointMismatchError(f"{path} is a plain state dict: pass the model name (--model)")
    kwargs = dict(hparams.get("model_kwargs") or {})
    kwargs.update(model_kwargs or {})
    net = create_model(name, **kwargs)
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as err:
        first = " ".join(str(err).split())[:400]
        raise CheckpointMismatchError(
            f"{path} does not fit model {name!r} with {kwargs or 'its defaults'}: {first}"
        ) from None
    return net.eval(), hparams


def load_model(
    checkpoint: str | Path | None = None,
    model: str | None = None,
    weights: str | Path | None = None,
    pretrained: str | None = None,
    model_kwargs: dict[str, Any] | None = None,
) -> tuple[nn.Module, dict[str, Any]]:
    """The network to run, in eval mode, and what is known about it (``model``, ``model_kwargs``,
    ``source``, and ``image_size`` when a checkpoint records it).

    Exactly one source: ``checkpoint`` or ``weights`` (a Lightning checkpoint, which names its
    model, or a plain state dict, which needs ``model``), ``pretrained`` (shipped weights of
    ``model``, default ``iam_unet``), or ``model`` alone (untrained: random weights).
    """
    kwargs = dict(model_kwargs or {})
    given = [n for n, v in (("checkpoint", checkpoint), ("weights", weights), ("pretrained", pretrained)) if v]
    if len(given) > 1:
        raise ValueError(f"pass one model source, not several: {' and '.join(given)}")
    if checkpoint is not None or weights is not None:
        path = Path(checkpoint if checkpoint is not None else weights)  # type: ignore[arg-type]
        blob = read_checkpoint(path)  # once: the weights and the image size come from the same read
        net, hparams = model_from_checkpoint(blob, path, model=model, model_kwargs=kwargs)
        info = {
            "model": hparams.get("model") or model,
            "model_kwargs": {**(hparams.get("model_kwargs") or {}), **kwargs},
            "source": str(path),
        }
        size = checkpoint_image_size(path, blob)
        if size is not None:
            info["image_size"] = size
        return net, info
    name = model or "iam_unet"
    if pretrained:
        from ..models.pretrained import pretrained_info

        # The registry loads shipped weights and says which exist when these do not.
        net = create_model(name, pretrained=pretrained, **kwargs).eval()
        info = {"model": name, "model_kwargs": kwargs, "source": f"pretrained:{pretrained}"}
        size = pretrained_info(name, pretrained).get("image_size")
        if size:  # run at the size the weights were trained at (the CPU protocol's is 128)
            info["image_size"] = int(size)
        return net, info
    if model is None:
        raise ValueError("no model: pass a checkpoint, a model name (with weights), or pretrained weights")
    return create_model(name, **kwargs).eval(), {"model": name, "model_kwargs": kwargs, "source": "untrained"}


def checkpoint_image_size(path: str | Path, blob: dict[str, Any] | None = None) -> int | None:
    """The training image size a checkpoint records (its DataModule's ``image_size``), else None.

    A Lightning checkpoint stores it under ``datamodule_hyper_parameters``; when it does not, the
    ``config.yaml`` of the run folder the checkpoint sits in (``RUN/checkpoints/*.ckpt``) is read.
    ``blob``: the checkpoint's contents when already read (saves reading the file again).
    """
    path = Path(path)
    if blob is None:
        blob = safe_load(path)
    size = ((blob.get("datamodule_hyper_parameters") or {}) if isinstance(blob, dict) else {}).get("image_size")
    if size is None:
        config = run_dir_of(path) / "config.yaml"
        if config.is_file():
            import yaml

            data = (yaml.safe_load(config.read_text()) or {}).get("data") or {}
            size = data.get("image_size") or (data.get("init_args") or {}).get("image_size")
    return int(size) if size else None


_BEST_DICE = re.compile(r"best-epoch(\d+)-dice([0-9.]+)\.ckpt$")


def best_checkpoints(run_dir: Path) -> list[Path]:
    """The run's ``best-*.ckpt`` files, best last: by the validation Dice in the name, then epoch.

    Lightning keeps one, but a run folder moved to another path (a run handed on between
    machines) restarts its best-checkpoint tracking on resume and can leave two.
    """

    def key(path: Path) -> tuple[float, int]:
        m = _BEST_DICE.search(path.name)
        return (float(m.group(2)), int(m.group(1))) if m else (float("-inf"), -1)

    return sorted((run_dir / "checkpoints").glob("best-*.ckpt"), key=key)


def run_dir_of(checkpoint: str | Path) -> Path:
    """The run folder of a checkpoint: ``RUN`` for ``RUN/checkpoints/x.ckpt``, else its folder."""
    path = Path(checkpoint)
    return path.parent.parent if path.parent.name == "checkpoints" else path.parent
