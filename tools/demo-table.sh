#!/usr/bin/env bash
# The end of `make demo`: the dense model against its pruned, compacted copy:
# heads, parameters, forward GFLOP per segment, validation bits per byte, and
# the evaluation forward's speedup (headcount bench: the two models in turns,
# pass by pass, the median paired ratio with its 95% interval, at batch 1
# and at the training batch). With JSON_OUT, also writes the rows there
# (the `demo` stage of make results).
#   usage: tools/demo-table.sh BUILD DENSE.safetensors SMALL.safetensors [JSON_OUT]
set -euo pipefail
build=$1
dense=$("$build/headcount" eval --from "$2" --json 2>/dev/null | tail -1)
small=$("$build/headcount" eval --from "$3" --json 2>/dev/null | tail -1)
batch=$(/usr/bin/python3 -c "import json, os, sys; print(json.load(open(os.path.splitext(sys.argv[1])[0] + '.json'))['config']['batch'])" "$2")
speed=$("$build/headcount" bench --from "$2" --pruned "$3" --batches "1,$batch" --json 2>/dev/null)
DENSE="$dense" SMALL="$small" SPEED="$speed" OUT="${4:-}" /usr/bin/python3 - <<'PY'
import json, math, os
d, s, speed = json.loads(os.environ["DENSE"]), json.loads(os.environ["SMALL"]), json.loads(os.environ["SPEED"])
bpb = lambda r: r["loss"] / math.log(2)
one = {r["model"]: r for r in speed if r["batch"] == 1}
rows = [{"model": name, "heads": r["heads"], "parameters": r["parameters"], "valid_loss": r["loss"],
         "valid_bits": bpb(r), "gflop_per_segment": one[name]["flops"] * 1e-9} for name, r in (("dense", d), ("pruned", s))]
print(f"\n{'':<34} {'dense':>12} {'pruned':>12} {'ratio':>8}")
for name, key, fmt in (("heads", "heads", "{:12,.0f}"), ("parameters (no embedding)", "parameters", "{:12,.0f}"),
                       ("forward GFLOP per segment (B=1)", "gflop_per_segment", "{:12.4f}"),
                       ("valid bits per byte", "valid_bits", "{:12.4f}")):
    a, b = rows[0][key], rows[1][key]
    print(f"{name:<34} {fmt.format(a)} {fmt.format(b)} {b / a:8.3f}")
for r in speed:
    if r["model"] == "pruned":
        print(f"{'eval forward speedup, batch ' + str(r['batch']):<34} {'':>12} {'':>12} {r['speedup']:7.2f}x"
              f"  (95% interval {r['speedup_lo']:.2f}-{r['speedup_hi']:.2f}x, FLOP-ideal {r['ideal']:.2f}x)")
if os.environ["OUT"]:
    keep = ("model", "batch", "heads", "ms", "speedup", "speedup_lo", "speedup_hi", "interval_coverage", "pairs",
            "ideal", "above_ideal")
    json.dump({"models": rows, "speed": [{k: r[k] for k in keep} for r in speed]}, open(os.environ["OUT"], "w"))
PY
