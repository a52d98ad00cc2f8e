"""``scripts/benchmark.py``: IAM-UNet against smp peers in ONE run, ratios to the peer.

    python scripts/benchmark.py                       # full run at 256 (several minutes on 2 cores)
    python scripts/benchmark.py --quick               # few repetitions, to check it works
    python scripts/benchmark.py --out docs/benchmark.json
    python scripts/benchmark.py --train-only --models iam_unet smp_unet_mobilenet_v2   # training speed, fp32 vs bf16

Each model is measured in its own subprocess (so that peak memory is its own): parameters,
FLOPs per 256x256 image, batch-1 latency (median, p90) in each inference mode (eager NCHW,
channels_last, BatchNorm folded + channels_last, ONNX Runtime), batch-16 throughput, training
images/s at 256 and 128 (fp32 NCHW, fp32 channels_last, bfloat16 autocast + channels_last, and the
bf16 / fp32 ratio), peak resident memory. The same run measures the CPU's matmul GFLOP/s and
copy bandwidth, so each model's achieved GFLOP/s can be read against the machine's limits.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import sys
from pathlib import Path
from typing import Any

import torch

from ..experiments import benchmark as bench
from ..models import count_parameters, create_model

MODELS = ("iam_unet", "smp_unet_mobilenet_v2", "smp_unet_resnet34")
PEER = "smp_unet_mobilenet_v2"


def build_parser() -> argparse.ArgumentParser:
    """The command line of benchmark.py."""
    p = argparse.ArgumentParser(prog="benchmark.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=list(MODELS))
    p.add_argument("--peer", default=PEER, help=f"the model ratios refer to (default {PEER})")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--runs", type=int, default=30, help="timed batch-1 calls per mode (default 30)")
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--no-onnx", action="store_true", help="skip the ONNX Runtime mode (its export takes ~30 s a model)")
    p.add_argument("--no-train", action="store_true", help="skip the training-speed rows")
    p.add_argument("--train-only", action="store_true",
                   help="only the training-speed rows (fp32 NCHW, channels_last, bf16 autocast + channels_last) and their ratios")
    p.add_argument("--train-steps", type=int, default=3, help="timed training steps per variant, after one warm-up (default 3)")
    p.add_argument("--quick", action="store_true", help="3 runs, size 64, no training, no ONNX: a smoke test")
    p.add_argument("--no-profile", action="store_true", help="skip the operator profile of the first model's best mode")
    p.add_argument("--profile-train", action="store_true",
                   help="only profile one training step (batch 16, --size, channels_last) of the first model")
    p.add_argument("--out", type=Path, help="write the results as JSON")
    return p


def measure_model(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """Every figure for one model (runs in a child process)."""
    torch.set_num_threads(args["threads"])
    torch.manual_seed(0)
    model = create_model(name).eval()
    size = args["size"]
    row: dict[str, Any] = {
        "model": name,
        "params": count_parameters(model),
        "gflops_per_image": bench.flops_per_image(model, size) / 1e9,
        "activation_mib_per_image": bench.activation_bytes(model, size) / 2**20,
    }
    if not args.get("train_only"):
        row.update(inference_figures(model, args, row["gflops_per_image"], row["activation_mib_per_image"]))
    if args["train"]:
        row["train_images_per_s"] = {
            f"{s}_{fmt}": bench.training_speed(create_model(name), 16, s, steps=args.get("train_steps", 3),
                                               channels_last=channels_last, bf16=bf16)
            for s in (size, size // 2)
            for fmt, channels_last, bf16 in bench.TRAIN_FORMATS
        }
        # bf16 autocast against fp32, both channels_last, measured in this same process
        row["train_bf16_vs_fp32"] = {
            str(s): row["train_images_per_s"][f"{s}_bf16_channels_last"] / row["train_images_per_s"][f"{s}_channels_last"]
            for s in (size, size // 2)
        }
    row["peak_rss_mib"] = bench.peak_rss_mib()
    return row


def inference_figures(model: torch.nn.Module, args: dict[str, Any], gflops: float, activation_mib: float) -> dict[str, Any]:
    """Batch-1 latency per inference mode, batch-16 throughput, achieved GFLOP/s and the profile."""
    size, runs = args["size"], args["runs"]
    row: dict[str, Any] = {"latency_b1": {}}
    for mode, fn in bench.inference_modes(model, onnx=args["onnx"]).items():
        row["latency_b1"][mode] = bench.latency(fn, 1, size, warmup=3, runs=runs)
    best = min(row["latency_b1"], key=lambda m: row["latency_b1"][m]["median_ms"])
    row["best_mode"] = best
    modes = bench.inference_modes(model, onnx=False)
    row["throughput_b16"] = {
        m: bench.latency(modes[m], 16, size, warmup=1, runs=max(3, runs // 10))["images_per_s"]
        for m in ("eager_nchw", "bn_folded_channels_last")
    }
    b1 = row["latency_b1"][best]["median_ms"] / 1000
    row["achieved_gflops_b1"] = gflops / b1
    row["achieved_gbps_b1_lower_bound"] = 2 * activation_mib * 2**20 / b1 / 1e9
    if args.get("profile"):
        # torch.profiler sees no operators inside ONNX Runtime: profile the best torch mode then.
        mode = best if best in modes else "bn_folded_channels_last"
        row["profile_b1"] = {"mode": mode, "ops": bench.profile_ops(modes[mode], size)}
    return row


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


def ratios(rows: list[dict[str, Any]], peer: str) -> None:
    """Add ``speedup_vs_peer`` (peer time / model time; > 1 is faster) and ``params_ratio``."""
    ref = next((r for r in rows if r["model"] == peer and "error" not in r), None)
    if ref is None:
        return
    for r in rows:
        if "error" in r:
            continue
        r["params_vs_peer"] = r["params"] / ref["params"]
        r["gflops_vs_peer"] = r["gflops_per_image"] / ref["gflops_per_image"]
        if "train_images_per_s" in r:
            r["train_speedup_vs_peer"] = {k: v / ref["train_images_per_s"][k] for k, v in r["train_images_per_s"].items()}
        if "latency_b1" not in r:
            continue
        r["speedup_b1_vs_peer"] = {
            m: ref["latency_b1"][m]["median_ms"] / v["median_ms"]
            for m, v in r["latency_b1"].items() if m in ref["latency_b1"]
        }
        r["speedup_best_b1_vs_peer_best"] = (
            ref["latency_b1"][ref["best_mode"]]["median_ms"] / r["latency_b1"][r["best_mode"]]["median_ms"]
        )


def format_table(result: dict[str, Any]) -> str:
    """A plain-text table of the main figures."""
    lines = [
        f"threads {result['threads']}, input {result['size']}x{result['size']}, {result['cpu']}; "
        f"matmul {result['matmul_gflops']:.1f} GFLOP/s, copy {result['copy_gbps']:.1f} GB/s; ratios vs {result['peer']}",
    ]
    for r in result["rows"]:
        if "error" in r:
            lines.append(f"{r['model']}: FAILED {r['error']}")
            continue
        lines.append(
            f"\n{r['model']}: {r['params']:,} params ({r.get('params_vs_peer', float('nan')):.2f}x), "
            f"{r['gflops_per_image']:.2f} GFLOP/image ({r.get('gflops_vs_peer', float('nan')):.2f}x), "
            f"peak RSS {r['peak_rss_mib']:.0f} MiB"
        )
        if "latency_b1" in r:
            lines += inference_lines(r, result)
        if "train_images_per_s" in r:
            lines.append("  training " + ", ".join(f"{k} {v:.1f} img/s" for k, v in r["train_images_per_s"].items()))
            lines.append("  training, bf16 autocast over fp32 (both channels_last): "
                         + ", ".join(f"{s} px {v:.2f}x" for s, v in r["train_bf16_vs_fp32"].items())
                         + ("; vs peer " + ", ".join(f"{k} {v:.2f}x" for k, v in r["train_speedup_vs_peer"].items())
                            if "train_speedup_vs_peer" in r else ""))
        if "profile_b1" in r:
            lines.append(f"  profile, batch 1, {r['profile_b1']['mode']} (self CPU time per image):")
            lines += [f"    {op['op']:36s} {op['ms_per_image']:7.2f} ms {op['percent']:5.1f}%  x{op['calls_per_image']:.0f}"
                      for op in r["profile_b1"]["ops"]]
    return "\n".join(lines)


def inference_lines(r: dict[str, Any], result: dict[str, Any]) -> list[str]:
    """The table lines of one model's inference figures."""
    lines = []
    for mode, v in r["latency_b1"].items():
        speed = r.get("speedup_b1_vs_peer", {}).get(mode)
        lines.append(
            f"  batch 1 {mode:26s} median {v['median_ms']:7.1f} ms  p90 {v['p90_ms']:7.1f} ms  "
            f"{v['images_per_s']:6.1f} img/s" + (f"  {speed:.2f}x peer" if speed else "")
        )
    lines.append("  batch 16 " + ", ".join(f"{m} {v:.1f} img/s" for m, v in r["throughput_b16"].items()))
    lines.append(
        f"  best mode {r['best_mode']}: {r['achieved_gflops_b1']:.1f} GFLOP/s "
        f"({100 * r['achieved_gflops_b1'] / result['matmul_gflops']:.0f}% of matmul), >= "
        f"{r['achieved_gbps_b1_lower_bound']:.1f} GB/s of activations "
        f"({100 * r['achieved_gbps_b1_lower_bound'] / result['copy_gbps']:.0f}% of copy bandwidth)"
        + (f"; {r['speedup_best_b1_vs_peer_best']:.2f}x the peer's best" if "speedup_best_b1_vs_peer_best" in r else "")
    )
    return lines


def profile_training(name: str, size: int, threads: int, batch: int = 16, steps: int = 3) -> int:
    """Print the seconds per training step and its top operators (after 2 warm-up steps)."""
    torch.manual_seed(0)
    step = bench.training_step(create_model(name), batch, size, channels_last=True)
    times = bench.time_calls(step, warmup=2, runs=steps)
    print(f"{name}: training step, batch {batch}, {size}x{size}, channels_last, {threads} threads: "
          f"{sorted(times)[len(times) // 2]:.3f} s median of {steps}; self CPU time per step:")
    for op in bench.top_operators(step, calls=2, top=15):
        print(f"  {op['op']:40s} {op['ms_per_image']:8.1f} ms {op['percent']:5.1f}%  x{op['calls_per_image']:.0f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Measure every model in one run; print the table, optionally write JSON."""
    a = build_parser().parse_args(argv)
    if a.train_only and a.no_train:
        print("error: --train-only and --no-train leave nothing to measure", file=sys.stderr)
        return 2
    if a.quick:
        a.runs, a.size, a.no_train, a.no_onnx, a.no_profile = 3, 64, True, True, True
    torch.set_num_threads(a.threads)
    if a.profile_train:
        return profile_training(a.models[0], a.size, a.threads)
    args = {"size": a.size, "runs": a.runs, "threads": a.threads, "onnx": not a.no_onnx,
            "train": a.train_only or not a.no_train, "train_only": a.train_only, "train_steps": a.train_steps}
    result: dict[str, Any] = {
        "command": "python scripts/benchmark.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "threads": a.threads,
        "size": a.size,
        "peer": a.peer,
        "cpu": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "matmul_gflops": bench.matmul_gflops(runs=3 if a.quick else 5),
        "copy_gbps": bench.copy_gbps(mib=64 if a.quick else 256),
        "rows": [],
    }
    for i, name in enumerate(a.models):
        print(f"measuring {name} ...", file=sys.stderr, flush=True)
        result["rows"].append(run_isolated(name, {**args, "profile": i == 0 and not a.no_profile}))
    ratios(result["rows"], a.peer)
    print(format_table(result))
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"\nJSON: {a.out}")
    return 0 if all("error" not in r for r in result["rows"]) else 1
