#!/usr/bin/env bash
# Build .gpu/, what the GPU machine of docs/gpu.md needs beside the source tree (make gpu-bundle):
#   .gpu/wheels/*.whl                     every wheel it lacks to run polypnet reproduce
#   .gpu/data/{cvc-clinicdb,kvasir-seg}/  both datasets packed at SIZE px (polypnet data pack)
# A device call sends the checkout as it is (tracked files and untracked ones git does not
# ignore) plus .gpu/, LIMIT_MIB in all, so the packs get what the checkout, the wheels and
# MARGIN_MIB leave of it, and the script fails when the checkout and .gpu/ together are over.
#
# Environment (default): PYTHON (.venv/bin/python), DATA_DIR (../shared/data), SIZE (256),
# LIMIT_MIB (64: the device tool's limit), MARGIN_MIB (1: room for files made before the call),
# BUDGET_MIB (what is left for the two packs together), QUALITY (auto: the highest that fits),
# SKIP_PACK (0; 1: keep the packs already in .gpu/data), PIP (python3 -m pip, the pip that downloads).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
DATA_DIR=${DATA_DIR:-../shared/data}
SIZE=${SIZE:-256}
LIMIT_MIB=${LIMIT_MIB:-64}
MARGIN_MIB=${MARGIN_MIB:-1}
QUALITY=${QUALITY:-auto}
PIP=${PIP:-python3 -m pip}

mib() { awk -v b="$1" 'BEGIN {printf "%.1f", b / 1048576}'; }
bytes_in() { find "$@" -type f -printf '%s\n' 2>/dev/null | awk '{s += $1} END {print s + 0}'; }
# what a device call sends besides its carried paths: the files git tracks or would add (a
# tracked file deleted on disk does not travel: stat skips it, so its error is not one here)
checkout=$(git ls-files -z --cached --others --exclude-standard |
    { xargs -0 -r stat --printf '%s\n' 2>/dev/null || true; } | awk '{s += $1} END {print s + 0}')

# pip's warnings about this machine's own index settings are noise here.
"$PYTHON" scripts/gpu_wheels.py --dest .gpu/wheels --pip "$PIP" 2> >(grep -v "^WARNING: Location" >&2)
wheels=$(bytes_in .gpu/wheels)
BUDGET_MIB=${BUDGET_MIB:-$(awk -v l="$LIMIT_MIB" -v m="$MARGIN_MIB" -v c="$checkout" -v w="$wheels" \
    'BEGIN {printf "%.1f", l - m - (c + w) / 1048576}')}
if [ "${SKIP_PACK:-0}" != 1 ]; then
    PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" -m polypnet.cli.main data pack cvc-clinicdb kvasir-seg \
        --data-dir "$DATA_DIR" --out .gpu/data --size "$SIZE" --quality "$QUALITY" --budget-mib "$BUDGET_MIB"
fi

data=$(bytes_in .gpu/data)
total=$(( checkout + $(bytes_in .gpu) ))
echo "device call: checkout $(mib "$checkout") MiB + .gpu/ (data $(mib "$data") MiB, wheels $(mib "$wheels") MiB)" \
    "= $(mib "$total") MiB (limit $LIMIT_MIB MiB; packs' budget $BUDGET_MIB MiB)"
if [ "$total" -gt $(( LIMIT_MIB * 1048576 )) ]; then
    echo "error: over the device tool's $LIMIT_MIB MiB: lower BUDGET_MIB or SIZE, or make the checkout smaller" >&2
    exit 1
fi
"$PYTHON" scripts/gpu_bundle_record.py --checkout-bytes "$checkout" --limit-mib "$LIMIT_MIB"
echo "device command: bash scripts/gpu_reproduce.sh, with carry [\".gpu\"] (docs/gpu.md)"
