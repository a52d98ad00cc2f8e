"""albumentations pipelines: resize (+ flips and rotation for training), then scaling to [0, 1].

The paper's augmentation is "horizontal flip, vertical flip, rotation" applied offline (each
training image 4 times); here the same transforms run online, each with p = 0.5, and
``repeats`` in the dataset gives the same number of samples per epoch. The paper does not give
the rotation angle: we draw it uniformly in ``[-rotate_limit, rotate_limit]`` degrees (30 by
default), filling the corners with black, as colonoscopy frames' own black borders are.

Normalisation: pixels are divided by 255 and nothing else (no mean/std), as the paper's Keras
pipeline did. Images: bilinear resize, area averaging when downscaling; masks: nearest neighbour
everywhere, so they stay exactly {0, 1}.
"""

from __future__ import annotations

import albumentations as A
import cv2
from albumentations.pytorch import ToTensorV2

ROTATE_LIMIT = 30.0


def resize_transform(image_size: int) -> A.Resize:
    """Resize to ``image_size`` x ``image_size`` (the cache and both pipelines share this)."""
    if image_size < 1:
        raise ValueError(f"image_size must be positive, got {image_size}")
    return A.Resize(
        image_size,
        image_size,
        interpolation=cv2.INTER_LINEAR,
        mask_interpolation=cv2.INTER_NEAREST,
        area_for_downscale="image",
    )


def build_transforms(
    image_size: int = 256, train: bool = False, rotate_limit: float = ROTATE_LIMIT
) -> A.Compose:
    """Training (``train=True``: resize, flips, rotation) or evaluation (resize only) pipeline.

    Input: ``image`` RGB uint8 (H, W, 3) and ``mask`` {0, 1} uint8 (H, W). Output: ``image``
    float32 tensor (3, S, S) in [0, 1] and ``mask`` uint8 tensor (S, S) in {0, 1}.
    """
    steps: list[A.BasicTransform] = [resize_transform(image_size)]
    if train:
        steps += [
            A.HorizontalFlip(p=0.5),
            A.VerticalFlip(p=0.5),
            A.Rotate(
                limit=(-rotate_limit, rotate_limit),
                interpolation=cv2.INTER_LINEAR,
                mask_interpolation=cv2.INTER_NEAREST,
                border_mode=cv2.BORDER_CONSTANT,
                fill=0,
                fill_mask=0,
                p=0.5,
            ),
        ]
    steps += [A.ToFloat(max_value=255.0), ToTensorV2()]
    return A.Compose(steps)
