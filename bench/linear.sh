#!/usr/bin/env bash
# Linear layer forward+backward: Eigen SGEMM ceiling, the engine, PyTorch,
# side by side in one run at the same thread count. Writes
# bench/results/linear.{csv,json}.   usage: bench/linear.sh [build-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
threads=${OMP_NUM_THREADS:-$(nproc)}
mkdir -p bench/results
# Both sides run without this machine's OpenBLAS pins (OPENBLAS_CORETYPE /
# OPENBLAS_L2_SIZE pick an older, slower kernel); they matter to the engine
# only in a -DHEADCOUNT_OPENBLAS=ON build.
engine=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS=$threads "$build/bench_linear" --json)
# The peer at its best: without the pins above (they halve torch's GEMM rate
# here), OpenBLAS 0.3.21 picks its AVX-512 kernel. Torch's own OpenMP threads
# and OpenBLAS's pthreads compete for the cores, so torch runs twice, threads
# given to torch or to OpenBLAS, and the faster of the two counts per shape.
peer() {
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS=$1 OPENBLAS_NUM_THREADS=$2 \
    /usr/bin/python3 bench/linear_torch.py
}
torch_omp=$(peer "$threads" 1)
torch_blas=$(peer 1 "$threads")
ENGINE="$engine" TORCH_OMP="$torch_omp" TORCH_BLAS="$torch_blas" /usr/bin/python3 - <<'PY'
import csv, json, os
engine = json.loads(os.environ["ENGINE"])
torch = json.loads(os.environ["TORCH_OMP"])
blas = json.loads(os.environ["TORCH_BLAS"])
peer = {}
for r in torch["rows"] + blas["rows"]:
    key = (r["C"], r["R"])
    if key not in peer or r["torch_gflops"] > peer[key]["torch_gflops"]:
        peer[key] = r
rows = []
print(f"linear forward+backward, {engine[0]['threads']} threads, GFLOP/s (6*R*C*C flops per step)")
print(f"{'C':>5} {'R':>5} {'Eigen':>8} {'engine':>8} {'% ceil':>7} {'torch':>8} {'engine/torch':>13}")
for e in engine:
    t = peer[(e["C"], e["R"])]
    row = {"C": e["C"], "R": e["R"], "threads": e["threads"], "eigen_gflops": round(e["eigen_gflops"], 1),
           "engine_gflops": round(e["engine_gflops"], 1),
           "engine_pct_of_eigen": round(100 * e["engine_gflops"] / e["eigen_gflops"], 1),
           "torch_gflops": round(t["torch_gflops"], 1),
           "engine_over_torch": round(e["engine_gflops"] / t["torch_gflops"], 2)}
    rows.append(row)
    print(f"{row['C']:>5} {row['R']:>5} {row['eigen_gflops']:>8} {row['engine_gflops']:>8} "
          f"{row['engine_pct_of_eigen']:>6}% {row['torch_gflops']:>8} {row['engine_over_torch']:>12}x")
print(f"torch {torch['torch']}, mkldnn available: {torch['mkldnn']}")
with open("bench/results/linear.csv", "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
json.dump({"rows": rows, "torch_threads_in_torch": torch, "torch_threads_in_openblas": blas},
          open("bench/results/linear.json", "w"), indent=1)
PY
