#!/usr/bin/env python
"""Write the record of one GPU session from what gpu_reproduce.sh returned (docs/gpu.md is generated from it).

    python scripts/gpu_session_record.py gpu_results.tar.gz --command 'JOB_LIST="..." bash scripts/gpu_reproduce.sh' \\
        --out results/gpu/session-2026-12-04.json

Reads the archive's log.txt (start time, versions, device, the step variant chosen, each job's exit and
time, whether it resumed an earlier run or had finished in an earlier command, the GPU's load in the heartbeats), the step timings of gpu_profile.json if any, and each
run's metrics.csv, config.yaml and wall_clock.json, and keeps how far every job got: the measure
of what one session of device time trains.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import tarfile
from pathlib import Path

import yaml

from polypnet.experiments.provenance import git_commit

FORMAT = "polypnet-gpu-session/1"
_HEADER = re.compile(r"^== gpu_reproduce\.sh (\S+): jobs \[([^\]]*)\].*?(\d+) jobs, (\d+) at once.*limit (\d+)s")
_EXIT = re.compile(r"^== \[(\d+)s\] (\S+): exit (\d+) after (\d+)s")
_GPU = re.compile(r"gpu (\d+) %, (\d+) MiB")
_VARIANT = re.compile(r"^== \[\d+s\] (?:variant|layout) (\S+);")  # "layout": logs before compile was a choice


def run_folder(job: str) -> str:
    """Where gpu_reproduce.sh trains ``protocol:dataset:seed`` (random split), under runs/."""
    protocol, dataset, seed = job.split(":")
    if protocol.startswith("pranet"):
        return f"runs/{protocol}/pranet_seed{seed}"
    return f"runs/{protocol}/{dataset}_random_seed{seed}"


def _read(tar: tarfile.TarFile, name: str) -> str | None:
    try:
        member = tar.extractfile(name)
    except KeyError:
        return None
    return member.read().decode() if member else None


def job_progress(tar: tarfile.TarFile, job: str) -> dict:
    """How far one job's run got: epochs validated, the last logged step, its best validation Dice."""
    folder = run_folder(job)
    metrics = _read(tar, f"{folder}/metrics.csv")
    rows = list(csv.DictReader(io.StringIO(metrics))) if metrics else []
    val = [float(r["val/dice_global"]) for r in rows if r.get("val/dice_global")]
    steps = [int(r["step"]) for r in rows if r.get("step")]
    config = yaml.safe_load(_read(tar, f"{folder}/config.yaml") or "{}") or {}
    clock = json.loads(_read(tar, f"{folder}/wall_clock.json") or "{}")
    return {
        "epochs_validated": len(val),
        "max_epochs": config.get("trainer", {}).get("max_epochs"),
        "last_step": max(steps, default=0),
        "best_val_dice": round(max(val), 4) if val else None,
        "fit_s": clock.get("seconds"),
        "finished": _read(tar, f"{folder}/test_metrics.json") is not None,
    }


def session_record(archive: Path, command: str) -> dict:
    """The record of the session whose ``gpu_results.tar.gz`` is ``archive``."""
    with tarfile.open(archive) as tar:
        log = _read(tar, "log.txt") or ""
        lines = log.splitlines()
        header = next((m for m in map(_HEADER.match, lines) if m), None)
        if header is None:
            raise SystemExit(f"error: {archive}: no gpu_reproduce.sh header in its log.txt")
        started, jobs, _n, at_once, limit = header.groups()
        exits = {m.group(2): m for m in map(_EXIT.match, lines) if m}
        loads = [(int(a), int(b)) for a, b in _GPU.findall(log)]
        device = next((line[len("cuda True ") :] for line in lines if line.startswith("cuda True ")), None)
        ran_at = next((line.split()[1] for line in lines if line.startswith("commit ")), None)
        versions = next((line for line in lines if line.startswith("python ")), None)
        variant = next((m.group(1) for m in map(_VARIANT.match, lines) if m), None)
        # WORK may be reused from an earlier command: its timings count only where this log timed.
        timed = any("timing a training step" in line for line in lines)
        profile = json.loads(_read(tar, "gpu_profile.json") or "null") if timed else None
        rows = []
        for job in jobs.split():
            m = exits.get(job)
            rows.append(
                {
                    "job": job,
                    "exit": int(m.group(3)) if m else None,
                    "stopped_at_limit": bool(m) and m.group(3) in ("124", "137"),
                    "job_s": int(m.group(4)) if m else None,
                    # A resumed run's epochs and clock count its earlier commands too.
                    "resumed": any(line.startswith(f"[{job}] ") and ": resuming from " in line for line in lines),
                    "earlier": any(line.endswith(f"] {job}: finished in an earlier command") for line in lines),
                    **job_progress(tar, job),
                }
            )
    return {
        "format": FORMAT,
        "command": command,
        "commit": ran_at if ran_at and ran_at != "unknown" else git_commit(),  # older logs: this checkout's
        "started": started,
        "device": device,
        "versions": versions,
        "jobs_at_once": int(at_once),
        "time_limit_s": int(limit),
        "gpu_util_max_pct": max((u for u, _ in loads), default=None),
        "gpu_mem_max_mib": max((b for _, b in loads), default=None),
        "gpu_readings": len(loads),
        "variant": variant,
        "step_ms": {v["variant"]: v.get("ms_per_step") for v in profile["variants"]} if profile else None,
        "jobs": rows,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("archive", type=Path, help="gpu_results.tar.gz from the device")
    p.add_argument("--command", required=True, help="the device command, as run")
    p.add_argument("--out", type=Path, required=True, help="the record to write (results/gpu/session-DATE.json)")
    args = p.parse_args(argv)
    record = session_record(args.archive, args.command)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"record: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
