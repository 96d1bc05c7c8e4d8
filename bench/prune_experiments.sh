#!/usr/bin/env bash
# The pruning experiments of docs/results.md for one dense checkpoint: L0
# pruning at several coefficients (the paper's mode), at exact targets (a
# fraction of the heads) and, optionally, ablations of the stabilising
# techniques, each with every seed in SEEDS; each run compacted, evaluated
# on the validation split and timed against the dense model (headcount
# bench, batch 4: the median paired speedup with its 95% interval). Prints a
# Markdown table; with JSON=FILE also writes the rows there (one per run
# and seed). Every run stays in OUT/NAME-seedS/, and a finished one is reused;
# a failed prune, compaction or evaluation fails the script. Every prune runs
# first; the evaluations and timings follow in a second pass. MEASURE_SPEED=0
# stops after the prunes (for a loaded machine: the long part, whose results
# do not depend on load); a later run without it reuses them and times them.
#   usage: [SEEDS=1,2,3] [MEASURE_SPEED=0] [ABLATIONS="name:key=value ..."] [SETS="key=value ..."] [JSON=rows.json]
#          bench/prune_experiments.sh DENSE_CKPT PRUNE_CONFIG OUT [COEFFICIENTS] [FRACTIONS]
#   e.g.   SEEDS=1,2,3 bench/prune_experiments.sh runs/sotu-word-small/best.safetensors \
#            configs/sotu-word-small-prune.json runs/sotu-prune 0.2,0.5,1.0 0.5,0.25
# ABLATIONS run at the config's own target, each with one key changed (e.g.
# "abl-no-warmup:l0_warmup=0 abl-no-scaling:output_scaling=false"); SETS are
# --set overrides for every run (make results QUICK=1 shortens the runs so).
set -euo pipefail
cd "$(dirname "$0")/.."
dense=$1 config=$2 out=$3
coefficients=${4:-0.05,0.1,0.2}
fractions=${5:-0.5,0.25}
hc=${HEADCOUNT:-build/headcount}
IFS=, read -ra seeds <<<"${SEEDS:-1}"
read -ra ablations <<<"${ABLATIONS:-}"
sets=()
for s in ${SETS:-}; do sets+=(--set "$s"); done
mkdir -p "$out"
evaluate() { "$hc" eval --from "$1" --json | tail -1; }
speed() { "$hc" bench --from "$dense" --pruned "$1" --batches 4 --json | /usr/bin/python3 -c '
import json, sys
r = json.load(sys.stdin)[1]
print(json.dumps({k: r[k] for k in ("speedup", "speedup_lo", "speedup_hi", "interval_coverage", "pairs", "ideal")}))'; }
runs=()  # name:seed:dir of every run, in order
run() {  # name, seed, extra --set flags: the prune and its compaction (reused when finished)
  local name=$1 seed=$2
  shift 2
  local dir="$out/$name-seed$seed"
  if [ ! -f "$dir/small.safetensors" ]; then
    local resume=()
    [ -f "$dir/last.json" ] && resume=(--resume)
    "$hc" prune --from "$dense" --config "$config" --set out_dir="$dir" --set seed="$seed" "${sets[@]}" "$@" "${resume[@]}"
    "$hc" compact --from "$dir/last.safetensors" --out "$dir/small.safetensors" >/dev/null
  fi
  runs+=("$name:$seed:$dir")
}
IFS=, read -ra cs <<<"$coefficients"
IFS=, read -ra fs <<<"$fractions"
for seed in "${seeds[@]}"; do
  for c in "${cs[@]}"; do run "coefficient-$c" "$seed" --set l0_coefficient="$c" --set target_fraction=0; done
  for f in "${fs[@]}"; do run "target-$f" "$seed" --set target_fraction="$f"; done
  for a in "${ablations[@]}"; do run "${a%%:*}" "$seed" --set "${a#*:}"; done
done
if [ "${MEASURE_SPEED:-1}" = 0 ]; then
  echo "prune_experiments: ${#runs[@]} runs pruned and compacted under $out; MEASURE_SPEED=0, so nothing timed and no table" >&2
  exit 0
fi
# Second pass, after every prune: evaluate each compacted model and time it
# against the dense one (so the timing can wait for a quiet machine).
rows=("{\"run\": \"dense\", \"eval\": $(evaluate "$dense")}")
for r in "${runs[@]}"; do
  IFS=: read -r name seed dir <<<"$r"
  rows+=("{\"run\": \"$name\", \"seed\": $seed, \"dir\": \"$dir\", \"eval\": $(evaluate "$dir/small.safetensors"), \"bench\": $(speed "$dir/small.safetensors")}")
done
ROWS="$(IFS=,; echo "[${rows[*]}]")" DENSE="$dense" JSON="${JSON:-}" /usr/bin/python3 - <<'PY'
import json, math, os
rows = []
for r in json.loads(os.environ["ROWS"]):
    e = r["eval"]
    row = {"run": r["run"], "heads": e["heads"], "parameters": e["parameters"], "valid_loss": e["loss"],
           "valid_bits": e["loss"] / math.log(2)}
    if r["run"] == "dense":
        sidecar = json.load(open(os.path.splitext(os.environ["DENSE"])[0] + ".json"))
        row.update({"seed": sidecar["config"]["seed"], "speedup": 1.0, "ideal": 1.0})
    else:
        small = json.load(open(r["dir"] + "/small.json"))
        # The deterministic head count over the logged steps: its minimum, and
        # how often it went back up (gates that closed and reopened).
        kept = [m["kept_heads"] for m in map(json.loads, open(r["dir"] + "/metrics.jsonl")) if "kept_heads" in m]
        per_layer = small["heads_per_layer"] or [small["config"]["heads"]] * small["config"]["layers"]
        row.update({"seed": r["seed"], "heads_per_layer": per_layer, **r["bench"],
                    "min_kept": min(kept), "increases": sum(b > a for a, b in zip(kept, kept[1:]))})
    rows.append(row)
print("| run | seed | heads | heads per layer | parameters (no emb.) | valid bits/token | perplexity | "
      "speedup (B=4) | 95% interval | ideal |")
print("|---|---:|---:|---|---:|---:|---:|---:|---|---:|")
for r in rows:
    per_layer = " ".join(map(str, r.get("heads_per_layer", [])))
    interval = f"{r['speedup_lo']:.2f}-{r['speedup_hi']:.2f}x" if "speedup_lo" in r else ""
    print(f"| {r['run']} | {r['seed']} | {r['heads']} | {per_layer} | {r['parameters']:,} | {r['valid_bits']:.4f} | "
          f"{math.exp(r['valid_loss']):.1f} | {r['speedup']:.2f}x | {interval} | {r['ideal']:.2f}x |")
if os.environ["JSON"]:
    json.dump(rows, open(os.environ["JSON"], "w"))
PY
