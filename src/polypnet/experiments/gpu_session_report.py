"""The sessions section of docs/gpu.md: how far each job of a GPU session got, from its record."""

from __future__ import annotations

import json
from pathlib import Path

from .markdown import link, table

RECORDS = Path("results/gpu")
PATTERN = "session-*.json"
FORMAT = "polypnet-gpu-session/1"


def _variant(record: dict) -> str:
    """How the session's jobs trained (memory layout, compiled or not), and the step timings that
    chose it (recorded since the script chooses)."""
    variant = record.get("variant")
    if not variant:
        return ""
    timed = record.get("step_ms") or {}
    times = ", ".join(f"{name} {ms:.1f} ms" for name, ms in timed.items() if ms)
    return f"Trained as: {variant}" + (f" (a training step timed first: {times})" if times else "") + ".\n\n"


def _readings(record: dict) -> str:
    """How many heartbeats the GPU's maxima come from (recorded since gpu_readings)."""
    n = record.get("gpu_readings")
    return "" if n is None else f" ({n} reading{'s' if n != 1 else ''}, one a heartbeat)"


def _state(job: dict) -> str:
    """How a job ended in this session; a job with no exit never started (too little time left)."""
    if job.get("earlier"):
        return "finished in an earlier command"
    if job["finished"]:
        state = "finished"
    elif job["stopped_at_limit"]:
        state = "stopped at the limit"
    elif job["exit"] is None:
        return "not started"
    else:
        state = "failed"
    return state + (", resumed" if job.get("resumed") else "")


def _session(record: dict, path: Path, base: Path) -> str:
    rows, steps_per_s = [], 0.0
    for job in record["jobs"]:
        rate = job["last_step"] / job["fit_s"] if job.get("fit_s") else None
        steps_per_s += rate or 0.0
        rows.append(
            [
                f"`{job['job']}`",
                _state(job),
                f"{job['epochs_validated']} of {job['max_epochs'] or '-'}",
                str(job["last_step"]),
                f"{job['fit_s']:.0f}" if job.get("fit_s") else "-",
                f"{rate:.2f}" if rate else "-",
                f"{job['best_val_dice']:.4f}" if job.get("best_val_dice") is not None else "-",
            ]
        )
    finished = sum(j["finished"] and not j.get("earlier") for j in record["jobs"])
    intro = (
        f"**{record['started'][:16].replace('T', ' ')} UTC**, {record['device']}, commit `{record['commit']}`: "
        f"{len(record['jobs'])} job{'s' if len(record['jobs']) != 1 else ''}, "
        f"{record['jobs_at_once']} at once, stopped at {record['time_limit_s']} s; {finished} finished. "
        + (
            f"Side by side they trained {steps_per_s:.1f} steps of 16 images a second together. "
            if record["jobs_at_once"] > 1
            else ""
        )
        + f"The GPU's utilisation read up to {record['gpu_util_max_pct']} % and its memory up to "
        f"{record['gpu_mem_max_mib']} MiB{_readings(record)}.\n\n"
        f"Command: `{record['command']}`. Packages there: {record['versions']}.\n\n" + _variant(record)
    )
    header = ["job", "state", "epochs validated", "last step", "fit s", "steps/s", "best val Dice so far"]
    return intro + table(header, rows) + f"\nRecord {link(path, path.name, base)}.\n"


def gpu_sessions_markdown(root: Path, base: Path) -> str:
    """Every recorded GPU session, newest first."""
    paths = sorted((root / RECORDS).glob(PATTERN), reverse=True)
    parts = []
    for path in paths:
        record = json.loads(path.read_text())
        if record.get("format") != FORMAT:
            raise ValueError(f"{path}: format {record.get('format')!r}, expected {FORMAT!r}")
        parts.append(_session(record, path.relative_to(root), base))
    return "\n".join(parts) if parts else "No GPU session is recorded yet.\n"
