#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: build with the CUDA backend, run the CUDA
# tests, then benchmark a training step and an evaluation forward pass of the
# paper's model (configs/wt103-all-16l.json: 16 layers, C=512, H=8, D=64,
# N=2048, T=M=192) with a 32768-word full softmax, at batch 16 and 64, fp32
# and TF32, against the same model in PyTorch (eager, and torch.compile when
# it exists), side by side, with the cuBLAS matrix-product rate measured in
# the same run as the ceiling. Then the engine's per-op profile, `headcount
# bench` and `headcount profile` on the GPU, compute-sanitizer (memcheck,
# racecheck) on the CUDA tests, and the whole test suite.
#
# The lent GPU machines are lent for minutes, so the work runs in stages,
# most important first, each under a time limit, and a stage that no longer
# fits in BUDGET seconds (default 3600) is skipped and says so. A failing
# stage does not stop the next. Everything printed goes to gpu.log; the table
# at the end says what passed. Output files (at most 8, as the device tool
# brings back): gpu.log, gpu.json, build.log, profile.tar, profile-wt103.tar,
# the two sanitizer logs, in $OUT when it is set (the device tool's
# machines), else in bench/results/.
#
#   BUDGET=320 BATCHES="16 64" COMPILE=0 SKIP='all tests' bash bench/gpu.sh
#
# SKIP is a bash regular expression: the stages whose names it matches are
# skipped (the names are those the summary prints).
#
# The lent machines reach no package registry: run bench/gpu-deps.sh on the
# development machine first; it copies the header-only dependencies (Eigen,
# doctest, nlohmann-json) into .gpu-deps/, which this script uses. The
# `headcount bench/profile` stages read data/corpora/moby (carry data/corpora).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-bench/results}
mkdir -p "$out"
exec > >(tee "$out/gpu.log") 2>&1
budget=${BUDGET:-3600}
batches=${BATCHES:-16 64}
compile=${COMPILE:-1}
summary=()

# stage NAME LIMIT COMMAND...: run COMMAND under min(LIMIT, what is left of
# the budget) seconds; record pass / FAIL / TIMEOUT / SKIPPED in the summary.
stage() {
  local name=$1 limit=$2 left=$((budget - SECONDS))
  shift 2
  if [[ -n ${SKIP:-} && $name =~ $SKIP ]]; then
    echo "== $name: SKIPPED (matches SKIP)"
    summary+=("$name: SKIPPED (matches SKIP)")
    return 1
  fi
  if ((left < 15)); then
    echo "== $name: SKIPPED (${left} s of the budget left)"
    summary+=("$name: SKIPPED (budget spent)")
    return 1
  fi
  ((limit > left)) && limit=$left
  echo "== $name (limit ${limit} s) at $SECONDS s"
  local t0=$SECONDS rc=0
  # bash -c: COMMAND may be one of the exported functions below.
  timeout -k 5 "$limit" bash -c '"$@"' stage "$@" || rc=$?
  local verdict=pass
  ((rc == 124 || rc == 137)) && verdict="TIMEOUT" || { ((rc != 0)) && verdict="FAIL (rc $rc)"; }
  echo "== $name: $verdict in $((SECONDS - t0)) s"
  summary+=("$name: $verdict ($((SECONDS - t0)) s)")
  return $rc
}

echo "== machine"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader || true
nproc
g++ --version | head -1 || true
cmake --version | head -1 || true
command -v mpirun || echo "mpirun: not found (the NCCL test will print SKIPPED)"
python=python3
python3 -c 'import torch' 2>/dev/null || python=/usr/bin/python3
"$python" -c 'import torch; print("torch", torch.__version__, torch.cuda.get_device_name(0))' || true

deps=/usr
[ -d .gpu-deps/usr ] && deps="$PWD/.gpu-deps/usr"
export PATH="$PATH:/usr/local/cuda/bin" out python deps
# capture FILE COMMAND...: COMMAND's standard output into FILE.
capture() { local f=$1; shift; "$@" > "$f"; }
build() {
  # Machine code for this GPU only (the default adds portable PTX): a shorter build.
  cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$deps" -DCMAKE_CUDA_ARCHITECTURES=native \
    > "$out/build.log" 2>&1 &&
    cmake --build build-gpu -j"$(nproc)" --target headcount_tests bench_train_step headcount >> "$out/build.log" 2>&1 ||
    { tail -40 "$out/build.log"; return 1; }
  grep -E 'CUDA backend|NCCL|MPI' "$out/build.log" || true
}
export -f capture build
stage build 400 build || { printf '%s\n' "${summary[@]}"; exit 1; }

# The CUDA suite one subcase per process, so that one crash (a CUDA error
# aborts) does not hide the others. Subcase names hold commas, which
# doctest's filters split on, hence the prefixes with a *.
for sc in "copies*" "gemm:*" "op harness*" "model:*" "training on the GPU*" "profiler:*" "long sums*" \
  "dropout drawn*" "LAMB*"; do
  stage "cuda test ${sc%\*}" 120 ./build-gpu/headcount_tests -tc="cuda backend" -sc="$sc"
done
stage "nccl test" 120 ./build-gpu/headcount_tests -tc="data parallel on GPUs*"

# The ceiling: cuBLAS SGEMM (fp32 and TF32) through PyTorch, 8192^3, median
# of 10 after warm-up, timed with CUDA events.
ceiling() {
  "$python" - > "$out/ceiling.json" <<'PY'
import json, torch
n, res = 8192, {}
for tf in (False, True):
    torch.backends.cuda.matmul.allow_tf32 = tf
    a, b = torch.randn(n, n, device="cuda"), torch.randn(n, n, device="cuda")
    for _ in range(3): a @ b
    ts = []
    for _ in range(10):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record(); a @ b; e.record(); torch.cuda.synchronize(); ts.append(s.elapsed_time(e))
    ts.sort()
    res["tf32" if tf else "fp32"] = 2 * n**3 / (ts[5] * 1e-3) / 1e12
print(json.dumps(res))
PY
  [ $? = 0 ] && cat "$out/ceiling.json"
}
export -f ceiling
stage "cublas ceiling" 60 ceiling

cfg=configs/wt103-all-16l.json
# One row per (mode, batch, math): the engine against PyTorch eager, and
# compiled later if the budget allows.
rows=() row_infer=() row_batch=() row_tf=()
# bench_one NAME COMMAND...: sets json to the last line COMMAND prints (its
# JSON result), or to null when it fails.
bench_one() {
  local f
  f=$(mktemp)
  if stage "$1" 150 capture "$f" "${@:2}"; then json=$(tail -1 "$f"); else cat "$f"; json=null; fi
  rm -f "$f"
}
for mode in train infer; do
  infer=""; [ "$mode" = infer ] && infer=--infer
  for batch in $batches; do
    for tf in "" --tf32; do
      label="$mode batch $batch ${tf:-fp32}"
      bench_one "engine $label" ./build-gpu/bench_train_step "$cfg" --vocab 32768 --batch "$batch" --device cuda \
        $tf $infer --steps 5 --json
      engine=$json
      bench_one "eager $label" "$python" bench/train_step_torch.py "$cfg" --vocab 32768 --batch "$batch" --device cuda \
        $tf $infer --steps 5
      eager=$json
      echo "engine: $engine"
      echo "eager: $eager"
      rows+=("{\"mode\": \"$mode\", \"batch\": $batch, \"tf32\": $([ -n "$tf" ] && echo true || echo false), \"engine\": $engine, \"eager\": $eager, \"compiled\": null}")
      row_infer+=("$infer") row_batch+=("$batch") row_tf+=("$tf")
    done
  done
done

# Where the engine's step goes: each op's CUDA-event time, at the first batch.
stage "engine profile batch ${batches%% *}" 60 ./build-gpu/bench_train_step "$cfg" --vocab 32768 \
  --batch "${batches%% *}" --device cuda --steps 3 --profile

# Does pruning buy speed on the GPU (issue: headcount bench)? Fresh weights,
# dense against 0.75 and 0.5 of the heads.
stage "headcount bench moby-char-small" 90 ./build-gpu/headcount bench --device cuda --config configs/moby-char-small.json --batches 1,4,16
stage "headcount bench wt103-16l (char vocab)" 120 ./build-gpu/headcount bench --device cuda --config "$cfg" \
  --set corpus=data/corpora/moby --set tokenizer=char --batches 1,4,16 --reps 10
# profile NAME ARGS...: `headcount profile ARGS` into build-gpu/NAME, kept as $out/NAME.tar.
profile() {
  local name=$1
  shift
  rm -rf "build-gpu/$name"
  ./build-gpu/headcount profile --device cuda "$@" --out "build-gpu/$name" &&
    tar -C build-gpu -cf "$out/$name.tar" "$name" && cat "build-gpu/$name/report.md"
}
export -f profile
stage "headcount profile moby-char-small" 150 profile profile --config configs/moby-char-small.json --heads-per-layer 2,2,1,1 --reps 3

# compute-sanitizer: out-of-bounds and uninitialised device memory
# (memcheck), and shared-memory races between threads of a block (racecheck).
if command -v compute-sanitizer >/dev/null; then
  for tool in memcheck racecheck; do
    stage "compute-sanitizer $tool" 120 capture "$out/sanitizer-$tool.log" compute-sanitizer --tool "$tool" \
      --error-exitcode 1 ./build-gpu/headcount_tests -tc="cuda backend" -sc="copies*,gemm:*,op harness*,model:*,long sums*,dropout drawn*,LAMB*" ||
      tail -20 "$out/sanitizer-$tool.log"
  done
else
  summary+=("compute-sanitizer: SKIPPED (not on PATH)")
fi
# The paper's model, compute-bound on the GPU, where the head-count fits
# should predict a pruned model's time (the moby model is launch-bound).
stage "headcount profile wt103-16l (char vocab, batch 4)" 300 profile profile-wt103 --config "$cfg" \
  --set corpus=data/corpora/moby --set tokenizer=char --batch 4 --reps 3 --heads-per-layer 8,8,8,8,6,6,6,6,4,4,4,4,2,2,2,2

if [ "$compile" = 1 ]; then
  for i in "${!rows[@]}"; do
    batch=${row_batch[$i]} tf=${row_tf[$i]} infer=${row_infer[$i]}
    bench_one "compiled ${infer:+infer }batch $batch ${tf:-fp32}" "$python" bench/train_step_torch.py "$cfg" \
      --vocab 32768 --batch "$batch" --device cuda $tf $infer --compile --steps 5
    rows[$i]=${rows[$i]/\"compiled\": null/\"compiled\": $json}
  done
fi
stage "all tests" 300 ./build-gpu/headcount_tests

RESULTS="[$(IFS=,; echo "${rows[*]}")]" CEILING="$(cat "$out/ceiling.json" 2>/dev/null)" OUTDIR="$out" \
  "$python" - <<'PY'
import json, os
rows = json.loads(os.environ["RESULTS"])
ceiling = json.loads(os.environ["CEILING"] or "{}")
print(f"cuBLAS 8192^3 through PyTorch: {ceiling} TFLOP/s")
print(f"{'mode':>5} {'batch':>5} {'tf32':>5} {'engine ms':>10} {'TFLOP/s':>8} {'of cuBLAS':>9} {'eager ms':>9} {'compile ms':>11} {'vs eager':>9} {'vs compile':>11}")
nan = float("nan")
for r in rows:
    e, t, c = r["engine"], r["eager"], r["compiled"]
    ms = lambda x: x["ms_per_step"] if x else nan
    tflops = e["gflops"] / 1e3 if e else nan
    peak = ceiling.get("tf32" if r["tf32"] else "fp32", nan)
    print(f"{r['mode']:>5} {r['batch']:>5} {str(r['tf32']):>5} {ms(e):>10.1f} {tflops:>8.1f} {tflops / peak:>9.1%} "
          f"{ms(t):>9.1f} {ms(c):>11.1f} {ms(t) / ms(e):>8.2f}x {ms(c) / ms(e):>10.2f}x")
json.dump({"ceiling_tflops": ceiling, "rows": rows}, open(os.path.join(os.environ["OUTDIR"], "gpu.json"), "w"), indent=1)
PY
rm -f "$out/ceiling.json"
echo "== summary"
printf '%s\n' "${summary[@]}"
exec >&- 2>&-
wait  # for tee to write the end of gpu.log
