#!/usr/bin/env bash
# The one command that the GPU machine runs from the repository root, .gpu carried (docs/gpu.md):
#
#   bash scripts/gpu_reproduce.sh                          # both datasets, seed 42, 32-true
#   DATASETS=cvc-clinicdb SEEDS="42 43" bash scripts/gpu_reproduce.sh
#   PROTOCOL=improved bash scripts/gpu_reproduce.sh        # our improved recipe at the paper's schedule
#
# Installs .gpu/wheels into $SITE, runs polypnet reproduce (the paper protocol, or $PROTOCOL) on the packs
# in .gpu/data, and leaves in $OUT: gpu_results.tar.gz (results/ JSON + README.md table, and per
# run metrics.csv, curves.png, config.yaml, split.json, test_metrics.json, eval-test/, this log),
# log.txt, and each finished run's best checkpoint (<dataset>_<split>_seed<k>_best.ckpt, 6 at
# most: the device tool returns 8 files). The archive is rewritten each time a dataset ends, and
# runs still going at TIME_LIMIT_S are stopped, so a command cut short still returns what finished.
#
# Environment (default): PROTOCOL (paper), DATASETS ("cvc-clinicdb kvasir-seg"), SEEDS (42), SPLIT (random),
# ACCELERATOR (gpu), PRECISION (empty: the config's 32-true), PARALLEL (1: the datasets train
# side by side on the one GPU; 0: one after the other), NUM_WORKERS (8, or 6 per run when
# PARALLEL), TIME_LIMIT_S (540, from the start of this script), EXTRA (more fit.py arguments),
# DATA_DIR (.gpu/data), WHEELS (.gpu/wheels), SITE (/tmp/site), WORK (/tmp/polypnet-gpu-<time>),
# OUT (/tmp/gpu_out when unset), PYTHON (python3), SKIP_INSTALL (0; 1: use PYTHON's packages),
# CKPTS (1; 0: no checkpoints in $OUT), HEARTBEAT_S (60).
set -u
START=$(date +%s)
PROTOCOL=${PROTOCOL:-paper}
DATASETS=${DATASETS:-"cvc-clinicdb kvasir-seg"}
SEEDS=${SEEDS:-42}
SPLIT=${SPLIT:-random}
ACCELERATOR=${ACCELERATOR:-gpu}
PRECISION=${PRECISION:-}
PARALLEL=${PARALLEL:-1}
TIME_LIMIT_S=${TIME_LIMIT_S:-540}
EXTRA=${EXTRA:-}
DATA_DIR=${DATA_DIR:-.gpu/data}
WHEELS=${WHEELS:-.gpu/wheels}
SITE=${SITE:-/tmp/site}
WORK=${WORK:-/tmp/polypnet-gpu-$START}
OUT=${OUT:-/tmp/gpu_out}
PYTHON=${PYTHON:-python3}
CKPTS=${CKPTS:-1}
HEARTBEAT_S=${HEARTBEAT_S:-60}
if [ "$PARALLEL" = 1 ]; then SLOTS=$(wc -w <<<"$DATASETS"); DEFAULT_WORKERS=6; else SLOTS=1; DEFAULT_WORKERS=8; fi
NUM_WORKERS=${NUM_WORKERS:-$DEFAULT_WORKERS}

mkdir -p "$OUT" "$WORK"
LOG="$OUT/log.txt"
exec > >(tee -a "$LOG") 2>&1
elapsed() { echo $(( $(date +%s) - START )); }
echo "== gpu_reproduce.sh $(date -u +%FT%TZ): protocol $PROTOCOL datasets [$DATASETS] seeds [$SEEDS] split $SPLIT" \
     "accelerator $ACCELERATOR precision ${PRECISION:-config} parallel $PARALLEL workers $NUM_WORKERS" \
     "limit ${TIME_LIMIT_S}s work $WORK"

if [ "${SKIP_INSTALL:-0}" != 1 ]; then
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$SITE" "$WHEELS"/*.whl || { echo "error: installing $WHEELS failed"; exit 1; }
    export PYTHONPATH="$PWD/src:$SITE"
else
    export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
fi
# Unbuffered logs; no network there: albumentations' update check and the Hub stay offline.
export PYTHONUNBUFFERED=1 NO_ALBUMENTATIONS_UPDATE=1 HF_HUB_OFFLINE=1 MPLBACKEND=Agg
echo "== [$(elapsed)s] installed; versions:"
"$PYTHON" - <<'PY' || { echo "error: the packages do not import"; exit 1; }
import sys, importlib.metadata as md
import torch, polypnet.cli.reproduce  # noqa: F401  (every import of a run)
names = ["torch", "torchvision", "lightning", "torchmetrics", "numpy", "opencv-python-headless",
         "albumentations", "segmentation-models-pytorch", "jsonargparse", "pydantic", "timm"]
print("python", sys.version.split()[0], *(f"{n} {md.version(n)}" for n in names))
print("cuda", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "-")
PY
command -v nvidia-smi >/dev/null && nvidia-smi
nproc; free -g | head -2

archive() {  # everything but checkpoints and TensorBoard events, then the best checkpoints
    cp "$LOG" "$WORK/log.txt"
    tar -czf "$WORK/gpu_results.tar.gz.part" -C "$WORK" --exclude=checkpoints --exclude=tensorboard \
        --exclude=gpu_results.tar.gz.part $(cd "$WORK" && ls -d results runs log.txt 2>/dev/null) &&
        mv -f "$WORK/gpu_results.tar.gz.part" "$OUT/gpu_results.tar.gz"
    [ "$CKPTS" = 1 ] || return 0
    local ckpt run base n=0
    for ckpt in "$WORK"/runs/"$PROTOCOL"/*/checkpoints/best-*.ckpt; do
        [ -f "$ckpt" ] && [ $n -lt 6 ] || continue
        run=$(basename "$(dirname "$(dirname "$ckpt")")")  # <dataset>_<split>_seed<k>
        base="$WORK/results/$PROTOCOL/${run/_${SPLIT}_/_}"      # its result: <dataset>_seed<k>[_<split>].json
        [ -f "$base.json" ] || [ -f "${base}_$SPLIT.json" ] || continue  # a finished run's only
        cp -f "$ckpt" "$OUT/${run}_best.ckpt"
        n=$((n + 1))
    done
}

epoch_of() {  # the last epoch in a metrics.csv
    awk -F, 'NR == 1 {for (i = 1; i <= NF; i++) if ($i == "epoch") c = i; next} c && $c != "" {e = $c} END {print e}' "$1" 2>/dev/null
}

run_one() {  # one dataset, all seeds, stopped at the deadline
    local ds=$1 left=$(( TIME_LIMIT_S - $(elapsed) ))
    if [ "$left" -lt 60 ]; then echo "skipped: ${left}s left"; return 124; fi
    [ -d "$DATA_DIR/$ds" ] || { echo "error: $DATA_DIR/$ds not found (make gpu-bundle)"; return 2; }
    # shellcheck disable=SC2086  # SEEDS and EXTRA are word lists
    timeout -s INT -k 30 "$left" "$PYTHON" -m polypnet.cli.main reproduce --protocol "$PROTOCOL" --datasets "$ds" \
        --seeds $SEEDS --split "$SPLIT" --data-dir "$DATA_DIR" --accelerator "$ACCELERATOR" \
        --num-workers "$NUM_WORKERS" ${PRECISION:+--precision "$PRECISION"} \
        --out "$WORK/results" --runs "$WORK/runs" \
        --extra --trainer.enable_progress_bar false $EXTRA
}

declare -A PID STARTED
pending=($DATASETS)
running=()
status=0
last_beat=$(elapsed)
while :; do
    while [ ${#pending[@]} -gt 0 ] && [ ${#running[@]} -lt "$SLOTS" ]; do
        ds=${pending[0]}
        pending=("${pending[@]:1}")
        echo "== [$(elapsed)s] $ds: start"
        ( set -o pipefail; run_one "$ds" 2>&1 | sed -u "s/^/[$ds] /" ) &
        PID[$ds]=$!
        STARTED[$ds]=$(elapsed)
        running+=("$ds")
    done
    [ ${#running[@]} -eq 0 ] && break
    sleep 5
    still=()
    for ds in "${running[@]}"; do
        if kill -0 "${PID[$ds]}" 2>/dev/null; then still+=("$ds"); continue; fi
        wait "${PID[$ds]}"
        rc=$?
        [ $rc -eq 0 ] || status=1
        case $rc in 124|137) why=" (stopped at the time limit)" ;; *) why="" ;; esac
        echo "== [$(elapsed)s] $ds: exit $rc after $(( $(elapsed) - STARTED[$ds] ))s$why"
        archive
    done
    running=("${still[@]+"${still[@]}"}")
    if [ ${#running[@]} -gt 0 ] && [ $(( $(elapsed) - last_beat )) -ge "$HEARTBEAT_S" ]; then
        last_beat=$(elapsed)
        beat=""
        for ds in "${running[@]}"; do
            for csv in "$WORK"/runs/"$PROTOCOL"/"${ds}"_*/metrics.csv; do
                [ -f "$csv" ] && beat+=" $(basename "$(dirname "$csv")") epoch $(epoch_of "$csv");"
            done
        done
        gpu=$(command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=utilization.gpu,memory.used \
              --format=csv,noheader 2>/dev/null | head -1)
        echo "== [$(elapsed)s] running:${beat:- starting} ${gpu:+gpu $gpu}"
    fi
done
if [ -d "$WORK/results/$PROTOCOL" ]; then  # one table of every dataset (runs side by side wrote their own)
    "$PYTHON" -c "import sys; from pathlib import Path; from polypnet.cli.reproduce import write_table; \
print(write_table(Path(sys.argv[1])))" "$WORK/results/$PROTOCOL" && cat "$WORK/results/$PROTOCOL/README.md"
fi
echo "== [$(elapsed)s] done, exit $status; in $OUT:"
archive
ls -l "$OUT"
exit $status
