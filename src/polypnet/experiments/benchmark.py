"""Speed measurements: FLOPs, latency, throughput, training speed, memory, and the machine's limits.

Each measurement runs the same way for every model so that ratios against a peer in the same run
mean something; absolute numbers depend on the machine and its load.
"""

from __future__ import annotations

import resource
import statistics
import time
from typing import Any, Callable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ..inference.backends import Segmenter


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


def inference_modes(model: nn.Module, onnx: bool = True) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """The inference variants compared: eager NCHW, channels_last, BN folded + channels_last, ONNX Runtime."""
    eager = model.eval()
    cl = fold_free_channels_last(model)
    modes: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
        "eager_nchw": lambda x: eager(x),
        "channels_last": lambda x: cl(x.contiguous(memory_format=torch.channels_last)),
        "bn_folded_channels_last": Segmenter(model, backend="torch").logits,
    }
    if onnx:
        modes["onnxruntime"] = Segmenter(model, backend="onnxruntime").logits
    return modes


def fold_free_channels_last(model: nn.Module) -> nn.Module:
    """A channels_last eval copy of ``model`` (no folding), for the channels_last-only row."""
    import copy

    return copy.deepcopy(model).eval().to(memory_format=torch.channels_last)


def latency(fn: Callable[[torch.Tensor], torch.Tensor], batch: int, size: int, warmup: int, runs: int) -> dict[str, float]:
    """Latency statistics of ``fn`` on a (batch, 3, size, size) input, plus images per second."""
    x = torch.rand(batch, 3, size, size)
    with torch.inference_mode():
        stats = summarize_times(time_calls(lambda: fn(x), warmup, runs))
    stats["images_per_s"] = batch / (stats["median_ms"] / 1000)
    return stats


def training_step(model: nn.Module, batch: int, size: int, channels_last: bool, bf16: bool = False) -> Callable[[], None]:
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


#: The training-speed variants: (name, channels_last, bf16 autocast).
TRAIN_FORMATS = (("nchw", False, False), ("channels_last", True, False), ("bf16_channels_last", True, True))


def training_speed(model: nn.Module, batch: int, size: int, steps: int, channels_last: bool, bf16: bool = False) -> float:
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
        {"op": e.key, "calls_per_image": e.count / calls, "ms_per_image": e.self_cpu_time_total / calls / 1000,
         "percent": 100 * e.self_cpu_time_total / total}
        for e in events[:top]
    ]


def profile_ops(fn: Callable[[torch.Tensor], torch.Tensor], size: int, runs: int = 10, top: int = 12) -> list[dict[str, Any]]:
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
