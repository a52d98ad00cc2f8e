"""docs/performance.md: a ``polypnet benchmark`` record rendered as Markdown, every number read
from the record (``make docs`` and ``polypnet benchmark --markdown`` both call
``performance_markdown``)."""

from __future__ import annotations

from typing import Any


def _ms(v: float) -> str:
    return f"{v:.1f}"


def performance_markdown(record: dict[str, Any]) -> str:
    """docs/performance.md from a ``polypnet benchmark`` record (every number read from it)."""
    lines = [
        "# Speed on a CPU",
        "",
        f"Generated from a `polypnet benchmark` record by `performance_markdown`; command: `{record['command']}`.",
        f"{record.get('note', '')}. Re-render without measuring: "
        "`polypnet benchmark --render RECORD --markdown docs/performance.md`.",
        "",
        machine_line(record.get("machine", {})),
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
        "## The speed goal",
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


def machine_line(m: dict[str, Any]) -> str:
    """The machine a record was measured on, its load and the versions, in one paragraph."""
    return (
        f"Machine: {m.get('cpu')}, {m.get('logical_cpus')} logical CPUs, {m.get('threads')} threads per backend, "
        f"bf16 instructions: {'yes' if m.get('bf16_instructions') else 'no'}; "
        f"matmul {m.get('matmul_gflops', 0):.1f} GFLOP/s, copy {m.get('copy_gbps', 0):.1f} GB/s; "
        f"load average {', '.join(f'{x:.1f}' for x in m.get('load_average_at_start', []))} at the start, "
        f"{', '.join(f'{x:.1f}' for x in m.get('load_average_at_end', []))} at the end. "
        "Versions: " + ", ".join(f"{k} {v}" for k, v in m.get("versions", {}).items() if v) + "."
    )


def training_markdown(record: dict[str, Any], link: str) -> str:
    """A ``polypnet benchmark --train-only`` record's training rows, its machine and where it is."""
    lines = [machine_line(record.get("machine", {})), ""]
    lines += _train_lines(record, heading=False)
    lines += [f"Record [{link.rsplit('/', 1)[-1]}]({link}), written by `{record['command']}`."]
    return "\n".join(lines) + "\n"


def _train_lines(record: dict[str, Any], heading: bool = True) -> list[str]:
    rows = [r for r in record["rows"] if "train_images_per_s" in r]
    if not rows:
        return []
    out = ["## Training images/s (batch 16)", ""] if heading else []
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
            + _host_memory_ratio(r)
        )
    return out + [""]


def _host_memory_ratio(row: dict[str, Any]) -> str:
    """The gain of keeping freed memory (``training.host_memory``), where the record has it."""
    if "train_host_memory" not in row:
        return ""
    kept = row["train_host_memory"]
    return f"; kept freed memory over glibc's default ({kept['size']} px fp32 channels_last): {kept['kept_over_default']:.2f}x"
