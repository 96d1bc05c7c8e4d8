// A few ops against PyTorch (Debian's, run as /usr/bin/python3): matmul with
// transposes, layernorm, the model's masked softmax and cross-entropy with an
// ignored row; forward values and the gradients of sum(y * W), float32.
#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/op_harness.h"
#include "tests/test_util.h"

using namespace hc;
using nlohmann::json;

namespace {

struct Check {
  std::string name;
  std::map<std::string, Tensor> inputs;
  std::function<Variable(const std::map<std::string, Variable>&)> run;
  json extra;  // op-specific fields for the Python side
};

json to_json(const Tensor& t) { return {{"shape", t.shape()}, {"values", t.to_vector()}}; }

}  // namespace

TEST_CASE("torch parity: matmul, layernorm, masked softmax, cross-entropy") {
  if (!test::python_has("torch")) {
    test::skip("op parity with PyTorch", "/usr/bin/python3 has no torch (run make deps)");
    return;
  }
  const std::vector<int64_t> targets{2, 0, -100, 4, 1};
  std::vector<Check> checks{
      {"matmul", {{"a", test::random_tensor({7, 5}, DType::F32, 1)}, {"b", test::random_tensor({5, 9}, DType::F32, 2)}},
       [](const auto& v) { return matmul(v.at("a"), v.at("b")); }, {{"trans_a", false}, {"trans_b", false}}},
      {"matmul_tt", {{"a", test::random_tensor({5, 7}, DType::F32, 3)}, {"b", test::random_tensor({9, 5}, DType::F32, 4)}},
       [](const auto& v) { return matmul(v.at("a"), v.at("b"), true, true); }, {{"trans_a", true}, {"trans_b", true}}},
      {"layernorm",
       {{"x", test::random_tensor({6, 33}, DType::F32, 5)}, {"w", test::random_tensor({33}, DType::F32, 6)},
        {"b", test::random_tensor({33}, DType::F32, 7)}},
       [](const auto& v) { return layernorm(v.at("x"), v.at("w"), v.at("b"), 1e-5); }, json::object()},
      // The model's mask: T=4 queries, M=3 memory (S=7 context columns), 5 persistent columns.
      {"masked_softmax", {{"x", test::random_tensor({3, 4, 12}, DType::F32, 8, 0.5, 4.0)}},
       [](const auto& v) { return masked_softmax(v.at("x"), BandMask{4, 7, 0, 3}); },
       {{"ctx_cols", 7}, {"lo", 0}, {"hi", 3}}},
      {"cross_entropy", {{"logits", test::random_tensor({5, 6}, DType::F32, 9, 0.5, 4.0)}},
       [&](const auto& v) { return cross_entropy(v.at("logits"), Tensor::from_ids({5}, targets)); },
       {{"targets", targets}}},
  };

  json request;
  std::map<std::string, std::pair<std::vector<double>, std::map<std::string, std::vector<double>>>> ours;
  for (Check& c : checks) {
    std::map<std::string, Variable> vars;
    json inputs;
    for (const auto& [k, t] : c.inputs) {
      vars.emplace(k, Variable(t, true, k));
      inputs[k] = to_json(t);
    }
    Variable y = c.run(vars);
    const Tensor weight = test::random_tensor(y.shape(), DType::F32, 42);
    request[c.name] = c.extra;
    request[c.name]["inputs"] = inputs;
    request[c.name]["weight"] = to_json(weight);
    ours[c.name].first = y.value().to_vector();
    y.backward(weight);
    for (const auto& [k, v] : vars) ours[c.name].second[k] = v.grad().to_vector();
  }

  test::TempDir dir;
  std::ofstream(dir.file("in.json")) << request.dump();
  std::string log;
  const int rc = test::run_python("ops_check.py", dir.file("in.json") + " " + dir.file("out.json"), log);
  INFO(log);
  REQUIRE(rc == 0);
  const json theirs = json::parse(std::ifstream(dir.file("out.json")));

  // float32 on both sides with different summation orders (Eigen and
  // torch's kernels block their sums differently): a few ulps of the largest
  // terms, relative to max(|value|, 1). 1e-5 is ~80 float32 ulps.
  for (const Check& c : checks) {
    CAPTURE(c.name);
    CHECK(test::max_rel_diff(ours[c.name].first, theirs[c.name]["y"].get<std::vector<double>>()) <= 1e-5);
    for (const auto& [key, g] : ours[c.name].second) {
      const std::string& k = key;  // clang 14 cannot capture a structured binding
      CAPTURE(k);
      CHECK(test::max_rel_diff(g, theirs[c.name]["grads"][k].get<std::vector<double>>()) <= 1e-5);
    }
  }
}
