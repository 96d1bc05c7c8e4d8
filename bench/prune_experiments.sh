#!/usr/bin/env bash
# The pruning experiments of docs/results.md for one dense checkpoint: L0
# pruning at several coefficients (the paper's mode) and at exact targets
# (a fraction of the heads), each compacted, evaluated on the validation
# split and timed against the dense model (headcount bench, batch 4).
# Prints a Markdown table; every run stays in OUT/ (a finished run is reused).
#   usage: bench/prune_experiments.sh DENSE_CKPT PRUNE_CONFIG OUT [COEFFICIENTS] [FRACTIONS]
#   e.g.   bench/prune_experiments.sh runs/sotu-word-small/best.safetensors \
#            configs/sotu-word-small-prune.json runs/sotu-prune 0.05,0.1,0.2 0.5,0.25
set -euo pipefail
cd "$(dirname "$0")/.."
dense=$1 config=$2 out=$3
coefficients=${4:-0.05,0.1,0.2}
fractions=${5:-0.5,0.25}
hc=${HEADCOUNT:-build/headcount}
mkdir -p "$out"
json() { "$hc" eval --from "$1" --json | tail -1; }
bench() { "$hc" bench --from "$dense" --pruned "$1" --batches 4 --json | /usr/bin/python3 -c \
  "import json,sys; r=json.load(sys.stdin); print(json.dumps({'speedup': r[1]['speedup'], 'ideal': r[1]['ideal']}))"; }
rows=("{\"run\": \"dense\", \"eval\": $(json "$dense")}")
run() {  # name, extra --set flags
  local name=$1; shift
  local dir="$out/$name"
  if [ ! -f "$dir/small.safetensors" ]; then
    "$hc" prune --from "$dense" --config "$config" --set out_dir="$dir" "$@" || [ -f "$dir/last.safetensors" ]
    "$hc" compact --from "$dir/last.safetensors" --out "$dir/small.safetensors" >/dev/null
  fi
  local heads
  heads=$(/usr/bin/python3 -c "import json; print(json.load(open('$dir/small.json'))['heads_per_layer'])")
  rows+=("{\"run\": \"$name\", \"eval\": $(json "$dir/small.safetensors"), \"bench\": $(bench "$dir/small.safetensors"), \"per_layer\": \"$heads\"}")
}
IFS=, read -ra cs <<<"$coefficients"
for c in "${cs[@]}"; do run "coefficient-$c" --set l0_coefficient="$c" --set target_fraction=0; done
IFS=, read -ra fs <<<"$fractions"
for f in "${fs[@]}"; do run "target-$f" --set target_fraction="$f"; done
ROWS="$(IFS=,; echo "[${rows[*]}]")" /usr/bin/python3 - <<'PY'
import json, math, os
rows = json.loads(os.environ["ROWS"])
print("| run | heads | heads per layer | parameters (no emb.) | valid loss (nats) | bits/token | perplexity | speedup (B=4) | ideal |")
print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
for r in rows:
    e, b = r["eval"], r.get("bench", {"speedup": 1.0, "ideal": 1.0})
    print(f"| {r['run']} | {e['heads']} | {r.get('per_layer', '')} | {e['parameters']:,} | {e['loss']:.4f} | "
          f"{e['loss'] / math.log(2):.4f} | {math.exp(e['loss']):.1f} | {b['speedup']:.2f}x | {b['ideal']:.2f}x |")
PY
