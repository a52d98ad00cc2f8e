"""Fast inference: ``Segmenter`` turns float image batches into polyp probabilities on one of
three CPU runtimes, at one of three precisions.

* ``torch``: every BatchNorm that follows a convolution is folded into it (the pre-activation BNs
  of IAM-UNet's blocks B/C and decoder cannot be: a ReLU sits in between), channels_last, no
  autograd; ``bf16`` runs under bfloat16 autocast.
* ``onnxruntime``: the model exported once to ONNX (``fp32`` only).
* ``openvino``: the model converted once by ``openvino.convert_model`` and compiled for each
  input shape it meets (a static shape runs faster than the dynamic graph); ``bf16`` is OpenVINO's
  bf16 inference precision (where the CPU has bf16 instructions); ``int8`` is NNCF post-training
  quantisation calibrated on images the caller passes (training images, never test ones).

The converted and the quantised OpenVINO models are cached on disk under :func:`cache_dir`,
keyed by a hash of the weights (and, for int8, of the caller's calibration tag), because
converting takes ~15 s and calibrating a minute or more on two cores.

Threads: every backend runs on ``threads`` intra-op threads (default: ``torch.get_num_threads()``).
ONNX Runtime's pool is told so explicitly and told not to spin, and the non-torch backends never
touch torch's pool: a spinning pool beside a working one halves the speed of both on two cores.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import importlib.util
import os
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

Backend = Literal["torch", "onnxruntime", "openvino"]
Precision = Literal["fp32", "bf16", "int8"]
#: Each backend's precisions.
PRECISIONS: dict[str, tuple[str, ...]] = {
    "torch": ("fp32", "bf16"),
    "onnxruntime": ("fp32",),
    "openvino": ("fp32", "bf16", "int8"),
}
BACKENDS = tuple(PRECISIONS)
#: The Python module each backend needs (``int8`` also needs ``nncf`` on a cache miss).
_RUNTIME_MODULE = {"torch": "torch", "onnxruntime": "onnxruntime", "openvino": "openvino"}
#: OpenVINO compiled models kept per Segmenter (one per input shape seen).
_MAX_COMPILED_SHAPES = 4

Calibration = Callable[[], Iterable[np.ndarray]]
#: Names the backend "auto" picks, overriding :func:`default_backend`.
BACKEND_ENV = "POLYPNET_BACKEND"


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """An eval-mode copy of ``model`` with each conv -> BatchNorm pair fused into one conv.

    Uses torch.fx; a model that FX cannot trace is returned as an unfused eval copy, with a warning.
    """
    from torch.fx.experimental.optimization import fuse

    model = copy.deepcopy(model).eval()
    try:
        return fuse(model, inplace=True)
    except Exception as err:  # FX tracing fails in many ways on third-party models
        warnings.warn(f"BatchNorm folding skipped: {type(model).__name__} is not FX-traceable ({err})", stacklevel=2)
        return model


def count_batchnorms(model: nn.Module) -> int:
    """Number of BatchNorm layers left in ``model``."""
    return sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def backend_available(backend: str) -> bool:
    """Whether ``backend``'s runtime is installed."""
    if backend not in _RUNTIME_MODULE:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    return importlib.util.find_spec(_RUNTIME_MODULE[backend]) is not None


def cpu_has_bf16() -> bool:
    """Whether this CPU has bfloat16 instructions (AVX512-BF16 or AMX); without them bf16 is
    emulated (slower than fp32), so the ``bf16`` precisions are not worth running."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: ask OpenVINO when it is there
        if not backend_available("openvino"):
            return False
        return "BF16" in openvino_core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return "avx512_bf16" in flags or "amx_bf16" in flags


@functools.cache
def openvino_core() -> Any:  # -> openvino.Core
    """The process's one ``openvino.Core``, shared by every model it reads and compiles: OpenVINO
    advises one Core an application, and a second one has crashed processes on some builds
    (openvinotoolkit/openvino#35338)."""
    import openvino as ov

    return ov.Core()


def check_choice(backend: str, precision: str) -> None:
    """ValueError unless ``precision`` is one of ``backend``'s."""
    if backend not in PRECISIONS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if precision not in PRECISIONS[backend]:
        raise ValueError(f"backend {backend!r} runs {', '.join(PRECISIONS[backend])}, not {precision!r}")


def default_backend(device: str | torch.device = "cpu") -> tuple[str, str]:
    """The fastest (backend, precision) that keeps accuracy here: OpenVINO in bf16 where the CPU
    has bf16 instructions, else OpenVINO fp32; torch fp32 off the CPU or without OpenVINO.

    From ``polypnet benchmark`` (results/benchmark/cpu.json): OpenVINO beat torch and ONNX Runtime
    at batch 1, bf16 kept the shipped weights' test F1, and NNCF int8 lost more than 0.3 points
    (and time), so int8 is never the default. ``$POLYPNET_BACKEND`` (a backend name) overrides
    this choice (at fp32).
    """
    forced = os.environ.get(BACKEND_ENV)
    if forced:  # e.g. POLYPNET_BACKEND=torch keeps a test suite or a bug hunt on one runtime
        check_choice(forced, "fp32")
        return forced, "fp32"
    if torch.device(device).type != "cpu" or not backend_available("openvino"):
        return "torch", "fp32"
    return "openvino", "bf16" if cpu_has_bf16() else "fp32"


def resolve_backend(
    backend: str = "auto", precision: str = "auto", device: str | torch.device = "cpu"
) -> tuple[str, str]:
    """``backend`` and ``precision`` with ``"auto"`` filled in: the backend by
    :func:`default_backend`; the precision by the default's when the backends agree, else fp32.
    ValueError for a pair that does not exist (e.g. onnxruntime bf16)."""
    best_backend, best_precision = default_backend(device)
    backend = best_backend if backend == "auto" else backend
    if precision == "auto":
        precision = best_precision if backend == best_backend else "fp32"
    check_choice(backend, precision)
    return backend, precision


def model_digest(model: nn.Module) -> str:
    """A short hash of ``model``'s class and state dict: the key of its cached conversions."""
    h = hashlib.sha256(f"{type(model).__module__}.{type(model).__qualname__}".encode())
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def cache_dir() -> Path:
    """Where converted models are cached: ``$POLYPNET_CACHE``, else ``$XDG_CACHE_HOME/polypnet``,
    else ``~/.cache/polypnet``."""
    if os.environ.get("POLYPNET_CACHE"):
        return Path(os.environ["POLYPNET_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "polypnet"


class Segmenter:
    """Probabilities (B, 1, H, W) from float images (B, 3, H, W) in [0, 1].

    Args:
        model: any segmentation network returning logits (e.g. ``create_model("iam_unet")``).
        backend: ``"torch"``, ``"onnxruntime"`` or ``"openvino"``.
        precision: ``"fp32"``, ``"bf16"`` (torch, openvino) or ``"int8"`` (openvino).
        threads: intra-op threads of the runtime (default ``torch.get_num_threads()``).
        calibration: for ``int8`` on a cache miss: a function returning (1, 3, H, W) float32
            arrays in [0, 1] of TRAINING images (a few hundred at most).
        calibration_tag: names the calibration set in the int8 cache key (e.g. the dataset, split
            and count); without it the quantised model is not cached.
        fold_bn: fold BatchNorm into convs (torch backend).
        channels_last: run in channels_last memory format (torch backend).
        onnx_path: where the onnxruntime backend writes (or finds, if it exists) the ONNX file;
            default: a temporary file.
        device: torch device for the torch backend.
        cache: keep converted OpenVINO models under :func:`cache_dir`.
    """

    def __init__(
        self,
        model: nn.Module,
        backend: Backend = "torch",
        precision: Precision = "fp32",
        *,
        threads: int | None = None,
        calibration: Calibration | None = None,
        calibration_tag: str | None = None,
        fold_bn: bool = True,
        channels_last: bool = True,
        onnx_path: str | Path | None = None,
        device: str | torch.device = "cpu",
        cache: bool = True,
    ) -> None:
        check_choice(backend, precision)
        if backend != "torch" and torch.device(device).type != "cpu":
            raise ValueError(f"backend {backend!r} runs on the CPU only, not on {device}")
        if not backend_available(backend):
            raise ImportError(
                f"backend {backend!r} needs the {_RUNTIME_MODULE[backend]} package (pip install polypnet)"
            )
        self.backend, self.precision = backend, precision
        self.threads = int(threads or torch.get_num_threads())
        self.device = torch.device(device)
        self.channels_last = channels_last and backend == "torch"
        self.net: nn.Module | None = None
        self._run: Callable[[np.ndarray], np.ndarray] | None = None
        self.runner: _OpenVinoRunner | None = None  # the OpenVINO model and its settings
        if backend == "torch":
            net = fold_batchnorm(model) if fold_bn else copy.deepcopy(model).eval()
            net = net.to(self.device)
            if self.channels_last:
                net = net.to(memory_format=torch.channels_last)
            self.net = net
        elif backend == "onnxruntime":
            self._run = _onnx_runner(model, onnx_path, self.threads)
        else:
            ov_model = _openvino_model(model, precision, calibration, calibration_tag, cache)
            # int8: the layers left unquantised run in f32 (bf16 there cost accuracy and time here).
            self.runner = _OpenVinoRunner(ov_model, "bf16" if precision == "bf16" else "f32", self.threads)
            self._run = self.runner

    def __repr__(self) -> str:
        return f"Segmenter(backend={self.backend!r}, precision={self.precision!r}, threads={self.threads})"

    @torch.inference_mode()
    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """Raw logits (B, 1, H, W), float32."""
        if images.dim() != 4:
            raise ValueError(f"expected a batch (B, 3, H, W), got shape {tuple(images.shape)}")
        if self._run is not None:
            return torch.from_numpy(self.logits_numpy(images.float().cpu().numpy()))
        assert self.net is not None
        x = images.to(self.device, torch.float32)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            return self.net(x).float()

    def logits_numpy(self, images: np.ndarray) -> np.ndarray:
        """Raw logits (B, 1, H, W) float32 of a float32 array; for the non-torch backends this never
        enters torch, so torch's thread pool stays asleep."""
        if self._run is None:
            return self.logits(torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))).numpy()
        if images.ndim != 4:
            raise ValueError(f"expected a batch (B, 3, H, W), got shape {tuple(images.shape)}")
        return self._run(np.ascontiguousarray(images, dtype=np.float32))

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """Probabilities (B, 1, H, W)."""
        return torch.sigmoid(self.logits(images))


def _onnx_runner(model: nn.Module, onnx_path: str | Path | None, threads: int) -> Callable[[np.ndarray], np.ndarray]:
    import tempfile

    import onnxruntime as ort

    from .export import export_onnx

    if onnx_path is None:
        onnx_path = Path(tempfile.mkdtemp(prefix="polypnet-")) / "model.onnx"
    onnx_path = Path(onnx_path)
    if not onnx_path.is_file():
        export_onnx(fold_batchnorm(model), onnx_path)
    session = ort.InferenceSession(str(onnx_path), onnx_session_options(threads), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x})[0]


def onnx_session_options(threads: int | None):  # -> onnxruntime.SessionOptions
    """Session options with ``threads`` intra-op threads, one inter-op thread, and no spinning;
    ``None``: ONNX Runtime's defaults (a pool of one thread per core that spins between calls)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # A spinning pool steals the core that torch (or the video decoder) needs next.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def _convert_openvino(model: nn.Module):  # -> openvino.Model
    import openvino as ov

    net = copy.deepcopy(model).eval().cpu()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings of third-party models
        return ov.convert_model(net, example_input=torch.rand(1, 3, 256, 256), input=[(-1, 3, -1, -1)])


def _openvino_model(
    model: nn.Module, precision: str, calibration: Calibration | None, tag: str | None, cache: bool
):  # -> openvino.Model
    """The converted (and for ``int8`` quantised) model, from the cache when it is there."""
    digest = model_digest(model) if cache else ""
    folder = cache_dir() / "openvino"
    fp32_path = folder / f"{digest}.xml"
    core = openvino_core()
    if precision == "int8":
        tag_hash = hashlib.sha256(tag.encode()).hexdigest()[:12] if tag else None
        int8_path = folder / f"{digest}-int8-{tag_hash}.xml"
        if cache and tag_hash and int8_path.is_file():
            return core.read_model(int8_path)
        if calibration is None:
            raise ValueError("int8 needs calibration images (training images) on its first run: pass calibration=")
    if cache and fp32_path.is_file():
        ov_model = core.read_model(fp32_path)
    else:
        ov_model = _convert_openvino(model)
        if cache:
            _save_openvino(ov_model, fp32_path)
    if precision != "int8":
        return ov_model
    assert calibration is not None
    quantised = quantize_int8(ov_model, calibration)
    if cache and tag_hash:
        _save_openvino(quantised, int8_path)
    return quantised


def _save_openvino(ov_model: Any, path: Path) -> None:
    """Save atomically (a half-written cache entry from a killed run would be read next time)."""
    import openvino as ov

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.xml")
    ov.save_model(ov_model, tmp, compress_to_fp16=False)
    tmp.with_suffix(".bin").replace(path.with_suffix(".bin"))
    tmp.replace(path)


def quantize_int8(ov_model: Any, calibration: Calibration) -> Any:
    """NNCF post-training quantisation of ``ov_model`` (mixed preset: symmetric weights,
    asymmetric activations) calibrated on the arrays ``calibration()`` yields."""
    try:
        import nncf
    except ImportError:
        raise ImportError("int8 needs NNCF: pip install 'polypnet[int8]'") from None
    samples = [np.ascontiguousarray(x, dtype=np.float32) for x in calibration()]
    if not samples:
        raise ValueError("int8 calibration yielded no images")
    return nncf.quantize(
        ov_model,
        nncf.Dataset(samples),
        subset_size=len(samples),
        preset=nncf.QuantizationPreset.MIXED,
        fast_bias_correction=True,
    )


class _OpenVinoRunner:
    """Runs an OpenVINO model on CPU, compiled once per input shape (static shapes run faster
    than the dynamic graph), on ``threads`` threads in one stream (latency, batch 1)."""

    def __init__(self, ov_model: Any, inference_precision: str, threads: int) -> None:
        self.core, self.model = openvino_core(), ov_model
        # Always set: on a bf16 CPU OpenVINO's own default is bf16, even for "fp32".
        self.config = {
            "INFERENCE_PRECISION_HINT": inference_precision,
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_NUM_THREADS": threads,
            "NUM_STREAMS": 1,
        }
        self.requests: OrderedDict[tuple[int, ...], Any] = OrderedDict()
        #: Batch shapes the CPU plugin could not compile; their images run one at a time.
        self.one_by_one: set[tuple[int, ...]] = set()

    def request(self, shape: tuple[int, ...]) -> Any:
        """The infer request compiled for ``shape`` (the least recently used one dropped past a few)."""
        if shape not in self.requests:
            static = self.model.clone()
            static.reshape({0: list(shape)})
            self.requests[shape] = self.core.compile_model(static, "CPU", self.config).create_infer_request()
            if len(self.requests) > _MAX_COMPILED_SHAPES:
                self.requests.popitem(last=False)
        self.requests.move_to_end(shape)
        return self.requests[shape]

    def _batch_request(self, shape: tuple[int, ...]) -> Any | None:
        """``request(shape)``, or None where the CPU plugin cannot compile this batch shape.

        OpenVINO's CPU plugin can find no kernel for a batch shape that it compiles at batch 1
        ("No suitable implementations found": IAM-UNet at batch 2 on an AVX2-only CPU, OpenVINO
        2026.4); such a batch then runs as batch-1 calls, and the shape is not tried again.
        """
        if shape in self.one_by_one:
            return None
        try:
            return self.request(shape)
        except RuntimeError:
            if shape[0] == 1:
                raise
            self.one_by_one.add(shape)
            return None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        request = self._batch_request(tuple(x.shape))
        if request is None:
            return np.concatenate([self(x[i : i + 1]) for i in range(len(x))])
        request.infer({0: x}, share_inputs=True)
        return request.get_output_tensor(0).data.copy()
