#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: build with the CUDA backend, run every
# test (the CUDA suite included), then benchmark a training step of the
# paper's model (configs/wt103-all-16l.json: 16 layers, C=512, H=8, D=64,
# N=2048, T=M=192) with a 32768-word full softmax, at batch 16 and 64, fp32
# and TF32, against the same model in PyTorch (eager, and torch.compile when
# it exists), side by side; compute-sanitizer (memcheck, racecheck) checks the
# CUDA suite in between. Prints a table and writes bench/results/gpu.json
# (and $OUT/gpu.json when $OUT is set, as on the device tool's machines).
#
# The lent GPU machines reach no package registry: run bench/gpu-deps.sh on
# the development machine first; it copies the header-only dependencies
# (Eigen, doctest, nlohmann-json) into .gpu-deps/, which this script uses.
set -euo pipefail
cd "$(dirname "$0")/.."
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
prefix=()
[ -d .gpu-deps/usr ] && prefix=(-DCMAKE_PREFIX_PATH="$PWD/.gpu-deps/usr")
export PATH="$PATH:/usr/local/cuda/bin"
cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release "${prefix[@]}" > build-gpu.log
cmake --build build-gpu -j"$(nproc)" >> build-gpu.log 2>&1 || { tail -30 build-gpu.log; exit 1; }
tests=pass
./build-gpu/headcount_tests || tests=FAIL
# compute-sanitizer on the CUDA suite: out-of-bounds and uninitialised
# device memory (memcheck), and shared-memory races between threads of a
# block (racecheck). Either finding fails the run.
sanitizer=pass
if command -v compute-sanitizer >/dev/null; then
  for tool in memcheck racecheck; do
    compute-sanitizer --tool "$tool" --error-exitcode 1 ./build-gpu/headcount_tests -tc="cuda backend" \
      > "build-gpu/sanitizer-$tool.log" 2>&1 || { sanitizer="FAIL ($tool)"; tail -20 "build-gpu/sanitizer-$tool.log"; }
  done
else
  sanitizer="not run: compute-sanitizer not on PATH"
fi
echo "compute-sanitizer: $sanitizer"

python=python3
command -v "$python" >/dev/null || python=/usr/bin/python3
cfg=configs/wt103-all-16l.json
results=()
for batch in 16 64; do
  for tf in "" --tf32; do
    engine=$(./build-gpu/bench_train_step "$cfg" --vocab 32768 --batch "$batch" --device cuda $tf --steps 5 --json || echo null)
    eager=$("$python" bench/train_step_torch.py "$cfg" --vocab 32768 --batch "$batch" --device cuda $tf --steps 5 || echo null)
    compiled=$("$python" bench/train_step_torch.py "$cfg" --vocab 32768 --batch "$batch" --device cuda $tf --compile --steps 5 || echo null)
    results+=("{\"batch\": $batch, \"tf32\": $([ -n "$tf" ] && echo true || echo false), \"engine\": $engine, \"eager\": $eager, \"compiled\": $compiled}")
  done
done
mkdir -p bench/results
RESULTS="[$(IFS=,; echo "${results[*]}")]" TESTS=$tests SANITIZER=$sanitizer "$python" - <<'PY'
import json, os
rows = json.loads(os.environ["RESULTS"])
print(f"tests: {os.environ['TESTS']}, compute-sanitizer: {os.environ['SANITIZER']}")
print(f"{'batch':>5} {'tf32':>5} {'engine ms':>10} {'TFLOP/s':>8} {'eager ms':>9} {'compile ms':>11} {'vs eager':>9} {'vs compile':>11}")
for r in rows:
    e, t, c = r["engine"], r["eager"], r["compiled"]
    ms = lambda x: x["ms_per_step"] if x else float("nan")
    print(f"{r['batch']:>5} {str(r['tf32']):>5} {ms(e):>10.1f} {(e['gflops'] / 1e3 if e else float('nan')):>8.1f} "
          f"{ms(t):>9.1f} {ms(c):>11.1f} {ms(t) / ms(e):>8.2f}x {ms(c) / ms(e):>10.2f}x")
out = {"tests": os.environ["TESTS"], "compute_sanitizer": os.environ["SANITIZER"], "rows": rows}
json.dump(out, open("bench/results/gpu.json", "w"), indent=1)
if os.environ.get("OUT"):
    json.dump(out, open(os.path.join(os.environ["OUT"], "gpu.json"), "w"), indent=1)
PY
