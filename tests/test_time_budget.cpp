// Pruning to a time budget (models/time_budget.h, issue 28): the expected
// predicted time L0 penalises equals a hand computation and has the
// gradient of finite differences; the readout never exceeds the budget and
// prefers cheap, high-scored heads; the config refuses what it cannot
// serve; a tiny `headcount prune` to target_ms compacts to a model predicted
// within it, and `headcount bench --cost-model` prints predicted beside
// measured times. Nothing here asserts on a measured time.
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <random>
#include <regex>

#include "app/run.h"
#include "autograd/gradcheck.h"
#include "autograd/ops.h"
#include "models/time_budget.h"
#include "tests/test_util.h"

using namespace hc;

namespace {

double sigmoid(double x) { return 1 / (1 + std::exp(-x)); }

// A per-layer cost model in ms: c, then a_l and b_l per layer.
CostModel cost_ms(double c, const std::vector<double>& a, const std::vector<double>& b) {
  CostModel m;
  m.fixed = c * 1e-3;
  for (size_t l = 0; l < a.size(); ++l) m.layer_fixed.push_back(a[l] * 1e-3), m.per_head.push_back(b[l] * 1e-3);
  return m;
}

PruneConfig timed_config(double target_ms) {
  PruneConfig p;
  p.target_ms = target_ms;
  p.cost_model = "costs.json";
  return p;
}

}  // namespace

TEST_CASE("time budget: the expected time is c + sum_l [P(layer open) a_l + b_l E[open]], its gradient finite differences'") {
  const std::vector<Variable> logits = {
      Variable(Tensor::from_vector({3}, {-1.2, 0.4, 2.0}, DType::F64), true, "g0"),
      Variable(Tensor::from_vector({2}, {-0.3, -2.5}, DType::F64), true, "g1")};
  const CostModel cost = cost_ms(1.0, {0.5, 0.8}, {0.25, 0.6});
  const HardConcrete hc;
  const double shift = hc.beta * std::log(-hc.gamma / hc.zeta);
  double want = 1e-3;
  for (size_t l = 0; l < logits.size(); ++l) {
    double all_closed = 1, open = 0;
    for (double a : logits[l].value().to_vector()) {
      const double p = sigmoid(a - shift);
      all_closed *= 1 - p;
      open += p;
    }
    want += (1 - all_closed) * cost.layer_fixed[l] + cost.per_head[l] * open;
  }
  CHECK(expected_time(logits, cost).value().item() == doctest::Approx(want).epsilon(1e-12));
  // Seconds are small: the check runs on ms so that its relative error means something.
  const GradCheckResult r = gradcheck(
      [&](const std::vector<Variable>& v) { return scale(expected_time(v, cost), 1e3); }, logits);
  INFO(r.worst);
  CHECK(r.max_error <= 1e-6);
  // At logits far from 0 every p is 0 or 1 (clamped) and E[t] is the cost model's t(h).
  const std::vector<Variable> decided = {Variable(Tensor::from_vector({3}, {30, -30, 30}, DType::F64)),
                                         Variable(Tensor::from_vector({2}, {-30, -30}, DType::F64))};
  CHECK(expected_time(decided, cost).value().item() == doctest::Approx(cost.predict({2, 0})).epsilon(1e-5));
}

TEST_CASE("time budget: the readout never exceeds the budget, and no head it leaves out would fit") {
  std::mt19937 gen(11);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (int trial = 0; trial < 200; ++trial) {
    const size_t L = 1 + gen() % 4;
    std::vector<double> a, b;
    HeadScores scores;
    std::vector<int64_t> dense;
    for (size_t l = 0; l < L; ++l) {
      a.push_back(2 * u(gen)), b.push_back(0.05 + u(gen));
      dense.push_back(1 + int64_t(gen() % 5));
      std::vector<double> s;
      for (int64_t h = 0; h < dense.back(); ++h) s.push_back(4 * u(gen) - 2);  // negative scores too
      scores.push_back(s);
    }
    const CostModel cost = cost_ms(1 + u(gen), a, b);
    const double lo = cost.predict(std::vector<int64_t>(L, 0)), hi = cost.predict(dense);
    const double budget = lo + u(gen) * (hi - lo);
    CAPTURE(trial);
    CAPTURE(budget);
    double cheapest = hi;
    for (size_t l = 0; l < L; ++l) cheapest = std::min(cheapest, lo + (a[l] + b[l]) * 1e-3);
    if (budget < cheapest) {
      CHECK_THROWS_WITH_AS(heads_within_time(scores, cost, budget), doctest::Contains("not one head fits"),
                           std::invalid_argument);
      continue;
    }
    const HeadMask kept = heads_within_time(scores, cost, budget);
    std::vector<int64_t> per = kept.per_layer();
    CHECK(kept.count() >= 1);
    CHECK(cost.predict(per) <= budget);
    // With every cost positive, the greedy readout is maximal.
    for (size_t l = 0; l < L; ++l) {
      if (per[l] == dense[l]) continue;
      ++per[l];
      CHECK(cost.predict(per) > budget);
      --per[l];
    }
  }
}

namespace {

// Every shape 0 <= h_l <= dense[l] (L), by counting in mixed radix.
std::vector<std::vector<int64_t>> every_shape(const std::vector<int64_t>& dense) {
  std::vector<std::vector<int64_t>> shapes;
  std::vector<int64_t> h(dense.size(), 0);
  for (;;) {
    shapes.push_back(h);
    size_t l = 0;
    while (l < h.size() && h[l] == dense[l]) h[l++] = 0;
    if (l == h.size()) return shapes;
    ++h[l];
  }
}

}  // namespace

TEST_CASE("time budget: the largest time any shape has within the budget is the brute force's, to L + 1 us") {
  std::mt19937 gen(5);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (int trial = 0; trial < 100; ++trial) {
    const size_t L = 1 + gen() % 4;
    std::vector<double> a, b;
    std::vector<int64_t> dense;
    for (size_t l = 0; l < L; ++l) {
      a.push_back(0.3 * u(gen)), b.push_back(0.05 + 0.4 * u(gen));
      dense.push_back(1 + int64_t(gen() % 5));
    }
    const CostModel cost = cost_ms(0.5 + u(gen), a, b);
    const double lo = cost.predict(std::vector<int64_t>(L, 0)), budget = lo + u(gen) * (cost.predict(dense) - lo);
    double want = 0;
    for (const std::vector<int64_t>& h : every_shape(dense))
      if (cost.predict(h) <= budget) want = std::max(want, cost.predict(h));
    CAPTURE(trial);
    const double got = largest_time_within(cost, dense, budget);
    CHECK(got <= want + 1e-15);  // it is the time of a shape that fits
    CHECK(got >= want - 1e-6 * double(L + 1));
  }
  // Two layers of 2 heads, 1 ms fixed, a = 0.5 ms, b = 1 ms: shapes cost 1, 2.5, 3.5, 4, 5, 6, 7 ms (and more).
  // Under 4.9 ms the best is 4 ms (a head in each layer), which a greedy fill of layer 0 (3.5 ms) misses.
  const CostModel two = cost_ms(1.0, {0.5, 0.5}, {1.0, 1.0});
  CHECK(largest_time_within(two, {2, 2}, 4.9e-3) == doctest::Approx(4.0e-3).epsilon(1e-9));
  CHECK(largest_time_within(two, {2, 2}, 2.4e-3) == doctest::Approx(1.0e-3).epsilon(1e-9));
}

TEST_CASE("time budget: the readout prefers cheap high-scored heads over the top scores") {
  // Layer 1's heads score highest but cost 3 ms each; layer 0's cost 1 ms.
  // 2 ms of heads fit: the two best of layer 0, where top-2 by score
  // (1.2 in layer 1, 1.0 in layer 0) would take 4 ms.
  const CostModel cost = cost_ms(1.0, {0, 0}, {1.0, 3.0});
  const HeadScores scores = {{1.0, 0.9, 0.1}, {1.2, 0.2, 0.1}};
  CHECK(heads_within_time(scores, cost, 3.1e-3).describe() == "110,000");
  CHECK(top_heads(scores, 2).describe() == "100,100");
  // A layer's fixed cost is paid by its first head: layer 1 (2 ms to open,
  // 0.5 ms a head) loses to layer 0 (1 ms a head) at equal scores...
  const CostModel opening = cost_ms(1.0, {0, 2.0}, {1.0, 0.5});
  CHECK(heads_within_time({{0.5, 0.5}, {0.6, 0.6}}, opening, 3.1e-3).describe() == "11,00");
  // ...but once a head worth its opening has opened it, the layer's next head costs only b.
  CHECK(heads_within_time({{0.5, 0.5}, {2.0, 2.0}}, opening, 4.2e-3).describe() == "00,11");
}

TEST_CASE("time budget: the config refuses a budget it cannot serve, naming the key") {
  auto refused = [](const PruneConfig& p, const char* why) {
    CAPTURE(why);
    CHECK_THROWS_WITH_AS(p.validate(), doctest::Contains(why), std::invalid_argument);
  };
  CHECK_NOTHROW(timed_config(2.0).validate());
  PruneConfig p = timed_config(2.0);
  p.cost_model = "";
  refused(p, "needs cost_model");
  p = timed_config(2.0);
  p.target_heads = 2;
  refused(p, "excludes target_heads");
  p = timed_config(2.0);
  p.target_speedup = 2;
  refused(p, "give one of them");
  p = timed_config(0);
  p.target_speedup = 0.5;
  refused(p, "target_speedup must be > 1");
  p = timed_config(2.0);
  p.target_mode = "decode";
  refused(p, "target_mode must be infer");
  p = timed_config(2.0);
  p.method = "topk";
  refused(p, "cannot take a time budget");
  p = PruneConfig{};
  p.cost_model = "costs.json";
  refused(p, "cost_model is read only with a time budget");
  p = timed_config(2.0);
  p.method = "magnitude";
  CHECK_NOTHROW(p.validate());

  // Out of reach: below the emptied model's time or above the dense one's,
  // both printed.
  const CostModel cost = cost_ms(1.0, {0.5, 0.5}, {0.5, 1.0});  // emptied 1 ms, dense 5 ms
  const std::vector<int64_t> dense = {2, 2};
  CHECK(time_budget_seconds(timed_config(2.2), cost, dense) == doctest::Approx(2.2e-3));
  PruneConfig speedup = timed_config(0);
  speedup.target_speedup = 2;
  CHECK(time_budget_seconds(speedup, cost, dense) == doctest::Approx(2.5e-3));
  for (double ms : {0.5, 6.0}) {
    CAPTURE(ms);
    CHECK_THROWS_WITH_AS(time_budget_seconds(timed_config(ms), cost, dense),
                         doctest::Contains("predicts 1 ms for the emptied model (no head) and 5 ms for the dense one"),
                         std::invalid_argument);
  }
  CHECK_THROWS_WITH_AS(time_budget_seconds(timed_config(1.5), cost, dense),
                       doctest::Contains("below the cheapest model with one head, 2 ms"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(time_budget_seconds(timed_config(1.0), cost_ms(1.0, {0, 0}, {0, 0}), dense),
                       doctest::Contains("removing heads saves no time"), std::invalid_argument);
}

namespace {

// The planted cost model of a tiny dense checkpoint (2 layers x 2 heads):
// c = 1 ms, a = 0.5 ms per open layer, b = 0.5 and 1 ms per head; emptied
// 1 ms, dense 5 ms. Written as `headcount profile` writes it, keyed by the
// checkpoint's shape, the CPU, 2 threads (test::tiny_training's) and `batch`.
std::string write_costs(const test::TempDir& dir, const std::string& dense, int64_t batch) {
  const LoadedModel m = load_model(dense, Device::CPU, {});
  nlohmann::json key = run_cost_key(m.model->config(), Device::CPU, batch, "infer").to_json();
  key["threads"] = 2;
  key.erase("mode");
  const nlohmann::json model = cost_ms(1.0, {0.5, 0.5}, {0.5, 1.0}).to_json();
  const std::string path = dir.file("costs-b" + std::to_string(batch) + ".json");
  std::ofstream(path) << nlohmann::json{{"cost_model", {{"key", key}, {"train", model}, {"infer", model}}}}.dump(2);
  return path;
}

}  // namespace

TEST_CASE("time budget: prune to target_ms compacts to a model predicted within it; bench prints both times") {
  test::TempDir dir;
  const std::string corpus = test::write_tiny_corpus(dir);
  std::string log;
  REQUIRE_MESSAGE(test::run_headcount("train " + test::tiny_training(corpus, dir.file("dense"), 8), log) == 0, log);
  const std::string dense = dir.file("dense/last.safetensors"), costs = write_costs(dir, dense, 4);
  auto prune = [&](const std::string& out, const std::string& budget) {
    return "prune --from " + dense + " " + test::tiny_training(corpus, dir.file(out), 12) +
           " --set l0_warmup=6 --set gate_lr_scale=30 " + budget;
  };
  // 2.2 ms: only one head of layer 0 fits (2 ms).
  REQUIRE_MESSAGE(
      test::run_headcount(prune("timed", "--set target_ms=2.2 --set cost_model=" + costs), log) == 0, log);
  CHECK(log.find("time budget: 2.2 ms for the inference forward at batch 4 (dense predicted 5 ms; the largest any "
                 "shape of whole heads fits: 2 ms)") != std::string::npos);
  const nlohmann::json chosen = nlohmann::json::parse(test::read_text(dir.file("timed/choose.json")));
  CHECK(chosen["budget_ms"].get<double>() == doctest::Approx(2.2));
  CHECK(chosen["largest_fit_ms"].get<double>() == doctest::Approx(2.0));
  const nlohmann::json last = test::read_metrics(dir.file("timed/metrics.jsonl")).back();
  CHECK(last.contains("expected_ms"));
  CHECK(last["target_ms"].get<double>() == doctest::Approx(2.2));
  const std::string small = dir.file("small.safetensors");
  REQUIRE_MESSAGE(
      test::run_headcount("compact --from " + dir.file("timed/last.safetensors") + " --out " + small, log) == 0, log);
  const LoadedModel compacted = load_model(small, Device::CPU, {});
  const std::vector<int64_t> kept = compacted.model->config().heads_per_layer;
  CHECK(kept == std::vector<int64_t>{1, 0});
  CHECK(cost_ms(1.0, {0.5, 0.5}, {0.5, 1.0}).predict(kept) <= 2.2e-3);

  // bench: the predicted ms beside the measured, for the dense model and its compaction.
  REQUIRE_MESSAGE(test::run_headcount("bench --from " + dir.file("timed/last.safetensors") +
                                          " --batches 4 --reps 2 --threads 2 --cost-model " + costs,
                                      log) == 0,
                  log);
  CHECK(log.find("predicted against measured") != std::string::npos);
  CHECK(std::regex_search(log, std::regex(R"(dense +4 +4 +5\.000 )")));  // model, heads, batch, predicted ms
  CHECK(std::regex_search(log, std::regex(R"(pruned +1 +4 +2\.000 )")));
  CHECK(test::run_headcount("bench --from " + small + " --batches 4 --reps 2 --threads 2 --json --cost-model " + costs,
                            log) == 0);
  CHECK(log.find("\"predicted_ms\"") != std::string::npos);
  CHECK(log.find("\"predicted_error\"") != std::string::npos);

  // Refused: a cost model of another batch (prune and bench), and a budget out of reach.
  const std::string other = write_costs(dir, dense, 16);
  CHECK(test::run_headcount(prune("x", "--set target_ms=2.2 --set cost_model=" + other), log) == 2);
  CHECK(log.find("batch: measured at 16, asked for 4") != std::string::npos);
  CHECK(test::run_headcount("bench --from " + small + " --batches 4 --reps 2 --threads 2 --cost-model " + other, log) ==
        2);
  CHECK(log.find("batch: measured at 16, asked for 4") != std::string::npos);
  CHECK(test::run_headcount(prune("y", "--set target_ms=0.5 --set cost_model=" + costs), log) == 2);
  CHECK(log.find("1 ms for the emptied model (no head) and 5 ms for the dense one") != std::string::npos);
}

TEST_CASE("time budget: under a per-count cost model the expected time and the readout follow g(k)") {
  // Two layers of 3 heads; g(k) ms = 1, 1.5, 3 for k = 1, 2, 3 (a third head costs more than two).
  CostModel m;
  m.form = CostForm::PerCount;
  m.fixed = 2e-3;
  m.layer_fixed = {0, 0};
  m.per_head = {0, 0};
  m.count_cost = {1e-3, 1.5e-3, 3e-3};
  const std::vector<double> la0{0.4, -0.3, 1.2}, la1{-1.0, 0.2, 0.0};
  const std::vector<Variable> logits = {Variable(Tensor::from_vector({3}, la0, DType::F64), true, "l0"),
                                        Variable(Tensor::from_vector({3}, la1, DType::F64), true, "l1")};
  const std::vector<double> p0 = open_probability(logits[0].value()), p1 = open_probability(logits[1].value());
  double want = 2e-3;  // every open set of either layer
  for (const std::vector<double>* p : {&p0, &p1})
    for (int set = 0; set < 8; ++set) {
      double prob = 1;
      int k = 0;
      for (int h = 0; h < 3; ++h) {
        const bool open = (set >> h) & 1;
        prob *= open ? (*p)[size_t(h)] : 1 - (*p)[size_t(h)];
        k += open;
      }
      want += prob * (k > 0 ? m.count_cost[size_t(k - 1)] : 0.0);
    }
  CHECK(expected_time(logits, m).value().item() == doctest::Approx(want).epsilon(1e-12));
  const GradCheckResult r = gradcheck(
      [&](const std::vector<Variable>& v) { return scale(expected_time(v, m), 1e3); }, logits);
  INFO(r.worst);
  CHECK(r.max_error <= 1e-6);
  // Budget 5.1 ms: 2 + 1.5 + 1.5 (two heads in each layer) fits, a third head in a layer (+1.5) does not.
  const HeadMask kept = heads_within_time({{3, 2, 1}, {3, 2, 1}}, m, 5.1e-3);
  CHECK(kept.per_layer() == std::vector<int64_t>{2, 2});
  CHECK(m.predict(kept.per_layer()) <= 5.1e-3);
}
