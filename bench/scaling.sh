#!/usr/bin/env bash
# Data-parallel scaling on this machine: `headcount train` of one config as
# 1 process x K threads against K ranks x 1 thread (mpirun), same global
# batch and tokens. Prints tokens/s, ms/step and the share of the step spent
# in the gradient all-reduce, and writes bench/results/scaling.json.
#   usage: bench/scaling.sh [build-dir] [config] [steps]
# Run it on an idle machine: two OpenMP jobs at once slow each other down.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
config=${2:-configs/moby-char-small.json}
steps=${3:-40}
k=${K:-$(nproc)}
command -v mpirun >/dev/null || { echo "bench/scaling.sh: mpirun missing (make deps)"; exit 1; }
mkdir -p bench/results
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# No evaluation and no checkpoint inside the timed steps.
common=(train --config "$config" --set steps="$steps" --set eval_every=100000 --set checkpoint_every=100000)
"$build/headcount" "${common[@]}" --set out_dir="$out/threads" --threads "$k" 2>/dev/null
# One rank per core, each pinned to its own.
mpirun -np "$k" --bind-to core "$build/headcount" "${common[@]}" --set out_dir="$out/ranks" --threads 1 2>/dev/null
CONFIG="$config" K="$k" OUT="$out" /usr/bin/python3 - <<'PY'
import json, os, statistics
out, k = os.environ["OUT"], int(os.environ["K"])
def summary(name):
    rows = [json.loads(l) for l in open(f"{out}/{name}/metrics.jsonl")]
    rows = rows[len(rows) // 4:]  # skip the warm-up quarter
    tok_s = statistics.median(r["tok_s"] for r in rows)
    comm = statistics.median(r.get("allreduce_ms", 0.0) for r in rows)
    return tok_s, comm
(t1, _), (tk, comm) = summary("threads"), summary("ranks")
cfg = json.load(open(os.environ["CONFIG"]))
tokens = cfg["batch"] * cfg["seg_len"] * cfg.get("accum", 1)
ms1, msk = 1e3 * tokens / t1, 1e3 * tokens / tk
result = {"config": os.environ["CONFIG"], "cores": k, "tokens_per_step": tokens,
          "one_process_tok_s": round(t1), "one_process_ms": round(ms1, 1),
          "ranks_tok_s": round(tk), "ranks_ms": round(msk, 1), "allreduce_ms": round(comm, 2),
          "allreduce_share": round(comm / msk, 4), "ranks_over_threads": round(tk / t1, 3)}
print(f"{result['config']}: {tokens} tokens per step, median of the last three quarters of the steps")
print(f"  1 process x {k} threads : {result['one_process_tok_s']:>7} tok/s  {result['one_process_ms']:>7} ms/step")
print(f"  {k} ranks x 1 thread    : {result['ranks_tok_s']:>7} tok/s  {result['ranks_ms']:>7} ms/step"
      f"  (all-reduce {result['allreduce_ms']} ms = {100 * result['allreduce_share']:.1f}% of the step)")
print(f"  ranks / threads: {result['ranks_over_threads']}x")
json.dump(result, open("bench/results/scaling.json", "w"), indent=1)
PY
