"""Run a trained model on images, folders and videos: masks at each input's own size, overlays
with the contour drawn, and a table of per-image (per-frame) statistics.

Pre-processing is the training's own (``polypnet.data.build_transforms``): resize to
``image_size`` (bilinear, area averaging when shrinking), scale to [0, 1]. The network's logits
are resized back to the input's original size (bilinear) and thresholded there, exactly as
``scripts/evaluate.py --original-resolution`` does.

Statistics of one mask: ``area_fraction`` (foreground pixels / all pixels), ``confidence`` (the
mean probability over the predicted mask's pixels, 0 when the mask is empty), ``max_probability``
(the largest pixel probability, a polyp score for frames without a mask), and ``boxes``
(``[x, y, width, height]`` of each 8-connected component, largest first).
"""

from __future__ import annotations

import csv
import json
import math
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .data.readers import IMAGE_SUFFIXES, ReadError, read_image
from .data.transforms import build_transforms
from .inference import Segmenter, flip_tta_logits
from .models import create_model

VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".m4v"})
#: Columns of ``predictions.csv`` (images) and ``frames.csv`` (videos) after the first ones.
STAT_COLUMNS = ("area_fraction", "confidence", "max_probability", "components", "boxes")
#: Overlay colour (RGB) and opacity of the filled mask; the contour is drawn opaque.
OVERLAY_COLOUR = (0, 255, 0)
OVERLAY_ALPHA = 0.35


# --------------------------------------------------------------------------------------------
# Model sources


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
    from .evaluation import model_from_checkpoint, read_checkpoint

    kwargs = dict(model_kwargs or {})
    given = [n for n, v in (("checkpoint", checkpoint), ("weights", weights), ("pretrained", pretrained)) if v]
    if len(given) > 1:
        raise ValueError(f"pass one model source, not several: {' and '.join(given)}")
    if checkpoint is not None or weights is not None:
        path = Path(checkpoint if checkpoint is not None else weights)  # type: ignore[arg-type]
        blob = read_checkpoint(path)  # once: the weights and the image size come from the same read
        net, hparams = model_from_checkpoint(blob, path, model=model, model_kwargs=kwargs)
        info = {"model": hparams.get("model") or model, "model_kwargs": {**(hparams.get("model_kwargs") or {}), **kwargs},
                "source": str(path)}
        size = checkpoint_image_size(path, blob)
        if size is not None:
            info["image_size"] = size
        return net, info
    name = model or "iam_unet"
    if pretrained:
        from .models.pretrained import pretrained_info

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
        blob = torch.load(path, map_location="cpu", weights_only=False)
    size = ((blob.get("datamodule_hyper_parameters") or {}) if isinstance(blob, dict) else {}).get("image_size")
    if size is None:
        run = path.parent.parent if path.parent.name == "checkpoints" else path.parent
        config = run / "config.yaml"
        if config.is_file():
            import yaml

            data = (yaml.safe_load(config.read_text()) or {}).get("data") or {}
            size = data.get("image_size") or (data.get("init_args") or {}).get("image_size")
    return int(size) if size else None


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
    ``fast`` is off. ``tta`` averages the probabilities of the identity, horizontal-flip and
    vertical-flip passes.
    """

    def __init__(
        self,
        model: nn.Module,
        image_size: int = 256,
        device: str | torch.device = "cpu",
        threshold: float = 0.5,
        tta: bool = False,
        fast: bool = True,
    ) -> None:
        if not 0 < threshold < 1:
            raise ValueError(f"threshold must be in (0, 1), got {threshold}")
        if image_size < 1:
            raise ValueError(f"image size must be positive, got {image_size}")
        self.model = model.eval()
        self.device = torch.device(device)
        self.segmenter = Segmenter(model, device=self.device, fold_bn=fast, channels_last=fast)
        self.image_size = image_size
        self.threshold = threshold
        self.tta = tta
        self.transform = build_transforms(image_size, train=False)
        # Thresholding logits at logit(t) equals thresholding sigmoid(logits) at t, as evaluate does.
        self._logit_threshold = math.log(threshold / (1 - threshold))

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

    @torch.inference_mode()
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, 1, S, S) at the network's size; with TTA the logit of the mean probability."""
        if self.tta:
            return flip_tta_logits(self.segmenter.logits, x)
        return self.segmenter.logits(x)[:, :1].float()

    @torch.inference_mode()
    def predict_batch(self, images: Sequence[np.ndarray]) -> list[Prediction]:
        """Masks and probabilities of RGB uint8 (H, W, 3) images, each at its own size."""
        if not images:
            return []
        logits = self.logits(self.to_tensor(images))
        results = []
        for i, image in enumerate(images):
            up = F.interpolate(logits[i : i + 1], size=image.shape[:2], mode="bilinear", align_corners=False)[0, 0]
            mask = (up > self._logit_threshold).to(torch.uint8).cpu().numpy()
            results.append(Prediction(mask, torch.sigmoid(up).cpu().numpy()))
        return results

    def predict(self, image: np.ndarray) -> Prediction:
        """The prediction for one RGB uint8 (H, W, 3) image."""
        return self.predict_batch([image])[0]


def component_boxes(mask: np.ndarray) -> list[list[int]]:
    """``[x, y, width, height]`` of each 8-connected component of a {0, 1} mask, largest first."""
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    rows = sorted(stats[1:n].tolist(), key=lambda s: -s[cv2.CC_STAT_AREA])
    return [[int(v) for v in s[:4]] for s in rows]


def overlay(image: np.ndarray, mask: np.ndarray, colour: tuple[int, int, int] = OVERLAY_COLOUR,
            alpha: float = OVERLAY_ALPHA) -> np.ndarray:
    """RGB uint8 copy of ``image`` with ``mask`` tinted and its contour drawn."""
    out = image.copy()
    fg = mask.astype(bool)
    tint = np.asarray(colour, np.float32)
    out[fg] = ((1 - alpha) * out[fg] + alpha * tint).round().astype(np.uint8)
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    thickness = max(1, round(max(mask.shape) / 300))  # visible on 1080p frames, thin on 256 px
    cv2.drawContours(out, contours, -1, colour, thickness)
    return out


# --------------------------------------------------------------------------------------------
# Inputs and outputs


@dataclass(frozen=True)
class Inputs:
    """What one INPUT expands to: image and video files, and the folder output paths mirror."""

    root: Path
    images: list[Path]
    videos: list[Path]
    ignored: list[Path] = field(default_factory=list)


def collect_inputs(path: str | Path, exclude: Path | None = None) -> Inputs:
    """An image, a video, or a folder searched recursively for both (hidden entries and anything
    under ``exclude``, e.g. the output folder, are left out)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"input not found: {path}")
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix in IMAGE_SUFFIXES:
            return Inputs(path.parent, [path], [])
        if suffix in VIDEO_SUFFIXES:
            return Inputs(path.parent, [], [path])
        known = ", ".join(sorted(IMAGE_SUFFIXES | VIDEO_SUFFIXES))
        raise ValueError(f"{path}: not an image or video file (known suffixes: {known})")
    exclude = exclude.resolve() if exclude is not None else None
    images, videos, ignored = [], [], []
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        rel = file.relative_to(path)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if exclude is not None and file.resolve().is_relative_to(exclude):
            continue
        suffix = file.suffix.lower()
        (images if suffix in IMAGE_SUFFIXES else videos if suffix in VIDEO_SUFFIXES else ignored).append(file)
    return Inputs(path, images, videos, ignored)


def output_stems(files: Sequence[Path], root: Path) -> dict[Path, Path]:
    """Each file's output path without suffix, relative to the output folder: its path under
    ``root`` with the stem kept; ``a.jpg`` and ``a.png`` side by side become ``a_jpg``, ``a_png``."""
    stems = {f: f.relative_to(root).with_suffix("") for f in files}
    seen: dict[Path, int] = {}
    for stem in stems.values():
        seen[stem] = seen.get(stem, 0) + 1
    return {f: s.with_name(f"{s.name}_{f.suffix.lower().lstrip('.')}") if seen[s] > 1 else s
            for f, s in stems.items()}


def write_image(path: Path, rgb_or_gray: np.ndarray, quality: int = 92) -> None:
    """Write PNG/JPEG through ``cv2.imencode`` (works for any path, unlike ``cv2.imwrite``)."""
    array = rgb_or_gray if rgb_or_gray.ndim == 2 else cv2.cvtColor(rgb_or_gray, cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if path.suffix.lower() in (".jpg", ".jpeg") else []
    ok, buf = cv2.imencode(path.suffix, array, params)
    if not ok:
        raise OSError(f"cannot encode {path.suffix} image for {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.tobytes())


@dataclass
class Skipped:
    """An input that could not be processed, and why."""

    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass
class VideoResult:
    """One processed video: frames written, its overlay video and per-frame table."""

    path: Path
    frames: int
    overlay: Path
    table: Path
    note: str | None = None


@dataclass
class PredictResult:
    """Everything one ``run`` wrote, and what it skipped."""

    out: Path
    images: int = 0
    image_table: Path | None = None
    videos: list[VideoResult] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    ignored: list[Path] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready summary (paths as strings)."""
        return {
            "out": str(self.out),
            "images": self.images,
            "image_table": str(self.image_table) if self.image_table else None,
            "videos": [{"path": str(v.path), "frames": v.frames, "overlay": str(v.overlay),
                        "table": str(v.table), "note": v.note} for v in self.videos],
            "skipped": [{"path": str(s.path), "reason": s.reason} for s in self.skipped],
            "ignored": [str(p) for p in self.ignored],
        }


# --------------------------------------------------------------------------------------------
# Progress


class _Progress:
    """A rich progress bar on stderr, or nothing."""

    def __init__(self, enabled: bool) -> None:
        self._bar = None
        if enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeRemainingColumn(), console=Console(stderr=True), transient=False)

    @contextmanager
    def task(self, description: str, total: int | None) -> Iterator[Callable[[int], None]]:
        if self._bar is None:
            yield lambda n: None
            return
        with self._bar:
            task_id = self._bar.add_task(description, total=total or None)
            yield lambda n: self._bar.advance(task_id, n)  # type: ignore[union-attr]


# --------------------------------------------------------------------------------------------
# Images


def _read(path: Path) -> np.ndarray | Skipped:
    try:
        return read_image(path)
    except ReadError as err:
        return Skipped(path, str(err))
    except Exception as err:  # a folder must never abort on one bad file, whatever the decoder raises
        return Skipped(path, f"cannot read ({type(err).__name__}: {err})")


def predict_images(
    predictor: Predictor,
    files: Sequence[Path],
    root: Path,
    out: Path,
    *,
    batch_size: int = 8,
    overlays: bool = True,
    overlay_format: str = "jpg",
    progress: bool = True,
) -> tuple[int, Path | None, list[Skipped]]:
    """Masks (``out/masks/REL.png``, 0/255), overlays (``out/overlays/REL.jpg``) and
    ``out/predictions.csv`` for image files; returns (images written, table, skipped files)."""
    if not files:
        return 0, None, []
    stems = output_stems(files, root)
    table = out / "predictions.csv"
    rows: list[dict[str, Any]] = []
    skipped: list[Skipped] = []
    batches = [list(files[i : i + batch_size]) for i in range(0, len(files), batch_size)]
    with ThreadPoolExecutor(max_workers=4) as pool, _Progress(progress).task("images", len(files)) as advance:
        def submit(batch: list[Path]) -> list[Future]:
            return [pool.submit(_read, p) for p in batch]

        pending = submit(batches[0])
        writes: list[Future] = []
        for k, batch in enumerate(batches):
            decoded = [f.result() for f in pending]
            # Decode the next batch while the network runs on this one.
            pending = submit(batches[k + 1]) if k + 1 < len(batches) else []
            ok = [(p, img) for p, img in zip(batch, decoded) if not isinstance(img, Skipped)]
            skipped += [img for img in decoded if isinstance(img, Skipped)]
            preds = predictor.predict_batch([img for _, img in ok])
            for (path, image), pred in zip(ok, preds):
                stem = stems[path]
                writes.append(pool.submit(write_image, out / "masks" / f"{stem}.png", pred.mask * 255))
                if overlays:
                    writes.append(pool.submit(write_image, out / "overlays" / f"{stem}.{overlay_format}",
                                              overlay(image, pred.mask)))
                height, width = pred.mask.shape
                rows.append({"file": path.relative_to(root).as_posix(), "width": width, "height": height,
                             **pred.stats()})
            advance(len(batch))
        for f in writes:
            f.result()  # re-raise a write error (disk full, permissions): that is not a bad input
    if rows:
        _write_csv(table, rows)
    return len(rows), table if rows else None, skipped


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


# --------------------------------------------------------------------------------------------
# Videos

# Containers OpenCV writes without extra codecs; anything else gets an mp4.
_FOURCC = {".mp4": "mp4v", ".avi": "MJPG"}


def predict_video(
    predictor: Predictor,
    path: Path,
    out_dir: Path,
    *,
    batch_size: int = 8,
    frame_masks: bool = False,
    progress: bool = True,
) -> VideoResult | Skipped:
    """``out_dir/overlay.mp4`` (``.avi`` for an avi input), ``out_dir/frames.csv`` (one row per
    frame: ``frame``, ``time_s`` and ``STAT_COLUMNS``), and with ``frame_masks`` each frame's mask
    as ``out_dir/masks/NNNNNN.png``. A video OpenCV cannot open or decode is returned as Skipped."""
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            return Skipped(path, "cannot open video (corrupt file or codec not supported by OpenCV)")
        fps = cap.get(cv2.CAP_PROP_FPS)
        fps = fps if fps and math.isfinite(fps) and fps > 0 else 25.0
        expected = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        suffix = path.suffix.lower() if path.suffix.lower() in _FOURCC else ".mp4"
        overlay_path = out_dir / f"overlay{suffix}"
        writer: cv2.VideoWriter | None = None
        rows: list[dict[str, Any]] = []
        size: tuple[int, int] | None = None
        with _Progress(progress).task(path.name, expected) as advance:
            while True:
                frames = []
                for _ in range(batch_size):
                    ok, frame = cap.read()
                    if not ok:
                        break
                    frame = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
                    if size is None:
                        size = (frame.shape[1], frame.shape[0])
                    elif (frame.shape[1], frame.shape[0]) != size:  # the writer needs one frame size
                        frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
                    frames.append(frame)
                if not frames:
                    break
                if writer is None:
                    out_dir.mkdir(parents=True, exist_ok=True)
                    writer = cv2.VideoWriter(str(overlay_path), cv2.VideoWriter_fourcc(*_FOURCC[suffix]), fps, size)
                    if not writer.isOpened():
                        return Skipped(path, f"cannot write {overlay_path} (OpenCV has no {_FOURCC[suffix]} encoder)")
                for frame, pred in zip(frames, predictor.predict_batch(frames)):
                    index = len(rows)
                    writer.write(cv2.cvtColor(overlay(frame, pred.mask), cv2.COLOR_RGB2BGR))
                    if frame_masks:
                        write_image(out_dir / "masks" / f"{index:06d}.png", pred.mask * 255)
                    rows.append({"frame": index, "time_s": round(index / fps, 4), **pred.stats()})
                advance(len(frames))
        if writer is not None:
            writer.release()
        if not rows:
            return Skipped(path, "no decodable frame (corrupt file or codec not supported by OpenCV)")
        table = out_dir / "frames.csv"
        _write_csv(table, rows)
        note = None
        if expected and len(rows) < expected:
            note = f"decoding stopped at frame {len(rows)} of the {expected} the header announces"
        return VideoResult(path, len(rows), overlay_path, table, note)
    finally:
        cap.release()


# --------------------------------------------------------------------------------------------
# Everything


def run(
    predictor: Predictor,
    inputs: Inputs,
    out: Path,
    *,
    batch_size: int = 8,
    overlays: bool = True,
    overlay_format: str = "jpg",
    frame_masks: bool = False,
    progress: bool = True,
) -> PredictResult:
    """Predict every image, then every video, of ``inputs`` into ``out``; bad files are skipped."""
    if batch_size < 1:
        raise ValueError(f"batch size must be >= 1, got {batch_size}")
    if overlay_format not in ("jpg", "png"):
        raise ValueError(f"overlay format must be jpg or png, got {overlay_format!r}")
    result = PredictResult(out, ignored=list(inputs.ignored))
    result.images, result.image_table, result.skipped = predict_images(
        predictor, inputs.images, inputs.root, out, batch_size=batch_size, overlays=overlays,
        overlay_format=overlay_format, progress=progress,
    )
    stems = output_stems(inputs.videos, inputs.root)
    for video in inputs.videos:
        done = predict_video(predictor, video, out / "videos" / stems[video], batch_size=batch_size,
                             frame_masks=frame_masks, progress=progress)
        (result.skipped if isinstance(done, Skipped) else result.videos).append(done)  # type: ignore[arg-type]
    return result
