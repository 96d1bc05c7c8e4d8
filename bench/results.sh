#!/usr/bin/env bash
# `make results`: re-runs the experiments and benchmarks whose figures
# README.md and docs/ quote, in named stages. Each stage writes its raw
# measurements under docs/data/STAGE/ in one form (tools/results/meta.py:
# the rows, with the commit, the exact command, the date and the machine:
# CPU, threads, FMA peak and SGEMM rate measured in the same run); then the
# marked tables and plots of the docs are regenerated from that data
# (tools/results/render.py; `make test` checks that they equal it).
#
#   make results [STAGES=a,b,...] [QUICK=1] [FORCE=1]   (or bench/results.sh with the same variables)
#
# Stages, in order: machine linear train_step bench demo prune compare gpu
# (default: all). A stage whose data files all exist is skipped, naming the
# commit they measured; FORCE=1 runs it again. The long stages (demo, prune,
# compare: hours on 2 cores) keep their training runs under RUNS (default
# runs/results/), and continue there after an interruption. gpu only imports:
# the H200 runs' figures are data files as recorded (docs/data/gpu/), which
# need an H200 (bench/gpu.sh) to measure again. MEASURE_SPEED=0 makes the
# prune stage run its prunes only (hours, and unaffected by load) and write
# no data; run it again without it on a quiet machine to time them.
#
# QUICK=1 runs every stage on tiny configs (configs/moby-char-tiny.json, a
# few steps, one round; the models on one thread) into build/results-quick/,
# emptied first, never into
# docs/data; the docs are rendered there too, from that data. It tests the
# whole pipeline in a few minutes (CI runs it); its numbers mean nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD:-build}
hc=$build/headcount
quick=${QUICK:-0} force=${FORCE:-0}
all_stages=(machine linear train_step bench demo prune compare gpu)
IFS=, read -ra stages <<<"${STAGES:-$(IFS=,; echo "${all_stages[*]}")}"
for s in "${stages[@]}"; do
  [[ " ${all_stages[*]} " == *" $s "* ]] || { echo "make results: unknown stage '$s' (stages: ${all_stages[*]})" >&2; exit 2; }
done
if [ "$quick" = 1 ]; then
  scratch=$build/results-quick
  rm -rf "$scratch"
  data=$scratch/data runs=$scratch/runs
  quick_flag=(--quick)
else
  data=docs/data runs=${RUNS:-runs/results}
  quick_flag=()
fi
mkdir -p "$data" "$runs"
py=/usr/bin/python3

# write_data STAGE FILE COMMAND ROWS_FILE: the rows with the standard meta block.
write_data() {
  $py tools/results/meta.py write --stage "$1" --out "$2" --command "$3" --rows "$4" --build "$build" "${quick_flag[@]}"
  rm -f "$4"
}

# finished DIR: true if DIR holds a training run that reached its last step.
finished() {
  [ -f "$1/last.json" ] && [ -f "$1/best.safetensors" ] &&
    $py -c "import json, sys; j = json.load(open(sys.argv[1])); sys.exit(j['step'] < j['config']['steps'])" "$1/last.json"
}

# train_dense DIR ARGS...: `headcount train ARGS --set out_dir=DIR`, resumed
# if an earlier attempt stopped, skipped if finished; the command is kept in
# DIR/.command for the data files of the stages that use the model.
train_dense() {
  local dir=$1
  shift
  local cmd=("$hc" train "$@" --set out_dir="$dir")
  if ! finished "$dir"; then
    if [ -f "$dir/last.json" ]; then "${cmd[@]}" --resume; else "${cmd[@]}"; fi
  fi
  echo "${cmd[*]}" >"$dir/.command"
}

# The demo's dense model (moby-char-small; QUICK: moby-char-tiny), shared by
# the demo, prune and compare stages.
demo_config=configs/moby-char-small.json
[ "$quick" = 1 ] && demo_config=configs/moby-char-tiny.json
demo_dense() { train_dense "$runs/demo" --config "$demo_config" >&2; }

# Overrides that shorten a pruning run to seconds under QUICK=1.
quick_prune_sets="steps=16 l0_warmup=8 eval_every=8 eval_segments=10 checkpoint_every=8 batch=4"

stage_machine() {  # the two ceilings, five times (QUICK: once), to show their spread
  local reps=5 rows=() cmd="$build/bench_machine --json${quick_flag[*]:+ ${quick_flag[*]}}"
  [ "$quick" = 1 ] && reps=1
  for ((i = 0; i < reps; ++i)); do rows+=("$($cmd)"); done
  echo "[$(IFS=,; echo "${rows[*]}")]" >"$data/machine/rows.json"
  write_data machine "$data/machine/machine.json" "$cmd (x$reps)" "$data/machine/rows.json"
}

stage_linear() {
  local rounds=6
  [ "$quick" = 1 ] && rounds=1
  OUT="$data/linear/linear.json" ROUNDS=$rounds QUICK=$quick bench/linear.sh "$build"
}

stage_train_step() {
  local rounds=6
  [ "$quick" = 1 ] && rounds=1
  OUT="$data/train_step/train_step.json" ROUNDS=$rounds QUICK=$quick bench/train_step.sh "$build"
}

stage_bench() {  # dense against kept fractions of the heads, fresh weights
  local cmd=("$hc" bench --config configs/moby-char-small.json --reps 21 --json)
  [ "$quick" = 1 ] && cmd=("$hc" bench --config configs/moby-char-tiny.json --batches 1,4 --reps 6 --json)
  "${cmd[@]}" >"$data/bench/rows.json"
  write_data bench "$data/bench/bench.json" "${cmd[*]}" "$data/bench/rows.json"
}

stage_demo() {  # the `make demo` pipeline: train, test, prune, compact, the table
  local dir=$runs/demo prune_sets=()
  [ "$quick" = 1 ] && for s in $quick_prune_sets; do prune_sets+=(--set "$s"); done
  demo_dense
  local prune=("$hc" prune --from "$dir/best.safetensors" --config configs/moby-char-small-prune.json
               --set out_dir="$dir-pruned" "${prune_sets[@]}")
  if [ ! -f "$dir-small/model.safetensors" ]; then
    if [ -f "$dir-pruned/last.json" ]; then "${prune[@]}" --resume; else "${prune[@]}"; fi
    "$hc" compact --from "$dir-pruned/last.safetensors" --out "$dir-small/model.safetensors"
  fi
  local test_eval
  test_eval=$("$hc" eval --from "$dir/best.safetensors" --split test --json | tail -1)
  tools/demo-table.sh "$build" "$dir/best.safetensors" "$dir-small/model.safetensors" "$data/demo/table.json"
  TABLE="$data/demo/table.json" TEST="$test_eval" DIR="$dir" $py - >"$data/demo/rows.json" <<'PY'
import json, math, os, sys
# Rows: the dense run's learning curve, each model's size and loss, the speedups.
d = os.environ["DIR"]
seed = json.load(open(d + "/best.json"))["config"]["seed"]
rows = [{"kind": "curve", "seed": seed, "step": m["step"], "train_loss": m["loss"], "valid_loss": m["valid_loss"]}
        for m in map(json.loads, open(d + "/metrics.jsonl")) if "valid_loss" in m]
kept = [(m["step"], m["kept_heads"]) for m in map(json.loads, open(d + "-pruned/metrics.jsonl")) if "kept_heads" in m]
table = json.load(open(os.environ["TABLE"]))
test_bits = json.loads(os.environ["TEST"])["loss"] / math.log(2)  # the dense model's, as make demo reports it
for r in table["models"]:
    rows.append({"kind": "model", "seed": seed, **r, **({"test_bits": test_bits} if r["model"] == "dense" else {})})
rows.append({"kind": "pruning", "seed": seed, "kept_heads": [k for _, k in kept], "steps": [s for s, _ in kept],
             "heads_per_layer": json.load(open(d + "-small/model.json"))["heads_per_layer"]})
rows += [{"kind": "speed", "seed": seed, **r} for r in table["speed"] if r["model"] == "pruned"]
json.dump(rows, sys.stdout)
PY
  rm -f "$data/demo/table.json"
  write_data demo "$data/demo/demo.json" "$(cat "$dir/.command") && ${prune[*]} && $hc compact --from $dir-pruned/last.safetensors --out $dir-small/model.safetensors && tools/demo-table.sh $build $dir/best.safetensors $dir-small/model.safetensors" "$data/demo/rows.json"
}

# prune_experiment NAME DENSE_DIR PRUNE_CONFIG COEFFICIENTS FRACTIONS [ABLATIONS]:
# bench/prune_experiments.sh over every seed, into data/prune/NAME.json.
prune_experiment() {
  local name=$1 dense=$2/best.safetensors config=$3 coefficients=$4 fractions=$5 ablations=${6:-}
  local seeds=${PRUNE_SEEDS:-1,2,3} sets=""
  [ "$quick" = 1 ] && seeds=1,2 sets=$quick_prune_sets
  local out=$runs/prune-$name
  SEEDS=$seeds SETS=$sets ABLATIONS=$ablations JSON="$data/prune/$name.rows.json" HEADCOUNT=$hc \
    bench/prune_experiments.sh "$dense" "$config" "$out" "$coefficients" "$fractions"
  [ "${MEASURE_SPEED:-1}" = 0 ] && return
  write_data prune "$data/prune/$name.json" \
    "SEEDS=$seeds${sets:+ SETS=\"$sets\"}${ablations:+ ABLATIONS=\"$ablations\"} HEADCOUNT=$hc bench/prune_experiments.sh $dense $config $out $coefficients $fractions" \
    "$data/prune/$name.rows.json"
}

stage_prune() {
  demo_dense
  if [ "$quick" = 1 ]; then
    [ -f "$data/prune/moby-char-small.json" ] ||
      prune_experiment moby-char-small "$runs/demo" configs/moby-char-small-prune.json 0.5 0.5 "abl-no-scaling:output_scaling=false"
    return
  fi
  [ -f "$data/prune/moby-char-small.json" ] && [ "$force" != 1 ] ||
    prune_experiment moby-char-small "$runs/demo" configs/moby-char-small-prune.json 0.2,0.5,1.0 0.75,0.4 \
      "abl-no-warmup:l0_warmup=0 abl-init0:gate_init=0 abl-no-scaling:output_scaling=false"
  if [ ! -f "$data/prune/sotu-word-small.json" ] || [ "$force" = 1 ]; then
    train_dense "$runs/sotu-word-small" --config configs/sotu-word-small.json
    prune_experiment sotu-word-small "$runs/sotu-word-small" configs/sotu-word-small-prune.json 0.2,0.5,1.0 0.5,0.25
  fi
}

stage_compare() {  # headcount compare over the pruning seeds (--seeds)
  local seeds=${COMPARE_SEEDS:-1,2,3} txl=(--config configs/moby-char-small-txl.json)
  local args=(--config configs/moby-char-small-prune.json --set steps=500 --set l0_warmup=250
              --set eval_every=500 --set checkpoint_every=500)
  if [ "$quick" = 1 ]; then
    seeds=1,2 txl=(--config configs/moby-char-tiny.json --set persist=0 --set d_ffn=16)
    args=(--config configs/moby-char-small-prune.json --methods l0 --budgets 0.5)
    for s in $quick_prune_sets; do args+=(--set "$s"); done
  fi
  demo_dense
  train_dense "$runs/txl" "${txl[@]}" >&2
  local dense="$runs/demo/best.safetensors,$runs/txl/best.safetensors"
  local cmd=("$hc" compare --dense "$dense" "${args[@]}" --seeds "$seeds" --out "$runs/compare")
  "${cmd[@]}" >/dev/null
  RUNS=$runs $py - >"$data/compare/rows.json" <<'PY'
import json, os, sys
rows = json.load(open(f"{os.environ['RUNS']}/compare/results.json"))["rows"]
json.dump([{k: v for k, v in r.items() if k != "checkpoint"} for r in rows], sys.stdout)
PY
  write_data compare "$data/compare/compare.json" \
    "$(cat "$runs/demo/.command") && $(cat "$runs/txl/.command") && ${cmd[*]}" "$data/compare/rows.json"
}

stage_gpu() {  # import only: the H200 runs' data files as recorded
  if [ "$quick" = 1 ]; then cp docs/data/gpu/*.json "$data/gpu/"; return; fi
  echo "stage gpu: the H200 figures are imported data (docs/data/gpu/, runs of 2026-11-30); measuring them" \
       "again needs an H200 (bench/gpu.sh). Nothing to run here." >&2
}

# The data files a stage writes; it is skipped when they all exist.
outputs() {
  case $1 in
    machine | linear | train_step | bench | demo | compare) echo "$data/$1/$1.json" ;;
    prune) if [ "$quick" = 1 ]; then echo "$data/prune/moby-char-small.json"
           else echo "$data/prune/moby-char-small.json $data/prune/sotu-word-small.json"; fi ;;
    gpu) echo "$data/gpu/h200-run1.json $data/gpu/h200-run2.json $data/gpu/h200-run3.json" ;;
  esac
}

# Seconds since $1 (an $EPOCHREALTIME), to one decimal.
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

total_start=$EPOCHREALTIME
for stage in "${stages[@]}"; do
  files=($(outputs "$stage"))
  have=1
  for f in "${files[@]}"; do [ -f "$f" ] || have=0; done
  if [ "$have" = 1 ] && { [ "$force" != 1 ] || [ "$stage" = gpu ]; }; then
    commits=$(for f in "${files[@]}"; do $py tools/results/meta.py commit "$f"; done | sort -u | paste -sd, -)
    if [ "$stage" = gpu ]; then
      echo "stage gpu: skipped, imported data from commits $commits (needs an H200 to re-run: bench/gpu.sh)"
    else
      echo "stage $stage: skipped, data from commit $commits (FORCE=1 to re-run)"
    fi
    continue
  fi
  mkdir -p "$data/$stage"
  echo "stage $stage: running" >&2
  start=$EPOCHREALTIME
  # QUICK's tiny models run on one thread: two threads buy them nothing, and
  # on a busy machine each op's OpenMP barrier waits for a descheduled thread.
  if [ "$quick" = 1 ] && [[ " bench demo prune compare " == *" $stage "* ]]; then
    OMP_NUM_THREADS=1 "stage_$stage"
  else
    "stage_$stage"
  fi
  echo "stage $stage: done in $(since "$start") s"
done

# The docs from the data: in place, or (QUICK) rendered into the scratch folder.
if [ "$quick" = 1 ]; then
  $py tools/results/render.py --data "$data" --out "$scratch/docs"
else
  $py tools/results/render.py
fi
echo "make results: $(since "$total_start") s in all"
