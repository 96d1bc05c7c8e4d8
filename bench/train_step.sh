#!/usr/bin/env bash
# One training step of the All-attention model, this engine and the PyTorch
# reference model (tests/reference/allatt_ref.py) side by side: same config,
# batch, tokens, thread count. The engine's MFU is against the FMA peak and
# the SGEMM rate measured beside its steps (bench_train_step). Prints a
# table and writes OUT (default bench/results/train_step.json) in the form
# of every `make results` stage (tools/results/meta.py).
#   usage: [ROUNDS=6] [QUICK=1] [OUT=file.json] bench/train_step.sh [build-dir]
# QUICK=1: configs/moby-char-tiny.json only, 3 timed steps per run.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
threads=${OMP_NUM_THREADS:-$(nproc)}
out=${OUT:-bench/results/train_step.json}
mkdir -p "$(dirname "$out")"
# Each config with the vocabulary size its corpus gets from `make data`
# (86 bytes for Moby-Dick; 15645 words seen 5+ times in the SOTU training split).
runs=(configs/moby-char-small.json:86 configs/sotu-word-small.json:15645) steps=() quick_env="" quick=()
if [ "${QUICK:-0}" = 1 ]; then
  runs=(configs/moby-char-tiny.json:86) steps=(--steps 3) quick_env=" QUICK=1" quick=(--quick)
fi
# The OpenBLAS kernel that is fastest here, for the peer (bench/openblas_core.sh).
source bench/openblas_core.sh
core=$(openblas_fastest_core "$threads")
pinned() { with_openblas_core "$core" "$@"; }
# This VM's speed drifts by up to 2x within a minute (other tenants), so
# everything runs $rounds rounds, in turn. Per round and config the engine
# runs twice and the peer once per thread placement (threads for torch's own
# ops, or for OpenBLAS), so each side's best of the round is taken over as
# many steps; the two bests make one paired ratio per round.
rounds=${ROUNDS:-6}
rows=()
for ((i = 0; i < rounds; ++i)); do
  for run in "${runs[@]}"; do
    cfg=${run%:*} vocab=${run##*:}
    e1=$(pinned OMP_NUM_THREADS=$threads "$build/bench_train_step" "$cfg" --vocab "$vocab" "${steps[@]}" --json)
    t1=$(pinned OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/train_step_torch.py "$cfg" --vocab "$vocab" "${steps[@]}")
    e2=$(pinned OMP_NUM_THREADS=$threads "$build/bench_train_step" "$cfg" --vocab "$vocab" "${steps[@]}" --json)
    t2=$(pinned OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=$threads /usr/bin/python3 bench/train_step_torch.py "$cfg" --vocab "$vocab" "${steps[@]}")
    rows+=("{\"engine\": [$e1, $e2], \"torch\": [$t1, $t2]}")
  done
done
openblas=$(dpkg-query -W -f='${Version}' libopenblas0-pthread 2>/dev/null || echo unknown)
ROWS="$(IFS=,; echo "[${rows[*]}]")" CORE="$core" OPENBLAS="$openblas" /usr/bin/python3 - >"$out.rows" <<'PY'
import json, os, sys
sys.path.insert(0, "tools/results")
from stats import median_interval
by_config = {}  # config -> one entry per round: (the engine's faster run, the peer's faster placement)
for r in json.loads(os.environ["ROWS"]):
    e = min(r["engine"], key=lambda x: x["ms_per_step"])
    t = min(r["torch"], key=lambda x: x["ms_per_step"])
    by_config.setdefault(e["config"], []).append((e, t, r["engine"]))
print("training step (forward, backward, clip, Adam); speedup: median of the rounds' paired ratios "
      "torch ms / engine ms [interval]; MFU: median over the engine's steps, each against the ceiling "
      "measured right after it", file=sys.stderr)
print(f"{'config':<32} {'engine ms':>10} {'torch ms':>9} {'speedup':>8} {'interval':>16} {'GFLOP/s':>8} "
      f"{'MFU FMA':>8} {'MFU SGEMM':>9}", file=sys.stderr)
out = []
for config, pairs in by_config.items():
    e_best = min((e for e, _, _ in pairs), key=lambda x: x["ms_per_step"])
    t_best = min((t for _, t, _ in pairs), key=lambda x: x["ms_per_step"])
    s = median_interval([t["ms_per_step"] / e["ms_per_step"] for e, t, _ in pairs])
    runs = [x for _, _, both in pairs for x in both]
    mfu_fma = median_interval([x["mfu_fma_paired_median"] for x in runs])["median"]
    mfu_sgemm = median_interval([x["mfu_paired_median"] for x in runs])["median"]
    row = {"config": config, "threads": e_best["threads"], "batch": e_best["batch"],
           "flops_per_step": e_best["flops_per_step"],
           "engine_ms": round(e_best["ms_per_step"], 2), "engine_tok_s": round(e_best["tok_s"]),
           "torch_ms": round(t_best["ms_per_step"], 2), "torch_tok_s": round(t_best["tok_s"]),
           "speedup": round(s["median"], 3), "speedup_lo": round(s["lo"], 3), "speedup_hi": round(s["hi"], 3),
           "interval_coverage": round(s["coverage"], 3), "pairs": s["n"],
           "gflops": round(e_best["gflops"], 1),
           "fma_peak_gflops": round(max(x["fma_peak_gflops_best"] for x in runs), 1),
           "sgemm_gflops": round(max(x["sgemm_gflops_best"] for x in runs), 1),
           "mfu_fma": round(mfu_fma, 4), "mfu_sgemm": round(mfu_sgemm, 4)}
    out.append(row)
    print(f"{config:<32} {row['engine_ms']:>10} {row['torch_ms']:>9} {s['median']:>7.2f}x "
          f"[{s['lo']:.2f}x, {s['hi']:.2f}x] {row['gflops']:>8} {100 * mfu_fma:>7.1f}% {100 * mfu_sgemm:>8.1f}%",
          file=sys.stderr)
torch = json.loads(os.environ["ROWS"])[0]["torch"][0]["torch"]
peer = {"what": "tests/reference/allatt_ref.py, the same model in PyTorch primitives, eager (torch.compile "
                "needs PyTorch 2; Debian 12 has 1.13)", "torch": torch,
        "blas": f"OpenBLAS {os.environ['OPENBLAS']} (libopenblas0-pthread), OPENBLAS_CORETYPE={os.environ['CORE']}, "
                "the fastest kernel here (bench/openblas_core.sh)",
        "threads": "per round, the faster of (torch threads = all, OpenBLAS 1) and (1, all)"}
json.dump({"rows": out, "meta": {"peer": peer, "rounds": len(next(iter(by_config.values())))}}, sys.stdout)
PY
/usr/bin/python3 tools/results/meta.py write --stage train_step --build "$build" --rows "$out.rows" --out "$out" \
  --command "ROUNDS=$rounds$quick_env OMP_NUM_THREADS=$threads bench/train_step.sh $build" "${quick[@]}"
rm -f "$out.rows"
echo "wrote $out" >&2
