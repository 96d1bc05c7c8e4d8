#!/usr/bin/env bash
# Linear layer forward+backward: Eigen SGEMM ceiling, the engine, PyTorch,
# side by side in one run at the same thread count. Prints a table and
# writes OUT (default bench/results/linear.json) in the form of every
# `make results` stage (tools/results/meta.py).
#   usage: [ROUNDS=3] [QUICK=1] [OUT=file.json] bench/linear.sh [build-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
threads=${OMP_NUM_THREADS:-$(nproc)}
out=${OUT:-bench/results/linear.json}
mkdir -p "$(dirname "$out")"
quick=() quick_env=""
if [ "${QUICK:-0}" = 1 ]; then quick=(--quick) quick_env=" QUICK=1"; fi
# Both sides run with the OpenBLAS kernel that is fastest here (it matters to
# the engine only in a -DHEADCOUNT_OPENBLAS=ON build): this machine's own
# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE pins, or OpenBLAS's detection, can pick
# a slower one (bench/openblas_core.sh).
source bench/openblas_core.sh
core=$(openblas_fastest_core "$threads")
pinned() { with_openblas_core "$core" "$@"; }
# This VM's speed drifts by up to 2x within a minute (other tenants), so the
# programs run in turn, $rounds rounds; each round gives one paired ratio
# per shape (the engine's faster run against the peer's faster placement),
# and the table reports their median with its interval, beside each side's
# best rate over all rounds.
rounds=${ROUNDS:-3}
# The peer at its best: Torch's own OpenMP threads and OpenBLAS's pthreads
# compete for the cores, so torch runs twice, threads given to torch or to
# OpenBLAS, and the faster of the two counts per shape.
peer() {
  pinned OMP_NUM_THREADS=$1 OPENBLAS_NUM_THREADS=$2 /usr/bin/python3 bench/linear_torch.py "${quick[@]}"
}
engine=() torch=()
# The engine runs twice per round too: each side's best is then taken over
# the same number of timed repetitions (a maximum over more samples of a
# noisy rate is higher by itself).
for ((i = 0; i < rounds; ++i)); do
  engine+=("$(pinned OMP_NUM_THREADS=$threads "$build/bench_linear" --json "${quick[@]}")")
  torch+=("$(peer "$threads" 1)")
  engine+=("$(pinned OMP_NUM_THREADS=$threads "$build/bench_linear" --json "${quick[@]}")")
  torch+=("$(peer 1 "$threads")")
done
openblas=$(dpkg-query -W -f='${Version}' libopenblas0-pthread 2>/dev/null || echo unknown)
CORE="$core" OPENBLAS="$openblas" ENGINE="[$(IFS=,; echo "${engine[*]}")]" TORCH="[$(IFS=,; echo "${torch[*]}")]" \
  /usr/bin/python3 - >"$out.rows" <<'PY'
import json, os, sys
sys.path.insert(0, "tools/results")
from stats import median_interval
engine, torch = json.loads(os.environ["ENGINE"]), json.loads(os.environ["TORCH"])
# Per round (two engine runs, two peer placements) and shape: each side's best.
rounds = []
for i in range(len(engine) // 2):
    r = {}
    for run in engine[2 * i:2 * i + 2]:
        for x in run:
            b = r.setdefault((x["C"], x["R"]), {"eigen": 0, "engine": 0, "torch": 0, "threads": x["threads"]})
            b["eigen"], b["engine"] = max(b["eigen"], x["eigen_gflops"]), max(b["engine"], x["engine_gflops"])
    for run in torch[2 * i:2 * i + 2]:
        for x in run["rows"]:
            b = r[(x["C"], x["R"])]
            b["torch"] = max(b["torch"], x["torch_gflops"])
    rounds.append(r)
rows = []
print(f"linear forward+backward, GFLOP/s (6*R*C*C flops per step), best of {len(rounds)} rounds; "
      "engine/torch: median of the rounds' ratios [interval]", file=sys.stderr)
print(f"{'C':>5} {'R':>5} {'Eigen':>8} {'engine':>8} {'% ceil':>7} {'torch':>8} {'engine/torch':>13} {'interval':>16}",
      file=sys.stderr)
for C, R in sorted(rounds[0], key=lambda k: (k[1], k[0])):
    best = {side: max(r[(C, R)][side] for r in rounds) for side in ("eigen", "engine", "torch")}
    s = median_interval([r[(C, R)]["engine"] / r[(C, R)]["torch"] for r in rounds])
    row = {"C": C, "R": R, "threads": rounds[0][(C, R)]["threads"], "eigen_gflops": round(best["eigen"], 1),
           "engine_gflops": round(best["engine"], 1), "torch_gflops": round(best["torch"], 1),
           "engine_pct_of_eigen": round(100 * best["engine"] / best["eigen"], 1),
           "engine_over_torch": round(s["median"], 3), "engine_over_torch_lo": round(s["lo"], 3),
           "engine_over_torch_hi": round(s["hi"], 3), "interval_coverage": round(s["coverage"], 3), "pairs": s["n"]}
    rows.append(row)
    print(f"{C:>5} {R:>5} {row['eigen_gflops']:>8} {row['engine_gflops']:>8} {row['engine_pct_of_eigen']:>6}% "
          f"{row['torch_gflops']:>8} {row['engine_over_torch']:>12.2f}x [{s['lo']:.2f}x, {s['hi']:.2f}x]",
          file=sys.stderr)
peer = {"what": "torch.nn.Linear forward + backward, eager", "torch": torch[0]["torch"],
        "blas": f"OpenBLAS {os.environ['OPENBLAS']} (libopenblas0-pthread), OPENBLAS_CORETYPE={os.environ['CORE']}, "
                "the fastest kernel here (bench/openblas_core.sh)",
        "threads": "per shape, the faster of (torch threads = all, OpenBLAS 1) and (1, all)"}
json.dump({"rows": rows, "meta": {"peer": peer, "rounds": len(rounds)}}, sys.stdout)
PY
/usr/bin/python3 tools/results/meta.py write --stage linear --build "$build" --rows "$out.rows" --out "$out" \
  --command "ROUNDS=$rounds$quick_env OMP_NUM_THREADS=$threads bench/linear.sh $build" "${quick[@]}"
rm -f "$out.rows"
echo "wrote $out" >&2
