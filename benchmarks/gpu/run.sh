#!/usr/bin/env bash
# Run THERE (the GPU machine, offline) from the repo root, after benchmarks/gpu/prepare.sh ran here:
#
#   benchmarks/gpu/run.sh            # GPU: installs .gpu-wheels offline, runs every check (<= 8 min on one H100)
#   benchmarks/gpu/run.sh --cpu      # CPU dry-run: the same checks on the tiny preset (the test suite runs it)
#
# Each check runs in its own process under `timeout` with its own budget (seconds below); its figures
# land in a temporary folder as it measures them. The merged figures go to $OUT/gpu-figures.json (or
# ./gpu-out/), every check's output to gpu-checks.log beside it; the short table is printed last.
# Exit status: 0 when every check ran and the correctness limits hold.
set -uo pipefail
cd "$(dirname "$0")/../.."
MODE=gpu
[ "${1:-}" = "--cpu" ] && MODE=cpu
OUT_DIR=${OUT:-./gpu-out}
mkdir -p "$OUT_DIR"
LOG="$OUT_DIR/gpu-checks.log"
: > "$LOG"
PY=${PYTHON:-python3}
FRAGMENTS=$(mktemp -d)
# packages the GPU image lacks and the kit must never need (an import of one fails the check)
FORBID=ray,mlflow,kserve,kfp,vllm,boto3,moto
if [ "$MODE" = gpu ]; then
  SITE=$(mktemp -d)
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" .gpu-wheels/*.whl \
    >>"$LOG" 2>&1 || { echo "offline install of .gpu-wheels failed: see $LOG (did prepare.sh run, and carry .gpu-wheels?)"; exit 1; }
  export PYTHONPATH="$SITE:$PWD" DS_ACCELERATOR=cuda
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv >>"$LOG" 2>&1
  FLAG=""
else
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" DS_ACCELERATOR=cpu
  FLAG="--cpu"
fi
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
# name  check  preset  GPU budget (s); the CPU dry-run gives every check 300 s (a guard against hangs only)
CHECKS="peak peak tiny 20
correctness correctness tiny 30
sft-2b sft 2b 60
sft-4b sft 4b 75
generate-4b generate 4b 60
grpo-2b grpo 2b 115
predict-2b predict 2b 110"
while read -r name check preset budget; do
  [ "$MODE" = cpu ] && budget=300
  start=$(date +%s)
  echo "=== $name ($check, preset $preset, budget ${budget}s)" >>"$LOG"
  timeout "$budget" "$PY" -m benchmarks.gpu.checks "$check" --preset "$preset" $FLAG \
    --out "$FRAGMENTS/$name.json" --forbid "$FORBID" >>"$LOG" 2>&1
  rc=$?
  echo "$rc" > "$FRAGMENTS/$name.rc"
  echo "=== $name: rc $rc in $(( $(date +%s) - start )) s" >>"$LOG"
done <<< "$CHECKS"
"$PY" -m benchmarks.gpu.report "$FRAGMENTS" --out "$OUT_DIR/gpu-figures.json" --mode "$MODE"
rc=$?
rm -rf "$FRAGMENTS"
exit $rc
