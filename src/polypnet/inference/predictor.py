"""The one predictor: RGB images in, masks and probabilities at each image's own size out.

Pre-processing is the training's own (``polypnet.data.build_transforms``): resize to
``image_size`` (bilinear, area averaging when shrinking), scale to [0, 1]. The network's logits
are resized back to the input's original size (bilinear) and thresholded there, exactly as
``polypnet evaluate --original-resolution`` does. ``polypnet predict``, ``evaluate``, the hub
entry points and the web page all run through :class:`Predictor`.

Statistics of one mask: ``area_fraction`` (foreground pixels / all pixels), ``confidence`` (the
mean probability over the predicted mask's pixels, 0 when the mask is empty), ``max_probability``
(the largest pixel probability, a polyp score for frames without a mask), and ``boxes``
(``[x, y, width, height]`` of each 8-connected component, largest first).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data.transforms import build_transforms
from ..models.outputs import logit_threshold
from .backends import Segmenter, resolve_backend
from .overlays import component_boxes
from .tta import flip_tta_logits

_Method = TypeVar("_Method", bound=Callable[..., Any])

#: Columns of ``predictions.csv`` (images) and ``frames.csv`` (videos) after the first ones.
STAT_COLUMNS = ("area_fraction", "confidence", "max_probability", "components", "boxes")


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` (CUDA, else MPS, else CPU) or a torch device string; ValueError when unavailable."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        return torch.device("mps" if mps is not None and mps.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"unknown device {device!r} ({err})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was requested but CUDA is not available on this machine")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return dev


# --------------------------------------------------------------------------------------------
# Inference


def _runtime_owns_the_cores(method: _Method) -> _Method:
    """Run a :class:`Predictor` method with torch on one thread when another CPU runtime computes,
    and give torch its thread count back afterwards (the caller's process is not changed)."""

    @functools.wraps(method)
    def wrapper(self: Predictor, *args: Any, **kwargs: Any) -> Any:
        threads = torch.get_num_threads()
        if not self.runtime_owns_cores or threads == 1:
            return method(self, *args, **kwargs)
        # torch only resizes and thresholds around the runtime, and its spinning pool beside the
        # runtime's halved a 720x576 video's frames/s here.
        torch.set_num_threads(1)
        try:
            return method(self, *args, **kwargs)
        finally:
            torch.set_num_threads(threads)

    return wrapper  # type: ignore[return-value]


@dataclass
class Prediction:
    """One input's result at its own size: ``mask`` {0, 1} uint8 and ``probability`` float32."""

    mask: np.ndarray
    probability: np.ndarray

    def stats(self) -> dict[str, Any]:
        """``STAT_COLUMNS`` of this mask (see the module docstring); ``boxes`` as a JSON string."""
        fg = self.mask.astype(bool)
        n = int(fg.sum())
        boxes = component_boxes(self.mask)
        return {
            "area_fraction": round(n / self.mask.size, 6),
            "confidence": round(float(self.probability[fg].mean()), 6) if n else 0.0,
            "max_probability": round(float(self.probability.max(initial=0.0)), 6),
            "components": len(boxes),
            "boxes": json.dumps(boxes, separators=(",", ":")),
        }


class Predictor:
    """Batched inference of a segmentation model returning logits (B, 1, S, S).

    Runs through :class:`polypnet.inference.Segmenter` (BatchNorm folded, channels_last) unless
    ``fast`` is off, on ``backend`` at ``precision`` (``"auto"``: the fastest that keeps
    accuracy on this machine, torch when OpenVINO is missing; another backend than torch gets
    torch's threads, and torch runs on one while a call is in it). ``tta`` averages the probabilities of the identity, horizontal-flip and
    vertical-flip passes.

    Inputs: ``predict`` / ``predict_batch`` take RGB ``uint8`` arrays (H, W, 3) as image files
    decode; ``probabilities`` takes a tensor batch (B, 3, H, W), ``uint8`` (0-255) or floating
    point (0-1). Both check their input (the network's own ``forward`` does not, to stay lean).
    """

    def __init__(
        self,
        model: nn.Module,
        image_size: int = 256,
        device: str | torch.device = "cpu",
        threshold: float = 0.5,
        tta: bool = False,
        fast: bool = True,
        backend: str = "torch",
        precision: str = "fp32",
    ) -> None:
        if image_size < 1:
            raise ValueError(f"image size must be positive, got {image_size}")
        self.model = model.eval()
        self.device = torch.device(device)
        # "auto": the fastest backend that keeps accuracy here (polypnet.inference.backends.default_backend)
        self.backend, self.precision = resolve_backend(backend, precision, self.device)
        threads = torch.get_num_threads()
        self.segmenter = Segmenter(
            model,
            self.backend,
            self.precision,
            threads=threads,  # type: ignore[arg-type]
            device=self.device,
            fold_bn=fast,
            channels_last=fast,
        )
        #: Whether calls run torch on one thread, leaving the cores to the runtime's own pool.
        self.runtime_owns_cores = self.backend != "torch" and self.device.type == "cpu"
        self.image_size = image_size
        self.threshold = threshold
        self.tta = tta
        self.transform = build_transforms(image_size, train=False)
        self._logit_threshold = logit_threshold(threshold)

    def check(self) -> None:
        """One pass of the original model on zeros: raises its own clear error for a size it
        cannot take (the folded copy has no such check)."""
        device = next(self.model.parameters()).device
        try:
            with torch.inference_mode():
                self.model(torch.zeros(1, 3, self.image_size, self.image_size, device=device))
        except RuntimeError as err:  # third-party models (smp) raise RuntimeError for sizes
            raise ValueError(f"the model cannot run at {self.image_size}x{self.image_size}: {err}") from None

    def to_tensor(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        """The training's evaluation pre-processing of RGB uint8 images: (B, 3, S, S) in [0, 1]."""
        return torch.stack([self.transform(image=img)["image"] for img in images])

    @_runtime_owns_the_cores
    @torch.inference_mode()
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, 1, S, S) at the network's size; with TTA the logit of the mean probability."""
        if self.tta:
            return flip_tta_logits(self.segmenter.logits, x)
        return self.segmenter.logits(x)[:, :1].float()

    @_runtime_owns_the_cores
    @torch.inference_mode()
    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """Polyp probabilities (B, 1, H, W) of a batch of RGB images (B, 3, H, W), at their size.

        ``images``: ``uint8`` in 0-255 (divided by 255) or any floating dtype in 0-1 (computed in
        float32), RGB, no mean/std. A batch not at ``image_size`` is resized to it for the network
        (bilinear, antialiased) and the logits back. ValueError for another shape or dtype, and
        for NaN or infinite values, which would otherwise spread silently over the whole mask.
        """
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"expected a batch of RGB images (B, 3, H, W), got shape {tuple(images.shape)}")
        if images.dtype == torch.uint8:
            x = images.to(torch.float32) / 255
        elif images.is_floating_point():
            bad = int((~torch.isfinite(images)).sum())
            if bad:
                raise ValueError(f"input holds {bad} values that are not finite (NaN or infinite)")
            x = images.to(torch.float32)
        else:
            raise ValueError(f"unsupported dtype {images.dtype}: pass uint8 (0-255) or floating point (0-1)")
        size = tuple(x.shape[-2:])
        s = self.image_size
        if size != (s, s):
            x = F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False, antialias=True)
        logits = self.logits(x)
        if size != (s, s):
            logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
        return torch.sigmoid(logits)

    @_runtime_owns_the_cores
    @torch.inference_mode()
    def predict_batch(self, images: Sequence[np.ndarray]) -> list[Prediction]:
        """Masks and probabilities of RGB uint8 (H, W, 3) images, each at its own size."""
        if not images:
            return []
        for image in images:
            if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
                raise ValueError(f"expected RGB uint8 images (H, W, 3), got {image.dtype} {image.shape}")
        logits = self.logits(self.to_tensor(images))
        results = []
        for i, image in enumerate(images):
            up = F.interpolate(logits[i : i + 1], size=image.shape[:2], mode="bilinear", align_corners=False)[0, 0]
            mask = (up > self._logit_threshold).to(torch.uint8).cpu().numpy()
            # In place: at full size (up to the pixel limit) every float copy costs 4 bytes a pixel.
            results.append(Prediction(mask, up.sigmoid_().cpu().numpy()))
            del up
        return results

    def predict(self, image: np.ndarray) -> Prediction:
        """The prediction for one RGB uint8 (H, W, 3) image."""
        return self.predict_batch([image])[0]
