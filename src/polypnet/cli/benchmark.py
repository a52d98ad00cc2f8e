"""``polypnet benchmark``: IAM-UNet against smp peers in ONE run, every backend x precision,
ratios to the peer, the test F1 each backend keeps, and a video's frames/s end to end.

    polypnet benchmark --no-train --out results/benchmark/cpu.json --markdown docs/performance.md   # the record
    polypnet benchmark --render results/benchmark/cpu.json --markdown docs/performance.md   # re-render only
    polypnet benchmark --quick                                       # torch only, tiny, to check it works
    polypnet benchmark --train-only --models iam_unet smp_unet_mobilenet_v2   # training speed, fp32 vs bf16

Each model is measured in its own subprocess (so that peak memory is its own): parameters, FLOPs
per image, batch-1 latency (median, p90) of eager NCHW and of every installed backend x
precision of ``polypnet.inference.Segmenter`` (torch fp32/bf16, onnxruntime fp32 and, for the
thread-contention check, onnxruntime on its own thread defaults, openvino fp32/bf16/int8; bf16 only
where the CPU has it), batch-16 throughput, optional training images/s, peak memory. IAM-UNet runs
with the shipped ``cvc-clinicdb`` weights; int8 is calibrated on training images of that split.

Accuracy: the shipped weights (``--accuracy-tags``) scored by every backend x precision on the test
split their run was trained with, drawn again from ``--data-dir`` as ``evaluate --pretrained`` draws
it (F1 = global Dice at the input size, as the shipped records), int8 calibrated on the first
``--calibration-images`` training images of it. The record keeps the sha256 of the weights scored.

Video: a 720x576 clip made of test images is run through the pipelined ``predict_video`` with the
best backend that keeps accuracy, and frames/s are reported end to end (decode, resize, infer,
overlay, encode). The cores are shared and noisy: read the ratios within one run, not the
absolute milliseconds. The record says whether the goal (issue 38) is met, and by how much not.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import multiprocessing as mp
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from ..experiments import benchmark as bench
from ..experiments.performance_page import performance_markdown
from ..experiments.speed_goal import goal, ratios
from ..models import count_parameters, create_model
from ..models.pretrained import pretrained_info, weights_stamp

MODELS = ("iam_unet", "smp_unet_mobilenet_v2", "smp_unet_resnet34")
PEER = "smp_unet_mobilenet_v2"
#: The shipped weights of IAM-UNet the latency rows and the profile use.
LATENCY_WEIGHTS = "cvc-clinicdb"
ACCURACY_TAGS = ("cvc-clinicdb", "kvasir-seg")


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``polypnet benchmark``."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=list(MODELS))
    p.add_argument("--peer", default=PEER, help=f"the model ratios refer to (default {PEER})")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--runs", type=int, default=30, help="timed batch-1 calls per mode (default 30)")
    p.add_argument(
        "--threads",
        type=int,
        default=torch.get_num_threads(),
        help=f"intra-op threads of every backend (default {torch.get_num_threads()}: torch's)",
    )
    p.add_argument(
        "--backends",
        nargs="+",
        default=list(bench.BACKENDS),
        choices=bench.BACKENDS,
        help="backends to measure (default all that are installed)",
    )
    p.add_argument(
        "--no-int8", action="store_true", help="skip int8 (its NNCF calibration takes a minute or more a model)"
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        default=Path("../shared/data"),
        help="folder holding cvc-clinicdb/ and kvasir-seg/ (default ../shared/data)",
    )
    p.add_argument(
        "--accuracy-tags",
        nargs="*",
        default=list(ACCURACY_TAGS),
        help="shipped IAM-UNet weights whose test F1 each backend must keep (default: both datasets)",
    )
    p.add_argument("--calibration-images", type=int, default=300, help="training images calibrating int8 (default 300)")
    p.add_argument(
        "--video-frames", type=int, default=150, help="frames of the 720x576 video check; 0 skips it (default 150)"
    )
    p.add_argument("--no-train", action="store_true", help="skip the training-speed rows")
    p.add_argument(
        "--train-only",
        action="store_true",
        help="only the training-speed rows (fp32 NCHW, channels_last, bf16 autocast + channels_last) and their ratios",
    )
    p.add_argument(
        "--train-steps", type=int, default=3, help="timed training steps per variant, after one warm-up (default 3)"
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="3 runs, size 64, torch only, no training, accuracy, video or profile: a smoke test",
    )
    p.add_argument("--no-profile", action="store_true", help="skip the per-layer profile of IAM-UNet's best mode")
    p.add_argument(
        "--profile-train",
        action="store_true",
        help="only profile one training step (batch 16, --size, channels_last) of the first model",
    )
    p.add_argument("--out", type=Path, help="write the results as JSON (relative to the current folder)")
    p.add_argument(
        "--markdown", type=Path, metavar="PATH", help="also write the record rendered as Markdown (docs/performance.md)"
    )
    p.add_argument(
        "--render",
        type=Path,
        metavar="RECORD",
        help="measure nothing: render an existing JSON record as Markdown (to --markdown, else stdout)",
    )
    return p


def shipped_data(args: dict[str, Any], tag: str) -> tuple[Path, dict[str, Any]] | None:
    """The copy under ``--data-dir`` of the dataset that ``tag``'s weights were trained on and the
    split they were trained on, drawn again (``shipped_split``); None when that data is absent."""
    from ..data import find_pairs
    from ..experiments.evaluation import shipped_split

    info = pretrained_info("iam_unet", tag)
    root = Path(args["data_dir"]) / info["dataset"]
    if not root.is_dir():
        return None
    found = find_pairs(root)
    return found.root, shipped_split(found, info, tag)


def split_name(drawn: dict[str, Any]) -> str:
    """How a record names a drawn split: its kind and seed."""
    return f"{drawn['kind']} (seed {drawn['seed']})"


def _has_nncf() -> bool:
    """Whether NNCF, which int8 quantisation needs (``polypnet[int8]``), is installed."""
    return importlib.util.find_spec("nncf") is not None


def int8_notice(backends: list[str], no_int8: bool) -> str | None:
    """The line that says int8 is left out because NNCF is missing; None where it is not."""
    if "openvino" in backends and not no_int8 and not _has_nncf():
        return "int8 left out: it needs NNCF (pip install 'polypnet[int8]')"
    return None


def calibration_source(
    args: dict[str, Any], tag: str, data: tuple[Path, dict[str, Any]] | None = None
) -> tuple[Any, str] | tuple[None, None]:
    """A lazy loader of the first N training images of ``tag``'s split, and its cache tag;
    (None, None), so that int8 is left out, when the data or NNCF (``polypnet[int8]``) is absent.
    ``data`` is ``shipped_data(args, tag)`` where the caller has drawn it already."""
    wanted = args["calibration_images"] >= 1 and _has_nncf()
    if wanted and data is None:
        data = shipped_data(args, tag)
    if not wanted or data is None:
        return None, None
    (root, drawn), n, size = data, args["calibration_images"], args["size"]

    def images() -> list[Any]:
        from ..data import PolypDataset

        ids = drawn["train"][:n]  # training images only: never val or test
        data = PolypDataset.from_root(root, ids=ids, image_size=size, cache=False)
        return [data[i]["image"][None].numpy() for i in range(len(data))]

    return images, f"{tag}:train:first{n}:size{size}"


def model_for(name: str, weights: str | None = None) -> torch.nn.Module:
    """``name`` in eval mode, with shipped ``weights`` when given."""
    if weights is None:
        return create_model(name).eval()
    from ..inference import load_model

    net, _ = load_model(model=name, pretrained=weights)
    return net.eval()


def scored_weights(result: dict[str, Any]) -> dict[str, str]:
    """``{tag: sha256}`` of the shipped weights whose test F1 a benchmark record holds (the speeds
    do not depend on the weights' values, so they name none)."""
    return weights_stamp("iam_unet", sorted(tag for tag, got in result.get("accuracy", {}).items() if "f1" in got))


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
        row["train_images_per_s"] = {
            f"{s}_{fmt}": bench.training_speed(
                create_model(name), 16, s, steps=args.get("train_steps", 3), channels_last=channels_last, bf16=bf16
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


def main(argv: list[str] | None = None) -> int:
    """Measure every model in one run; print the table, optionally write JSON."""
    a = build_parser().parse_args(argv)
    if a.render is not None:
        text = performance_markdown(json.loads(a.render.read_text()))
        if a.markdown:
            a.markdown.parent.mkdir(parents=True, exist_ok=True)
            a.markdown.write_text(text)
        else:
            print(text, end="")
        return 0
    if a.train_only and a.no_train:
        print("error: --train-only and --no-train leave nothing to measure", file=sys.stderr)
        return 2
    if a.quick:
        a.runs, a.size, a.no_train, a.no_profile, a.backends = 3, 64, True, True, ["torch"]
        a.accuracy_tags, a.video_frames = [], 0
    torch.set_num_threads(a.threads)
    if a.profile_train:
        return profile_training(a.models[0], a.size, a.threads)
    args = {
        "size": a.size,
        "runs": a.runs,
        "threads": a.threads,
        "backends": a.backends,
        "no_int8": a.no_int8,
        "data_dir": str(a.data_dir),
        "calibration_images": a.calibration_images,
        "accuracy_tags": a.accuracy_tags,
        "train": a.train_only or not a.no_train,
        "train_only": a.train_only,
        "train_steps": a.train_steps,
        "video_frames": a.video_frames,
        "pretrained": not a.quick,
    }
    result: dict[str, Any] = {
        "command": "polypnet benchmark " + " ".join(sys.argv[1:] if argv is None else argv),
        "note": "2 shared, noisy cores: compare modes and models as ratios within this run",
        "size": a.size,
        "peer": a.peer,
        "machine": machine(a.threads, a.quick),
        "rows": [],
    }
    if notice := int8_notice(a.backends, a.no_int8 or a.train_only):
        print(notice, file=sys.stderr, flush=True)
    for name in a.models:
        print(f"measuring {name} ...", file=sys.stderr, flush=True)
        result["rows"].append(run_isolated(name, {**args, "profile": name == "iam_unet" and not a.no_profile}))
    ratios(result["rows"], a.peer)
    if not a.train_only:
        if a.accuracy_tags:
            print("test F1 per backend ...", file=sys.stderr, flush=True)
            result["accuracy"] = accuracy(args)
        result["goal"] = goal(result)
        if "peer_best_mode" in result["goal"]:
            print("head to head ...", file=sys.stderr, flush=True)
            modes = [result["goal"]["best_mode"], result["goal"]["peer_best_mode"]]
            result["head_to_head"] = {"modes": modes, **head_to_head(args, *modes[:1], a.peer, modes[1])}
            result["goal"] = goal(result)
        if a.video_frames > 0 and "best_mode" in result["goal"]:
            print("video ...", file=sys.stderr, flush=True)
            result["video"] = video_check(args, result["goal"]["best_mode"])
            result["goal"] = goal(result)
    result["machine"]["load_average_at_end"] = list(os.getloadavg())
    result["weights_sha256"] = scored_weights(result)
    print(performance_markdown(result))
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"\nJSON: {a.out}")
    if a.markdown:
        a.markdown.parent.mkdir(parents=True, exist_ok=True)
        a.markdown.write_text(performance_markdown(result))
        print(f"Markdown: {a.markdown}")
    return 0 if all("error" not in r for r in result["rows"]) else 1
