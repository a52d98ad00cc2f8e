"""The runs behind ``polypnet benchmark``'s record: each model measured in its own process, the
test F1 the shipped weights keep under every backend x precision, the head-to-head against the
peer in one process, a video's frames/s end to end, and the machine it all ran on."""

from __future__ import annotations

import multiprocessing as mp
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from ..models import count_parameters, create_model
from ..training.host_memory import keep_freed_memory
from . import benchmark as bench
from .benchmark_inputs import LATENCY_WEIGHTS, calibration_source, model_for, shipped_data, split_name


def measure_model(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """Every figure for one model (runs in a child process)."""
    torch.set_num_threads(args["threads"])
    torch.manual_seed(0)
    weights = LATENCY_WEIGHTS if name == "iam_unet" and args.get("pretrained", True) else None
    model = model_for(name, weights)
    size = args["size"]
    row: dict[str, Any] = {
        "model": name,
        "weights": weights or "random init (speed does not depend on the values)",
        "params": count_parameters(model),
        "gflops_per_image": bench.flops_per_image(model, size) / 1e9,
        "activation_mib_per_image": bench.activation_bytes(model, size) / 2**20,
    }
    if not args.get("train_only"):
        row.update(inference_figures(model, args, row["gflops_per_image"], row["activation_mib_per_image"]))
    if args["train"]:
        # glibc's default allocator first; then as ``polypnet fit`` trains (it keeps freed memory),
        # the setting that every row below is measured with. A process cannot go back.
        steps = args.get("train_steps", 3)
        default = bench.training_speed(create_model(name), 16, size, steps=steps, channels_last=True)
        if keep_freed_memory():
            row["train_host_memory"] = {"size": size, "default_images_per_s": default}
        row["train_images_per_s"] = {
            f"{s}_{fmt}": bench.training_speed(
                create_model(name), 16, s, steps=steps, channels_last=channels_last, bf16=bf16
            )
            for s in (size, size // 2)
            for fmt, channels_last, bf16 in bench.TRAIN_FORMATS
        }
        # bf16 autocast against fp32, both channels_last, measured in this same process
        row["train_bf16_vs_fp32"] = {
            str(s): row["train_images_per_s"][f"{s}_bf16_channels_last"]
            / row["train_images_per_s"][f"{s}_channels_last"]
            for s in (size, size // 2)
        }
        # the memory layout's gain, in each precision, from the same process's figures
        speed = row["train_images_per_s"]
        row["train_channels_last_vs_nchw"] = {
            str(s): {
                "fp32": speed[f"{s}_channels_last"] / speed[f"{s}_nchw"],
                "bf16": speed[f"{s}_bf16_channels_last"] / speed[f"{s}_bf16_nchw"],
            }
            for s in (size, size // 2)
        }
        if "train_host_memory" in row:
            row["train_host_memory"]["kept_over_default"] = speed[f"{size}_channels_last"] / default
    row["peak_rss_mib"] = bench.peak_rss_mib()
    return row


def inference_figures(
    model: torch.nn.Module, args: dict[str, Any], gflops: float, activation_mib: float
) -> dict[str, Any]:
    """Batch-1 latency per mode, batch-16 throughput of the best, achieved GFLOP/s and the profile."""
    size, runs = args["size"], args["runs"]
    calibration, tag = (None, None) if args.get("no_int8") else calibration_source(args, LATENCY_WEIGHTS)
    row: dict[str, Any] = {"latency_b1": {}, "setup_s": {}}
    with tempfile.TemporaryDirectory(prefix="polypnet-bench-") as work:
        start = time.perf_counter()
        modes = bench.backend_modes(model, args["threads"], tuple(args["backends"]), calibration, tag, Path(work))
        row["setup_s"]["all_modes"] = time.perf_counter() - start
        row["latency_b1"] = bench.latency_interleaved(modes, 1, size, warmup=3, runs=runs)
        ranked = [m for m in row["latency_b1"] if m not in (bench.EAGER, bench.ORT_DEFAULTS)]
        best = min(ranked, key=lambda m: row["latency_b1"][m]["median_ms"])
        row["best_mode"] = best
        row["throughput_b16"] = {
            m: bench.latency(modes[m], 16, size, warmup=1, runs=max(3, runs // 10))["images_per_s"]
            for m in dict.fromkeys((bench.EAGER, best))
        }
        # A batch OpenVINO could not compile ran image by image: its figure is batch 1's, said so.
        one_by_one = [m for m in row["throughput_b16"] if bench.ran_one_by_one(modes[m])]
        if one_by_one:
            row["throughput_b16_one_by_one"] = one_by_one
    b1 = row["latency_b1"][best]["median_ms"] / 1000
    row["achieved_gflops_b1"] = gflops / b1
    row["achieved_gbps_b1_lower_bound"] = 2 * activation_mib * 2**20 / b1 / 1e9
    if args.get("profile"):
        # Profile the mode predict and evaluate run by default (torch's profiler sees nothing
        # inside ONNX Runtime or OpenVINO, so their own counters are read).
        from ..inference.backends import default_backend

        default = bench.mode_key(*default_backend())
        openvino = [m for m in ranked if m.startswith("openvino/")]
        mode = (
            default
            if default in ranked
            else (min(openvino, key=lambda m: row["latency_b1"][m]["median_ms"]) if openvino else best)
        )
        row["profile_b1"] = profile(model, mode, args, tag)
    return row


def profile(model: torch.nn.Module, mode: str, args: dict[str, Any], tag: str | None) -> dict[str, Any]:
    """Where ``mode``'s batch-1 time goes: OpenVINO's per-layer counters, or torch's profiler."""
    backend, precision = mode.split("/")
    if backend == "openvino":
        return {
            "mode": mode,
            "source": "OpenVINO PERF_COUNT, by layer type and kernel",
            "layers": bench.openvino_profile(model, precision, args["size"], args["threads"], calibration_tag=tag),
        }
    from ..inference.backends import Segmenter

    seg = Segmenter(model, backend, precision, threads=args["threads"])  # type: ignore[arg-type]
    source = "torch.profiler self CPU time" + (
        " (ONNX Runtime is opaque to it: torch fp32 shown)" if backend != "torch" else ""
    )
    if backend != "torch":
        seg, mode = Segmenter(model, "torch", "fp32"), "torch/fp32"
    return {"mode": mode, "source": source, "ops": bench.profile_ops(seg.logits, args["size"])}


def _child(name: str, args: dict[str, Any], queue: mp.Queue) -> None:
    try:
        queue.put(measure_model(name, args))
    except Exception as err:  # reported in the table, the other models still run
        queue.put({"model": name, "error": f"{type(err).__name__}: {err}"})


def run_isolated(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """``measure_model`` in a fresh process: its peak memory is that model's alone."""
    ctx = mp.get_context("spawn")
    queue: mp.Queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(name, args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def accuracy(args: dict[str, Any]) -> dict[str, Any]:
    """Test F1 of IAM-UNet's shipped weights under every backend x precision, per dataset."""
    from ..data import PolypDataset
    from ..inference.backends import PRECISIONS, Segmenter, backend_available, cpu_has_bf16

    out: dict[str, Any] = {}
    for tag in args["accuracy_tags"]:
        data = shipped_data(args, tag)
        if data is None:
            out[tag] = {"skipped": f"needs its dataset under {args['data_dir']}"}
            continue
        root, drawn = data
        test = PolypDataset.from_root(root, ids=drawn["test"], image_size=args["size"], cache=False)
        model = model_for("iam_unet", tag)
        calibration, ctag = (None, None) if args.get("no_int8") else calibration_source(args, tag, data)
        f1: dict[str, float] = {}
        for backend in args["backends"]:
            if not backend_available(backend):
                continue
            for precision in PRECISIONS[backend]:
                if (precision == "bf16" and not cpu_has_bf16()) or (precision == "int8" and calibration is None):
                    continue
                seg = Segmenter(
                    model,
                    backend,
                    precision,
                    threads=args["threads"],  # type: ignore[arg-type]
                    calibration=calibration,
                    calibration_tag=ctag,
                )
                f1[bench.mode_key(backend, precision)] = bench.test_f1(seg, test)
        reference = f1.get("torch/fp32")
        out[tag] = {
            "split": split_name(drawn),
            "test_images": len(test),
            "calibration": ctag,
            "f1": f1,
            "delta_points_vs_torch_fp32": {m: 100 * (v - reference) for m, v in f1.items()}
            if reference is not None
            else {},
        }
    return out


def video_check(args: dict[str, Any], mode: str) -> dict[str, Any]:
    """Frames/s of ``predict_video`` (pipelined) on a 720x576 clip of test images, with ``mode``."""
    import cv2
    import numpy as np

    from ..data import PolypDataset
    from ..inference import Predictor
    from ..inference.video import predict_video

    data = shipped_data(args, LATENCY_WEIGHTS)
    if data is None:
        return {"skipped": f"needs {LATENCY_WEIGHTS}'s dataset under {args['data_dir']}"}
    root, drawn = data
    test = PolypDataset.from_root(root, ids=drawn["test"], image_size=256, cache=False)
    frames = [cv2.resize(test.read_image(i), (720, 576), interpolation=cv2.INTER_LINEAR) for i in range(len(test))]
    backend, precision = mode.split("/")
    with tempfile.TemporaryDirectory(prefix="polypnet-video-") as work:
        clip = Path(work) / "clip.avi"
        writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (720, 576))
        for i in range(args["video_frames"]):
            writer.write(cv2.cvtColor(frames[i % len(frames)], cv2.COLOR_RGB2BGR))
        writer.release()
        net = model_for("iam_unet", LATENCY_WEIGHTS)
        predictor = Predictor(net, image_size=args["size"], backend=backend, precision=precision)
        predictor.predict(np.zeros((576, 720, 3), np.uint8))  # compile before the clock starts
        start = time.perf_counter()
        result = predict_video(predictor, clip, Path(work) / "out", batch_size=1, progress=False)
        wall = time.perf_counter() - start
    frames_done = getattr(result, "frames", 0)
    return {
        "mode": mode,
        "frame_size": "720x576",
        "batch_size": 1,
        "frames": frames_done,
        "seconds": wall,
        "frames_per_s": frames_done / wall if wall else 0.0,
        "stages_s": getattr(result, "stage_seconds", None),
        "container": "avi (MJPG)",
    }


def head_to_head(args: dict[str, Any], mode: str, peer: str, peer_mode: str) -> dict[str, Any]:
    """IAM-UNet in ``mode`` and ``peer`` in ``peer_mode``, timed in turn in ONE process: the ratio
    the goal reads, free of the load changing between the models' own subprocesses."""
    from ..inference.backends import Segmenter

    torch.manual_seed(0)
    fns = {}
    for name, m, weights in (("iam_unet", mode, LATENCY_WEIGHTS), (peer, peer_mode, None)):
        backend, precision = m.split("/")
        calibration, tag = calibration_source(args, LATENCY_WEIGHTS) if precision == "int8" else (None, None)
        seg = Segmenter(
            model_for(name, weights),
            backend,
            precision,
            threads=args["threads"],  # type: ignore[arg-type]
            calibration=calibration,
            calibration_tag=tag,
        )
        fns[f"{name} {m}"] = seg.logits
    stats = bench.latency_interleaved(fns, 1, args["size"], warmup=3, runs=args["runs"])
    ours, theirs = stats[f"iam_unet {mode}"], stats[f"{peer} {peer_mode}"]
    return {"latency_b1": stats, "speedup": theirs["median_ms"] / ours["median_ms"]}


def machine(threads: int, quick: bool) -> dict[str, Any]:
    """The CPU, its load, and its measured limits."""
    from ..inference.backends import cpu_has_bf16

    versions = {"torch": torch.__version__}
    for module in ("openvino", "onnxruntime", "nncf"):
        try:
            versions[module] = __import__(module).__version__
        except Exception:  # not installed (or no version): the record says so
            versions[module] = None
    return {
        "cpu": _cpu_name() or platform.processor() or platform.machine(),
        "logical_cpus": os.cpu_count(),
        "threads": threads,
        "bf16_instructions": cpu_has_bf16(),
        "load_average_at_start": list(os.getloadavg()),
        "matmul_gflops": bench.matmul_gflops(runs=3 if quick else 5),
        "copy_gbps": bench.copy_gbps(mib=64 if quick else 256),
        "versions": versions,
    }


def _cpu_name() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def profile_training(name: str, size: int, threads: int, batch: int = 16, steps: int = 3) -> int:
    """Print the seconds per training step and its top operators (after 2 warm-up steps)."""
    torch.manual_seed(0)
    step = bench.training_step(create_model(name), batch, size, channels_last=True)
    times = bench.time_calls(step, warmup=2, runs=steps)
    print(
        f"{name}: training step, batch {batch}, {size}x{size}, channels_last, {threads} threads: "
        f"{sorted(times)[len(times) // 2]:.3f} s median of {steps}; self CPU time per step:"
    )
    for op in bench.top_operators(step, calls=2, top=15):
        print(f"  {op['op']:40s} {op['ms_per_image']:8.1f} ms {op['percent']:5.1f}%  x{op['calls_per_image']:.0f}")
    return 0
