"""Inference: load a model safely, predict masks (one ``Predictor``), run fast backends, export."""

from .backends import Segmenter, count_batchnorms, fold_batchnorm
from .checkpoint import (
    CheckpointError,
    CheckpointMismatchError,
    UnsafeCheckpointError,
    checkpoint_image_size,
    load_checkpoint,
    load_model,
    model_from_checkpoint,
    read_checkpoint,
    run_dir_of,
    safe_load,
)
from .overlays import component_boxes, overlay
from .predictor import STAT_COLUMNS, Prediction, Predictor, resolve_device
from .tta import FLIPS, FlippedInput, flip_tta_logits

__all__ = [
    "FLIPS",
    "STAT_COLUMNS",
    "CheckpointError",
    "CheckpointMismatchError",
    "FlippedInput",
    "Prediction",
    "Predictor",
    "Segmenter",
    "UnsafeCheckpointError",
    "checkpoint_image_size",
    "component_boxes",
    "count_batchnorms",
    "flip_tta_logits",
    "fold_batchnorm",
    "load_checkpoint",
    "load_model",
    "model_from_checkpoint",
    "overlay",
    "read_checkpoint",
    "resolve_device",
    "run_dir_of",
    "safe_load",
]
