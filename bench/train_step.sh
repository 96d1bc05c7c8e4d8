#!/usr/bin/env bash
# One training step of the All-attention model, this engine and the PyTorch
# reference model (tests/reference/allatt_ref.py) side by side: same config,
# batch, tokens, thread count; plus the Eigen SGEMM ceiling for MFU.
# Writes bench/results/train_step.{csv,json}.   usage: bench/train_step.sh [build-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
threads=${OMP_NUM_THREADS:-$(nproc)}
mkdir -p bench/results
# The OpenBLAS kernel that is fastest here, for the peer (bench/openblas_core.sh).
source bench/openblas_core.sh
core=$(openblas_fastest_core "$threads")
quiet() { with_openblas_core "$core" "$@"; }
# This VM's speed drifts by up to 2x within a minute (other tenants), so
# everything runs $rounds rounds, in turn, and each side keeps its best:
# the Eigen SGEMM ceiling (the best rate of bench_linear's raw GEMMs, once a
# round), and per config the engine and the peer. The peer runs once per
# thread placement (threads for torch's own ops, or for OpenBLAS) and the
# engine as often, so each side's best is taken over as many steps.
rounds=${ROUNDS:-3}
ceilings=() rows=()
for ((i = 0; i < rounds; ++i)); do
  ceilings+=("$(quiet OMP_NUM_THREADS=$threads "$build/bench_linear" --json |
               /usr/bin/python3 -c "import json,sys; print(max(r['eigen_gflops'] for r in json.load(sys.stdin)))")")
  # Each config with the vocabulary size its corpus gets from `make data`
  # (86 bytes for Moby-Dick; 15645 words seen 5+ times in the SOTU training split).
  for run in configs/moby-char-small.json:86 configs/sotu-word-small.json:15645; do
    cfg=${run%:*} vocab=${run##*:}
    e1=$(quiet OMP_NUM_THREADS=$threads "$build/bench_train_step" "$cfg" --vocab "$vocab" --json)
    t1=$(quiet OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/train_step_torch.py "$cfg" --vocab "$vocab")
    e2=$(quiet OMP_NUM_THREADS=$threads "$build/bench_train_step" "$cfg" --vocab "$vocab" --json)
    t2=$(quiet OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=$threads /usr/bin/python3 bench/train_step_torch.py "$cfg" --vocab "$vocab")
    rows+=("{\"engine\": [$e1, $e2], \"torch\": [$t1, $t2]}")
  done
done
ceiling=$(printf '%s\n' "${ceilings[@]}" | sort -g | tail -1)
ROWS="$(IFS=,; echo "[${rows[*]}]")" CEILING="$ceiling" CORE="$core" ROUNDS="$rounds" /usr/bin/python3 - <<'PY'
import csv, json, os
rows, ceiling = json.loads(os.environ["ROWS"]), float(os.environ["CEILING"])
out = []
print(f"training step (forward, backward, clip, Adam), Eigen SGEMM ceiling {ceiling:.0f} GFLOP/s, "
      f"torch with OPENBLAS_CORETYPE {os.environ['CORE']}, best of {os.environ['ROUNDS']} rounds")
print(f"{'config':<32} {'engine ms':>10} {'tok/s':>8} {'torch ms':>9} {'tok/s':>8} {'speedup':>8} {'GFLOP/s':>8} "
      f"{'MFU paired':>10} {'MFU of best':>11}")
best = {}  # config -> (engine, torch): each side's fastest step over every round
paired = {}  # config -> every engine run's paired MFU (bench_train_step: each step against an SGEMM beside it)
for r in rows:
    for x in r["engine"]: paired.setdefault(x["config"], []).append(x["mfu_paired_median"])
    e = min(r["engine"], key=lambda x: x["ms_per_step"])
    t = min(r["torch"], key=lambda x: x["ms_per_step"])
    b = best.setdefault(e["config"], [e, t])
    if e["ms_per_step"] < b[0]["ms_per_step"]: b[0] = e
    if t["ms_per_step"] < b[1]["ms_per_step"]: b[1] = t
for e, t in best.values():
    row = {"config": e["config"], "threads": e["threads"], "engine_ms": round(e["ms_per_step"], 1),
           "engine_tok_s": round(e["tok_s"]), "torch_ms": round(t["ms_per_step"], 1), "torch_tok_s": round(t["tok_s"]),
           "speedup": round(t["ms_per_step"] / e["ms_per_step"], 2), "gflops": round(e["gflops"], 1),
           "mfu_of_sgemm": round(e["gflops"] / ceiling, 3), "sgemm_ceiling": round(ceiling, 1),
           "mfu_paired": round(sorted(paired[e["config"]])[len(paired[e["config"]]) // 2], 3),
           "openblas_coretype": os.environ["CORE"]}
    out.append(row)
    print(f"{row['config']:<32} {row['engine_ms']:>10} {row['engine_tok_s']:>8} {row['torch_ms']:>9} "
          f"{row['torch_tok_s']:>8} {row['speedup']:>7}x {row['gflops']:>8} {100*row['mfu_paired']:>9.1f}% "
          f"{100*row['mfu_of_sgemm']:>10.1f}%")
print("MFU paired: the median over the engine's runs of bench_train_step's median ratio of each step's rate to\n"
      "a raw Eigen SGEMM timed right after it. MFU of best: the fastest step against the best bench_linear\n"
      "Eigen rate of any round.")
with open("bench/results/train_step.csv", "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(out[0]))
    w.writeheader()
    w.writerows(out)
json.dump(out, open("bench/results/train_step.json", "w"), indent=1)
PY
