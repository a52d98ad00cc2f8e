"""The speed goal of ``polypnet benchmark``, computed from its record: each model's
ratios to the peer measured in the same run, and the goal's verdicts (``goal``), which
docs/performance.md shows."""

from __future__ import annotations

from typing import Any

from .benchmark import EAGER, ORT_DEFAULTS


def ratios(rows: list[dict[str, Any]], peer: str) -> None:
    """Add ``speedup_*_vs_peer`` (peer time / model time; > 1 is faster) and size ratios."""
    ref = next((r for r in rows if r["model"] == peer and "error" not in r), None)
    if ref is None:
        return
    for r in rows:
        if "error" in r:
            continue
        r["params_vs_peer"] = r["params"] / ref["params"]
        r["gflops_vs_peer"] = r["gflops_per_image"] / ref["gflops_per_image"]
        if "train_images_per_s" in r and "train_images_per_s" in ref:
            r["train_speedup_vs_peer"] = {
                k: v / ref["train_images_per_s"][k] for k, v in r["train_images_per_s"].items()
            }
        if "latency_b1" not in r or "latency_b1" not in ref:
            continue
        r["speedup_b1_vs_peer"] = {
            m: ref["latency_b1"][m]["median_ms"] / v["median_ms"]
            for m, v in r["latency_b1"].items()
            if m in ref["latency_b1"]
        }
        r["speedup_best_b1_vs_peer_best"] = (
            ref["latency_b1"][ref["best_mode"]]["median_ms"] / r["latency_b1"][r["best_mode"]]["median_ms"]
        )


def goal(result: dict[str, Any]) -> dict[str, Any]:
    """Issue 38's goal against this run: >= 100 frames/s at batch 1 in the fastest mode that keeps
    the test F1 within 0.3 points of torch fp32 on every dataset, >= 2x the peer's fastest of the
    same modes, and a 720x576 video at >= 30 frames/s end to end."""
    rows = {r["model"]: r for r in result["rows"] if "error" not in r and "latency_b1" in r}
    iam, peer = rows.get("iam_unet"), rows.get(result["peer"])
    if iam is None:
        return {"skipped": "IAM-UNet was not measured"}
    measured = [t for t in result.get("accuracy", {}).values() if "f1" in t]
    modes = [m for m in iam["latency_b1"] if m not in (EAGER, ORT_DEFAULTS)]

    def kept(mode: str) -> bool:
        deltas = [t["delta_points_vs_torch_fp32"].get(mode) for t in measured]
        return bool(measured) and all(d is not None and abs(d) <= 0.3 for d in deltas)

    eligible = [m for m in modes if kept(m)] if measured else modes
    best = min(eligible, key=lambda m: iam["latency_b1"][m]["median_ms"])
    ms = iam["latency_b1"][best]["median_ms"]
    out: dict[str, Any] = {
        "accuracy_checked": bool(measured),
        "modes_keeping_accuracy": eligible,
        "best_mode": best,
        "best_ms": ms,
        "frames_per_s": 1000 / ms,
        "frames_per_s_goal": 100,
        "frames_per_s_met": 1000 / ms >= 100,
        "frames_per_s_factor_short": max(1.0, ms / 10),
    }
    if peer is not None:
        same = [m for m in eligible if m in peer["latency_b1"]]
        peer_best = min(same, key=lambda m: peer["latency_b1"][m]["median_ms"])
        ratio = peer["latency_b1"][peer_best]["median_ms"] / ms
        h2h = result.get("head_to_head")
        if h2h and h2h.get("modes") == [best, peer_best]:
            ratio = h2h["speedup"]  # measured in turn in one process: the fairer figure
            h2h_ms = h2h["latency_b1"][f"iam_unet {best}"]["median_ms"]
            out.update(
                {
                    "head_to_head_ms": h2h_ms,
                    "head_to_head_frames_per_s": 1000 / h2h_ms,
                    "head_to_head_frames_per_s_met": 1000 / h2h_ms >= 100,
                }
            )
        out.update(
            {
                "peer_best_mode": peer_best,
                "peer_best_ms": peer["latency_b1"][peer_best]["median_ms"],
                "speedup_vs_peer": ratio,
                "speedup_from": "head_to_head"
                if h2h and h2h.get("modes") == [best, peer_best]
                else "separate processes",
                "speedup_goal": 2.0,
                "speedup_met": ratio >= 2.0,
            }
        )
    video = result.get("video", {})
    if "frames_per_s" in video:
        out.update(
            {"video_frames_per_s": video["frames_per_s"], "video_goal": 30, "video_met": video["frames_per_s"] >= 30}
        )
    return out
