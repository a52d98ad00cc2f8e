"""``PolypSegModule``: a registry model + loss + Adam with MultiStepLR (or cosine) + torchmetrics."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn

from ..models import create_model
from ..models.outputs import binarize
from .losses import build_loss
from .metrics import segmentation_metrics

SCHEDULERS: tuple[str, ...] = ("multistep", "cosine")
#: Rescaled training batches keep sides divisible by this, IAM-UNet's total stride (2**4), so the
#: decoder's upsampled maps meet their skips at the same size.
SCALE_MULTIPLE = 16


class PolypSegModule(L.LightningModule):
    """Binary polyp segmentation with any registered model.

    Args:
        model: registered model name (``polypnet.list_models()``).
        model_kwargs: keywords for ``create_model`` (e.g. ``{"attention_position": "none"}``).
        loss: ``dice`` (the paper's), ``tversky`` or ``bce_dice``.
        lr: Adam learning rate (paper: 1e-3).
        milestones: epochs at which the LR is multiplied by ``gamma`` (paper: 30 and 35, i.e. /10).
        gamma: LR factor at each milestone.
        weight_decay: Adam weight decay (paper: none).
        channels_last: run the model in channels_last memory format (faster on CPU and GPU).
        compile: run the network (and, with ``deep_supervision``, its auxiliary forward) through
            ``torch.compile`` (default mode); the weights and their checkpoint keys stay those of
            ``net``. For CPU and GPU runs; XLA compiles its own graphs.
        scheduler: ``multistep`` (the paper's: ``milestones``/``gamma``, per epoch) or ``cosine``
            (the ``improved`` recipe: linear warmup over ``warmup_epochs``, then cosine decay to
            ``min_lr_ratio * lr`` at the last step, updated every step).
        warmup_epochs: epochs of linear warmup (cosine only).
        min_lr_ratio: the cosine schedule's final LR as a fraction of ``lr``.
        deep_supervision: weight of the auxiliary losses (0: none). When positive the network is
            built with ``deep_supervision=True`` (IAM-UNet only) and each decoder stage's auxiliary
            logits, upsampled to the mask size, add ``deep_supervision * mean(aux losses)``.
        train_scales: multi-scale training (PraNet's and Polyp-PVT's, not the paper's): each training
            batch, images bilinear and masks nearest, is resized by one of these factors of its size,
            rounded to a multiple of ``SCALE_MULTIPLE``; the factors take turns by global step, so every
            scale trains equally often and a resumed run draws as an uninterrupted one.
            ``None`` (default): the batch as loaded. Validation and test are never rescaled.

    Batches are dicts with ``image`` (B, 3, H, W) float in [0, 1] and ``mask`` (B, 1, H, W) in {0, 1}.
    The training step returns the loss tensor and never forces a host sync (no ``.item()``, no
    data-dependent shapes), so the same module runs on TPU through torch_xla.
    """

    def __init__(
        self,
        model: str = "iam_unet",
        model_kwargs: dict[str, Any] | None = None,
        loss: str = "dice",
        lr: float = 1e-3,
        milestones: list[int] | None = None,
        gamma: float = 0.1,
        weight_decay: float = 0.0,
        channels_last: bool = False,
        scheduler: str = "multistep",
        warmup_epochs: int = 0,
        min_lr_ratio: float = 0.01,
        deep_supervision: float = 0.0,
        compile: bool = False,
        train_scales: list[float] | None = None,
    ) -> None:
        super().__init__()
        if scheduler not in SCHEDULERS:
            raise ValueError(f"scheduler must be one of {', '.join(SCHEDULERS)}, got {scheduler!r}")
        if warmup_epochs < 0 or not 0 <= min_lr_ratio <= 1 or deep_supervision < 0:
            raise ValueError(
                "need warmup_epochs >= 0, 0 <= min_lr_ratio <= 1 and deep_supervision >= 0; got "
                f"{warmup_epochs}, {min_lr_ratio}, {deep_supervision}"
            )
        if train_scales is not None and (not train_scales or min(train_scales) <= 0):
            raise ValueError(f"train_scales must be positive factors, got {train_scales!r}")
        self.save_hyperparameters()
        kwargs = dict(model_kwargs or {})
        if deep_supervision > 0:
            kwargs["deep_supervision"] = True
        self.net: nn.Module = create_model(model, **kwargs)
        if deep_supervision > 0 and not hasattr(self.net, "forward_with_aux"):
            raise ValueError(f"deep_supervision needs a model with auxiliary heads (iam_unet); {model!r} has none")
        self.loss_fn = build_loss(loss)
        self.milestones = [30, 35] if milestones is None else list(milestones)
        if channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        # Compiled in place (nn.Module.compile, and a compiled bound method for the auxiliary
        # forward): the state_dict keys, so shipped weights and resumed checkpoints, stay the same.
        if compile:
            self.net.compile()
        aux = getattr(self.net, "forward_with_aux", None)
        self._forward_with_aux = torch.compile(aux) if compile and deep_supervision > 0 else aux
        self.train_metrics = segmentation_metrics("train/")
        self.val_metrics = segmentation_metrics("val/")
        self.test_metrics = segmentation_metrics("test/")

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits (B, 1, H, W)."""
        return self.net(self._layout(images))

    def _layout(self, images: torch.Tensor) -> torch.Tensor:
        if self.hparams.channels_last:
            return images.contiguous(memory_format=torch.channels_last)
        return images

    def _shared_step(self, batch: dict[str, Any], stage: str) -> torch.Tensor:
        images, masks = batch["image"], batch["mask"]
        if stage == "train" and self.hparams.deep_supervision > 0:
            logits, loss = self._deeply_supervised_loss(images, masks)
        else:
            logits = self(images)
            loss = self.loss_fn(logits, masks)
        metrics = getattr(self, f"{stage}_metrics")
        metrics.update(binarize(logits), masks.long())
        on_step = stage == "train"
        # On XLA the progress bar would fetch the step loss after every step (a host transfer that
        # stalls the asynchronous device): there the bar shows epoch values only.
        self.log(
            f"{stage}/loss",
            loss,
            on_step=on_step,
            on_epoch=True,
            prog_bar=not (on_step and _on_xla(loss)),
            batch_size=images.shape[0],
            sync_dist=stage != "train",
        )
        # Metric objects: Lightning computes, syncs and resets them at epoch end, before any
        # callback reads callback_metrics (the curves need this epoch's values, not the last).
        for name, metric in metrics.items():
            self.log(name, metric, on_step=False, on_epoch=True, prog_bar=name.endswith("dice_global"))
        return loss

    def _deeply_supervised_loss(self, images: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, aux = self._forward_with_aux(self._layout(images))
        aux_losses = [
            self.loss_fn(F.interpolate(a, size=masks.shape[-2:], mode="bilinear", align_corners=False), masks)
            for a in aux
        ]
        aux_loss = torch.stack(aux_losses).mean()
        return logits, self.loss_fn(logits, masks) + self.hparams.deep_supervision * aux_loss

    def setup(self, stage: str) -> None:
        # Lightning's XLAStrategy (one process or thread per TPU core) starts no torch.distributed
        # group, so torchmetrics would compute each core's metrics alone: gather through XLA.
        from lightning.pytorch.accelerators import XLAAccelerator
        from lightning.pytorch.strategies import XLAStrategy

        if isinstance(self.trainer.strategy, XLAStrategy) and self.trainer.world_size > 1:
            for collection in (self.train_metrics, self.val_metrics, self.test_metrics):
                for metric in collection.values():
                    metric.dist_sync_fn = _xla_gather
                    metric.distributed_available_fn = _always
        # With an example input Lightning's model summary shows in/out sizes and FLOPs at the
        # training size instead of "Total FLOPs: 0". Not on XLA, nor with compile: that forward
        # (batch 1) would be one more compilation.
        on_xla = isinstance(self.trainer.accelerator, XLAAccelerator)
        if self.example_input_array is None and not on_xla and not self.hparams.compile:
            size = _datamodule_image_size(self.trainer)
            if size is not None:
                self.example_input_array = torch.zeros(1, 3, size, size)

    # XLA: cut the lazy graph at the same places every epoch, so that each step reuses one compiled
    # program (per-batch evaluation graphs instead of one graph of a whole epoch; the epoch-end
    # metric resets as their own small graph instead of a new first-step graph). No-ops elsewhere.
    def on_train_epoch_start(self) -> None:
        _xla_sync(self.device)

    def on_validation_batch_end(self, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        _xla_sync(self.device)

    def on_test_batch_end(self, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        _xla_sync(self.device)

    def on_predict_batch_end(self, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        _xla_sync(self.device)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        scales = self.hparams.train_scales
        if scales:
            batch = rescale_batch(batch, scales[self.global_step % len(scales)])
        return self._shared_step(batch, "train")

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._shared_step(batch, "val")

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._shared_step(batch, "test")

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        return torch.sigmoid(self(batch["image"]))

    def configure_optimizers(self) -> dict[str, Any]:
        optimizer = torch.optim.Adam(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
        if self.hparams.scheduler == "cosine":
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": self._cosine(optimizer), "interval": "step"}}
        scheduler = torch.optim.lr_scheduler.MultiStepLR(
            optimizer, milestones=self.milestones, gamma=self.hparams.gamma
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}

    def _cosine(self, optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LambdaLR:
        total = int(self.trainer.estimated_stepping_batches)
        per_epoch = total / max(1, self.trainer.max_epochs or 1)
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer,
            cosine_with_warmup(total, round(self.hparams.warmup_epochs * per_epoch), self.hparams.min_lr_ratio),
        )


def scaled_size(size: int, scale: float) -> int:
    """``size * scale`` rounded to the nearest multiple of ``SCALE_MULTIPLE`` (at least one)."""
    return max(SCALE_MULTIPLE, round(size * scale / SCALE_MULTIPLE) * SCALE_MULTIPLE)


def rescale_batch(batch: dict[str, Any], scale: float) -> dict[str, Any]:
    """``batch`` with ``image`` (bilinear) and ``mask`` (nearest, so still {0, 1}) resized by ``scale``."""
    images, masks = batch["image"], batch["mask"]
    height, width = images.shape[-2:]
    size = (scaled_size(height, scale), scaled_size(width, scale))
    if size == (height, width):
        return batch
    return {
        **batch,
        "image": F.interpolate(images, size=size, mode="bilinear", align_corners=False),
        "mask": F.interpolate(masks.float(), size=size, mode="nearest").to(masks.dtype),
    }


def cosine_with_warmup(total_steps: int, warmup_steps: int, min_ratio: float) -> Callable[[int], float]:
    """LR factor of step ``s``: linear from ``1/(warmup+1)`` to 1 over ``warmup_steps``, then a
    cosine from 1 down to ``min_ratio`` at ``total_steps``."""
    decay = max(1, total_steps - warmup_steps)

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        progress = min(1.0, (step - warmup_steps) / decay)
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def _datamodule_image_size(trainer: L.Trainer) -> int | None:
    hparams = getattr(getattr(trainer, "datamodule", None), "hparams", None)
    size = getattr(hparams, "image_size", None) if hparams is not None else None
    return size if isinstance(size, int) else None


def _on_xla(tensor: torch.Tensor) -> bool:
    return tensor.device.type == "xla"


def _xla_sync(device: torch.device) -> None:
    if device.type == "xla":
        import torch_xla

        torch_xla.sync()


def _always() -> bool:
    return True


def _xla_gather(tensor: torch.Tensor, group: Any = None) -> list[torch.Tensor]:
    """torchmetrics ``dist_sync_fn`` over XLA collectives: the state of every core, as a list."""
    import torch_xla.core.xla_model as xm

    return list(xm.all_gather(tensor.unsqueeze(0), dim=0).unbind(0))
