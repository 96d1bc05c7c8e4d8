// models/cost_model.h: each form recovers a planted cost from its
// calibration configurations exactly, predicts configurations it was not
// fitted on, refuses data that cannot determine it, and a cost model made
// for another model, device, thread count or batch is refused with why.
#include <doctest/doctest.h>

#include <random>

#include "models/cost_model.h"
#include "tests/test_util.h"

using namespace hc;

namespace {
// A planted per-layer cost: c = 3 ms, layer l costs 1 + l/2 ms while it has
// a head and (0.5 + l/4) ms per head.
double planted(const std::vector<int64_t>& h) {
  double t = 3e-3;
  for (size_t l = 0; l < h.size(); ++l)
    if (h[l] > 0) t += (1 + 0.5 * double(l)) * 1e-3 + (0.5 + 0.25 * double(l)) * 1e-3 * double(h[l]);
  return t;
}

AllAttConfig four_by_four() { return test::tiny_model({.layers = 4, .heads = 4}); }
}  // namespace

TEST_CASE("cost model: the calibration configurations are 2 per layer and H + 1 joint, all distinct") {
  const std::vector<std::vector<int64_t>> cal = calibration_heads(four_by_four());
  CHECK(cal.size() == 2 * 4 + 5);
  for (size_t i = 0; i < cal.size(); ++i)
    for (size_t j = i + 1; j < cal.size(); ++j) CHECK(cal[i] != cal[j]);
  CHECK(cal.back() == std::vector<int64_t>{4, 4, 4, 4});
}

TEST_CASE("cost model: each form fits a cost of its own form exactly and predicts unseen configurations") {
  const std::vector<std::vector<int64_t>> cal = calibration_heads(four_by_four());
  std::vector<double> t;
  for (const auto& h : cal) t.push_back(planted(h));
  const CostModel m = fit_cost_model(CostForm::PerLayer, cal, t);
  for (size_t l = 0; l < 4; ++l) {
    CHECK(m.layer_fixed[l] == doctest::Approx((1 + 0.5 * double(l)) * 1e-3).epsilon(1e-9));
    CHECK(m.per_head[l] == doctest::Approx((0.5 + 0.25 * double(l)) * 1e-3).epsilon(1e-9));
  }
  std::mt19937 gen(5);
  for (int i = 0; i < 20; ++i) {
    std::vector<int64_t> h(4);
    for (int64_t& n : h) n = int64_t(gen() % 5);
    CAPTURE(i);
    CHECK(m.predict(h) == doctest::Approx(planted(h)).epsilon(1e-9));
  }
  // The shared form on a cost of its form: c + a (open layers) + b (heads).
  std::vector<double> shared;
  for (const auto& h : cal) {
    double open = 0, heads = 0;
    for (int64_t n : h) open += n > 0, heads += double(n);
    shared.push_back(2e-3 + 1e-3 * open + 0.4e-3 * heads);
  }
  const CostModel s = fit_cost_model(CostForm::Shared, cal, shared);
  CHECK(s.fixed == doctest::Approx(2e-3).epsilon(1e-9));
  CHECK(s.layer_fixed[3] == doctest::Approx(1e-3).epsilon(1e-9));
  CHECK(s.per_head[0] == doctest::Approx(0.4e-3).epsilon(1e-9));
  CHECK(s.predict({0, 2, 0, 1}) == doctest::Approx(2e-3 + 2e-3 + 1.2e-3).epsilon(1e-9));
  // Heads-only cannot see emptied layers: on the shared cost it misses.
  const CostModel h = fit_cost_model(CostForm::HeadsOnly, cal, shared);
  CHECK(h.layer_fixed[0] == 0);
  CHECK(std::fabs(h.predict({0, 0, 0, 1}) - (2e-3 + 1e-3 + 0.4e-3)) > 1e-4);
}

TEST_CASE("cost model: the per-count form follows a layer cost that is no straight line in its heads") {
  // g(k) per layer of k heads: 3 heads cost what 4 do (columns in 64-wide panels).
  const std::vector<double> g{1.0e-3, 1.5e-3, 2.5e-3, 2.5e-3};
  auto cost = [&](const std::vector<int64_t>& h) {
    double t = 2e-3;
    for (int64_t n : h) t += n > 0 ? g[size_t(n - 1)] : 0;
    return t;
  };
  const std::vector<std::vector<int64_t>> cal = calibration_heads(four_by_four());
  std::vector<double> t;
  for (const auto& h : cal) t.push_back(cost(h));
  const CostModel m = fit_cost_model(CostForm::PerCount, cal, t);
  REQUIRE(m.count_cost.size() == 4);
  for (size_t k = 0; k < 4; ++k) CHECK(m.count_cost[k] == doctest::Approx(g[k]).epsilon(1e-9));
  CHECK(m.layer_seconds(2, 3) == doctest::Approx(2.5e-3).epsilon(1e-9));
  CHECK(m.layer_seconds(2, 0) == 0);
  CHECK(m.predict({3, 0, 1, 2}) == doctest::Approx(cost({3, 0, 1, 2})).epsilon(1e-9));
  CHECK_THROWS_AS(m.layer_seconds(0, 5), std::invalid_argument);
  // A straight line in the head count cannot: the shared form misses 4 -> 3.
  const CostModel s = fit_cost_model(CostForm::Shared, cal, t);
  CHECK(std::fabs(s.predict({3, 3, 3, 3}) - cost({3, 3, 3, 3})) > 0.05 * cost({3, 3, 3, 3}));
  const CostModel back = CostModel::from_json(nlohmann::json::parse(m.to_json().dump()));
  CHECK(back.predict({3, 0, 1, 2}) == m.predict({3, 0, 1, 2}));
}

TEST_CASE("cost model: survives its JSON and refuses what cannot determine it") {
  const std::vector<std::vector<int64_t>> cal = calibration_heads(four_by_four());
  std::vector<double> t;
  for (const auto& h : cal) t.push_back(planted(h));
  const CostModel m = fit_cost_model(CostForm::PerLayer, cal, t);
  const CostModel back = CostModel::from_json(nlohmann::json::parse(m.to_json().dump()));
  CHECK(back.form == CostForm::PerLayer);
  CHECK(back.predict({1, 2, 3, 4}) == m.predict({1, 2, 3, 4}));
  // Every configuration keeps layer 0 at 4 heads: its a_0 and b_0 cannot be told apart.
  std::vector<std::vector<int64_t>> stuck;
  std::vector<double> ts;
  for (int64_t a = 0; a <= 4; ++a)
    for (int64_t b = 0; b <= 4; ++b) stuck.push_back({4, a, b, a}), ts.push_back(planted({4, a, b, a}));
  CHECK_THROWS_WITH_AS(fit_cost_model(CostForm::PerLayer, stuck, ts), doctest::Contains("do not determine"),
                       std::invalid_argument);
  CHECK_THROWS_AS(fit_cost_model(CostForm::PerLayer, {{1, 1, 1, 1}}, {1.0}), std::invalid_argument);
  CHECK_THROWS_AS(cost_form_from_name("roofline"), std::invalid_argument);
  CHECK_THROWS_AS(m.predict({1, 2}), std::invalid_argument);
}

TEST_CASE("cost model: a model made for another shape, device, thread count or batch is refused with the reason") {
  const AllAttConfig c = four_by_four();
  const CostKey key{shape_key(c), "cpu", 2, 16, ""};
  const CostModel m = fit_cost_model(CostForm::HeadsOnly, {{0, 0, 0, 0}, {4, 4, 4, 4}}, {1e-3, 5e-3});
  const nlohmann::json costs = {{"cost_model", {{"key", key.to_json()}, {"train", m.to_json()}, {"infer", m.to_json()}}}};
  CostKey want = key;
  want.mode = "infer";
  CHECK(cost_model_for(costs, want).predict({4, 4, 4, 4}) == doctest::Approx(5e-3));
  AllAttConfig wider = c;
  wider.d_model = 12;
  auto refused = [&](CostKey w, const char* why) {
    CAPTURE(why);
    CHECK_THROWS_WITH_AS(cost_model_for(costs, w), doctest::Contains(why), std::invalid_argument);
  };
  refused({shape_key(wider), "cpu", 2, 16, "train"}, "model: measured for");
  refused({key.shape, "cuda", 2, 16, "train"}, "device: measured on cpu, asked for cuda");
  refused({key.shape, "cpu", 1, 16, "train"}, "threads: measured with 2, running with 1");
  refused({key.shape, "cpu", 2, 1, "train"}, "batch: measured at 16, asked for 1");
  refused({key.shape, "cpu", 2, 16, "decode"}, "mode is train or infer");
  CHECK_THROWS_WITH_AS(cost_model_for(nlohmann::json::object(), want), doctest::Contains("has none"),
                       std::invalid_argument);
  CHECK(shape_key(c) != shape_key(wider));
}
