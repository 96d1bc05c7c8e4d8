#!/usr/bin/env bash
# Prints the OPENBLAS_CORETYPE that makes PyTorch's GEMM fastest on this
# machine ("auto" for OpenBLAS's own detection), so that every benchmark's
# PyTorch peer runs at its best. Debian's OpenBLAS 0.3.21 does not know
# every CPU: on an Emerald Rapids Xeon (family 6, model 207) its detection
# picks the SSE3 "Prescott" kernel, 6x slower than its AVX-512 "SkylakeX"
# one. Each candidate times a 1024^3 matmul (best of 5) on all threads; the
# rates go to stderr.   usage: bench/openblas_core.sh [threads]
set -euo pipefail
threads=${1:-$(nproc)}
best=auto best_rate=0
for core in auto Haswell SkylakeX Cooperlake Zen; do
  if [ "$core" = auto ]; then pin=(-u OPENBLAS_CORETYPE); else pin=(OPENBLAS_CORETYPE=$core); fi
  rate=$(env -u OPENBLAS_L2_SIZE "${pin[@]}" OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS="$threads" /usr/bin/python3 -c '
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
