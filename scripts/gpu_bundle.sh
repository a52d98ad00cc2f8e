#!/usr/bin/env bash
# Build .gpu/, what the GPU machine of docs/gpu.md needs beside the source tree (make gpu-bundle):
#   .gpu/data/{cvc-clinicdb,kvasir-seg}/  both datasets packed at SIZE px (scripts/pack_data.py)
#   .gpu/wheels/*.whl                     every wheel it lacks to run scripts/reproduce.py
# and fail when .gpu/ is over MAX_MIB: the tree, the source and .gpu/ together, must stay under
# the device tool's 64 MiB.
#
# Environment (default): PYTHON (.venv/bin/python), DATA_DIR (../shared/data), SIZE (256),
# BUDGET_MIB (45: the two packs together), QUALITY (auto), MAX_MIB (60), SKIP_PACK (0; 1: keep
# the packs already in .gpu/data), PIP (python3 -m pip, the pip that downloads).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
DATA_DIR=${DATA_DIR:-../shared/data}
SIZE=${SIZE:-256}
BUDGET_MIB=${BUDGET_MIB:-45}
QUALITY=${QUALITY:-auto}
MAX_MIB=${MAX_MIB:-60}
PIP=${PIP:-python3 -m pip}

if [ "${SKIP_PACK:-0}" != 1 ]; then
    PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" scripts/pack_data.py cvc-clinicdb kvasir-seg \
        --data-dir "$DATA_DIR" --out .gpu/data --size "$SIZE" --quality "$QUALITY" --budget-mib "$BUDGET_MIB"
fi
# pip's warnings about this machine's own index settings are noise here.
"$PYTHON" scripts/gpu_wheels.py --dest .gpu/wheels --pip "$PIP" 2> >(grep -v "^WARNING: Location" >&2)

mib() { awk -v b="$1" 'BEGIN {printf "%.1f", b / 1048576}'; }
data=$(find .gpu/data -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')
wheels=$(find .gpu/wheels -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')
total=$(find .gpu -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')
echo "bundle: data $(mib "$data") MiB + wheels $(mib "$wheels") MiB = $(mib "$total") MiB in .gpu/ (limit $MAX_MIB MiB)"
if [ "$total" -gt $(( MAX_MIB * 1048576 )) ]; then
    echo "error: .gpu/ is over $MAX_MIB MiB: lower BUDGET_MIB or SIZE" >&2
    exit 1
fi
# What a device call sends is the whole checkout plus .gpu/: the committed results/ and shipped
# weights alone are over the 64 MiB, so the call is made slim (scripts/device_tree.py, docs/gpu.md).
"$PYTHON" scripts/device_tree.py size --carry .gpu ||
    echo "before the device call: python scripts/device_tree.py slim; after it: python scripts/device_tree.py restore"
echo "device command: bash scripts/gpu_reproduce.sh, with carry [\".gpu\"] (docs/gpu.md)"
