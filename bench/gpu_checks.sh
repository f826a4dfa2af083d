#!/usr/bin/env bash
# The GPU checks in one run, for a machine with an NVIDIA GPU (CI has none):
# the CUDA tests of sampling/, then the GPU benchmarks of issue #5 (render, match,
# curate at the scale of a 100M-group dataset). Run from the repo root:
#   bash bench/gpu_checks.sh            # logs in $OUT (default /tmp/gpu-checks)
# STEPS picks steps (default: all); CURATE_ARGS adds bench_curate options.
# Packages missing on the machine can travel as wheels in .whl/ (installed to /tmp/site).
set -uo pipefail
OUT=${OUT:-/tmp/gpu-checks}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH=${PYTHONPATH:-}
PY=${PY:-python3}
if compgen -G ".whl/*.whl" >/dev/null; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site:$PYTHONPATH
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
$PY -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())" | tee -a "$OUT/gpu.txt"

STEPS=${STEPS:-tests render match curate}
step() {  # step NAME SECONDS COMMAND...: run with a time limit, log to $OUT/NAME.log
  local name=$1 limit=$2; shift 2
  [[ " $STEPS " == *" $name "* ]] || return 0
  echo "== $name: $*"
  timeout "$limit" "$@" 2>&1 | tee "$OUT/$name.log"
  echo "== $name exit ${PIPESTATUS[0]}"
}

step tests 180 $PY -m pytest -p no:cacheprovider --noconftest -o addopts= -q -rs tests/sampling -k "cuda or gpu"
step render 90 $PY bench/bench_render.py --device cuda --clouds 2048
for precision in ${MATCH_PRECISIONS:-bf16}; do
  step match 120 $PY bench/bench_match.py --queries 100000 --items 1000000 --dim 768 --device cuda --precision $precision
done
step curate ${CURATE_LIMIT:-300} $PY bench/bench_curate.py --rows 6700000 --dim 768 --clusters 20000 2000 200 \
  --device cuda ${CURATE_ARGS:-}
