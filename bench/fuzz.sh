#!/usr/bin/env bash
# Run every libFuzzer harness of a sanitizer build (make sanitize-build) for
# SECONDS each: first over its saved regression inputs
# (tests/fuzz/regressions/<harness>/, every past crash), then fuzzing from
# seeds made here from real files (configs, a tiny run's checkpoint sidecar
# and vocabulary, small safetensors files, corpus snippets). Prints the
# executions and findings per harness; exits 1 if any harness crashed,
# leaving the input in BUILD/fuzz/<harness>/crash-*.
#
#   bench/fuzz.sh [BUILD=build-sanitize] [SECONDS=300]      (make fuzz: 20 s each)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build-sanitize}
SECONDS_EACH=${2:-300}
WORK=$BUILD/fuzz
rm -rf "$WORK"
mkdir -p "$WORK"

# ---- seeds ----
seeds() { mkdir -p "$WORK/$1/seeds" "$WORK/$1/corpus"; echo "$WORK/$1/seeds"; }
S=$(seeds fuzz_config)
cp configs/*.json "$S/"
printf '{"layers": 2}\0heads=3\nlr=0.01\nheads_per_layer=[1,2]\nout_dir=x' >"$S/with-overrides"

# A real run's sidecar and vocabulary: two steps of the tiny config.
RUN=$WORK/run
mkdir -p "$RUN/corpus"
for split in train valid test; do
  for i in $(seq 200); do echo "the whale $((i % 13)) swam on."; done >"$RUN/corpus/$split.txt"
done
"$BUILD/headcount" train --config configs/moby-char-tiny.json --set corpus="$RUN/corpus" \
  --set out_dir="$RUN/out" --set steps=2 --set eval_every=2 --set checkpoint_every=2 >/dev/null 2>&1
S=$(seeds fuzz_sidecar)
cp "$RUN/out/last.json" "$S/"
S=$(seeds fuzz_vocabulary)
cp "$RUN/out/vocab.txt" "$S/char.txt"
printf 'headcount-vocab word\n<unk>\n<eos>\nthe\nwhale\n' >"$S/word.txt"
S=$(seeds fuzz_corpus)
for mode in 0 1 2 3 6 18; do
  { printf "\\x$(printf %02x $mode)"; head -c 300 "$RUN/corpus/train.txt"; printf '\xff';
    head -c 100 "$RUN/corpus/valid.txt"; printf '\xff'; head -c 100 "$RUN/corpus/test.txt"; } >"$S/mode-$mode"
done
S=$(seeds fuzz_safetensors)
/usr/bin/python3 - "$S" <<'PY'
import json, struct, sys
def write(path, tensors, meta=None):
    header, data = {}, b""
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if meta: header["__metadata__"] = meta
    text = json.dumps(header).encode()
    open(path, "wb").write(struct.pack("<Q", len(text)) + text + data)
d = sys.argv[1]
write(d + "/f32", {"w": ("F32", [2, 2], struct.pack("<4f", 1, 2, 3, 4))}, {"step": "3"})
write(d + "/mixed", {"a": ("F64", [1], struct.pack("<d", 0.5)), "i": ("I64", [2], struct.pack("<2q", -1, 7)),
                     "e": ("F32", [0, 3], b"")})
PY
S=$(seeds fuzz_cli)
# Command lines: a command name and its arguments, NUL-separated (written with | here).
while IFS=' ' read -r name line; do printf '%s' "$line" | tr '|' '\0' >"$S/$name"; done <<'LINES'
generate generate|--from|x.safetensors|--top-k|0|--temperature=0.8|--tokens|20|--seed|7|--prompt|Call me
compare compare|--dense|a,b|--budgets|0.5,0.25|--seeds|1,2|--methods|l0,random|--set|seed=3|--out|d
bench bench|--config|c.json|--batches|1,4|--keep|0.5|--json|--reps=3|--device|cpu
profile profile|--from|c|--heads-per-layer|2,2,1|--batch=4|--reps|3|--out|d
train train|--config|c.json|--set|steps=2|--threads|2|--stop-at|5|--resume|--dump-gradients|g
eval eval|--from|c|--split|test|--json|--set=batch=2|--tf32|--device=cuda
heatmap heatmap|--metrics|m.jsonl|--out|x.svg|--columns|50
prune prune|--method|topk|--from|d|--config|p.json|-h
compact compact|--from|g|--out|s|--threads=1
LINES

# ---- run ----
status=0
printf '%-18s %12s %10s %8s\n' harness executions seconds crashes
for harness in fuzz_config fuzz_sidecar fuzz_vocabulary fuzz_corpus fuzz_safetensors fuzz_cli; do
  dir=$WORK/$harness
  regressions=tests/fuzz/regressions/$harness
  if [ -d "$regressions" ] && [ -n "$(ls -A "$regressions")" ]; then
    "$BUILD/$harness" "$regressions"/* >"$dir/regressions.log" 2>&1 ||
      { echo "$harness: a saved regression input fails again, see $dir/regressions.log"; status=1; }
  fi
  set +e
  (cd "$dir" && "../../$harness" -max_total_time="$SECONDS_EACH" -print_final_stats=1 -rss_limit_mb=4096 \
     -timeout=20 corpus seeds >fuzz.log 2>&1)
  rc=$?
  set -e
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$dir/fuzz.log" | grep -o '[0-9]*$' || echo '?')
  crashes=$(ls "$dir" | grep -c -E '^(crash|leak|timeout|oom)-' || true)
  printf '%-18s %12s %10s %8s\n' "$harness" "$execs" "$SECONDS_EACH" "$crashes"
  if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
    echo "$harness: FAILED (exit $rc); log $dir/fuzz.log, inputs $(ls -d "$dir"/crash-* "$dir"/leak-* "$dir"/timeout-* "$dir"/oom-* 2>/dev/null | tr '\n' ' ')"
    tail -40 "$dir/fuzz.log"
    status=1
  fi
done
exit $status
