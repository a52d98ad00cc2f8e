"""Speed measurements: FLOPs, latency, throughput, training speed, memory, and the machine's limits.

Each measurement runs the same way for every model so that ratios against a peer in the same run
mean something; absolute numbers depend on the machine and its load.
"""

from __future__ import annotations

import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ..inference.backends import (
    BACKENDS,
    PRECISIONS,
    Calibration,
    Segmenter,
    backend_available,
    cpu_has_bf16,
    onnx_session_options,
    openvino_core,
)


def flops_per_image(model: nn.Module, size: int = 256) -> int:
    """Forward FLOPs for one (1, 3, size, size) image (a multiply-add counts 2)."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model.eval()(torch.zeros(1, 3, size, size))
    return int(counter.get_total_flops())


def activation_bytes(model: nn.Module, size: int = 256) -> int:
    """Bytes written by the leaf modules in one forward pass of one image: a lower bound of the
    memory traffic (each written tensor is read at least once more)."""
    total = 0

    def hook(_m: nn.Module, _i: Any, out: Any) -> None:
        nonlocal total
        if isinstance(out, torch.Tensor):
            total += out.numel() * out.element_size()

    handles = [m.register_forward_hook(hook) for m in model.modules() if not list(m.children())]
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, 3, size, size))
    finally:
        for h in handles:
            h.remove()
    return total


def time_calls(fn: Callable[[], Any], warmup: int, runs: int) -> list[float]:
    """Wall seconds of ``runs`` calls of ``fn`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def summarize_times(times: list[float]) -> dict[str, float]:
    """Median and 90th percentile in milliseconds."""
    ordered = sorted(times)
    p90 = ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]
    return {"median_ms": 1000 * statistics.median(ordered), "p90_ms": 1000 * p90}


def mode_key(backend: str, precision: str) -> str:
    """``backend/precision``: the key of one inference mode in a record."""
    return f"{backend}/{precision}"


#: The baseline row: the model as trained, eager NCHW, nothing folded.
EAGER = "eager_nchw"
#: ONNX Runtime with its own thread defaults, beside torch: the thread-contention row.
ORT_DEFAULTS = "onnxruntime/fp32-ort-defaults"


def backend_modes(
    model: nn.Module,
    threads: int,
    backends: tuple[str, ...] = BACKENDS,
    calibration: Calibration | None = None,
    calibration_tag: str | None = None,
    work_dir: Path | None = None,
) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """Logit functions of every installed backend x precision (bf16 only where the CPU has it;
    int8 only with ``calibration``), plus eager NCHW and, with onnxruntime and ``work_dir``, ONNX
    Runtime on its own thread defaults (:data:`ORT_DEFAULTS`), all in this process."""
    modes: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {EAGER: model.eval()}
    bf16 = cpu_has_bf16()
    for backend in backends:
        if not backend_available(backend):
            continue
        for precision in PRECISIONS[backend]:
            if (precision == "bf16" and not bf16) or (precision == "int8" and calibration is None):
                continue
            onnx_path = work_dir / "model.onnx" if work_dir is not None and backend == "onnxruntime" else None
            seg = Segmenter(
                model,
                backend,
                precision,
                threads=threads,
                calibration=calibration,  # type: ignore[arg-type]
                calibration_tag=calibration_tag,
                onnx_path=onnx_path,
            )
            modes[mode_key(backend, precision)] = seg.logits
            if backend == "onnxruntime" and onnx_path is not None:
                modes[ORT_DEFAULTS] = _ort_defaults(onnx_path)
    return modes


def ran_one_by_one(fn: Callable[[torch.Tensor], torch.Tensor]) -> bool:
    """Whether ``fn``, a mode of :func:`backend_modes`, has run a batch as batch-1 calls because
    OpenVINO's CPU plugin could not compile that batch shape (its throughput is then batch 1's)."""
    runner = getattr(getattr(fn, "__self__", None), "runner", None)
    return bool(runner is not None and runner.one_by_one)


def _ort_defaults(onnx_path: Path) -> Callable[[torch.Tensor], torch.Tensor]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), onnx_session_options(None), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda x: torch.from_numpy(session.run(None, {name: x.numpy()})[0])


def openvino_profile(
    model: nn.Module, precision: str, size: int, threads: int, runs: int = 20, calibration_tag: str | None = None
) -> list[dict[str, Any]]:
    """Where OpenVINO's batch-1 time goes: milliseconds per image by (layer type, kernel), most
    first, from OpenVINO's own per-layer counters (int8 reads the cache: run that mode first)."""
    seg = Segmenter(model, "openvino", precision, threads=threads, calibration_tag=calibration_tag)  # type: ignore[arg-type]
    runner = seg.runner
    static = runner.model.clone()
    static.reshape({0: [1, 3, size, size]})
    request = openvino_core().compile_model(static, "CPU", {**runner.config, "PERF_COUNT": True}).create_infer_request()
    x = np.random.default_rng(0).random((1, 3, size, size), dtype=np.float32)
    for _ in range(3):
        request.infer({0: x})
    totals: dict[tuple[str, str], list[float]] = {}
    for _ in range(runs):
        request.infer({0: x})
        for info in request.get_profiling_info():
            entry = totals.setdefault((info.node_type, info.exec_type), [0.0, 0])
            entry[0] += info.real_time.total_seconds() * 1000
            entry[1] += 1
    total = sum(v[0] for v in totals.values()) or 1.0
    rows = [
        {
            "layer": k[0],
            "kernel": k[1],
            "ms_per_image": v[0] / runs,
            "layers": int(v[1] // runs),
            "percent": 100 * v[0] / total,
        }
        for k, v in totals.items()
        if v[0] > 0
    ]
    return sorted(rows, key=lambda r: r["ms_per_image"], reverse=True)


def test_f1(segmenter: Segmenter, dataset: Any, batch_size: int = 8) -> float:
    """Global F1 (Dice) of ``segmenter``'s masks (logit > 0, probability > 0.5) on ``dataset``,
    with the metrics training and evaluation use."""
    from torch.utils.data import DataLoader

    from ..models.outputs import logit_threshold
    from ..training.metrics import segmentation_metrics

    metrics, cut = segmentation_metrics(), logit_threshold(0.5)
    for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False):
        metrics.update((segmenter.logits(batch["image"]) > cut).long(), batch["mask"].long())
    return float(metrics.compute()["dice_global"])


def latency(
    fn: Callable[[torch.Tensor], torch.Tensor], batch: int, size: int, warmup: int, runs: int
) -> dict[str, float]:
    """Latency statistics of ``fn`` on a (batch, 3, size, size) input, plus images per second."""
    x = torch.rand(batch, 3, size, size)
    with torch.inference_mode():
        stats = summarize_times(time_calls(lambda: fn(x), warmup, runs))
    stats["images_per_s"] = batch / (stats["median_ms"] / 1000)
    return stats


def latency_interleaved(
    fns: dict[str, Callable[[torch.Tensor], torch.Tensor]], batch: int, size: int, warmup: int, runs: int
) -> dict[str, dict[str, float]]:
    """``latency`` of several functions, their timed calls taken in turn (A, B, C, A, B, C, ...)
    so that a change in the machine's load falls on all of them alike."""
    x = torch.rand(batch, 3, size, size)
    times: dict[str, list[float]] = {name: [] for name in fns}
    with torch.inference_mode():
        for fn in fns.values():
            for _ in range(warmup):
                fn(x)
        for _ in range(runs):
            for name, fn in fns.items():
                start = time.perf_counter()
                fn(x)
                times[name].append(time.perf_counter() - start)
    out = {}
    for name, t in times.items():
        stats = summarize_times(t)
        stats["images_per_s"] = batch / (stats["median_ms"] / 1000)
        out[name] = stats
    return out


def training_step(
    model: nn.Module, batch: int, size: int, channels_last: bool, bf16: bool = False
) -> Callable[[], None]:
    """One training step on fixed random data (forward, Dice-like loss, backward, Adam step);
    ``bf16``: the forward pass under bfloat16 autocast, as Lightning's ``bf16-mixed`` runs it."""
    model = model.train()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(batch, 3, size, size)
    y = (torch.rand(batch, 1, size, size) > 0.5).float()
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(x)
        p = torch.sigmoid(logits.float())
        loss = 1 - 2 * (p * y).sum() / (p.sum() + y.sum() + 1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


#: The training-speed variants: (name, channels_last, bf16 autocast). Both layouts in both
#: precisions, so that the layout's gain is measured in each.
TRAIN_FORMATS = (
    ("nchw", False, False),
    ("channels_last", True, False),
    ("bf16_nchw", False, True),
    ("bf16_channels_last", True, True),
)


def training_speed(
    model: nn.Module, batch: int, size: int, steps: int, channels_last: bool, bf16: bool = False
) -> float:
    """Training images per second (forward, Dice-like loss, backward, Adam step)."""
    times = time_calls(training_step(model, batch, size, channels_last, bf16), warmup=1, runs=steps)
    return batch / statistics.median(times)


def top_operators(fn: Callable[[], Any], calls: int, top: int = 12) -> list[dict[str, Any]]:
    """The ``top`` operators of ``calls`` calls of ``fn`` by self CPU time, per call and in percent."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(calls):
            fn()
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events)
    events.sort(key=lambda e: e.self_cpu_time_total, reverse=True)
    return [
        {
            "op": e.key,
            "calls_per_image": e.count / calls,
            "ms_per_image": e.self_cpu_time_total / calls / 1000,
            "percent": 100 * e.self_cpu_time_total / total,
        }
        for e in events[:top]
    ]


def profile_ops(
    fn: Callable[[torch.Tensor], torch.Tensor], size: int, runs: int = 10, top: int = 12
) -> list[dict[str, Any]]:
    """Where batch-1 time goes: the ``top`` operators by self CPU time, in ms per call and percent."""
    x = torch.rand(1, 3, size, size)
    with torch.inference_mode():
        for _ in range(2):
            fn(x)
        return top_operators(lambda: fn(x), runs, top)


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (MiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def matmul_gflops(n: int = 2048, runs: int = 5) -> float:
    """This CPU's reachable fp32 compute: GFLOP/s of an n x n matmul (median of ``runs``)."""
    a, b = torch.rand(n, n), torch.rand(n, n)
    times = time_calls(lambda: a @ b, warmup=2, runs=runs)
    return 2 * n**3 / statistics.median(times) / 1e9


def copy_gbps(mib: int = 256, runs: int = 5) -> float:
    """This machine's memory bandwidth: GB/s moved by a large tensor copy (read + write)."""
    src = torch.rand(mib * 2**20 // 4)
    dst = torch.empty_like(src)
    times = time_calls(lambda: dst.copy_(src), warmup=1, runs=runs)
    return 2 * src.numel() * 4 / statistics.median(times) / 1e9
