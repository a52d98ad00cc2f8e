"""``polypnet benchmark``: IAM-UNet against smp peers in ONE run, every backend x precision,
ratios to the peer, the test F1 each backend keeps, and a video's frames/s end to end.

    polypnet benchmark --models iam_unet smp_unet_mobilenet_v2 \
        --out results/benchmark/cpu.json --markdown docs/performance.md   # the record, training speed included
    polypnet benchmark --render results/benchmark/cpu.json --markdown docs/performance.md   # re-render only
    polypnet benchmark --quick                                       # torch only, tiny, to check it works
    polypnet benchmark --train-only --models iam_unet smp_unet_mobilenet_v2   # training speed only

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
absolute milliseconds. The record says whether the speed goal is met, and by how much not.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import torch

from ..experiments.benchmark_inputs import int8_notice
from ..experiments.benchmark_runs import accuracy, head_to_head, machine, profile_training, run_isolated, video_check
from ..experiments.performance_page import performance_markdown
from ..experiments.speed_goal import goal, ratios
from ..inference.backends import BACKENDS
from ..models.pretrained import weights_stamp

MODELS = ("iam_unet", "smp_unet_mobilenet_v2", "smp_unet_resnet34")
PEER = "smp_unet_mobilenet_v2"
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
        default=list(BACKENDS),
        choices=BACKENDS,
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


def scored_weights(result: dict[str, Any]) -> dict[str, str]:
    """``{tag: sha256}`` of the shipped weights whose test F1 a benchmark record holds (the speeds
    do not depend on the weights' values, so they name none)."""
    return weights_stamp("iam_unet", sorted(tag for tag, got in result.get("accuracy", {}).items() if "f1" in got))


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
