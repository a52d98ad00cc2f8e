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
    import openvino as ov

    seg = Segmenter(model, "openvino", precision, threads=threads, calibration_tag=calibration_tag)  # type: ignore[arg-type]
    runner = seg.runner
    static = runner.model.clone()
    static.reshape({0: [1, 3, size, size]})
    request = ov.Core().compile_model(static, "CPU", {**runner.config, "PERF_COUNT": True}).create_infer_request()
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


def _ms(v: float) -> str:
    return f"{v:.1f}"


def performance_markdown(record: dict[str, Any]) -> str:
    """docs/performance.md from a ``polypnet benchmark`` record (every number read from it)."""
    m = record.get("machine", {})
    lines = [
        "# Inference speed on a CPU",
        "",
        f"Generated from a `polypnet benchmark` record by `performance_markdown`; command: `{record['command']}`.",
        f"{record.get('note', '')}. Re-render without measuring: "
        "`polypnet benchmark --render RECORD --markdown docs/performance.md`.",
        "",
        f"Machine: {m.get('cpu')}, {m.get('logical_cpus')} logical CPUs, {m.get('threads')} threads per backend, "
        f"bf16 instructions: {'yes' if m.get('bf16_instructions') else 'no'}; "
        f"matmul {m.get('matmul_gflops', 0):.1f} GFLOP/s, copy {m.get('copy_gbps', 0):.1f} GB/s; "
        f"load average {', '.join(f'{x:.1f}' for x in m.get('load_average_at_start', []))} at the start, "
        f"{', '.join(f'{x:.1f}' for x in m.get('load_average_at_end', []))} at the end. "
        "Versions: " + ", ".join(f"{k} {v}" for k, v in m.get("versions", {}).items() if v) + ".",
        "",
    ]
    lines += _goal_lines(record)
    lines += _latency_lines(record)
    lines += _accuracy_lines(record)
    lines += _profile_lines(record)
    lines += _train_lines(record)
    return "\n".join(lines).rstrip() + "\n"


def _goal_lines(record: dict[str, Any]) -> list[str]:
    g = record.get("goal")
    if not g or "best_mode" not in g:
        return []
    yes = {True: "met", False: "not met"}
    out = [
        "## The goal (issue 38)",
        "",
        "| target | goal | this run | |",
        "|---|---|---|---|",
        f"| batch-1 frames/s at {record['size']} px, fastest mode keeping test F1 within 0.3 points "
        f"({g['best_mode']}) | ≥ {g['frames_per_s_goal']} | {g['frames_per_s']:.1f} ({_ms(g['best_ms'])} ms) | "
        f"{yes[g['frames_per_s_met']]}"
        + ("" if g["frames_per_s_met"] else f", {g['frames_per_s_factor_short']:.2f}x short")
        + " |",
    ]
    if "head_to_head_ms" in g:
        out.append(
            f"| the same, timed in turn with the peer in one process (the head-to-head below) | ≥ {g['frames_per_s_goal']} | "
            f"{g['head_to_head_frames_per_s']:.1f} ({_ms(g['head_to_head_ms'])} ms) | "
            f"{yes[g['head_to_head_frames_per_s_met']]}"
            + ("" if g["head_to_head_frames_per_s_met"] else f", {g['head_to_head_ms'] / 10:.2f}x short")
            + " |"
        )
    if "speedup_vs_peer" in g:
        out.append(
            f"| speed over {record['peer']} (its fastest of the same modes: {g['peer_best_mode']}, "
            f"{_ms(g['peer_best_ms'])} ms in its own process) | ≥ {g['speedup_goal']:.0f}x | {g['speedup_vs_peer']:.2f}x"
            + (" (timed in turn in one process)" if g.get("speedup_from") == "head_to_head" else "")
            + f" | {yes[g['speedup_met']]} |"
        )
    if "video_frames_per_s" in g:
        v = record["video"]
        out.append(
            f"| `predict` on a {v['frame_size']} video, end to end ({v['frames']} frames) | ≥ {g['video_goal']} | "
            f"{g['video_frames_per_s']:.1f} | {yes[g['video_met']]} |"
        )
    h2h = record.get("head_to_head")
    if h2h:
        out.append(
            "\nHead-to-head ("
            + "; ".join(
                f"{k}: median {_ms(v['median_ms'])} ms, p90 {_ms(v['p90_ms'])} ms" for k, v in h2h["latency_b1"].items()
            )
            + "): the two models' goal modes timed in turn in one process, after the per-model runs below; "
            "the load changes between the per-model processes, so the ratio comes from here."
        )
    if not g.get("accuracy_checked"):
        out.append("\nAccuracy was not checked in this run: every mode counted as keeping it.")
    return out + [""]


def _latency_lines(record: dict[str, Any]) -> list[str]:
    rows = [r for r in record["rows"] if "latency_b1" in r]
    if not rows:
        return []
    modes = list(dict.fromkeys(m for r in rows for m in r["latency_b1"]))
    out = [
        "## Batch-1 latency, median ms (in brackets: speed over the peer in the same mode)",
        "",
        "| mode | " + " | ".join(r["model"] for r in rows) + " |",
        "|---|" + "---|" * len(rows),
    ]
    for mode in modes:
        cells = []
        for r in rows:
            v = r["latency_b1"].get(mode)
            ratio = r.get("speedup_b1_vs_peer", {}).get(mode)
            cells.append("" if v is None else _ms(v["median_ms"]) + (f" ({ratio:.2f}x)" if ratio else ""))
        out.append(f"| {mode} | " + " | ".join(cells) + " |")
    out += [
        "",
        "`eager_nchw`: the model as trained, no folding; `onnxruntime/fp32-ort-defaults`: ONNX Runtime on its own "
        "thread defaults beside torch (the thread-contention check), against `onnxruntime/fp32` on explicit threads "
        "without spinning. `openvino/int8`: NNCF's post-training quantisation, which needs the `int8` extra "
        "(`pip install 'polypnet[int8]'`; without it the benchmark leaves int8 out). p90 and batch-16 "
        "throughput are in the record.",
        "",
    ]
    for r in rows:
        out.append(
            f"- {r['model']}: {r['params']:,} parameters, {r['gflops_per_image']:.2f} GFLOP an image; "
            f"fastest mode {r['best_mode']} at {r['achieved_gflops_b1']:.1f} GFLOP/s and at least "
            f"{r['achieved_gbps_b1_lower_bound']:.1f} GB/s of activations; weights: {r.get('weights', '')}."
        )
    return out + [""]


def _accuracy_lines(record: dict[str, Any]) -> list[str]:
    acc = {k: v for k, v in record.get("accuracy", {}).items() if "f1" in v}
    if not acc:
        return []
    modes = list(dict.fromkeys(m for v in acc.values() for m in v["f1"]))
    out = [
        "## Test F1 of the shipped IAM-UNet weights per mode (change from torch fp32, points)",
        "",
        "| mode | " + " | ".join(f"{k} ({v['test_images']} test images)" for k, v in acc.items()) + " |",
        "|---|" + "---|" * len(acc),
    ]
    for mode in modes:
        cells = []
        for v in acc.values():
            f1, d = v["f1"].get(mode), v["delta_points_vs_torch_fp32"].get(mode)
            cells.append("" if f1 is None else f"{100 * f1:.2f} ({d:+.2f})")
        out.append(f"| {mode} | " + " | ".join(cells) + " |")
    calib = "; ".join(f"{k}: {v['calibration']}" for k, v in acc.items() if v.get("calibration"))
    out += [
        "",
        "F1 is the global Dice at the input size on the test split that each weights' run was trained "
        "with, drawn again ("
        + "; ".join(f"{k}: {v['split']}" for k, v in acc.items())
        + ")."
        + (f" int8 calibration (training images only): {calib}." if calib else ""),
        "",
    ]
    return out


def _profile_lines(record: dict[str, Any]) -> list[str]:
    out = []
    for r in record["rows"]:
        p = r.get("profile_b1")
        if not p:
            continue
        out += [f"## Where {r['model']}'s time goes ({p['mode']}, batch 1; {p['source']})", ""]
        if "layers" in p:
            out += ["| layer type | kernel | layers | ms an image | share |", "|---|---|---|---|---|"]
            out += [
                f"| {x['layer']} | {x['kernel']} | {x['layers']} | {x['ms_per_image']:.2f} | {x['percent']:.1f}% |"
                for x in p["layers"][:12]
            ]
            inside = sum(x["ms_per_image"] for x in p["layers"])
            wall = r["latency_b1"].get(p["mode"], {}).get("median_ms")
            if wall:
                out += [
                    "",
                    f"The layers add up to {inside:.1f} ms an image ({1000 / inside:.0f} frames/s) in the profiled "
                    f"calls, against a median of {_ms(wall)} ms a call in the latency table: "
                    f"{max(0.0, 100 * (1 - inside / wall)):.0f}% of the wall time is spent in no layer "
                    "(waiting for a core on the shared machine, or the calls' own overhead).",
                ]
        else:
            out += ["| operator | calls | ms an image | share |", "|---|---|---|---|"]
            out += [
                f"| {x['op']} | {x['calls_per_image']:.0f} | {x['ms_per_image']:.2f} | {x['percent']:.1f}% |"
                for x in p["ops"]
            ]
        out.append("")
    v = record.get("video")
    if v and v.get("stages_s"):
        out += (
            [
                "## The video pipeline's stages (seconds, summed over frames; they overlap in threads)",
                "",
                "| stage | seconds |",
                "|---|---|",
            ]
            + [f"| {k} | {s:.2f} |" for k, s in v["stages_s"].items()]
            + [""]
        )
    return out


def _train_lines(record: dict[str, Any]) -> list[str]:
    rows = [r for r in record["rows"] if "train_images_per_s" in r]
    if not rows:
        return []
    out = ["## Training images/s (batch 16)", ""]
    for r in rows:
        out.append(
            f"- {r['model']}: "
            + ", ".join(f"{k} {v:.1f}" for k, v in r["train_images_per_s"].items())
            + "; bf16 over fp32 (channels_last): "
            + ", ".join(f"{s} px {v:.2f}x" for s, v in r["train_bf16_vs_fp32"].items())
            + "; channels_last over NCHW: "
            + ", ".join(
                f"{s} px {p} {v:.2f}x"
                for s, by_precision in r.get("train_channels_last_vs_nchw", {}).items()
                for p, v in by_precision.items()
            )
        )
    return out + [""]
