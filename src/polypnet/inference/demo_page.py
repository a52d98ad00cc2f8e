"""The web page of ``polypnet demo``: drop images or a video, see the polyp outlined.

Two halves: :class:`DemoAnalyser` turns uploaded files into masks, overlays and tables with the
one :class:`~polypnet.inference.predictor.Predictor` (so the page's masks are ``polypnet
predict``'s masks for the same image, weights, size, threshold and TTA), and :func:`build_page`
lays it out with Gradio (imported only there: the ``[demo]`` extra).

Uploads are untrusted: a file that is not an image or video, cannot be decoded or is too large
gets a line in the page's message box, never an exception out of the handler.
"""

from __future__ import annotations

import csv
import shutil
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from torch import nn

from ..data.readers import IMAGE_SUFFIXES, ReadError, probe, read_image
from .files import VIDEO_SUFFIXES
from .outputs import Skipped, write_csv, write_image
from .overlays import overlay
from .predictor import Predictor
from .video import predict_video

DISCLAIMER = (
    "Research software, not a medical device. No output of this model may be used to diagnose, "
    "treat or triage a patient, or to replace an endoscopist's judgement."
)
#: Bounds on what one request may ask of the machine (the upload size is bounded by the server).
MAX_IMAGES = 32
MAX_PIXELS = 40_000_000  # per image: ~ 7700 x 5200; decoding allocates 3 bytes a pixel, twice
MAX_VIDEO_FRAMES = 1800  # one minute at 30 fps
MAX_VIDEO_PIXELS = 3840 * 2160
#: Predictors kept for recent (threshold, TTA) settings; each holds a folded copy of the network.
_PREDICTOR_CACHE = 4
#: A request's outputs are deleted this long after it (a page left open keeps its downloads a while).
REQUEST_MAX_AGE_S = 3600


def sample_images() -> list[Path]:
    """The Kvasir-SEG sample images shipped inside the package (the page's examples)."""
    folder = resources.files("polypnet.data") / "resources" / "sample" / "kvasir-seg" / "images"
    return sorted(Path(str(p)) for p in folder.iterdir() if Path(str(p)).suffix.lower() in IMAGE_SUFFIXES)


@dataclass
class PageResult:
    """What one request shows: messages, overlays and masks with captions, tables, downloads, a video."""

    notes: list[str] = field(default_factory=list)
    gallery: list[tuple[str, str]] = field(default_factory=list)  # (file, caption): overlay, mask, overlay, ...
    image_rows: list[dict[str, Any]] = field(default_factory=list)
    downloads: list[str] = field(default_factory=list)
    video: str | None = None
    frame_rows: list[dict[str, Any]] = field(default_factory=list)


class DemoAnalyser:
    """Uploaded files in, a :class:`PageResult` out; outputs are written under ``work_dir``."""

    def __init__(self, model: nn.Module, image_size: int, device: str = "cpu", batch_size: int = 4) -> None:
        self.model = model.eval()
        self.image_size = image_size
        self.device = device
        self.batch_size = batch_size
        self._predictors: OrderedDict[tuple[float, bool], Predictor] = OrderedDict()
        self._lock = threading.Lock()

    def predictor(self, threshold: float, tta: bool) -> Predictor:
        """The predictor for these settings (built once, then reused while recently used)."""
        key = (float(threshold), bool(tta))
        with self._lock:
            if key in self._predictors:
                self._predictors.move_to_end(key)
                return self._predictors[key]
            made = Predictor(self.model, image_size=self.image_size, device=self.device, threshold=key[0], tta=key[1])
            self._predictors[key] = made
            while len(self._predictors) > _PREDICTOR_CACHE:
                self._predictors.popitem(last=False)
            return made

    def analyse(
        self,
        files: Sequence[str | Path],
        threshold: float,
        tta: bool,
        work_dir: Path,
        progress: Callable[[float, str], None] | None = None,
    ) -> PageResult:
        """Masks, overlays and tables of image files and at most one video, into ``work_dir``."""
        result = PageResult()
        if not 0 < threshold < 1:
            result.notes.append(f"threshold must be between 0 and 1, got {threshold}")
            return result
        images, videos = [], []
        for file in map(Path, files):
            suffix = file.suffix.lower()
            if suffix in IMAGE_SUFFIXES:
                images.append(file)
            elif suffix in VIDEO_SUFFIXES:
                videos.append(file)
            else:
                known = ", ".join(sorted(IMAGE_SUFFIXES | VIDEO_SUFFIXES))
                result.notes.append(f"{file.name}: not an image or a video (known: {known})")
        if len(images) > MAX_IMAGES:
            result.notes.append(f"{len(images)} images uploaded; the first {MAX_IMAGES} are shown")
            images = images[:MAX_IMAGES]
        if len(videos) > 1:
            result.notes.append(
                f"one video at a time: {videos[0].name} is shown, {', '.join(v.name for v in videos[1:])} left out"
            )
        predictor = self.predictor(threshold, tta)
        names = _unique_stems(images + videos[:1])
        self._images(predictor, images, names, work_dir, result, progress)
        if videos:
            self._video(predictor, videos[0], names[videos[0]], work_dir, result, progress)
        return result

    def _images(
        self,
        predictor: Predictor,
        files: list[Path],
        names: dict[Path, str],
        work_dir: Path,
        result: PageResult,
        progress: Callable[[float, str], None] | None,
    ) -> None:
        # Decoded a batch at a time: 32 uploads at the pixel limit would hold ~4 GB decoded at once.
        for start in range(0, len(files), self.batch_size):
            if progress is not None:
                progress(start / len(files), f"image {start + 1} of {len(files)}")
            batch: list[tuple[Path, np.ndarray]] = []
            for file in files[start : start + self.batch_size]:
                image = _read_upload(file)
                if isinstance(image, Skipped):
                    result.notes.append(f"{file.name}: {image.reason}")
                else:
                    batch.append((file, image))
            if not batch:
                continue
            for (file, image), pred in zip(batch, predictor.predict_batch([img for _, img in batch])):
                stem = names[file]
                mask_path, overlay_path = work_dir / f"{stem}_mask.png", work_dir / f"{stem}_overlay.jpg"
                write_image(mask_path, pred.mask * 255)
                write_image(overlay_path, overlay(image, pred.mask))
                stats = pred.stats()
                height, width = pred.mask.shape
                result.image_rows.append({"file": file.name, "width": width, "height": height, **stats})
                caption = f"{file.name}: polyp area {100 * stats['area_fraction']:.1f} %"
                result.gallery += [(str(overlay_path), caption), (str(mask_path), f"{file.name}: mask")]
                result.downloads.append(str(mask_path))
        if result.image_rows:
            table = work_dir / "predictions.csv"
            write_csv(table, result.image_rows)
            result.downloads.append(str(table))

    def _video(
        self,
        predictor: Predictor,
        file: Path,
        stem: str,
        work_dir: Path,
        result: PageResult,
        progress: Callable[[float, str], None] | None,
    ) -> None:
        problem = _video_problem(file)
        if problem:
            result.notes.append(f"{file.name}: {problem}")
            return
        if progress is not None:
            progress(0.0, f"segmenting {file.name}")
        out_dir = work_dir / f"{stem}_video"
        done = predict_video(predictor, file, out_dir, batch_size=self.batch_size, progress=False)
        if isinstance(done, Skipped):
            result.notes.append(f"{file.name}: {done.reason}")
            return
        if done.note:
            result.notes.append(f"{file.name}: {done.note}")
        # predict_video writes MPEG-4 Part 2 (mp4v), which browsers do not play: re-encode as VP8.
        playable = out_dir / f"{stem}_overlay.webm"
        result.video = str(playable) if _to_webm(done.overlay, playable) else None
        if result.video is None:
            result.notes.append(
                f"{file.name}: the overlay video could not be re-encoded for the browser; download it below"
            )
        renamed = done.table.with_name(f"{stem}_frames.csv")
        done.table.rename(renamed)
        overlay_file = done.overlay.with_name(f"{stem}_overlay{done.overlay.suffix}")
        done.overlay.rename(overlay_file)
        result.downloads += [str(overlay_file), str(renamed)]
        with renamed.open(newline="") as fh:
            result.frame_rows = list(csv.DictReader(fh))


def prune_requests(work_root: Path, max_age_s: float = REQUEST_MAX_AGE_S) -> None:
    """Delete the request folders under ``work_root`` older than ``max_age_s`` (a server left
    running must not fill the disk with uploads' results)."""
    cutoff = time.time() - max_age_s
    for folder in work_root.glob("request-*"):
        try:
            if folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
        except FileNotFoundError:  # deleted meanwhile
            pass


def _unique_stems(files: Sequence[Path]) -> dict[Path, str]:
    """A distinct output stem per upload (two uploads may share a file name)."""
    seen: dict[str, int] = {}
    names = {}
    for file in files:
        count = seen.get(file.stem, 0)
        seen[file.stem] = count + 1
        names[file] = file.stem if count == 0 else f"{file.stem}_{count + 1}"
    return names


def _read_upload(file: Path) -> np.ndarray | Skipped:
    """The RGB image, or why not: the header is checked (size) before anything is decoded."""
    try:
        info = probe(file)
        if info.height * info.width > MAX_PIXELS:
            return Skipped(
                file, f"{info.width}x{info.height} pixels is over the page's limit of {MAX_PIXELS / 1e6:.0f} megapixels"
            )
        return read_image(file)
    except ReadError as err:
        return Skipped(file, str(err))
    except Exception as err:  # a decoder's own error on a hostile file must not take the page down
        return Skipped(file, f"cannot read ({type(err).__name__}: {err})")


def _video_problem(file: Path) -> str | None:
    """Why a video is refused before decoding (too many frames or pixels by its header), else None."""
    cap = cv2.VideoCapture(str(file))
    try:
        if not cap.isOpened():
            return "cannot open video (corrupt file or codec not supported by OpenCV)"
        frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        pixels = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0) * int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
    finally:
        cap.release()
    if frames > MAX_VIDEO_FRAMES:
        return f"{frames} frames is over the page's limit of {MAX_VIDEO_FRAMES}; cut the video shorter"
    if pixels > MAX_VIDEO_PIXELS:
        return f"frames of {pixels / 1e6:.1f} megapixels are over the page's limit (4K)"
    return None


def _to_webm(source: Path, target: Path) -> bool:
    """Re-encode a video as VP8 WebM (OpenCV's own FFmpeg); False when that fails."""
    cap = cv2.VideoCapture(str(source))
    writer = None
    try:
        fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            if writer is None:
                writer = cv2.VideoWriter(
                    str(target), cv2.VideoWriter_fourcc(*"VP80"), fps, (frame.shape[1], frame.shape[0])
                )
                if not writer.isOpened():
                    return False
            writer.write(frame)
    finally:
        cap.release()
        if writer is not None:
            writer.release()
    return writer is not None and target.is_file() and target.stat().st_size > 0


# --------------------------------------------------------------------------------------------
# The page


IMAGE_HEADERS = ["file", "size", "area %", "confidence", "max prob.", "regions", "boxes [x, y, w, h]"]


def _image_table(rows: list[dict[str, Any]]) -> list[list[Any]]:
    return [
        [
            r["file"],
            f"{r['width']}x{r['height']}",
            round(100 * r["area_fraction"], 2),
            round(r["confidence"], 3),
            round(r["max_probability"], 3),
            r["components"],
            r["boxes"],
        ]
        for r in rows
    ]


def build_page(analyser: DemoAnalyser, weights: str, work_root: Path, max_upload: str, tta: bool = False) -> Any:
    """The Gradio ``Blocks`` of the demo (not launched). ``weights``: Markdown saying which
    weights run; ``work_root``: where each request writes (inside the session's temporary folder);
    ``tta``: the TTA switch's initial state."""
    import tempfile

    import gradio as gr

    def run(files: list[str] | None, threshold: float, use_tta: bool, progress=gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        paths = [f if isinstance(f, str) else getattr(f, "name", str(f)) for f in (files or [])]
        if not paths:
            return ("", [], [], None, gr.update(visible=False), None, [])
        prune_requests(work_root)
        work = Path(tempfile.mkdtemp(prefix="request-", dir=work_root))
        try:
            res = analyser.analyse(paths, threshold, use_tta, work, progress=lambda f, d: progress(f, desc=d))
        except Exception as err:  # anything unforeseen: said on the page, the page stays usable
            res = PageResult(notes=[f"could not process the upload ({type(err).__name__}: {err})"])
        message = "\n".join(f"- {n}" for n in res.notes)
        if message:
            gr.Warning(f"{len(res.notes)} problem(s) with the upload: see the message box")
        frames = [
            [
                r["frame"],
                r["time_s"],
                round(100 * float(r["area_fraction"]), 2),
                r["confidence"],
                r["max_probability"],
                r["components"],
                r["boxes"],
            ]
            for r in res.frame_rows
        ]
        return (
            message,
            res.gallery,
            _image_table(res.image_rows),
            res.downloads or None,
            gr.update(visible=res.video is not None or bool(frames)),
            res.video,
            frames,
        )

    # delete_cache: Gradio's own copies of uploads, every hour, once an hour old.
    with gr.Blocks(
        title="polypnet demo", analytics_enabled=False, delete_cache=(REQUEST_MAX_AGE_S, REQUEST_MAX_AGE_S)
    ) as page:
        gr.Markdown(f"## polypnet: polyp segmentation\n**{DISCLAIMER}**\n\n{weights}")
        with gr.Row():
            with gr.Column(scale=1):
                files = gr.File(
                    label=f"Images or one video (up to {max_upload} a file)",
                    file_count="multiple",
                    file_types=sorted(IMAGE_SUFFIXES | VIDEO_SUFFIXES),
                    elem_id="uploads",
                )
                threshold = gr.Slider(
                    0.05, 0.95, value=0.5, step=0.05, label="Threshold", info="probability above which a pixel is polyp"
                )
                tta_box = gr.Checkbox(value=tta, label="Test-time augmentation (flips; 3x slower)")
                gr.Examples(
                    examples=[[[str(p)]] for p in sample_images()[:4]], inputs=[files], label="Kvasir-SEG sample images"
                )
            with gr.Column(scale=2):
                message = gr.Markdown(elem_id="message")
                gallery = gr.Gallery(
                    label="Overlay (mask tinted, outline drawn) and mask",
                    columns=2,
                    height=360,
                    object_fit="contain",
                    buttons=["download", "fullscreen"],
                    elem_id="overlays",
                )
                table = gr.Dataframe(
                    headers=IMAGE_HEADERS,
                    label="Per image",
                    interactive=False,
                    column_widths=["22%", "11%", "10%", "13%", "12%", "10%", "22%"],
                    elem_id="per-image",
                )
                downloads = gr.File(
                    label="Masks (PNG, 0/255) and tables", file_count="multiple", interactive=False, elem_id="downloads"
                )
                with gr.Column(visible=False) as video_box:
                    video = gr.Video(label="Overlay video", interactive=False, elem_id="overlay-video")
                    frames = gr.Dataframe(
                        headers=[
                            "frame",
                            "time s",
                            "area %",
                            "confidence",
                            "max prob.",
                            "regions",
                            "boxes [x, y, w, h]",
                        ],
                        label="Per frame",
                        interactive=False,
                        wrap=True,
                        max_height=300,
                        elem_id="per-frame",
                    )
        gr.on(
            [files.change, threshold.release, tta_box.change],
            run,
            inputs=[files, threshold, tta_box],
            outputs=[message, gallery, table, downloads, video_box, video, frames],
            concurrency_limit=1,
            concurrency_id="segment",
        )
    return page
