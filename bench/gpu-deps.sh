#!/usr/bin/env bash
# Copy the header-only build dependencies (Eigen, doctest, nlohmann-json) and
# their CMake package files into .gpu-deps/usr (git-ignored), mirroring /usr,
# so that bench/gpu.sh can build on a GPU machine that reaches no package
# registry (pass `.gpu-deps` in the device tool's carry list).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh check >/dev/null || tools/deps.sh install
rm -rf .gpu-deps && mkdir -p .gpu-deps/usr
for p in include/eigen3 include/doctest include/nlohmann share/eigen3/cmake lib/cmake/doctest share/cmake/nlohmann_json; do
  mkdir -p ".gpu-deps/usr/$(dirname "$p")"
  cp -r "/usr/$p" ".gpu-deps/usr/$p"
done
du -sh .gpu-deps
