#!/usr/bin/env bash
# The one command that the GPU machine runs from the repository root, .gpu carried (docs/gpu.md):
#
#   bash scripts/gpu_reproduce.sh                                  # paper recipe, both datasets, seed 42
#   PROTOCOLS="paper improved" SEEDS="42 43 44" bash scripts/gpu_reproduce.sh   # the whole seed plan
#   DATASETS=cvc-clinicdb SEEDS="43 44" PROTOCOLS=improved bash scripts/gpu_reproduce.sh
#
#   JOB_LIST="pranet:both:42 improved:kvasir-seg:43" bash scripts/gpu_reproduce.sh  # these jobs, in this order
#
# Installs .gpu/wheels into $SITE and trains one job per protocol x dataset x seed with
# `polypnet reproduce` on the packs in .gpu/data, JOBS of them at once on the one GPU. Leaves in
# $OUT: gpu_results.tar.gz (results/<protocol>/ JSON + README.md tables, and per run metrics.csv,
# curves.png, config.yaml, split.json, test_metrics.json, eval-test/, this log), log.txt, and
# checkpoints-N.tar (scripts/gpu_collect.py: each job's best checkpoint without its optimizer
# state, named <protocol>_<run folder>__best-*.ckpt, and for a job stopped at the time limit its
# whole last.ckpt too, to resume it elsewhere; in the order of the jobs, the finished ones first).
# PROTOCOLS=pranet trains one model per seed on both datasets; its record is made where the
# original images are (polypnet reproduce --protocol pranet --from-run). The archive is rewritten
# each time a job ends, and jobs still going at TIME_LIMIT_S are stopped, so a command cut short
# still returns what finished.
#
# Environment (default): PROTOCOLS (paper; PROTOCOL is read too), DATASETS ("cvc-clinicdb
# kvasir-seg"), SEEDS (42), JOB_LIST (protocol:dataset:seed words, "both" as the PraNet protocols'
# dataset; instead of the three above), SPLIT (random), ACCELERATOR (gpu), PRECISION (empty: the config's
# 32-true), JOBS (1: jobs at once), NUM_WORKERS (DataLoader workers per job: the cores / JOBS,
# 1 to 8), TIME_LIMIT_S (540, from the start of this script), MIN_JOB_S (60: no job starts with
# less left), EXTRA (more fit arguments), VARIANT (auto: on the GPU, time a step in each of
# TUNE_VARIANTS, default benchmark,channels_last, and train in the one gpu_profile.py chooses;
# nchw; channels_last; compile; compile_channels_last),
# DATA_DIR (.gpu/data), WHEELS (.gpu/wheels), SITE (/tmp/site), WORK (/tmp/polypnet-gpu-<time>),
# OUT (/tmp/gpu_out when unset), PYTHON (python3), SKIP_INSTALL (0; 1: use PYTHON's packages),
# CKPTS (1; 0: no checkpoints in $OUT), HEARTBEAT_S (60), COLLECT_PYTHON (PYTHON: runs gpu_collect.py).
set -u
START=$(date +%s)
PROTOCOLS=${PROTOCOLS:-${PROTOCOL:-paper}}
DATASETS=${DATASETS:-"cvc-clinicdb kvasir-seg"}
SEEDS=${SEEDS:-42}
SPLIT=${SPLIT:-random}
ACCELERATOR=${ACCELERATOR:-gpu}
PRECISION=${PRECISION:-}
TIME_LIMIT_S=${TIME_LIMIT_S:-540}
MIN_JOB_S=${MIN_JOB_S:-60}
EXTRA=${EXTRA:-}
VARIANT=${VARIANT:-auto}
TUNE_VARIANTS=${TUNE_VARIANTS:-benchmark,channels_last}
DATA_DIR=${DATA_DIR:-.gpu/data}
WHEELS=${WHEELS:-.gpu/wheels}
SITE=${SITE:-/tmp/site}
WORK=${WORK:-/tmp/polypnet-gpu-$START}
OUT=${OUT:-/tmp/gpu_out}
PYTHON=${PYTHON:-python3}
CKPTS=${CKPTS:-1}
HEARTBEAT_S=${HEARTBEAT_S:-60}
COLLECT=${COLLECT:-$PWD/scripts/gpu_collect.py}
COLLECT_PYTHON=${COLLECT_PYTHON:-$PYTHON}
ALL_JOBS=()  # protocol:dataset:seed; the PraNet protocols train on both datasets at once ("both")
if [ -n "${JOB_LIST:-}" ]; then
    read -r -a ALL_JOBS <<<"$JOB_LIST"
    PROTOCOLS=$(printf '%s\n' "${ALL_JOBS[@]%%:*}" | awk '!seen[$0]++' | tr '\n' ' ')
else
    for protocol in $PROTOCOLS; do
        case $protocol in pranet*) sets=both ;; *) sets=$DATASETS ;; esac
        for ds in $sets; do
            for seed in $SEEDS; do ALL_JOBS+=("$protocol:$ds:$seed"); done
        done
    done
fi
# One at a time by default: eight side by side shared the GPU evenly and none finished in its
# 540 s (results/gpu/session-2026-12-04.json); one at a time, the first jobs of the list finish.
JOBS=${JOBS:-1}
CORES=$(nproc)
W=$(( CORES / JOBS > 8 ? 8 : CORES / JOBS ))  # more workers than 8 only slow the start
NUM_WORKERS=${NUM_WORKERS:-$(( W > 1 ? W : 1 ))}

mkdir -p "$OUT" "$WORK"
LOG="$OUT/log.txt"
exec > >(tee -a "$LOG") 2>&1
elapsed() { echo $(( $(date +%s) - START )); }
echo "== gpu_reproduce.sh $(date -u +%FT%TZ): jobs [${ALL_JOBS[*]}]" \
     "split $SPLIT: ${#ALL_JOBS[@]} jobs, $JOBS at once; accelerator $ACCELERATOR precision ${PRECISION:-config}" \
     "workers $NUM_WORKERS per job" \
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
echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
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

# PyTorch runs fp32 depthwise convolutions in NCHW with its own kernels and in channels-last
# with cuDNN's, and a compiled network launches fewer kernels; which trains this network fastest
# on this GPU is measured (gpu_profile.py's choose_variant), not assumed.
if [ "$VARIANT" = auto ]; then
    if [ "$ACCELERATOR" = gpu ]; then
        echo "== [$(elapsed)s] timing a training step: $TUNE_VARIANTS (scripts/gpu_profile.py)"
        "$PYTHON" "$PWD/scripts/gpu_profile.py" --device cuda --variants "$TUNE_VARIANTS" --warmup 3 \
            --steps 10 --profile-steps 0 --out "$WORK/gpu_profile.json" --choose-out "$WORK/variant"
        VARIANT=$(cat "$WORK/variant" 2>/dev/null || echo nchw)
    else
        VARIANT=nchw
    fi
fi
case $VARIANT in
    nchw|benchmark) ;;
    channels_last) EXTRA="--model.channels_last true $EXTRA" ;;
    compile) EXTRA="--model.compile true $EXTRA" ;;
    compile_channels_last) EXTRA="--model.channels_last true --model.compile true $EXTRA" ;;
    *) echo "error: VARIANT $VARIANT: auto, nchw, channels_last, compile or compile_channels_last"; exit 2 ;;
esac
echo "== [$(elapsed)s] variant $VARIANT; fit arguments added: ${EXTRA:-none}"

archive() {  # everything but checkpoints and TensorBoard events, then the checkpoints' tars
    cp "$LOG" "$WORK/log.txt"
    tar -czf "$WORK/gpu_results.tar.gz.part" -C "$WORK" --exclude=checkpoints --exclude=tensorboard \
        --exclude=gpu_results.tar.gz.part $(cd "$WORK" && ls -d results runs log.txt gpu_profile.json 2>/dev/null) &&
        mv -f "$WORK/gpu_results.tar.gz.part" "$OUT/gpu_results.tar.gz"
    [ "$CKPTS" = 1 ] || return 0
    local job state entries=()
    for state in finished stopped; do  # the finished jobs' checkpoints first, each in the jobs' order
        for job in "${ALL_JOBS[@]}"; do
            [ -f "$WORK/$state/$job" ] || continue
            entries+=("$state:${job%%:*}_$(basename "$(run_dir "$job")"):$(run_dir "$job")")
        done
    done
    [ ${#entries[@]} -gt 0 ] || return 0
    "$COLLECT_PYTHON" "$COLLECT" --out "$OUT" --scratch "$WORK/slim" "${entries[@]}" ||
        echo "warning: packing the checkpoints failed"
}

run_dir() {  # where polypnet reproduce trains a job
    local protocol ds seed
    IFS=: read -r protocol ds seed <<<"$1"
    case $protocol in
        pranet*) echo "$WORK/runs/$protocol/pranet_seed$seed" ;;
        *) echo "$WORK/runs/$protocol/${ds}_${SPLIT}_seed$seed" ;;
    esac
}

epoch_of() {  # the last epoch in a metrics.csv
    awk -F, 'NR == 1 {for (i = 1; i <= NF; i++) if ($i == "epoch") c = i; next} c && $c != "" {e = $c} END {print e}' "$1" 2>/dev/null
}

run_one() {  # one job, protocol:dataset:seed, stopped at the deadline
    local protocol ds seed sets left=$(( TIME_LIMIT_S - $(elapsed) ))
    IFS=: read -r protocol ds seed <<<"$1"
    sets=$ds; [ "$ds" = both ] && sets="cvc-clinicdb kvasir-seg"
    for d in $sets; do
        [ -d "$DATA_DIR/$d" ] || { echo "error: $DATA_DIR/$d not found (make gpu-bundle)"; return 2; }
    done
    local which=(--datasets "$ds" --split "$SPLIT")
    [ "$ds" = both ] && which=()  # PraNet's split, on both datasets
    # shellcheck disable=SC2086  # EXTRA is a word list
    timeout -s INT -k 30 "$left" "$PYTHON" -m polypnet.cli.main reproduce --protocol "$protocol" "${which[@]}" \
        --seeds "$seed" --data-dir "$DATA_DIR" --accelerator "$ACCELERATOR" \
        --num-workers "$NUM_WORKERS" ${PRECISION:+--precision "$PRECISION"} \
        --out "$WORK/results" --runs "$WORK/runs" \
        --extra --trainer.enable_progress_bar false $EXTRA
}

declare -A PID STARTED
pending=("${ALL_JOBS[@]}")
running=()
status=0
last_beat=$(elapsed)
while :; do
    while [ ${#pending[@]} -gt 0 ] && [ ${#running[@]} -lt "$JOBS" ]; do
        if [ -f "$WORK/finished/${pending[0]}" ]; then
            # A second command in the same WORK repeats the first's JOB_LIST: its record is there.
            echo "== [$(elapsed)s] ${pending[0]}: finished in an earlier command"
            pending=("${pending[@]:1}")
            continue
        fi
        if [ $(( TIME_LIMIT_S - $(elapsed) )) -lt "$MIN_JOB_S" ]; then
            # Too late to train anything: name the rest once (the record calls them not started).
            echo "== [$(elapsed)s] not started, $(( TIME_LIMIT_S - $(elapsed) ))s left: ${pending[*]}"
            pending=()
            status=1
            break
        fi
        job=${pending[0]}
        pending=("${pending[@]:1}")
        echo "== [$(elapsed)s] $job: start"
        ( set -o pipefail; run_one "$job" 2>&1 | sed -u "s/^/[$job] /" ) &
        PID[$job]=$!
        STARTED[$job]=$(elapsed)
        running+=("$job")
    done
    [ ${#running[@]} -eq 0 ] && break
    sleep 5
    still=()
    ended=0
    for job in "${running[@]}"; do
        if kill -0 "${PID[$job]}" 2>/dev/null; then still+=("$job"); continue; fi
        wait "${PID[$job]}"
        rc=$?
        # A job's state is where it ended last: a stopped job resumed in the same WORK may finish.
        rm -f "$WORK/finished/$job" "$WORK/stopped/$job"
        if [ $rc -eq 0 ]; then mkdir -p "$WORK/finished" && touch "$WORK/finished/$job"; else status=1; fi
        case $rc in
            124|137) why=" (stopped at the time limit)"; mkdir -p "$WORK/stopped" && touch "$WORK/stopped/$job" ;;
            *) why="" ;;
        esac
        echo "== [$(elapsed)s] $job: exit $rc after $(( $(elapsed) - STARTED[$job] ))s$why"
        ended=1
    done
    # Once for the jobs that ended since the last look: each archive starts Python and torch.
    [ "$ended" -eq 1 ] && archive
    running=("${still[@]+"${still[@]}"}")
    if [ ${#running[@]} -gt 0 ] && [ $(( $(elapsed) - last_beat )) -ge "$HEARTBEAT_S" ]; then
        last_beat=$(elapsed)
        beat=""
        for job in "${running[@]}"; do
            csv="$(run_dir "$job")/metrics.csv"
            [ -f "$csv" ] && beat+=" $job epoch $(epoch_of "$csv");"
        done
        gpu=$(command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=utilization.gpu,memory.used \
              --format=csv,noheader 2>/dev/null | head -1)
        echo "== [$(elapsed)s] running:${beat:- starting} ${gpu:+gpu $gpu}"
    fi
done
for protocol in $PROTOCOLS; do  # one table per protocol (jobs side by side each wrote their own)
    case $protocol in pranet*) continue ;; esac  # its own table, written by its one job per seed
    [ -d "$WORK/results/$protocol" ] || continue
    "$PYTHON" -c "import sys; from pathlib import Path; from polypnet.cli.reproduce import write_table; \
print(write_table(Path(sys.argv[1])))" "$WORK/results/$protocol" && cat "$WORK/results/$protocol/README.md"
done
echo "== [$(elapsed)s] done, exit $status; in $OUT:"
archive
ls -l "$OUT"
exit $status
