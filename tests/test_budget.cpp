// Landing on a head budget: L0's quadratic target mode and its Lagrangian
// mode (learned multipliers, as CoFi and Sheared-LLaMA), the open count
// logged just before the exact readout, and the multipliers carried through
// a checkpoint.
#include <doctest/doctest.h>

#include <cmath>

#include "tests/test_util.h"

using namespace hc;

namespace {

// A tiny dense model (2 layers x 2 heads), trained briefly, in dir/dense.
std::string dense_model(const test::TempDir& dir, const std::string& corpus) {
  std::string log;
  REQUIRE_MESSAGE(test::run_headcount("train " + test::tiny_training(corpus, dir.file("dense"), 8), log) == 0, log);
  return dir.file("dense/last.safetensors");
}

// Prune to 1 of 4 heads in 80 steps; `mode_flags` choose the budget mode.
std::string prune_args(const std::string& dense, const std::string& corpus, const std::string& out,
                       const std::string& mode_flags) {
  return "prune --from " + dense + " " + test::tiny_training(corpus, out, 80) +
         " --set target_heads=1 --set l0_warmup=20 --set gate_lr_scale=30 --set eval_every=80 " + mode_flags;
}

}  // namespace

TEST_CASE("budget: the Lagrangian multipliers push the expected open count to the target; the readout lands on it") {
  test::TempDir dir;
  const std::string corpus = test::write_tiny_corpus(dir), dense = dense_model(dir, corpus);
  std::string log;
  const std::string lagrangian = "--set l0_budget_mode=lagrangian --set lagrangian_lr=0.05";
  REQUIRE_MESSAGE(test::run_headcount(prune_args(dense, corpus, dir.file("lag"), lagrangian), log) == 0, log);
  const auto m = test::read_metrics(dir.file("lag/metrics.jsonl"));
  REQUIRE(m.size() == 80);
  CHECK(m.front()["l0"].get<double>() > 3.5);  // gate_init 2: every head about 0.93 open
  const double last = m.back()["l0"].get<double>();
  MESSAGE("expected open heads at the end " << last << ", multipliers " << m.back()["lambda1"] << ", "
                                           << m.back()["lambda2"] << "; open before the readout "
                                           << m.back()["open_before_readout"]);
  CHECK(std::fabs(last - 1.0) < 0.25);           // the penalty alone brought E[open] to the target
  CHECK(m.back()["lambda1"].get<double>() > 0);  // and it took the multipliers to do it
  CHECK(m.back()["lambda2"].get<double>() > 0);
  CHECK(m.back().contains("open_before_readout"));
  CHECK(m.back()["kept_heads"] == 1);  // the exact readout
  for (size_t i = 0; i + 1 < m.size(); ++i) CHECK_FALSE(m[i].contains("open_before_readout"));

  // Quadratic mode logs its own coefficient and no multipliers.
  REQUIRE(test::run_headcount(prune_args(dense, corpus, dir.file("quad"), "--set l0_coefficient=2"), log) == 0);
  const auto q = test::read_metrics(dir.file("quad/metrics.jsonl"));
  CHECK(q.back().contains("lambda"));
  CHECK_FALSE(q.back().contains("lambda1"));
  CHECK(q.back()["kept_heads"] == 1);
  CHECK(q.back().contains("open_before_readout"));

  // Bad input.
  CHECK(test::run_headcount(prune_args(dense, corpus, dir.file("x"), "--set l0_budget_mode=dual"), log) == 2);
  CHECK(log.find("l0_budget_mode must be quadratic or lagrangian") != std::string::npos);
  CHECK(test::run_headcount(prune_args(dense, corpus, dir.file("x"), lagrangian + " --set lagrangian_lr=0"), log) == 2);
  CHECK(log.find("lagrangian_lr must be positive") != std::string::npos);
}

TEST_CASE("budget: a Lagrangian run stopped and resumed repeats the uninterrupted one bit for bit (the multipliers are saved)") {
  test::TempDir dir;
  const std::string corpus = test::write_tiny_corpus(dir), dense = dense_model(dir, corpus);
  const std::string lagrangian = "--set l0_budget_mode=lagrangian --set lagrangian_lr=0.05";
  std::string log;
  REQUIRE(test::run_headcount(prune_args(dense, corpus, dir.file("whole"), lagrangian), log) == 0);
  CHECK(test::run_headcount(prune_args(dense, corpus, dir.file("parts"), lagrangian) + " --stop-at 37", log) == 130);
  REQUIRE_MESSAGE(test::run_headcount(prune_args(dense, corpus, dir.file("parts"), lagrangian) + " --resume", log) == 0, log);
  const auto a = test::read_metrics(dir.file("whole/metrics.jsonl")), b = test::read_metrics(dir.file("parts/metrics.jsonl"));
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    CAPTURE(i);
    CHECK(a[i]["loss"] == b[i]["loss"]);
    CHECK(a[i]["lambda1"] == b[i]["lambda1"]);
    CHECK(a[i]["l0"] == b[i]["l0"]);
  }
}
