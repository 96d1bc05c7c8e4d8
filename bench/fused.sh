#!/usr/bin/env bash
# The fused attention op against the unfused reference path, side by side:
# for each config, the same model with fused_attention off and on, its
# training step and its evaluation forward (bench_train_step --infer), run in
# turns (unfused, fused, unfused, fused) in every round; each side's best
# step of the round makes one paired ratio, unfused ms / fused ms, and the
# speedup is the median over the rounds with its 95% interval. Prints a
# table and writes OUT (default bench/results/fused.json) in the form of
# every `make results` stage (tools/results/meta.py). Then the roofline: one
# profiled training step of each path per config, its ops grouped into parts
# (tools/results/roofline.py) and set against the FMA peak and the memory
# bandwidth measured in the same run.
#   usage: [ROUNDS=6] [QUICK=1] [OUT=file.json] bench/fused.sh [build-dir]
# QUICK=1: configs/moby-char-tiny.json only, 3 timed steps per run.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
out=${OUT:-bench/results/fused.json}
mkdir -p "$(dirname "$out")"
# Each config with the vocabulary size its corpus gets from `make data`.
runs=(configs/moby-char-small.json:86 configs/sotu-word-small.json:15645 configs/moby-char-w256.json:86)
steps=() quick=()
if [ "${QUICK:-0}" = 1 ]; then runs=(configs/moby-char-tiny.json:86) steps=(--steps 3) quick=(--quick); fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# with_fused CONFIG ON: a copy of CONFIG (comments dropped) with fused_attention set; prints its path.
with_fused() {
  local path="$tmp/$(basename "$1" .json)-fused-$2.json"
  /usr/bin/python3 bench/with_fused.py "$1" "$2" "$path"
  echo "$path"
}
# side CONFIG: one bench_train_step run of CONFIG in this round's mode ($flag) and vocabulary ($vocab).
side() { "$build/bench_train_step" "$1" --vocab "$vocab" "${steps[@]}" "${flag[@]}" --json "${@:2}"; }
rounds=${ROUNDS:-6}
rows=()
for ((i = 0; i < rounds; ++i)); do
  for run in "${runs[@]}"; do
    cfg=${run%:*} vocab=${run##*:}
    off=$(with_fused "$cfg" false) on=$(with_fused "$cfg" true)
    for mode in train infer; do
      flag=()
      [ "$mode" = infer ] && flag=(--infer)
      u1=$(side "$off") f1=$(side "$on") u2=$(side "$off") f2=$(side "$on")
      rows+=("{\"config\": \"$cfg\", \"mode\": \"$mode\", \"unfused\": [$u1, $u2], \"fused\": [$f1, $f2]}")
    done
  done
done
# The roofline: one profiled training step of each path per config (each op
# at its fastest of the profiled steps), with the FMA peak and the memory
# bandwidth measured in the same run.
roof=()
for run in "${runs[@]}"; do
  cfg=${run%:*} vocab=${run##*:} flag=()
  for path in unfused fused; do
    [ $path = unfused ] && c=$(with_fused "$cfg" false) || c=$(with_fused "$cfg" true)
    roof+=("{\"config\": \"$cfg\", \"path\": \"$path\", \"run\": $(side "$c" --profile)}")
  done
done
ROWS="$(IFS=,; echo "[${rows[*]}]")" ROOF="$(IFS=,; echo "[${roof[*]}]")" ROUNDS=$rounds /usr/bin/python3 - >"$out.rows" <<'PY'
import json, os, sys
sys.path.insert(0, "tools/results")
from stats import median_interval
from roofline import roofline_parts
by_key = {}  # (config, mode) -> per round: (unfused best, fused best)
for r in json.loads(os.environ["ROWS"]):
    best = lambda runs: min(runs, key=lambda x: x["ms_per_step"])
    by_key.setdefault((r["config"], r["mode"]), []).append((best(r["unfused"]), best(r["fused"])))
print(f"{'config':<32} {'mode':<6} {'unfused ms':>10} {'fused ms':>9} {'speedup':>8} {'interval':>16}", file=sys.stderr)
out = []
for (config, mode), pairs in by_key.items():
    u = min((u for u, _ in pairs), key=lambda x: x["ms_per_step"])
    f = min((f for _, f in pairs), key=lambda x: x["ms_per_step"])
    s = median_interval([u["ms_per_step"] / f["ms_per_step"] for u, f in pairs])
    row = {"config": config, "mode": mode, "threads": f["threads"], "batch": f["batch"],
           "flops_per_step": f["flops_per_step"], "unfused_ms": round(u["ms_per_step"], 3),
           "fused_ms": round(f["ms_per_step"], 3), "speedup": round(s["median"], 3), "speedup_lo": round(s["lo"], 3),
           "speedup_hi": round(s["hi"], 3), "interval_coverage": round(s["coverage"], 3), "pairs": s["n"],
           "fused_gflops": round(f["gflops"], 1), "unfused_gflops": round(u["gflops"], 1)}
    if "mfu_fma_paired_median" in f:
        row.update({"fused_mfu_fma": round(f["mfu_fma_paired_median"], 4),
                    "unfused_mfu_fma": round(u["mfu_fma_paired_median"], 4)})
    out.append(row)
    print(f"{config:<32} {mode:<6} {row['unfused_ms']:>10} {row['fused_ms']:>9} {s['median']:>7.2f}x "
          f"[{s['lo']:.2f}x, {s['hi']:.2f}x]", file=sys.stderr)
roof = []
for r in json.loads(os.environ["ROOF"]):
    run = r["run"]
    roof.append({"config": r["config"], "path": r["path"], "ms_per_step": round(run["ms_per_step"], 3),
                 "fma_peak_gflops": round(run["fma_peak_gflops_best"], 1),
                 "bandwidth_gbs": round(run["roofline"]["bandwidth_gbs_best"], 1),
                 "parts": roofline_parts(run["roofline"]["ops"], run["fma_peak_gflops_best"],
                                         run["roofline"]["bandwidth_gbs_best"])})
json.dump({"rows": out, "roofline": roof, "meta": {"rounds": int(os.environ["ROUNDS"])}}, sys.stdout)
PY
/usr/bin/python3 tools/results/meta.py write --stage fused --out "$out" --rows "$out.rows" --build "$build" \
  --command "ROUNDS=$rounds${QUICK:+ QUICK=$QUICK} bench/fused.sh $build" "${quick[@]}"
rm -f "$out.rows"
