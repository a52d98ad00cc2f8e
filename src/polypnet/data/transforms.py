"""albumentations pipelines: resize (+ flips and rotation for training), then scaling to [0, 1].

The paper's augmentation is "horizontal flip, vertical flip, rotation" applied offline (each
training image 4 times); here the same transforms run online, each with p = 0.5, and
``repeats`` in the dataset gives the same number of samples per epoch. The paper does not give
the rotation angle: we draw it uniformly in ``[-rotate_limit, rotate_limit]`` degrees (30 by
default), filling the corners with black, as colonoscopy frames' own black borders are.

``augment="strong"`` (the ``improved`` recipe, not the paper's) adds, after the paper's three:
a random scale in [0.75, 1.25] with a shift of up to 10 % (p = 0.5), colour jitter of
brightness, contrast and saturation by up to 20 % and hue by up to 5 % (p = 0.5: lighting and
mucosa colour vary between endoscopes), and a mild elastic deformation (p = 0.25: polyps are soft).

Normalisation: pixels are divided by 255 and nothing else (no mean/std), as the paper's Keras
pipeline did. Images: bilinear resize, area averaging when downscaling; masks: nearest neighbour
everywhere, so they stay exactly {0, 1}.
"""

from __future__ import annotations

import random

import albumentations as A
import cv2
import numpy as np
from albumentations.pytorch import ToTensorV2

ROTATE_LIMIT = 30.0
AUGMENTS: tuple[str, ...] = ("paper", "strong")


def seed_transform(transform: A.BaseCompose, seed: int) -> None:
    """Make ``transform``'s next draws a function of ``seed``, with its steps drawing independently.

    Not ``Compose.set_random_seed``: in albumentations 2.0 it gives every step its own generator
    started from the same seed, so steps that draw the same kind of number draw the same number:
    HorizontalFlip and VerticalFlip (both p = 0.5) then flip together or not at all, and the
    rotation (p = 0.5) comes only with both. One generator shared by every step, as an unseeded
    Compose has, keeps them independent.
    """
    transform.set_random_state(np.random.default_rng(seed), random.Random(seed))


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
    image_size: int = 256,
    train: bool = False,
    rotate_limit: float = ROTATE_LIMIT,
    augment: str = "paper",
) -> A.Compose:
    """Training (``train=True``: resize, flips, rotation) or evaluation (resize only) pipeline.

    ``augment``: ``"paper"`` (flips and rotation) or ``"strong"`` (those, then scale, colour and
    elastic); it only matters for training.

    Input: ``image`` RGB uint8 (H, W, 3) and ``mask`` {0, 1} uint8 (H, W). Output: ``image``
    float32 tensor (3, S, S) in [0, 1] and ``mask`` uint8 tensor (S, S) in {0, 1}.
    """
    if augment not in AUGMENTS:
        raise ValueError(f"augment must be one of {', '.join(AUGMENTS)}, got {augment!r}")
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
    if train and augment == "strong":
        steps += _strong_steps()
    steps += [A.ToFloat(max_value=255.0), ToTensorV2()]
    return A.Compose(steps)


def _strong_steps() -> list[A.BasicTransform]:
    black = dict(border_mode=cv2.BORDER_CONSTANT, fill=0, fill_mask=0)
    return [
        A.Affine(
            scale=(0.75, 1.25),
            translate_percent=(-0.1, 0.1),
            interpolation=cv2.INTER_LINEAR,
            mask_interpolation=cv2.INTER_NEAREST,
            p=0.5,
            **black,
        ),
        A.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.05, p=0.5),
        A.ElasticTransform(
            alpha=30,
            sigma=6,
            interpolation=cv2.INTER_LINEAR,
            mask_interpolation=cv2.INTER_NEAREST,
            p=0.25,
            **black,
        ),
    ]
