"""Evaluate a segmentation model on a dataset: torchmetrics summaries, per-image rows, figures.

Works on any dataset whose items are dicts with ``image`` (3, H, W), ``mask`` (1, H, W) and
``name``; with ``original_resolution=True`` it also needs ``dataset.read_mask(i)`` (the full-size
{0, 1} mask), and predictions are resized back to each image's own size before scoring.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..training.figures import pyplot, save_figure
from ..inference.tta import flip_tta_logits
from ..training.metrics import segmentation_metrics
from ..models import create_model


class CheckpointMismatchError(ValueError):
    """The weights do not fit the requested model (name, keywords or shapes differ)."""


def load_checkpoint(path: str | Path, model: str | None = None, model_kwargs: dict[str, Any] | None = None) -> tuple[nn.Module, dict[str, Any]]:
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
    # Our own training checkpoints hold hyperparameters and loop state, not only tensors.
    blob = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(blob, dict):
        raise CheckpointMismatchError(f"{path} is neither a Lightning checkpoint nor a state dict")
    return blob


def model_from_checkpoint(
    blob: dict[str, Any], path: str | Path, model: str | None = None, model_kwargs: dict[str, Any] | None = None
) -> tuple[nn.Module, dict[str, Any]]:
    """``load_checkpoint`` on contents already read by ``read_checkpoint`` (``path`` names them in errors)."""
    if "state_dict" in blob:  # Lightning: the network's weights sit under "net."
        hparams: dict[str, Any] = dict(blob.get("hyper_parameters") or {})
        state = {k[len("net."):]: v for k, v in blob["state_dict"].items() if k.startswith("net.")}
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


@dataclass
class EvalResult:
    """Summary metrics (``METRIC_NAMES``, plus ``*_orig`` at original resolution) and per-image rows."""

    summary: dict[str, float]
    per_image: list[dict[str, Any]] = field(default_factory=list)

    def save(self, out_dir: Path, extra: dict[str, Any] | None = None) -> tuple[Path, Path]:
        """Write ``metrics.json`` (summary + ``extra``) and ``per_image.csv``; return both paths."""
        out_dir.mkdir(parents=True, exist_ok=True)
        json_path, csv_path = out_dir / "metrics.json", out_dir / "per_image.csv"
        json_path.write_text(json.dumps({**(extra or {}), "metrics": self.summary}, indent=2) + "\n")
        if self.per_image:
            with csv_path.open("w", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=list(self.per_image[0]))
                writer.writeheader()
                writer.writerows(self.per_image)
        return json_path, csv_path


def _scores(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Dice, IoU, precision, recall of one image's {0, 1} arrays (both empty: all 1)."""
    p, t = pred.astype(bool), truth.astype(bool)
    tp = float(np.logical_and(p, t).sum())
    fp, fn = float(p.sum()) - tp, float(t.sum()) - tp

    def ratio(num: float, den: float) -> float:
        return num / den if den > 0 else 1.0

    return {
        "dice": ratio(2 * tp, 2 * tp + fp + fn),
        "iou": ratio(tp, tp + fp + fn),
        "precision": ratio(tp, tp + fp),
        "recall": ratio(tp, tp + fn),
    }


@torch.no_grad()
def evaluate(
    model: nn.Module,
    dataset: Dataset,
    *,
    batch_size: int = 8,
    device: str | torch.device = "cpu",
    threshold: float = 0.5,
    original_resolution: bool = False,
    masks_dir: Path | None = None,
    progress: bool = True,
    tta: bool = False,
) -> EvalResult:
    """Score ``model`` on every item of ``dataset``.

    Metrics at the network's input size always; with ``original_resolution`` also at each image's
    own size (``*_orig`` keys; logits resized back bilinearly, then thresholded). ``masks_dir``
    saves each predicted mask as a 0/255 PNG (at the original size when that is computed).
    ``tta`` scores the mean probability of the image and its horizontal and vertical flips.
    """
    import cv2

    if not 0 < threshold < 1:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    logit_threshold = math.log(threshold / (1 - threshold))
    model = model.to(device).eval()
    metrics = segmentation_metrics().to(device)
    metrics_orig = segmentation_metrics().to(device) if original_resolution else None
    if masks_dir is not None:
        masks_dir.mkdir(parents=True, exist_ok=True)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    rows: list[dict[str, Any]] = []
    index = 0
    batches = _progress(loader, "evaluating") if progress else loader
    for batch in batches:
        images = batch["image"].to(device)
        logits = flip_tta_logits(model, images) if tta else model(images)
        masks = batch["mask"].to(device)
        preds = (logits > logit_threshold).long()
        metrics.update(preds, masks.long())
        for j, name in enumerate(batch["name"]):
            row: dict[str, Any] = {"name": name}
            pred_np = preds[j, 0].cpu().numpy()
            row.update(_scores(pred_np, masks[j, 0].cpu().numpy()))
            row["foreground_true"] = float(masks[j].mean())
            row["foreground_pred"] = float(preds[j].float().mean())
            if metrics_orig is not None:
                truth = dataset.read_mask(index)
                up = F.interpolate(logits[j : j + 1], size=truth.shape, mode="bilinear", align_corners=False)
                pred_np = (up[0, 0] > logit_threshold).long().cpu().numpy()
                metrics_orig.update(torch.from_numpy(pred_np)[None].to(device), torch.from_numpy(truth.astype(np.int64))[None].to(device))
                row.update({f"{k}_orig": v for k, v in _scores(pred_np, truth).items()})
            if masks_dir is not None:
                cv2.imwrite(str(masks_dir / f"{name}.png"), (pred_np * 255).astype(np.uint8))
            rows.append(row)
            index += 1
    summary = {k: float(v) for k, v in metrics.compute().items()}
    if metrics_orig is not None:
        summary.update({f"{k}_orig": float(v) for k, v in metrics_orig.compute().items()})
    summary["images"] = float(len(rows))
    return EvalResult(summary, rows)


def _progress(iterable: Any, description: str) -> Any:
    from rich.progress import track

    return track(iterable, description=description, transient=True)


def overlay_grid(dataset: Dataset, model: nn.Module, names: list[str], path: Path, device: str = "cpu") -> Path:
    """PNG grid, one row per named image: image, ground truth overlay, prediction overlay."""
    plt = pyplot()

    wanted = set(names)
    items = [dataset[i] for i in range(len(dataset)) if _name_of(dataset, i) in wanted]
    items.sort(key=lambda it: names.index(it["name"]))
    fig, axes = plt.subplots(len(items), 3, figsize=(9, 3 * len(items)), squeeze=False)
    model = model.to(device).eval()
    with torch.no_grad():
        for row, item in zip(axes, items):
            image = item["image"].permute(1, 2, 0).numpy()
            truth = item["mask"][0].numpy()
            pred = (model(item["image"][None].to(device))[0, 0] > 0).cpu().numpy()
            d = _scores(pred, truth)["dice"]
            row[0].imshow(image)
            row[0].set_title(item["name"], fontsize=8)
            row[1].imshow(_overlay(image, truth, (0.0, 1.0, 0.0)))
            row[1].set_title("ground truth", fontsize=8)
            row[2].imshow(_overlay(image, pred, (1.0, 0.0, 0.0)))
            row[2].set_title(f"prediction (Dice {d:.3f})", fontsize=8)
            for ax in row:
                ax.axis("off")
    return save_figure(fig, path, dpi=90)


def _name_of(dataset: Dataset, i: int) -> str:
    names = getattr(dataset, "names", None)
    return names[i] if names is not None else dataset[i]["name"]


def _overlay(image: np.ndarray, mask: np.ndarray, colour: tuple[float, float, float]) -> np.ndarray:
    out = image.copy()
    m = mask.astype(bool)
    out[m] = 0.5 * out[m] + 0.5 * np.asarray(colour)
    return out.clip(0, 1)
