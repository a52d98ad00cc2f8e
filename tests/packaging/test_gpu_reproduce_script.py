"""scripts/gpu_reproduce.sh, the one command of the GPU machine: its job queue, archive and checkpoints.

The script's own logic runs for real; `polypnet reproduce` is replaced by a stand-in interpreter
(PYTHON) that writes what a finished run leaves, so the test takes seconds and needs no GPU.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import torch

from ..conftest import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "gpu_reproduce.sh"

# Stands in for python3: `-` and `-c` (the version check, the final table) succeed; `-m
# polypnet.cli.main reproduce ...` writes a run folder with a best checkpoint and, unless the
# seed is 13 (a run that fails), the run's record.
FAKE_PYTHON = r"""#!/usr/bin/env bash
case "$1" in
  -) cat >/dev/null; exit 0 ;;
  -c) mkdir -p "$3" && echo "table" > "$3/README.md"; exit 0 ;;
  *gpu_profile.py)  # channels-last timed faster
    while [ $# -gt 0 ]; do [ "$1" = --choose-out ] && echo channels_last > "$2"; shift; done
    exit 0 ;;
esac
echo "$*" >> "${FAKE_ARGS:-/dev/null}"
shift 3  # -m polypnet.cli.main reproduce
while [ $# -gt 0 ]; do
  case "$1" in
    --protocol) protocol=$2 ;; --datasets) ds=$2 ;; --seeds) seed=$2 ;; --split) split=$2 ;;
    --out) out=$2 ;; --runs) runs=$2 ;; --extra) break ;;
  esac
  shift
done
run="$runs/$protocol/${ds}_${split}_seed$seed"
case $protocol in pranet*) run="$runs/$protocol/pranet_seed$seed" ;; esac
mkdir -p "$run/checkpoints" "$out/$protocol"
printf 'epoch,step\n0,1\n' > "$run/metrics.csv"
"$REAL_PYTHON" -c "import sys, torch; torch.save({'state_dict': {}, 'optimizer_states': [0], 'job': sys.argv[2]}, sys.argv[1])" \
  "$run/checkpoints/best-epoch000-dice0.5000.ckpt" "$protocol $ds $seed"
echo "start $(date +%s%N)" >> "$runs/../events.txt"
sleep 1
echo "end $(date +%s%N)" >> "$runs/../events.txt"
[ "$seed" = 13 ] && { echo "error: diverged"; exit 1; }
case $protocol in pranet*) exit 0 ;; esac  # trained on packs: recorded elsewhere
tail="" ; [ "$seed" != 42 ] && tail="_split42"
echo '{}' > "$out/$protocol/${ds}_seed${seed}${tail}.json"
"""


def _env(tmp_path: Path, **settings: str) -> dict[str, str]:
    """The script's environment: the stand-in interpreter, empty data folders, OUT and WORK under ``tmp_path``."""
    python = tmp_path / "python"
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    for ds in ("cvc-clinicdb", "kvasir-seg"):
        (tmp_path / "data" / ds).mkdir(parents=True)
    return {
        **os.environ,
        "SKIP_INSTALL": "1",
        "PYTHON": str(python),
        "DATA_DIR": str(tmp_path / "data"),
        "OUT": str(tmp_path / "out"),
        "WORK": str(tmp_path / "work"),
        "FAKE_ARGS": str(tmp_path / "args.txt"),
        **settings,
    }


@pytest.mark.skipif(shutil.which("bash") is None or shutil.which("timeout") is None, reason="needs bash and timeout")
def test_one_job_per_protocol_dataset_and_seed(tmp_path: Path) -> None:
    out, work = tmp_path / "out", tmp_path / "work"
    env = _env(
        tmp_path,
        PROTOCOLS="paper pranet",  # each fake job starts Python and torch: few, but every kind
        DATASETS="cvc-clinicdb kvasir-seg",
        SEEDS="43 13",
        JOBS="3",
        HEARTBEAT_S="1",
        REAL_PYTHON=sys.executable,
        COLLECT_PYTHON=sys.executable,
    )
    done = subprocess.run(["bash", str(SCRIPT)], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    log = done.stdout + done.stderr
    assert done.returncode == 1, log  # the seed-13 jobs failed, and the exit status says so
    assert "6 jobs, 3 at once" in log  # 2 datasets x 2 seeds, + PraNet's 2 seeds
    # VARIANT=auto on a GPU: the timed step chose channels-last, and every job trains in it.
    calls = (tmp_path / "args.txt").read_text().splitlines()
    assert len(calls) == 6 and all("--model.channels_last true" in c for c in calls), calls
    assert log.count(": exit 0 after") == 3 and log.count(": exit 1 after") == 3, log
    # Every job ran, three at a time at most.
    events = sorted(
        (int(t), kind) for kind, t in (line.split() for line in (work / "events.txt").read_text().splitlines())
    )
    running, most = 0, 0
    for _, kind in events:
        running += 1 if kind == "start" else -1
        most = max(most, running)
    assert len(events) == 12 and most == 3
    # The checkpoints of the jobs that ended well only, slimmed, in tars the device tool returns.
    ckpts = {}
    for part in sorted(out.glob("checkpoints-*.tar")):
        with tarfile.open(part) as tar:
            for member in tar.getmembers():
                ckpts[member.name] = torch.load(tar.extractfile(member), weights_only=True)
    assert "pranet_pranet_seed43__best-epoch000-dice0.5000.ckpt" in ckpts and len(ckpts) == 3, sorted(ckpts)
    assert sum(name.endswith("_random_seed43__best-epoch000-dice0.5000.ckpt") for name in ckpts) == 2, sorted(ckpts)
    assert ckpts["paper_kvasir-seg_random_seed43__best-epoch000-dice0.5000.ckpt"]["job"] == "paper kvasir-seg 43"
    assert not any("optimizer_states" in c for c in ckpts.values())
    with tarfile.open(out / "gpu_results.tar.gz") as archive:
        names = archive.getnames()
    assert "results/paper/kvasir-seg_seed43_split42.json" in names and "log.txt" in names
    assert not any("checkpoints" in name for name in names)
    assert (out / "log.txt").is_file()


@pytest.mark.skipif(shutil.which("bash") is None or shutil.which("timeout") is None, reason="needs bash and timeout")
def test_job_list_runs_those_jobs_in_its_order(tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = _env(
        tmp_path,
        JOB_LIST="pranet:both:44 improved:kvasir-seg:44 paper:cvc-clinicdb:43",
        JOBS="1",
        CKPTS="0",
        VARIANT="nchw",
    )
    done = subprocess.run(["bash", str(SCRIPT)], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log
    assert "3 jobs, 1 at once" in log
    assert "channels_last" not in (tmp_path / "args.txt").read_text()  # VARIANT=nchw: nothing timed or added
    started = [line.split("] ")[1].split(":")[0:3] for line in log.splitlines() if line.endswith(": start")]
    assert [":".join(s) for s in started] == ["pranet:both:44", "improved:kvasir-seg:44", "paper:cvc-clinicdb:43"]
    assert not list(out.glob("checkpoints-*.tar"))  # CKPTS=0
    with tarfile.open(out / "gpu_results.tar.gz") as archive:
        names = archive.getnames()
    assert "results/improved/kvasir-seg_seed44_split42.json" in names
    assert "results/paper/cvc-clinicdb_seed43_split42.json" in names
    assert not any(n.startswith("results/paper/kvasir") or n.startswith("results/improved/cvc") for n in names)


@pytest.mark.skipif(shutil.which("bash") is None or shutil.which("timeout") is None, reason="needs bash and timeout")
def test_a_second_command_skips_finished_jobs_resumes_and_starts_none_late(tmp_path: Path) -> None:
    out, work = tmp_path / "out", tmp_path / "work"
    # An earlier command in the same WORK stopped this job at the limit; this one finishes it.
    (work / "stopped").mkdir(parents=True)
    (work / "stopped" / "paper:cvc-clinicdb:43").touch()
    (work / "finished").mkdir()
    (work / "finished" / "improved:cvc-clinicdb:42").touch()  # done before: not run again
    env = _env(
        tmp_path,
        JOB_LIST="improved:cvc-clinicdb:42 paper:cvc-clinicdb:43 paper:cvc-clinicdb:44 improved:cvc-clinicdb:44",
        JOBS="1",
        VARIANT="nchw",
        # The job gets what is left of 8 s (a slow machine needs seconds to start it); the queue is
        # next looked at after 5 s, with 3 s or less left: too late for the other two.
        TIME_LIMIT_S="8",
        MIN_JOB_S="4",
        REAL_PYTHON=sys.executable,
        COLLECT_PYTHON=sys.executable,
    )
    done = subprocess.run(["bash", str(SCRIPT)], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    log = done.stdout + done.stderr
    assert done.returncode == 1, log  # not everything ran
    assert "paper:cvc-clinicdb:43: exit 0 after" in log
    assert "improved:cvc-clinicdb:42: finished in an earlier command" in log
    assert len((tmp_path / "args.txt").read_text().splitlines()) == 1
    assert "left: paper:cvc-clinicdb:44 improved:cvc-clinicdb:44" in log and log.count(": start") == 1, log
    names = []
    for part in sorted(out.glob("checkpoints-*.tar")):
        with tarfile.open(part) as tar:
            names += tar.getnames()
    assert names == ["paper_cvc-clinicdb_random_seed43__best-epoch000-dice0.5000.ckpt"], names
    assert not (work / "stopped" / "paper:cvc-clinicdb:43").exists()
