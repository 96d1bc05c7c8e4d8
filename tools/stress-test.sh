#!/usr/bin/env bash
# `make test-stress`: checks that the test suite does not depend on the
# machine's speed. No test reads a clock to decide pass or fail (a generous
# liveness bound aside), so the suite must stay green on a busy machine: this
# script runs the whole suite of one build RUNS times in a row while
# stress-ng keeps LOAD workers spinning on the CPU the whole time.
#
#   tools/stress-test.sh [BUILD]      RUNS=5  LOAD=<cores>  (make test-stress)
#
# Prints one line per run (exit status, wall seconds, the runner's
# skipped-cases line) and a summary; each run's output is kept in
# BUILD/stress/run-N.log. Exits 1 if any run failed. Needs stress-ng
# (Debian: apt-get install stress-ng).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
runs=${RUNS:-5}
load=${LOAD:-$(nproc)}
tests=$build/headcount_tests
[ -x "$tests" ] || { echo "stress-test: no $tests; run make build first" >&2; exit 2; }
command -v stress-ng >/dev/null || { echo "stress-test: stress-ng is missing (apt-get install stress-ng)" >&2; exit 2; }
[[ $runs =~ ^[1-9][0-9]*$ && $load =~ ^[1-9][0-9]*$ ]] || { echo "stress-test: RUNS and LOAD must be positive integers" >&2; exit 2; }

mkdir -p "$build/stress"
stress-ng --cpu "$load" --timeout 0 --quiet &
stress_pid=$!
trap 'kill "$stress_pid" 2>/dev/null; wait "$stress_pid" 2>/dev/null || true' EXIT
echo "stress-test: $runs runs of $tests under stress-ng --cpu $load ($(nproc) cores)"

failed=0 total_start=$EPOCHREALTIME
for ((i = 1; i <= runs; ++i)); do
  log=$build/stress/run-$i.log start=$EPOCHREALTIME status=0
  (cd "$build" && ./headcount_tests) >"$log" 2>&1 || status=$?
  seconds=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }')
  [ "$status" = 0 ] || failed=$((failed + 1))
  cases=$(grep -m1 'test cases:' "$log" | sed 's/^\[doctest\] *//' || true)
  echo "run $i: exit $status, $seconds s; ${cases:-no summary}; $(grep -m1 '^skipped for want of' "$log" || echo 'no skip line')"
done
seconds=$(awk -v a="$total_start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }')
echo "stress-test: $((runs - failed)) of $runs runs green, $seconds s in all (logs: $build/stress/)"
[ "$failed" = 0 ]
