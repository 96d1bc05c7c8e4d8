#!/usr/bin/env bash
# The end of `make demo`: the dense model against its pruned, compacted copy
# on the validation split: heads, parameters, bits per byte, evaluation speed.
#   usage: tools/demo-table.sh BUILD DENSE.safetensors SMALL.safetensors
set -euo pipefail
build=$1
dense=$("$build/headcount" eval --from "$2" --json 2>/dev/null | tail -1)
small=$("$build/headcount" eval --from "$3" --json 2>/dev/null | tail -1)
DENSE="$dense" SMALL="$small" /usr/bin/python3 - <<'PY'
import json, math, os
d, s = json.loads(os.environ["DENSE"]), json.loads(os.environ["SMALL"])
bpb = lambda r: r["loss"] / math.log(2)
print(f"\n{'':<22} {'dense':>12} {'pruned':>12} {'ratio':>8}")
for name, f in (("heads", lambda r: r["heads"]), ("parameters (no embed.)", lambda r: r["parameters"]),
                ("valid bits per byte", bpb), ("eval tokens/s", lambda r: r["tok_s"])):
    a, b = f(d), f(s)
    fmt = (lambda v: f"{v:12.4f}") if name.startswith("valid") else (lambda v: f"{v:12,.0f}")
    print(f"{name:<22} {fmt(a)} {fmt(b)} {b / a:8.3f}")
PY
