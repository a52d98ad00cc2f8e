"""scripts/gpu_session_record.py (a GPU session's record from what it returned) and the docs/gpu.md section made from it."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

from polypnet.experiments.gpu_session_report import gpu_sessions_markdown

from ..conftest import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "gpu_session_record.py"

LOG = """== gpu_reproduce.sh 2026-12-04T14:14:23Z: jobs [improved:cvc-clinicdb:42 paper:cvc-clinicdb:43 pranet:both:42 paper:kvasir-seg:43] split random: 4 jobs, 1 at once; accelerator gpu precision config workers 8 per job limit 540s work /tmp/w
commit abc1234
python 3.12.3 torch 2.11.0
cuda True NVIDIA H200
== [5s] timing a training step: benchmark,channels_last (scripts/gpu_profile.py)
== [30s] variant channels_last; fit arguments added: --model.channels_last true
== [30s] improved:cvc-clinicdb:42: finished in an earlier command
== [30s] paper:cvc-clinicdb:43: start
[paper:cvc-clinicdb:43] /tmp/w/runs/paper/cvc-clinicdb_random_seed43: resuming from /tmp/w/runs/paper/cvc-clinicdb_random_seed43/checkpoints/last.ckpt
== [85s] running: paper:cvc-clinicdb:43 epoch 3; gpu 97 %, 5000 MiB
== [300s] paper:cvc-clinicdb:43: exit 0 after 290s
== [400s] running: pranet:both:42 epoch 1; gpu 99 %, 6000 MiB
== [545s] pranet:both:42: exit 124 after 245s (stopped at the time limit)
== [550s] not started, 10s left: paper:kvasir-seg:43
"""


def _add(tar: tarfile.TarFile, name: str, text: str) -> None:
    data = text.encode()
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _archive(path: Path, log: str = LOG) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        _add(tar, "log.txt", log)
        variants = [{"variant": "benchmark", "ms_per_step": 90.0}, {"variant": "channels_last", "ms_per_step": 30.5}]
        _add(tar, "gpu_profile.json", json.dumps({"variants": variants}))
        run = "runs/paper/cvc-clinicdb_random_seed43"
        _add(tar, f"{run}/metrics.csv", "epoch,step,val/dice_global\n0,121,0.5\n1,243,0.75\n1,245,\n")
        _add(tar, f"{run}/config.yaml", "trainer:\n  max_epochs: 2\n")
        _add(tar, f"{run}/wall_clock.json", '{"seconds": 245.0, "parts": 1}')
        _add(tar, f"{run}/test_metrics.json", "{}")
        run = "runs/pranet/pranet_seed42"
        _add(tar, f"{run}/metrics.csv", "epoch,step,val/dice_global\n0,325,0.6\n1,400,\n")
        _add(tar, f"{run}/config.yaml", "trainer:\n  max_epochs: 40\n")
        _add(tar, f"{run}/wall_clock.json", '{"seconds": 200.0, "parts": 1}')
    return path


def test_record_and_section(tmp_path: Path) -> None:
    out = tmp_path / "results" / "gpu" / "session-2026-12-04.json"
    subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            str(_archive(tmp_path / "a.tar.gz")),
            "--command",
            "bash x.sh",
            "--out",
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    record = json.loads(out.read_text())
    assert record["commit"] == "abc1234"  # the commit that ran, from the log
    assert record["device"] == "NVIDIA H200" and record["jobs_at_once"] == 1 and record["time_limit_s"] == 540
    assert record["gpu_util_max_pct"] == 99 and record["gpu_mem_max_mib"] == 6000
    assert record["variant"] == "channels_last" and record["step_ms"] == {"benchmark": 90.0, "channels_last": 30.5}
    assert record["gpu_readings"] == 2
    earlier, paper, pranet, late = record["jobs"]
    assert earlier["earlier"] and earlier["exit"] is None and not paper["earlier"]
    assert paper == {
        "job": "paper:cvc-clinicdb:43",
        "exit": 0,
        "stopped_at_limit": False,
        "job_s": 290,
        "resumed": True,
        "earlier": False,
        "epochs_validated": 2,
        "max_epochs": 2,
        "last_step": 245,
        "best_val_dice": 0.75,
        "fit_s": 245.0,
        "finished": True,
    }
    assert pranet["stopped_at_limit"] and not pranet["finished"] and pranet["last_step"] == 400
    assert not pranet["resumed"] and late["exit"] is None and late["epochs_validated"] == 0
    text = gpu_sessions_markdown(tmp_path, Path("docs"))
    assert "4 jobs, 1 at once, stopped at 540 s; 1 finished" in text  # not the earlier one
    assert "| `improved:cvc-clinicdb:42` | finished in an earlier command | 0 of - |" in text
    assert "| `paper:cvc-clinicdb:43` | finished, resumed | 2 of 2 | 245 | 245 | 1.00 | 0.7500 |" in text
    assert "| `paper:kvasir-seg:43` | not started | 0 of - | 0 | - | - | - |" in text
    assert "| `pranet:both:42` | stopped at the limit | 1 of 40 | 400 | 200 | 2.00 | 0.6000 |" in text
    assert "Side by side" not in text  # one at a time: no sum of rates
    assert "utilisation read up to 99 % and its memory up to 6000 MiB (2 readings, one a heartbeat)" in text
    assert "(../results/gpu/session-2026-12-04.json)" in text
    assert "Trained as: channels_last (a training step timed first: benchmark 90.0 ms, channels_last 30.5 ms)." in text


def test_step_timings_count_only_where_the_log_timed_them(tmp_path: Path) -> None:
    # A second command in the same WORK finds the first's gpu_profile.json, but timed nothing itself;
    # and logs written before compile was a choice name the variant "layout".
    log = "\n".join(line for line in LOG.splitlines() if "timing a training step" not in line) + "\n"
    log = log.replace("] variant channels_last;", "] layout channels_last;")
    out = tmp_path / "session.json"
    archive = _archive(tmp_path / "a.tar.gz", log)
    subprocess.run([sys.executable, str(SCRIPT), str(archive), "--command", "x", "--out", str(out)], check=True)
    record = json.loads(out.read_text())
    assert record["step_ms"] is None and record["variant"] == "channels_last"


def test_no_session_recorded(tmp_path: Path) -> None:
    assert gpu_sessions_markdown(tmp_path, Path("docs")) == "No GPU session is recorded yet.\n"
