"""Evaluate a segmentation model on a dataset: torchmetrics summaries, per-image rows, figures.

Works on any dataset whose items are dicts with ``image`` (3, H, W), ``mask`` (1, H, W) and
``name``; with ``original_resolution=True`` it also needs ``dataset.read_mask(i)`` (the full-size
{0, 1} mask), and predictions are resized back to each image's own size before scoring.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..data.layouts import PairSet
from ..data.splits import make_split
from ..inference.outputs import write_csv
from ..inference.overlays import overlay
from ..inference.predictor import Predictor
from ..models.outputs import logit_threshold
from ..training.figures import pyplot, save_figure
from ..training.metrics import segmentation_metrics


@dataclass
class EvalResult:
    """Summary metrics (``METRIC_NAMES``, plus ``*_orig`` at original resolution) and per-image rows."""

    summary: dict[str, float]
    per_image: list[dict[str, Any]] = field(default_factory=list)
    backend: str = "torch"  # the runtime and precision the logits came from
    precision: str = "fp32"

    def save(self, out_dir: Path, extra: dict[str, Any] | None = None) -> tuple[Path, Path]:
        """Write ``metrics.json`` (summary + ``extra``) and ``per_image.csv``; return both paths."""
        out_dir.mkdir(parents=True, exist_ok=True)
        json_path, csv_path = out_dir / "metrics.json", out_dir / "per_image.csv"
        json_path.write_text(json.dumps({**(extra or {}), "metrics": self.summary}, indent=2) + "\n")
        if self.per_image:
            write_csv(csv_path, self.per_image)
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


def shipped_split(found: PairSet, shipped: dict[str, Any], tag: str) -> dict[str, Any]:
    """The split that shipped weights (their index entry) were trained on, drawn again from ``found``.

    The same draw as in training (``polypnet reproduce``: 10% validation, 10% test). Weights trained
    on PraNet's benchmark draw its split of the one dataset given: its test set is PraNet's list.
    ValueError when ``found`` is not the copy of the dataset the weights were trained on.
    """
    split_seed = shipped.get("split_seed", shipped["seed"])
    drawn = make_split(found, shipped["split"], split_seed, 0.1, 0.1)
    if "benchmark" not in shipped and len(drawn["test"]) != shipped["test_images"]:
        raise ValueError(
            f"{found.root} holds {len(found.pairs)} pairs, not the {shipped['dataset']} copy the "
            f"{tag!r} weights were trained on (their test split had {shipped['test_images']} "
            f"images, this draw has {len(drawn['test'])})"
        )
    return drawn


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
    backend: str = "torch",
    precision: str = "fp32",
) -> EvalResult:
    """Score ``model`` on every item of ``dataset``.

    Metrics at the network's input size always; with ``original_resolution`` also at each image's
    own size (``*_orig`` keys; logits resized back bilinearly, then thresholded). ``masks_dir``
    saves each predicted mask as a 0/255 PNG (at the original size when that is computed).
    ``tta`` scores the mean probability of the image and its horizontal and vertical flips.
    The logits come from the one :class:`~polypnet.inference.Predictor` (unfolded: the network as
    trained, so recorded scores stay exact) on ``backend`` at ``precision`` (torch fp32 by default;
    ``"auto"``: the fastest that keeps accuracy, see ``polypnet.inference.backends``).
    """
    import cv2

    cut = logit_threshold(threshold)
    model = model.to(device).eval()
    predictor: Predictor | None = None
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
        if predictor is None:  # the dataset's tensors are already at the network's size
            predictor = Predictor(
                model,
                image_size=images.shape[-1],
                device=device,
                threshold=threshold,
                tta=tta,
                fast=False,
                backend=backend,
                precision=precision,
            )
        logits = predictor.logits(images)
        masks = batch["mask"].to(device)
        preds = (logits > cut).long()
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
                pred_np = (up[0, 0] > cut).long().cpu().numpy()
                metrics_orig.update(
                    torch.from_numpy(pred_np)[None].to(device),
                    torch.from_numpy(truth.astype(np.int64))[None].to(device),
                )
                row.update({f"{k}_orig": v for k, v in _scores(pred_np, truth).items()})
            if masks_dir is not None:
                cv2.imwrite(str(masks_dir / f"{name}.png"), (pred_np * 255).astype(np.uint8))
            rows.append(row)
            index += 1
    summary = {k: float(v) for k, v in metrics.compute().items()}
    if metrics_orig is not None:
        summary.update({f"{k}_orig": float(v) for k, v in metrics_orig.compute().items()})
    summary["images"] = float(len(rows))
    used = (predictor.backend, predictor.precision) if predictor is not None else (backend, precision)
    return EvalResult(summary, rows, *used)


def _progress(iterable: Any, description: str) -> Any:
    from rich.progress import track

    return track(iterable, description=description, transient=True)


def overlay_grid(
    dataset: Dataset, model: nn.Module, names: list[str], path: Path, device: str = "cpu", threshold: float = 0.5
) -> Path:
    """Figure (JPEG, downscaled), one row per named image: image, ground truth, prediction overlays."""
    plt = pyplot()

    wanted = set(names)
    items = [dataset[i] for i in range(len(dataset)) if _name_of(dataset, i) in wanted]
    items.sort(key=lambda it: names.index(it["name"]))
    fig, axes = plt.subplots(len(items), 3, figsize=(9, 3 * len(items)), squeeze=False)
    predictor = Predictor(
        model.to(device).eval(),
        image_size=items[0]["image"].shape[-1] if items else 256,
        device=device,
        threshold=threshold,
        fast=False,
    )
    cut = logit_threshold(threshold)
    for row, item in zip(axes, items):
        image = (item["image"].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        truth = item["mask"][0].numpy().astype(np.uint8)
        pred = (predictor.logits(item["image"][None].to(device))[0, 0] > cut).cpu().numpy().astype(np.uint8)
        d = _scores(pred, truth)["dice"]
        row[0].imshow(image)
        row[0].set_title(item["name"], fontsize=8)
        row[1].imshow(overlay(image, truth, colour=(0, 255, 0)))
        row[1].set_title("ground truth", fontsize=8)
        row[2].imshow(overlay(image, pred, colour=(255, 0, 0)))
        row[2].set_title(f"prediction (Dice {d:.3f})", fontsize=8)
        for ax in row:
            ax.axis("off")
    # at most 1200 px on the long side (3 columns of 3 in, rows of 3 in), as the committed records are
    return save_figure(fig, path, dpi=min(90, int(1200 / (3 * max(1, len(items))))))


def _name_of(dataset: Dataset, i: int) -> str:
    names = getattr(dataset, "names", None)
    return names[i] if names is not None else dataset[i]["name"]
