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
# Stages, in order: machine linear train_step fused fused_step bench costs demo timebudget spatten prune
# compare twins pair techniques budget gpu
# (default: all). A stage whose data files all exist is skipped, naming the
# commit they measured; FORCE=1 runs it again. The long stages (demo, prune,
# compare: hours on 2 cores) keep their training runs under RUNS (default
# runs/results/), and continue there after an interruption. gpu only imports:
# the H200 runs' figures are data files as recorded (docs/data/gpu/), which
# need an H200 (bench/gpu.sh) to measure again. MEASURE_SPEED=0 makes the
# prune, compare, twins, pair, techniques and budget stages run their training and prunes only (hours,
# and unaffected by load) and write no data; run them again without it on a
# quiet machine: they reuse every finished run and time them.
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
all_stages=(machine linear train_step fused fused_step bench costs demo timebudget spatten prune compare twins pair techniques budget gpu)
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

# requested_steps ARGS...: the `steps` that `headcount train ARGS` would run
# (the --config file's, or the last --set steps=N).
requested_steps() {
  $py - "$@" <<'PY'
import json, re, sys
args = sys.argv[1:]
pairs = list(zip(args, args[1:]))
steps = [json.loads(re.sub(r"^\s*//.*$", "", open(v).read(), flags=re.M))["steps"] for f, v in pairs if f == "--config"]
steps += [int(v[len("steps="):]) for f, v in pairs if f == "--set" and v.startswith("steps=")]
print(steps[-1])
PY
}

# finished DIR STEPS: true if DIR holds a training run that reached step STEPS.
finished() {
  [ -f "$1/last.json" ] && [ -f "$1/best.safetensors" ] &&
    $py -c "import json, sys; sys.exit(json.load(open(sys.argv[1]))['step'] < int(sys.argv[2]))" "$1/last.json" "$2"
}

# train_dense DIR ARGS...: `headcount train ARGS --set out_dir=DIR`, resumed
# if an earlier attempt stopped, skipped if finished. A finished run whose
# config now asks for more steps is resumed too: it continues to the new end
# (with decay_steps at the old end, exactly as a longer run would have gone;
# tests/test_cli.cpp checks that). The command is kept in DIR/.command for
# the data files of the stages that use the model.
train_dense() {
  local dir=$1
  shift
  local cmd=("$hc" train "$@" --set out_dir="$dir")
  if ! finished "$dir" "$(requested_steps "$@")"; then
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

stage_fused() {  # the fused attention op against the unfused path, interleaved (bench/fused.sh)
  local rounds=6
  [ "$quick" = 1 ] && rounds=1
  OUT="$data/fused/fused.json" ROUNDS=$rounds QUICK=$quick bench/fused.sh "$build"
}

# The whole training step of moby-char-small (forward, backward, clip, Adam),
# fused_attention off and on in turns, PAIRS times (QUICK: the tiny config, 3
# pairs): a larger sample of the one number the fused stage's 6 rounds leave
# uncertain. Each run reports its fastest of STEPS steps.
stage_fused_step() {
  local config=configs/moby-char-small.json pairs=40 steps=10 i side rows=()
  [ "$quick" = 1 ] && config=configs/moby-char-tiny.json pairs=3 steps=3
  local tmp
  tmp=$(mktemp -d)
  for side in false true; do $py bench/with_fused.py "$config" "$side" "$tmp/$side.json"; done
  for ((i = 0; i < pairs; ++i)); do
    for side in false true; do
      rows+=("$("$build/bench_train_step" "$tmp/$side.json" --vocab 86 --steps "$steps" --json |
                $py -c 'import json, sys; d = json.load(sys.stdin)
print(json.dumps({"pair": int(sys.argv[1]), "fused": sys.argv[2] == "true", "ms_per_step": d["ms_per_step"],
                  "threads": d["threads"], "batch": d["batch"]}))' "$i" "$side")")
    done
  done
  rm -rf "$tmp"
  echo "[$(IFS=,; echo "${rows[*]}")]" >"$data/fused_step/rows.json"
  write_data fused_step "$data/fused_step/fused_step.json" \
    "$build/bench_train_step $config --vocab 86 --steps $steps --json, fused_attention false then true, $pairs pairs" \
    "$data/fused_step/rows.json"
}

stage_bench() {  # dense against kept fractions of the heads, fresh weights
  local cmd=("$hc" bench --config configs/moby-char-small.json --reps 21 --json)
  [ "$quick" = 1 ] && cmd=("$hc" bench --config configs/moby-char-tiny.json --batches 1,4 --reps 6 --json)
  "${cmd[@]}" >"$data/bench/rows.json"
  write_data bench "$data/bench/bench.json" "${cmd[*]}" "$data/bench/rows.json"
}

# The cost model against 50 random pruned configurations of moby-char-small
# (`headcount profile --validate`), at batch 1 and 16: each form's share
# within +-5% and +-10%, its worst error, the repeatability of a measurement.
stage_costs() {
  local config=configs/moby-char-small.json sets=(--validate 50 --reps 30) batches=(1 16) b cmd
  [ "$quick" = 1 ] && config=configs/moby-char-tiny.json sets=(--set heads=3 --validate 4 --reps 2) batches=(1 2)
  for b in "${batches[@]}"; do
    cmd=("$hc" profile --config "$config" "${sets[@]}" --batch "$b" --out "$runs/costs-b$b")
    "${cmd[@]}" >/dev/null
  done
  RUNS="$runs" $py - "${batches[@]}" >"$data/costs/rows.json" <<'PY'
import json, os, sys
# One row per batch and mode: every form's scores, the repeatability, the
# calibration's cost, and each validation configuration's numbers.
rows = []
for b in sys.argv[1:]:
    d = os.path.join(os.environ["RUNS"], f"costs-b{b}")
    cm = json.load(open(d + "/costs.json"))["cost_model"]
    val = json.load(open(d + "/validation.json"))
    for mode in ("train", "infer"):
        rows.append({"batch": int(b), "mode": mode, "chosen": val[mode]["chosen"], "key": cm["key"],
                     "calibration": cm["calibration"], "repeatability": cm["validation"][mode],
                     "forms": [dict(f["validation"], form=f["form"], layers=len(f["per_head_s"]), counts=len(f["count_s"]))
                               for f in cm["forms"][mode]],
                     "configurations": val[mode]["configurations"]})
json.dump(rows, sys.stdout)
PY
  write_data costs "$data/costs/costs.json" \
    "$hc profile --config $config ${sets[*]} --batch $(IFS='|'; echo "${batches[*]}") --out $runs/costs-bB" \
    "$data/costs/rows.json"
}

# Pruning to a time budget (cost-aware L0, docs/pruning.md) on moby-char-small:
# the inference forward at batch 16 brought to 80%, 60% and 40% of the dense
# model's predicted time, from the demo's dense model; each compacted model
# timed beside the dense one with its prediction (bench --cost-model). The
# cost model is validated as in the costs stage, so that its best form is
# the one used; it is itself a timing, so the whole stage wants a quiet
# machine (MEASURE_SPEED does not apply).
stage_timebudget() {
  # 0.5 joined 0.8 0.6 0.4 when 0.4 landed 10.1% under: no shape of 5 heads fits 40% of the time.
  local fractions=(0.8 0.6 0.5 0.4) profile_sets=(--validate 50 --reps 30) prune_sets=() bench_sets=(--reps 41) f dir s rows=()
  if [ "$quick" = 1 ]; then
    # 0.8: with fused attention the tiny model's heads are about 2/3 of its time and one head
    # alone already costs about 0.6 of the dense model's time, so 0.6 is out of reach.
    fractions=(0.8) profile_sets=(--validate 1 --reps 2) bench_sets=(--reps 4)
    for s in $quick_prune_sets; do prune_sets+=(--set "$s"); done
  fi
  demo_dense
  local costs=$runs/timebudget-costs/costs.json batch
  batch=$($py -c 'import json, sys; print(json.load(open(sys.argv[1]))["config"]["batch"])' "$runs/demo/best.json")
  [ -f "$costs" ] || "$hc" profile --from "$runs/demo/best.safetensors" "${profile_sets[@]}" \
                       --out "$runs/timebudget-costs" >/dev/null
  for f in "${fractions[@]}"; do
    dir=$runs/timebudget-$f
    local prune=("$hc" prune --from "$runs/demo/best.safetensors" --config configs/moby-char-small-prune.json
                 --set target_fraction=0 --set target_speedup="$($py -c "print(1 / $f)")" --set cost_model="$costs"
                 --set out_dir="$dir" "${prune_sets[@]}")
    if [ ! -f "$dir-small/model.safetensors" ]; then
      if [ -f "$dir/last.json" ]; then "${prune[@]}" --resume >&2; else "${prune[@]}" >&2; fi
      "$hc" compact --from "$dir/last.safetensors" --out "$dir-small/model.safetensors" >&2
    fi
    rows+=("$("$hc" bench --from "$runs/demo/best.safetensors" --pruned "$dir-small/model.safetensors" \
                --batches "$batch" "${bench_sets[@]}" --cost-model "$costs" --json |
             $py -c 'import json, sys
chosen = {k: v for k, v in json.load(open(sys.argv[2])).items() if k in ("budget_ms", "largest_fit_ms")}
print(json.dumps([dict(r, fraction=float(sys.argv[1]), **(chosen if r["model"] == "pruned" else {}))
                  for r in json.load(sys.stdin)]))' "$f" "$dir/choose.json")")
  done
  $py -c 'import json, sys; json.dump([r for a in sys.argv[1:] for r in json.loads(a)], sys.stdout)' "${rows[@]}" \
    >"$data/timebudget/rows.json"
  write_data timebudget "$data/timebudget/timebudget.json" \
    "$hc prune --config configs/moby-char-small-prune.json --set target_speedup=1/F (F = ${fractions[*]}), then $hc bench --pruned ... ${bench_sets[*]} --cost-model" \
    "$data/timebudget/rows.json"
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

# SpAtten's runtime cascade against static methods at the same head count,
# neither retrained, on the demo's dense model (bench_spatten: the loss on the
# first validation segments, and batch-1 timings of dense, static and
# SpAtten in turns).
stage_spatten() {
  local sets=(--budgets 0.75,0.5,0.25 --segments 40 --reps 100) rows=() static
  [ "$quick" = 1 ] && sets=(--budgets 0.5 --segments 2 --reps 4)
  demo_dense
  for static in magnitude taylor; do
    rows+=("$("$build/bench_spatten" --from "$runs/demo/best.safetensors" "${sets[@]}" --static "$static" --json |
               $py -c 'import json, sys; print(json.dumps([dict(r, static_method=sys.argv[1]) for r in json.load(sys.stdin)]))' "$static")")
  done
  $py -c 'import json, sys; json.dump([r for a in sys.argv[1:] for r in json.loads(a)], sys.stdout)' "${rows[@]}" \
    >"$data/spatten/rows.json"
  write_data spatten "$data/spatten/spatten.json" \
    "$build/bench_spatten --from $runs/demo/best.safetensors ${sets[*]} --static magnitude|taylor --json" "$data/spatten/rows.json"
}

# prune_experiment STAGE NAME SEEDS SETS DENSE_DIR PRUNE_CONFIG COEFFICIENTS FRACTIONS [ABLATIONS]:
# bench/prune_experiments.sh over every seed (QUICK: seeds 1,2, runs of a
# few steps), into data/STAGE/NAME.json; SETS are --set overrides for every
# run. With MEASURE_SPEED=0 it stops after the prunes and writes nothing.
prune_experiment() {
  local stage=$1 name=$2 seeds=$3 sets=$4 dense=$5/best.safetensors config=$6 coefficients=$7 fractions=$8 ablations=${9:-}
  if [ "$quick" = 1 ]; then
    [[ $seeds == *,* ]] && seeds=1,2
    sets="$quick_prune_sets $sets"
  fi
  local out=$runs/$stage-$name
  SEEDS=$seeds SETS=$sets ABLATIONS=$ablations JSON="$data/$stage/$name.rows.json" HEADCOUNT=$hc \
    bench/prune_experiments.sh "$dense" "$config" "$out" "$coefficients" "$fractions"
  [ "${MEASURE_SPEED:-1}" = 0 ] && return
  write_data "$stage" "$data/$stage/$name.json" \
    "SEEDS=$seeds${sets:+ SETS=\"$sets\"}${ablations:+ ABLATIONS=\"$ablations\"} HEADCOUNT=$hc bench/prune_experiments.sh $dense $config $out $coefficients $fractions" \
    "$data/$stage/$name.rows.json"
}

stage_prune() {
  local seeds=${PRUNE_SEEDS:-1,2,3}
  demo_dense
  if [ "$quick" = 1 ]; then
    [ -f "$data/prune/moby-char-small.json" ] ||
      prune_experiment prune moby-char-small 1,2 "" "$runs/demo" configs/moby-char-small-prune.json 0.5 0.5 "abl-no-scaling:output_scaling=false"
    return
  fi
  [ -f "$data/prune/moby-char-small.json" ] && [ "$force" != 1 ] ||
    prune_experiment prune moby-char-small "$seeds" "" "$runs/demo" configs/moby-char-small-prune.json 0.2,0.5,1.0 0.75,0.4 \
      "abl-no-warmup:l0_warmup=0 abl-init0:gate_init=0 abl-no-scaling:output_scaling=false"
  if [ ! -f "$data/prune/sotu-word-small.json" ] || [ "$force" = 1 ]; then
    train_dense "$runs/sotu-word-small" --config configs/sotu-word-small.json
    prune_experiment prune sotu-word-small "$seeds" "" "$runs/sotu-word-small" configs/sotu-word-small-prune.json 0.2,0.5,1.0 0.5,0.25
  fi
}

# nearest_fraction OUT NAMES TARGET: of the runs OUT/NAME-seed1 (compacted),
# the NAME whose kept share of the heads is nearest TARGET.
nearest_fraction() {
  $py - "$@" <<'PY'
import json, sys
out, names, target = sys.argv[1], sys.argv[2].split(","), float(sys.argv[3])
def share(name):
    small = json.load(open(f"{out}/{name}-seed1/small.json"))
    c = small["config"]
    per_layer = small["heads_per_layer"] or [c["heads"]] * c["layers"]
    return sum(per_layer) / (c["heads"] * c["layers"])
print(min(names, key=lambda n: abs(share(n) - target)))
PY
}

# The paper's three stabilising techniques as the paper defines them, in
# coefficient mode (the L0 penalty alone, no head budget): a sweep of
# coefficients on seed 1 (the paper's 0.01-0.05 sum over 128 heads; the
# demo model has 16, so about 8x larger here) finds those that keep about
# 75%, 50% and 25% of the heads (dense where the kept share falls fastest:
# seed 1 kept 14 heads at 0.2, 9 at 0.3, 7 at 0.4 and 0.5, 3 at 0.7, so
# 0.25 and 0.6 aim at 75% and 25%); then, at the 50% coefficient over 3 seeds,
# the full recipe, each technique turned off alone, and all three off
# (Voita et al.'s setting): the coefficient warm-up (l0_warmup=0), the
# gate initialisation (gate_init=0 instead of 2), the output scaling.
stage_techniques() {
  local sweep=0.1,0.2,0.25,0.3,0.4,0.5,0.6,0.7,1 ablations="no-warmup:l0_warmup=0 gate-init-0:gate_init=0 no-scaling:output_scaling=false"
  ablations+=" all-off:l0_warmup=0,gate_init=0,output_scaling=false"
  [ "$quick" = 1 ] && sweep=0.5,5 ablations="all-off:l0_warmup=0,gate_init=0,output_scaling=false"
  demo_dense
  prune_experiment techniques sweep 1 "target_fraction=0" "$runs/demo" configs/moby-char-small-prune.json "$sweep" ""
  local names=() c
  IFS=, read -ra cs <<<"$sweep"
  for c in "${cs[@]}"; do names+=("coefficient-$c"); done
  local half
  half=$(nearest_fraction "$runs/techniques-sweep" "$(IFS=,; echo "${names[*]}")" 0.5)
  half=${half#coefficient-}
  echo "stage techniques: coefficient $half keeps the share of heads nearest 50%" >&2
  prune_experiment techniques ablations "${TECHNIQUE_SEEDS:-1,2,3}" "target_fraction=0 l0_coefficient=$half" "$runs/demo" \
    configs/moby-char-small-prune.json "$half" "" "$ablations"
}

# Landing on a head budget: target mode (a quadratic pull of the expected
# open count toward a ramped target, then an exact top-K readout at the last
# step) against the Lagrangian controller (l0_budget_mode=lagrangian:
# multipliers learned by dual ascent), at 75%, 50% and 25% of the heads over
# 3 seeds, neither fine-tuned after the readout; and target mode again with
# 500 steps at the final shape (finetune_steps). First the multipliers'
# ascent rate is swept on seed 1 at 50%; the 3-seed runs use the rate whose
# expected open count strayed least from its target.
stage_budget() {
  local seeds=${BUDGET_SEEDS:-1,2,3} fractions=0.75,0.5,0.25 rates=0.001,0.01,0.1,1 finetune=500
  [ "$quick" = 1 ] && fractions=0.5 rates=1 finetune=8
  local config=configs/moby-char-small-prune.json sweep=() r
  IFS=, read -ra rs <<<"$rates"
  for r in "${rs[@]}"; do sweep+=("rate-$r:lagrangian_lr=$r"); done
  demo_dense
  prune_experiment budget rate-sweep 1 "l0_budget_mode=lagrangian target_fraction=0.5" "$runs/demo" "$config" "" "" "${sweep[*]}"
  local rate
  rate=$($py - "$runs/budget-rate-sweep" "$rates" <<'PY'
import json, sys
out, rates = sys.argv[1], sys.argv[2].split(",")
def stray(r):
    ms = [json.loads(l) for l in open(f"{out}/rate-{r}-seed1/metrics.jsonl")]
    return max(abs(m["l0"] - m["target_heads"]) for m in ms if "l0" in m and "target_heads" in m)
print(min(rates, key=stray))
PY
)
  echo "stage budget: lagrangian_lr $rate strayed least" >&2
  prune_experiment budget target "$seeds" "" "$runs/demo" "$config" "" "$fractions"
  prune_experiment budget lagrangian "$seeds" "l0_budget_mode=lagrangian lagrangian_lr=$rate" "$runs/demo" "$config" "" "$fractions"
  prune_experiment budget target-finetune "$seeds" "finetune_steps=$finetune" "$runs/demo" "$config" "" "$fractions"
}

# grid_rows DIR: the rows of a finished `headcount compare --out DIR`, without their paths.
grid_rows() {
  $py -c '
import json, sys
rows = json.load(open(sys.argv[1] + "/results.json"))["rows"]
json.dump([{k: v for k, v in r.items() if k not in ("checkpoint", "dense")} for r in rows], sys.stdout)' "$1"
}

# The pruning-method bake-off on the demo's All-attention model: every
# registered method at 75%, 50% and 25% of the heads over 3 seeds, with one
# schedule for all: 500 selection steps (the learned methods ramp their
# head count down over the first 250 and hold it for the last 250, so their
# choice settles), then 500 steps of fine-tuning at the final shape
# (finetune_steps); lottery rewinds to the dense run's step 500. The scored
# methods that read data (taylor, shapley, astar) use 8 probe batches
# (importance_batches; with the default 32, one A* choice ran over 5 minutes
# without finishing while 4 jobs shared the 2 cores; with 8 one took 70-94 s:
# it scores 394-682 head sets).
compare_args=(--config configs/moby-char-small-prune.json --set steps=500 --set l0_warmup=250 --set finetune_steps=500
              --set eval_every=500 --set checkpoint_every=500 --set "rewind_from={dense}/step-500.safetensors"
              --set importance_batches=8)
quick_compare_args=(--config configs/moby-char-small-prune.json --set finetune_steps=4
                    --set "rewind_from={dense}/step-20.safetensors")
for s in $quick_prune_sets; do quick_compare_args+=(--set "$s"); done

# compare_grid STAGE NAME OUT_DIR DENSE ARGS...: one `headcount compare`, into data/STAGE/NAME.json.
compare_grid() {
  local stage=$1 name=$2 out=$3 dense=$4
  shift 4
  local cmd=("$hc" compare --dense "$dense" "$@" --out "$out") commands="" d
  "${cmd[@]}" >/dev/null
  [ "${MEASURE_SPEED:-1}" = 0 ] && return
  grid_rows "$out" >"$data/$stage/$name.rows.json"
  IFS=, read -ra ds <<<"$dense"
  for d in "${ds[@]}"; do commands+="$(cat "$(dirname "$d")/.command") && "; done
  write_data "$stage" "$data/$stage/$name.json" "$commands${cmd[*]}" "$data/$stage/$name.rows.json"
}

stage_compare() {
  local seeds=${COMPARE_SEEDS:-1,2,3} budgets=0.75,0.5,0.25 args=("${compare_args[@]}")
  [ "$quick" = 1 ] && seeds=1,2 budgets=0.5 args=("${quick_compare_args[@]}")
  demo_dense
  compare_grid compare compare "$runs/compare" "$runs/demo/best.safetensors" "${args[@]}" --budgets "$budgets" --seeds "$seeds"
}

# The bake-off's twins: the Transformer-XL twin of the demo model
# (configs/moby-char-small-txl.json: parameter-matched at the demo's width)
# and the word-level model, each pruned by l0, taylor and the three methods
# with the lowest mean loss over the budgets in the compare stage (which
# must have run), with the compare stage's schedule.
stage_twins() {
  local seeds=${COMPARE_SEEDS:-1,2,3} budgets=0.75,0.5,0.25 args=("${compare_args[@]}")
  local txl=(--config configs/moby-char-small-txl.json) word=(--config configs/sotu-word-small.json)
  if [ "$quick" = 1 ]; then
    seeds=1 budgets=0.5 args=("${quick_compare_args[@]}")
    txl=(--config configs/moby-char-tiny.json --set persist=0 --set d_ffn=16)
    word=(--config configs/moby-char-tiny.json --set corpus=sotu --set tokenizer=word --set min_count=5)
  fi
  [ -f "$runs/compare/results.json" ] || { echo "stage twins: needs the compare stage's runs ($runs/compare)" >&2; return 1; }
  local methods
  methods=$($py - "$runs/compare/results.json" <<'PY'
import json, sys
summary = json.load(open(sys.argv[1]))["summary"]
means = {}
for s in summary:
    if s["method"] not in ("dense", "l0", "taylor"):
        means.setdefault(s["method"], []).append(s["valid_loss"])
best = sorted(means, key=lambda m: sum(means[m]) / len(means[m]))[:3]
print(",".join(["l0", "taylor"] + best))
PY
)
  echo "stage twins: methods $methods" >&2
  train_dense "$runs/txl" "${txl[@]}" >&2
  train_dense "$runs/sotu-word-small" "${word[@]}" >&2
  compare_grid twins txl "$runs/twins-txl" "$runs/txl/best.safetensors" "${args[@]}" --methods "$methods" \
    --budgets "$budgets" --seeds "$seeds"
  compare_grid twins word "$runs/twins-word" "$runs/sotu-word-small/best.safetensors" "${args[@]}" \
    --methods "$methods" --budgets "$budgets" --seeds "$seeds"
}

# The paper's question (issue: All-attention against Transformer-XL): a
# parameter-matched pair (tools/param-pair.py: configs/moby-char-pair-*.json,
# the TXL feed-forward 4x the width, the All-attention persistent vectors
# owning as much), 3 dense seeds each, each seed pruned once (paired) by L0
# to 75%, 50% and 25% of the heads with the demo's pruning recipe, then
# compacted and measured by one `headcount compare`. dense.json says, for
# each dense run, how much its validation loss still improved over the last
# 20% of its steps (the schedule is long enough where that is under 0.5%),
# and the same from means of the evaluations near 64%, 80% and 100% of the
# steps (smoothed: is the share shrinking from one 20% to the next?).
# The schedule: 40,000 steps, the cosine decay over the first 20,000 and
# min_lr after it, so the last 20% measure training at a constant rate, not
# the decay's end. Dense runs left at 20,000 steps by the earlier config
# are lengthened, not retrained; prune cells made from them before that must
# be moved aside by hand (cells record their dense checkpoint's step since
# 2026-12-05, and compare refuses a stale one). From scratch the stage needs
# about 7 core-hours (run one core each, two at a time, a dense run of 40,000
# steps took about an hour and a prune about 3 minutes; six and 18 of them),
# so 3.5 hours or more on 2 cores, more than one 2-hour sitting: Ctrl-C stops
# it with every run checkpointed, and the same command continues where it stopped.
stage_pair() {
  local seeds=${PAIR_SEEDS:-1,2,3} dense=() budgets=0.75,0.5,0.25
  local allatt=(--config configs/moby-char-pair-allatt.json) txl=(--config configs/moby-char-pair-txl.json)
  local args=(--config configs/moby-char-small-prune.json)
  if [ "$quick" = 1 ]; then
    seeds=1,2 budgets=0.5
    allatt=(--config configs/moby-char-tiny.json) txl=(--config configs/moby-char-tiny.json --set persist=0 --set d_ffn=16)
    for s in $quick_prune_sets; do args+=(--set "$s"); done
  fi
  IFS=, read -ra seed_list <<<"$seeds"
  for family in allatt txl; do
    local -n family_args=$family
    for seed in "${seed_list[@]}"; do
      train_dense "$runs/pair-$family-s$seed" "${family_args[@]}" --set seed="$seed" >&2
      dense+=("$runs/pair-$family-s$seed/best.safetensors")
    done
  done
  compare_grid pair pair "$runs/pair-compare" "$(IFS=,; echo "${dense[*]}")" "${args[@]}" --methods l0 \
    --budgets "$budgets" --seeds "$seeds"
  [ "${MEASURE_SPEED:-1}" = 0 ] && return
  $py - "${dense[@]}" >"$data/pair/dense_rows.json" <<'PY'
import json, os, sys
rows = []
for ckpt in sys.argv[1:]:
    run = os.path.dirname(ckpt)
    curve = [(m["step"], m["valid_loss"]) for m in map(json.loads, open(run + "/metrics.jsonl")) if "valid_loss" in m]
    config = json.load(open(run + "/last.json"))["config"]
    steps = config["steps"]
    late = [v for s, v in curve if s >= 0.8 * steps]
    at80 = min(curve, key=lambda p: abs(p[0] - 0.8 * steps))[1]
    def smoothed(at):  # the mean of the evaluations within 2.5% of the steps of step `at` (or the nearest)
        near = [v for s, v in curve if abs(s - at) <= 0.025 * steps]
        near = near or [min(curve, key=lambda p: abs(p[0] - at))[1]]
        return sum(near) / len(near)
    rows.append({"family": "txl" if config.get("d_ffn", 0) > 0 else "allatt", "seed": config["seed"],
                 "steps": steps, "valid_loss_at_80": at80, "valid_loss_final": curve[-1][1],
                 "best_valid_loss": min(v for _, v in curve), "late_points": len(late),
                 "smoothed": {str(f): smoothed(f / 100 * steps) for f in (64, 80, 100)}})
json.dump(rows, sys.stdout)
PY
  write_data pair "$data/pair/dense.json" "bench/results.sh (stage pair) reading each dense run's metrics.jsonl: ${dense[*]%/best.safetensors}" \
    "$data/pair/dense_rows.json"
}

stage_gpu() {  # import only: the H200 runs' data files as recorded
  if [ "$quick" = 1 ]; then cp docs/data/gpu/*.json "$data/gpu/"; return; fi
  echo "stage gpu: the H200 figures are imported data (docs/data/gpu/, runs of 2026-11-30); measuring them" \
       "again needs an H200 (bench/gpu.sh). Nothing to run here." >&2
}

# The data files a stage writes; it is skipped when they all exist.
outputs() {
  case $1 in
    machine | linear | train_step | fused | fused_step | bench | costs | demo | timebudget | spatten | compare) echo "$data/$1/$1.json" ;;
    twins) echo "$data/twins/txl.json $data/twins/word.json" ;;
    pair) echo "$data/pair/pair.json $data/pair/dense.json" ;;
    techniques) echo "$data/techniques/sweep.json $data/techniques/ablations.json" ;;
    budget) echo "$data/budget/rate-sweep.json $data/budget/target.json $data/budget/lagrangian.json $data/budget/target-finetune.json" ;;
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
  if [ "$quick" = 1 ] && [[ " bench demo timebudget spatten prune compare twins pair techniques budget " == *" $stage "* ]]; then
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
