// Optimizers (autograd/optim.h) against PyTorch: AdamW against
// torch.optim.AdamW, LAMB against the formula written in torch, clipping
// against torch.nn.utils.clip_grad_norm_; plus state save/restore.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "autograd/optim.h"
#include "tests/op_harness.h"
#include "tests/test_util.h"

using namespace hc;
using nlohmann::json;

namespace {

struct Problem {
  std::vector<Variable> params;          // w1 (3,4), w2 (5), w3 (2,2)
  std::vector<std::vector<Tensor>> grads;  // per step, per param
};

Problem make_problem(int steps) {
  Problem p;
  const std::vector<Shape> shapes{{3, 4}, {5}, {2, 2}};
  for (size_t k = 0; k < shapes.size(); ++k)
    p.params.emplace_back(test::random_tensor(shapes[k], DType::F64, 10 + k), true,
                          "w" + std::to_string(k + 1));
  for (int s = 0; s < steps; ++s) {
    std::vector<Tensor> g;
    for (size_t k = 0; k < shapes.size(); ++k)
      g.push_back(test::random_tensor(shapes[k], DType::F64, 100 * (s + 1) + k, 0.01, 2.0));
    p.grads.push_back(g);
  }
  return p;
}

std::vector<ParamGroup> groups_of(const Problem& p) {
  // Two groups: one at the base rate with weight decay, one at 10x without
  // (like the pruning gates).
  return {ParamGroup{{p.params[0], p.params[1]}, 1.0, 0.1}, ParamGroup{{p.params[2]}, 10.0, 0.0}};
}

std::vector<double> lr_schedule(int steps) {
  std::vector<double> lr;
  for (int s = 0; s < steps; ++s) lr.push_back(1e-2 * (1.0 + 0.1 * s));
  return lr;
}

// Run our optimizer over the problem's gradients; parameter values after each step.
std::vector<std::vector<std::vector<double>>> run_ours(Problem& p, OptimizerConfig cfg) {
  Optimizer opt(groups_of(p), cfg);
  const std::vector<double> lr = lr_schedule(static_cast<int>(p.grads.size()));
  std::vector<std::vector<std::vector<double>>> history;
  for (size_t s = 0; s < p.grads.size(); ++s) {
    opt.zero_grad();
    for (size_t k = 0; k < p.params.size(); ++k) p.params[k].grad_buffer().copy_from(p.grads[s][k]);
    opt.step(lr[s]);
    std::vector<std::vector<double>> now;
    for (const Variable& v : p.params) now.push_back(v.value().to_vector());
    history.push_back(now);
  }
  return history;
}

json problem_json(const Problem& p, const std::string& kind, const OptimizerConfig& cfg) {
  json j;
  j["kind"] = kind;
  j["lr"] = lr_schedule(static_cast<int>(p.grads.size()));
  j["betas"] = {cfg.beta1, cfg.beta2};
  j["eps"] = cfg.eps;
  j["bias_correction"] = cfg.bias_correction;
  j["groups"] = json::array();
  for (const ParamGroup& g : groups_of(p)) {
    json names = json::array();
    for (const Variable& v : g.params) names.push_back(v.name());
    j["groups"].push_back({{"names", names}, {"lr_scale", g.lr_scale}, {"weight_decay", g.weight_decay}});
  }
  for (const Variable& v : p.params)
    j["params"][v.name()] = {{"shape", v.shape()}, {"values", v.value().to_vector()}};
  j["grads"] = json::array();
  for (const auto& step : p.grads) {
    json g;
    for (size_t k = 0; k < p.params.size(); ++k) g[p.params[k].name()] = step[k].to_vector();
    j["grads"].push_back(g);
  }
  return j;
}

json run_torch(const json& request) {
  test::TempDir dir;
  std::ofstream(dir.file("in.json")) << request.dump();
  std::string out;
  const int rc = test::run_python("optim_check.py", dir.file("in.json") + " " + dir.file("out.json"), out);
  INFO(out);
  REQUIRE(rc == 0);
  return json::parse(std::ifstream(dir.file("out.json")));
}

bool have_torch() {
  if (test::python_has("torch")) return true;
  test::skip("optimizer comparison with PyTorch", "/usr/bin/python3 has no torch (run make deps)");
  return false;
}

void compare_histories(const Problem& p, const std::vector<std::vector<std::vector<double>>>& ours,
                       const json& theirs) {
  // float64 on both sides, the same formulas in a different order: the
  // steps agree to rounding, amplified at most a little by the division by
  // sqrt(v) for small v.
  for (size_t s = 0; s < ours.size(); ++s)
    for (size_t k = 0; k < p.params.size(); ++k) {
      CAPTURE(s);
      CAPTURE(k);
      CHECK(test::max_rel_diff(ours[s][k], theirs["params"][s][p.params[k].name()]
                                               .get<std::vector<double>>()) <= 1e-12);
    }
}

}  // namespace

TEST_CASE("optimizer: AdamW with two parameter groups matches torch.optim.AdamW for 10 steps") {
  if (!have_torch()) return;
  Problem p = make_problem(10);
  OptimizerConfig cfg;
  const json theirs = run_torch(problem_json(p, "adamw", cfg));
  compare_histories(p, run_ours(p, cfg), theirs);
}

TEST_CASE("optimizer: LAMB, with and without bias correction, matches its formula in torch") {
  if (!have_torch()) return;
  for (bool bc : {true, false}) {
    CAPTURE(bc);
    Problem p = make_problem(10);
    OptimizerConfig cfg;
    cfg.kind = "lamb";
    cfg.bias_correction = bc;
    const json theirs = run_torch(problem_json(p, "lamb", cfg));
    compare_histories(p, run_ours(p, cfg), theirs);
  }
}

TEST_CASE("optimizer: clip_grad_norm matches torch.nn.utils.clip_grad_norm_") {
  if (!have_torch()) return;
  Problem p = make_problem(1);
  for (size_t k = 0; k < p.params.size(); ++k) p.params[k].grad_buffer().copy_from(p.grads[0][k]);
  json req = problem_json(p, "clip", OptimizerConfig{});
  req["max_norm"] = 0.5;
  const json theirs = run_torch(req);
  const double norm = clip_grad_norm(p.params, 0.5);
  CHECK(norm == doctest::Approx(theirs["norm"].get<double>()).epsilon(1e-12));
  CHECK(norm > 0.5);  // so clipping really happened
  for (const Variable& v : p.params)
    CHECK(test::max_rel_diff(v.grad().to_vector(), theirs["grads"][v.name()].get<std::vector<double>>()) <= 1e-12);
}

TEST_CASE("optimizer: state saved after 3 steps and restored continues bitwise") {
  for (const char* kind : {"adam", "lamb"}) {
    CAPTURE(kind);
    OptimizerConfig cfg;
    cfg.kind = kind;
    Problem whole = make_problem(6);
    const auto uninterrupted = run_ours(whole, cfg);

    Problem first = make_problem(6);
    Optimizer a(groups_of(first), cfg);
    for (int s = 0; s < 3; ++s) {
      a.zero_grad();
      for (size_t k = 0; k < 3; ++k) first.params[k].grad_buffer().copy_from(first.grads[s][k]);
      a.step(lr_schedule(6)[s]);
    }
    // A fresh optimizer over the same parameters, restored from the state.
    Optimizer b(groups_of(first), cfg);
    b.load_state(a.state(), a.steps_taken());
    for (int s = 3; s < 6; ++s) {
      b.zero_grad();
      for (size_t k = 0; k < 3; ++k) first.params[k].grad_buffer().copy_from(first.grads[s][k]);
      b.step(lr_schedule(6)[s]);
    }
    for (size_t k = 0; k < 3; ++k) CHECK(first.params[k].value().to_vector() == uninterrupted[5][k]);

    std::map<std::string, Tensor> broken = a.state();
    broken.erase("w2.exp_avg_sq");
    CHECK_THROWS_WITH_AS(b.load_state(broken, 3), doctest::Contains("missing 'w2.exp_avg_sq'"),
                         std::invalid_argument);
  }
}

TEST_CASE("optimizer: zero_grad zeroes, a parameter without gradient is left alone") {
  Variable w(Tensor::from_vector({2}, {1.0, 2.0}, DType::F64), true, "w");
  Variable frozen(Tensor::from_vector({2}, {3.0, 4.0}, DType::F64), true, "frozen");
  Optimizer opt({ParamGroup{{w, frozen}, 1.0, 0.0}}, OptimizerConfig{});
  w.grad_buffer().fill_(0.5);
  opt.step(0.1);
  CHECK(w.value().to_vector() != std::vector<double>{1.0, 2.0});
  CHECK(frozen.value().to_vector() == std::vector<double>{3.0, 4.0});
  opt.zero_grad();
  CHECK(w.grad().to_vector() == std::vector<double>{0.0, 0.0});
  CHECK_THROWS_WITH_AS(Optimizer({ParamGroup{{w, w}, 1.0, 0.0}}, OptimizerConfig{}),
                       doctest::Contains("unique"), std::invalid_argument);
}
