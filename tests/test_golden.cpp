// The golden trace: tiny training and pruning runs whose every logged number
// and every final tensor must stay the same, bit for bit, while the code is
// restructured. tests/golden/trace.json holds what the code produced when
// it was recorded; a change that alters behaviour (not only its layout)
// fails here and says which run, line and key moved.
//
// Bitwise results depend on the compiler and the instruction set the build
// targets (a different GEMM kernel rounds differently), so the trace records
// both, and a build that differs skips with the reason. To record anew, on
// purpose, after a change meant to alter results:
//   HEADCOUNT_RECORD_GOLDEN=1 ./build/headcount_tests -tc='golden*'
#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/safetensors.h"
#include "tests/test_util.h"

using namespace hc;
using nlohmann::json;

namespace {

const char* kTracePath = HEADCOUNT_SOURCE_DIR "/tests/golden/trace.json";

// What the build's arithmetic depends on.
std::string build_fingerprint() {
  std::string isa;
#ifdef __AVX512F__
  isa += " avx512f";
#endif
#ifdef __AVX2__
  isa += " avx2";
#endif
#ifdef __FMA__
  isa += " fma";
#endif
#ifdef HEADCOUNT_SANITIZE
  isa += " sanitize";
#endif
  return std::string(__VERSION__) + isa;
}

// FNV-1a over a tensor's bytes: 16 hex digits that change with any bit.
std::string digest(const Tensor& t) {
  uint64_t h = 1469598103934665603ull;
  const auto* p = static_cast<const unsigned char*>(t.raw());
  for (size_t i = 0; i < t.nbytes(); ++i) h = (h ^ p[i]) * 1099511628211ull;
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(h));
  return text;
}

// A run's behaviour: its logged numbers (not its speed or memory) and the
// digest of every tensor it saved last.
json record(const std::string& out, const std::string& checkpoint) {
  json r;
  json lines = json::array();
  for (json m : test::read_metrics(out + "/metrics.jsonl")) {
    for (const char* machine : {"tok_s", "rss_mib", "held_mib", "live_tensors", "graph_nodes", "allreduce_ms"})
      m.erase(machine);
    lines.push_back(m);
  }
  r["metrics"] = lines;
  json tensors = json::object();
  for (const auto& [name, t] : safetensors::load(checkpoint).tensors) tensors[name] = digest(t);
  r["tensors"] = tensors;
  return r;
}

// The runs: train, each pruning method and mode, a compaction and its eval.
json run_all() {
  test::TempDir dir;
  const std::string corpus = test::write_tiny_corpus(dir);
  std::string log;
  json runs;
  REQUIRE_MESSAGE(test::run_headcount("train " + test::tiny_training(corpus, dir.file("dense"), 16), log) == 0, log);
  runs["train"] = record(dir.file("dense"), dir.file("dense/last.safetensors"));
  const std::vector<std::pair<std::string, std::string>> prunes = {
      {"l0-coefficient", "--set l0_coefficient=0.5 --set l0_warmup=4 --set gate_lr_scale=30"},
      {"l0-target", "--set target_heads=2 --set l0_coefficient=2 --set l0_warmup=6 --set gate_lr_scale=30"},
      {"l0-flops", "--set target_flops=0.9 --set l0_coefficient=2 --set l0_warmup=6"},
      {"topk", "--method topk --set target_heads=2 --set l0_warmup=6"},
      {"taylor", "--method taylor --set target_heads=2 --set importance_batches=2"},
      {"magnitude", "--method magnitude --set target_fraction=0.75"},
      {"random", "--method random --set target_heads=1 --set output_scaling=false"},
  };
  for (const auto& prune : prunes) {
    const std::string& name = prune.first;  // a plain reference: clang < 16 cannot capture a structured binding
    const std::string& flags = prune.second;
    CAPTURE(name);
    REQUIRE_MESSAGE(test::run_headcount("prune --from " + dir.file("dense/last.safetensors") + " " +
                                            test::tiny_training(corpus, dir.file(name), 12) + " " + flags,
                                        log) == 0,
                    log);
    runs[name] = record(dir.file(name), dir.file(name + "/last.safetensors"));
  }
  REQUIRE(test::run_headcount("compact --from " + dir.file("l0-target/last.safetensors") + " --out " +
                                  dir.file("small/model.safetensors"),
                              log) == 0);
  json small;
  for (const auto& [name, t] : safetensors::load(dir.file("small/model.safetensors")).tensors) small[name] = digest(t);
  runs["compact"] = small;
  REQUIRE(test::run_headcount("eval --json --from " + dir.file("small/model.safetensors"), log) == 0);
  runs["eval"] = json::parse(log.substr(log.rfind('{')))["loss"];
  return runs;
}

}  // namespace

TEST_CASE("golden trace: training, every pruning method, compaction and eval reproduce the recorded run bit for bit") {
  const json runs = run_all();
  if (std::getenv("HEADCOUNT_RECORD_GOLDEN")) {
    std::ofstream(kTracePath) << json{{"build", build_fingerprint()}, {"runs", runs}}.dump(1) << "\n";
    MESSAGE("recorded " << kTracePath);
    return;
  }
  std::ifstream in(kTracePath);
  REQUIRE_MESSAGE(in.good(), "no golden trace at " << kTracePath);
  const json golden = json::parse(in);
  if (golden["build"] != build_fingerprint()) {
    test::skip("golden trace", "recorded by a build of " + golden["build"].get<std::string>() + ", this one is " +
                                   build_fingerprint() + " (bitwise results depend on both)");
    return;
  }
  const json& want = golden["runs"];
  REQUIRE(want.size() == runs.size());
  for (const auto& item : want.items()) {
    const std::string name = item.key();  // a plain variable: clang < 16 cannot capture a structured binding
    const json& run = item.value();
    CAPTURE(name);
    REQUIRE(runs.contains(name));
    if (!run.is_object() || !run.contains("metrics")) {
      CHECK(runs[name] == run);
      continue;
    }
    const json &lines = run["metrics"], &got = runs[name]["metrics"];
    REQUIRE(got.size() == lines.size());
    for (size_t i = 0; i < lines.size(); ++i) {
      CAPTURE(i);
      CHECK(got[i] == lines[i]);
    }
    CHECK(runs[name]["tensors"] == run["tensors"]);
  }
}
