#!/usr/bin/env python
"""Time one training step of the paper protocol (IAM-UNet, batch 16, 256 px, Dice loss, Adam) in variants.

    PYTHONPATH=src python3 scripts/gpu_profile.py --out $OUT/gpu_profile.json          # on the GPU machine
    python scripts/gpu_profile.py --device cpu --size 32 --batch 2 --steps 2 --variants fp32,channels_last

A step is what ``PolypSegModule.training_step`` does on the device: forward, loss, backward, Adam,
and the training metrics' update (``no_metrics`` leaves that out). Random images and masks: the
time of a step does not depend on the pixels. Each variant runs ``--warmup`` steps, then is timed
over ``--steps`` (synchronised); ``compile`` counts its compilation in the warm-up and reports it
apart. The first variant is then profiled for a few steps and its slowest kernels are listed, so
that one short device call says where a step's time goes.

Variants: fp32 (eager, NCHW, cuDNN heuristics: what a run does), benchmark (+ cudnn.benchmark),
channels_last (+ NHWC), no_metrics, bf16 (+ autocast bf16), bf16_channels_last, compile
(+ the network compiled as ``PolypSegModule(compile=True)`` does), compile_channels_last.
``--choose-out`` writes the variant a run should train in (``choose_variant``).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

import torch

from polypnet.models.outputs import binarize
from polypnet.training.module import PolypSegModule

VARIANTS: dict[str, dict[str, bool]] = {
    "fp32": {},
    "benchmark": {"benchmark": True},
    "channels_last": {"benchmark": True, "channels_last": True},
    "no_metrics": {"benchmark": True, "no_metrics": True},
    "bf16": {"benchmark": True, "bf16": True},
    "bf16_channels_last": {"benchmark": True, "bf16": True, "channels_last": True},
    "compile": {"benchmark": True, "compile": True},
    "compile_channels_last": {"benchmark": True, "channels_last": True, "compile": True},
}
#: The variants a run can train in without changing the protocol (fp32), simplest first;
#: gpu_reproduce.sh turns the chosen one into fit arguments.
RUN_VARIANTS = ("benchmark", "channels_last", "compile", "compile_channels_last")
#: Training steps of the shortest job (CVC-ClinicDB, 40 epochs x 122): what a warm-up is paid back over.
JOB_STEPS = 4880
#: Compilations a compiled job pays, where the profile times one: the training step, evaluation
#: (another graph: batch norm in eval mode) and the last, smaller evaluation batch.
COMPILES_PER_JOB = 3


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_step(options: dict[str, bool], device: torch.device, batch: int, size: int) -> Callable[[], None]:
    """One training step of a fresh module set up as ``options`` say, as a function of nothing."""
    torch.backends.cudnn.benchmark = options.get("benchmark", False)
    module = PolypSegModule(
        model="iam_unet",
        loss="dice",
        channels_last=options.get("channels_last", False),
        compile=options.get("compile", False),  # the run's own path: the network compiled in place
    )
    module.to(device).train()
    net = module.net
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-3)
    generator = torch.Generator(device="cpu").manual_seed(0)
    images = torch.rand(batch, 3, size, size, generator=generator).to(device)
    masks = (torch.rand(batch, 1, size, size, generator=generator) > 0.7).float().to(device)
    autocast = (
        (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if options.get("bf16") else (lambda: nullcontext())
    )

    def step() -> None:
        with autocast():
            logits = net(module._layout(images))
            loss = module.loss_fn(logits.float(), masks)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if not options.get("no_metrics"):
            module.train_metrics.update(binarize(logits.detach()), masks.long())

    return step


def time_variant(name: str, device: torch.device, batch: int, size: int, warmup: int, steps: int) -> dict:
    """Milliseconds a step of variant ``name`` takes, after its warm-up (and compilation)."""
    step = make_step(VARIANTS[name], device, batch, size)
    start = time.perf_counter()
    for _ in range(warmup):
        step()
    _sync(device)
    warm_s = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    ms = (time.perf_counter() - start) * 1000 / steps
    return {
        "variant": name,
        "ms_per_step": round(ms, 2),
        "images_per_s": round(batch * 1000 / ms, 1),
        "warmup_s": round(warm_s, 1),
    }


def top_kernels(name: str, device: torch.device, batch: int, size: int, steps: int, top: int) -> list[dict]:
    """The ``top`` kernels (or CPU ops) of variant ``name`` by total time over ``steps`` profiled steps."""
    from torch.profiler import ProfilerActivity, profile

    step = make_step(VARIANTS[name], device, batch, size)
    for _ in range(2):
        step()
    _sync(device)
    activity = ProfilerActivity.CUDA if device.type == "cuda" else ProfilerActivity.CPU
    with profile(activities=[activity]) as prof:
        for _ in range(steps):
            step()
        _sync(device)
    totals: dict[str, list[float]] = {}
    for event in prof.events():
        us = event.device_time_total if device.type == "cuda" else event.self_cpu_time_total
        if device.type == "cuda" and str(event.device_type).split(".")[-1] != "CUDA":
            continue
        if us <= 0:
            continue
        entry = totals.setdefault(event.name, [0.0, 0])
        entry[0] += us
        entry[1] += 1
    ranked = sorted(totals.items(), key=lambda kv: -kv[1][0])[:top]
    all_us = sum(v[0] for v in totals.values()) or 1.0
    return [
        {
            "name": n[:160],
            "ms_per_step": round(v[0] / 1000 / steps, 3),
            "calls_per_step": round(v[1] / steps, 1),
            "share": round(v[0] / all_us, 4),
        }
        for n, v in ranked
    ]


def choose_variant(rows: list[dict], job_steps: int = JOB_STEPS, margin: float = 0.9) -> str:
    """The variant of RUN_VARIANTS a run should train in, from the timed ``rows``.

    A job pays a variant's warm-up (cuDNN's search; a compilation, COMPILES_PER_JOB times) and its
    step ``job_steps`` times; a variant replaces a simpler one only where that total is under
    ``margin`` times the simpler one's, so a near tie keeps the simpler. ``benchmark`` (NCHW) when nothing was timed.
    """
    totals = {
        r["variant"]: r["warmup_s"] * (COMPILES_PER_JOB if VARIANTS[r["variant"]].get("compile") else 1)
        + job_steps * r["ms_per_step"] / 1000
        for r in rows
        if r.get("variant") in RUN_VARIANTS and r.get("ms_per_step") and r.get("warmup_s") is not None
    }
    best = "benchmark"
    for name in RUN_VARIANTS:  # simplest first
        if name in totals and (best not in totals or totals[name] < margin * totals[best]):
            best = name
    return best


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated, from: " + ", ".join(VARIANTS))
    p.add_argument("--profile-steps", type=int, default=5, help="steps profiled for the kernel list (0: none)")
    p.add_argument("--top", type=int, default=15)
    p.add_argument("--out", type=Path, help="write the JSON here too")
    p.add_argument("--choose-out", type=Path, help="write the variant a run should train in here (choose_variant)")
    p.add_argument("--job-steps", type=int, default=JOB_STEPS, help="training steps a chosen warm-up is paid over")
    args = p.parse_args(argv)
    names = [n for n in args.variants.split(",") if n]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        p.error(f"unknown variants {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    device = torch.device(args.device)
    result: dict = {
        "format": "polypnet-gpu-profile/1",
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "torch": torch.__version__,
        "batch": args.batch,
        "size": args.size,
        "warmup": args.warmup,
        "steps": args.steps,
        "variants": [],
    }
    for name in names:
        try:
            row = time_variant(name, device, args.batch, args.size, args.warmup, args.steps)
        except Exception as err:  # one failing variant (compile without a compiler) must not lose the rest
            row = {
                "variant": name,
                "error": f"{type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}",
            }
        result["variants"].append(row)
        print(json.dumps(row), flush=True)
    if args.profile_steps > 0:
        result["kernels_of"] = names[0]
        result["kernels"] = top_kernels(names[0], device, args.batch, args.size, args.profile_steps, args.top)
        for k in result["kernels"]:
            print(f"{k['ms_per_step']:9.3f} ms {k['share']:6.1%} x{k['calls_per_step']:<6} {k['name']}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    if args.choose_out:
        args.choose_out.write_text(choose_variant(result["variants"], args.job_steps) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
