#!/usr/bin/env bash
# Which OPENBLAS_CORETYPE makes PyTorch's GEMM fastest on this machine
# ("auto" for OpenBLAS's own detection), so that every benchmark's PyTorch
# peer runs at its best. Debian's OpenBLAS 0.3.21 does not know every CPU: on
# an Emerald Rapids Xeon (family 6, model 207) its detection picks the SSE3
# "Prescott" kernel, 4x slower than its AVX-512 "SkylakeX" one.
#   bench/openblas_core.sh [threads]   prints the fastest core type
#   source bench/openblas_core.sh      defines the two functions below
# Each candidate times a 1024^3 matmul (best of 6) on all threads; the rates
# go to stderr.

# openblas_fastest_core THREADS: prints the core type.
openblas_fastest_core() {
  local best=auto best_rate=0 core rate pin
  for core in auto Haswell SkylakeX Cooperlake Zen; do
    if [ "$core" = auto ]; then pin=(-u OPENBLAS_CORETYPE); else pin=(OPENBLAS_CORETYPE=$core); fi
    rate=$(env -u OPENBLAS_L2_SIZE "${pin[@]}" OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS="$1" /usr/bin/python3 -c '
import time, torch
a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
best = 1e9
for _ in range(6):
    t = time.perf_counter(); a @ b; best = min(best, time.perf_counter() - t)
print(round(2 * 1024**3 / best * 1e-9, 1))')
    echo "openblas_core: $core $rate GFLOP/s" >&2
    if python3 -c "import sys; sys.exit(0 if $rate > $best_rate else 1)"; then best=$core best_rate=$rate; fi
  done
  echo "openblas_core: using $best" >&2
  echo "$best"
}

# with_openblas_core CORE COMMAND...: runs COMMAND with OpenBLAS on CORE,
# without this machine's own OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE pins.
with_openblas_core() {
  local core=$1
  shift
  if [ "$core" = auto ]; then env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$@"
  else env -u OPENBLAS_L2_SIZE OPENBLAS_CORETYPE="$core" "$@"; fi
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  openblas_fastest_core "${1:-$(nproc)}"
fi
