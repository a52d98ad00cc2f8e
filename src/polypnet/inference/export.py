"""Export a segmentation model to ONNX and TorchScript, and check the exports against PyTorch.

Both exports take ``image`` (B, 3, H, W) float32 in [0, 1] (RGB, resized as in training, no
mean/std) and return ``logits`` (B, 1, H, W). ONNX is exported through ``torch.export``
(``dynamo=True``) with a dynamic batch and, where the model allows, dynamic H and W (multiples of
:func:`size_multiple`); TorchScript is traced. The settings travel inside the files: ONNX
``metadata_props`` and a ``polypnet.json`` extra file in the TorchScript archive.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

Runner = Callable[[np.ndarray], np.ndarray]
#: The largest H/W (and batch) the dynamic ONNX graph admits.
MAX_DYNAMIC_SIZE = 4096
MAX_DYNAMIC_BATCH = 1024
INPUT_NAME, OUTPUT_NAME = "image", "logits"
FORMATS = ("onnx", "torchscript")


@dataclass
class ParityCheck:
    """Largest absolute difference of an export's logits from PyTorch's at one input shape."""

    shape: tuple[int, ...]
    max_abs_diff: float
    ok: bool
    error: str | None = None


@dataclass
class ExportResult:
    """One exported file: its format, which axes are dynamic, the time it took, and its checks."""

    format: str
    path: Path
    dynamic: str
    seconds: float
    checks: list[ParityCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every parity check passed."""
        return bool(self.checks) and all(c.ok for c in self.checks)


def size_multiple(model: nn.Module) -> int:
    """What H and W must be multiples of: the model's own ``size_multiple`` (IAM-UNet, the
    baselines), an smp encoder's output stride, else 32."""
    own = getattr(model, "size_multiple", None)
    if isinstance(own, int) and own > 0:
        return own
    stride = getattr(getattr(model, "encoder", None), "output_stride", None)
    return int(stride) if isinstance(stride, int) and stride > 0 else 32


def metadata(model_info: dict[str, Any], image_size: int) -> dict[str, str]:
    """What a user of the exported file needs to know, as strings."""
    return {
        "polypnet.model": str(model_info.get("model") or ""),
        "polypnet.model_kwargs": json.dumps(model_info.get("model_kwargs") or {}),
        "polypnet.source": str(model_info.get("source") or ""),
        "polypnet.image_size": str(image_size),
        "polypnet.input": "image: float32 (B, 3, H, W), RGB scaled to [0, 1] (/255, no mean/std), "
        f"resized to {image_size}x{image_size} as in training",
        "polypnet.output": "logits: float32 (B, 1, H, W); sigmoid for probabilities; mask = probability > 0.5",
    }


def export_onnx(
    model: nn.Module,
    path: str | Path,
    image_size: int = 256,
    dynamic: bool = True,
    opset: int | None = None,
    meta: dict[str, str] | None = None,
) -> tuple[Path, str]:
    """Write ``model`` as ONNX; returns the path and which axes are dynamic.

    With ``dynamic``, batch, H and W are tried first; a model that does not export that way falls
    back to a dynamic batch only, then to fixed shapes.
    """
    import onnx

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval().cpu()
    example = (torch.randn(1, 3, image_size, image_size),)
    attempts: list[tuple[str, Any]] = [("static", None)]
    if dynamic:
        m = size_multiple(model)
        batch = torch.export.Dim("batch", min=1, max=MAX_DYNAMIC_BATCH)
        h = torch.export.Dim("h", min=1, max=MAX_DYNAMIC_SIZE // m)
        w = torch.export.Dim("w", min=1, max=MAX_DYNAMIC_SIZE // m)
        attempts = [
            (f"batch, height, width (multiples of {m})", ({0: batch, 2: m * h, 3: m * w},)),
            ("batch", ({0: batch},)),
            *attempts,
        ]
    errors = []
    for described, shapes in attempts:
        kwargs = {"opset_version": opset} if opset else {}
        try:
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    model,
                    example,
                    str(path),
                    input_names=[INPUT_NAME],
                    output_names=[OUTPUT_NAME],
                    dynamic_shapes=shapes,
                    dynamo=True,
                    verbose=False,
                    external_data=False,
                    **kwargs,
                )  # one self-contained file (a few MiB)
        except Exception as err:  # the exporter raises many types; the next attempt is less dynamic
            errors.append(f"{described}: {type(err).__name__}: {' '.join(str(err).split())[:300]}")
            continue
        if meta:
            proto = onnx.load(str(path))
            for key, value in meta.items():
                entry = proto.metadata_props.add()
                entry.key, entry.value = key, value
            onnx.save(proto, str(path))
        return path, described
    raise RuntimeError("ONNX export failed: " + " | ".join(errors))


def _ignore_torchscript_deprecation() -> None:
    """Inside ``warnings.catch_warnings()``: torch deprecates ``torch.jit`` (trace, load, ...) in
    favour of ``torch.export``; TorchScript files still work and are what many deployments take,
    so that one warning is silenced, and any other (a TracerWarning) still shows."""
    warnings.filterwarnings("ignore", message=r"`torch\.jit\.\w+` is deprecated", category=FutureWarning)


def export_torchscript(
    model: nn.Module, path: str | Path, image_size: int = 256, meta: dict[str, str] | None = None
) -> Path:
    """Trace ``model`` on a (1, 3, S, S) input and save it (with ``meta`` as ``polypnet.json``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval().cpu()
    with warnings.catch_warnings(), torch.no_grad():
        _ignore_torchscript_deprecation()
        # check_trace re-runs and compares the trace; the parity check below does that at several shapes.
        traced = torch.jit.trace(model, torch.randn(1, 3, image_size, image_size), check_trace=False)
        torch.jit.save(traced, str(path), _extra_files={"polypnet.json": json.dumps(meta or {})})
    return path


def onnx_runner(path: str | Path) -> Runner:
    """A function running the ONNX file in onnxruntime (CPU): image array -> logits array."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda x: session.run(None, {INPUT_NAME: x})[0]


def torchscript_runner(path: str | Path) -> Runner:
    """A function running the saved TorchScript module: image array -> logits array."""
    with warnings.catch_warnings():
        _ignore_torchscript_deprecation()
        module = torch.jit.load(str(path), map_location="cpu").eval()

    def run(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return module(torch.from_numpy(x)).numpy()

    return run


def parity_shapes(image_size: int, multiple: int, dynamic: bool) -> list[tuple[int, int, int, int]]:
    """Shapes to compare at: the export's own, and with ``dynamic`` a batch of 2 at another,
    non-square H x W (still multiples of ``multiple``)."""
    shapes = [(1, 3, image_size, image_size)]
    if dynamic:
        shapes.append((2, 3, max(multiple, image_size - multiple), image_size + 2 * multiple))
    return shapes


def check_parity(
    model: nn.Module, runner: Runner, shapes: list[tuple[int, ...]], atol: float = 1e-4
) -> list[ParityCheck]:
    """Compare ``runner`` with ``model`` on random inputs of each shape (a failure is a result)."""
    model = model.eval().cpu()
    generator = torch.Generator().manual_seed(0)
    checks = []
    for shape in shapes:
        x = torch.rand(*shape, generator=generator)
        with torch.no_grad():
            expected = model(x).numpy()
        try:
            got = np.asarray(runner(x.numpy()))
        except Exception as err:
            checks.append(
                ParityCheck(
                    tuple(shape), float("nan"), False, f"{type(err).__name__}: {' '.join(str(err).split())[:200]}"
                )
            )
            continue
        if got.shape != expected.shape:
            checks.append(
                ParityCheck(tuple(shape), float("nan"), False, f"output shape {got.shape}, expected {expected.shape}")
            )
            continue
        diff = float(np.abs(got - expected).max())
        checks.append(ParityCheck(tuple(shape), diff, diff <= atol))
    return checks


def export_path(out_dir: str | Path, name: str, fmt: str) -> Path:
    """The file ``export`` writes for one format: ``NAME.onnx`` or ``NAME.torchscript.pt``."""
    return Path(out_dir) / (f"{name}.onnx" if fmt == "onnx" else f"{name}.torchscript.pt")


def export(
    model: nn.Module,
    out_dir: str | Path,
    name: str,
    formats: tuple[str, ...] = FORMATS,
    image_size: int = 256,
    dynamic: bool = True,
    opset: int | None = None,
    atol: float = 1e-4,
    model_info: dict[str, Any] | None = None,
) -> list[ExportResult]:
    """Export to each of ``formats`` (``onnx``: ``NAME.onnx``; ``torchscript``: ``NAME.torchscript.pt``)
    and check each file against PyTorch."""
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"unknown export format {unknown[0]!r}; choose from {', '.join(FORMATS)}")
    out_dir = Path(out_dir)
    meta = metadata(model_info or {}, image_size)
    multiple = size_multiple(model)
    results = []
    for fmt in formats:
        start = time.perf_counter()
        if fmt == "onnx":
            path, dyn = export_onnx(model, export_path(out_dir, name, fmt), image_size, dynamic, opset, meta)
            runner = onnx_runner(path)
        else:
            path = export_torchscript(model, export_path(out_dir, name, fmt), image_size, meta)
            dyn = f"traced at {(1, 3, image_size, image_size)}; other shapes not checked"
            runner = torchscript_runner(path)
        seconds = time.perf_counter() - start
        own, other = parity_shapes(image_size, multiple, dynamic=True)
        checks = check_parity(model, runner, [own], atol)
        if fmt == "onnx" and dyn.startswith("batch"):  # the graph claims dynamic axes: hold it to that
            checks += check_parity(model, runner, [other if dyn != "batch" else (2, *own[1:])], atol)
        elif fmt == "torchscript" and dynamic:
            # A trace may bake sizes in; only a run at another shape tells, and it is reported, not failed.
            extra = check_parity(model, runner, [other], atol)[0]
            if extra.ok:
                checks.append(extra)
                dyn = "batch, height, width (traced; checked at a second shape)"
            else:
                dyn = (
                    f"fixed shape {own} only (at {extra.shape}: {extra.error or f'max diff {extra.max_abs_diff:.2e}'})"
                )
        results.append(ExportResult(fmt, path, dyn, seconds, checks))
    return results
