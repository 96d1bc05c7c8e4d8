#!/usr/bin/env bash
# Fused against op-by-op attention (the config key fused_attention), as
# paired ratios: each round times one config both ways back to back with
# bench_train_step (the fastest of STEPS steps each), the order alternating
# from round to round, for a training step and for an inference forward
# pass. Prints each round's ratio unfused/fused (> 1: fused is faster) and
# the median per config and mode. A shared machine's speed drifts; pairing
# within a round is what makes the ratio mean something.
#   usage: [ROUNDS=5] [STEPS=5] bench/fused_attention.sh [build-dir] [config.json ...]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
shift || true
configs=("$@")
[ ${#configs[@]} -gt 0 ] || configs=(configs/moby-char-small.json configs/moby-char-w256.json)
rounds=${ROUNDS:-5} steps=${STEPS:-5}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The config with fused_attention set to $2, written to $3.
with_fused() { /usr/bin/python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); c["fused_attention"]=sys.argv[2]=="true"; json.dump(c,open(sys.argv[3],"w"))' "$@"; }
ms() { "$build/bench_train_step" "$1" --steps "$steps" --json "${@:2}" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["ms_per_step"])'; }
for cfg in "${configs[@]}"; do
  name=$(basename "$cfg" .json)
  with_fused "$cfg" true "$tmp/$name-fused.json"
  with_fused "$cfg" false "$tmp/$name-unfused.json"
  for mode in train infer; do
    extra=()
    [ "$mode" = infer ] && extra=(--infer)
    ratios=()
    for ((i = 0; i < rounds; ++i)); do
      if ((i % 2 == 0)); then
        f=$(ms "$tmp/$name-fused.json" "${extra[@]}"); u=$(ms "$tmp/$name-unfused.json" "${extra[@]}")
      else
        u=$(ms "$tmp/$name-unfused.json" "${extra[@]}"); f=$(ms "$tmp/$name-fused.json" "${extra[@]}")
      fi
      r=$(/usr/bin/python3 -c "print(f'{$u / $f:.3f}')")
      ratios+=("$r")
      echo "$name $mode round $i: unfused $u ms, fused $f ms, ratio $r"
    done
    echo "$name $mode: median unfused/fused $(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}') over $rounds rounds"
  done
done
