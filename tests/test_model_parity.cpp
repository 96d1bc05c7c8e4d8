// The All-attention LM against an independent PyTorch implementation
// (tests/reference/allatt_ref.py, Debian's torch): from the same initial
// checkpoint and batch, the loss of a segment that attends to memory, every
// parameter's gradient, and 10 optimizer steps of Adam and of LAMB agree.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "autograd/optim.h"
#include "engine/safetensors.h"
#include "models/allatt_lm.h"
#include "tests/op_harness.h"
#include "tests/test_util.h"

using namespace hc;
using nlohmann::json;

namespace {

AllAttConfig parity_config() {
  // H*D != C on purpose.
  return test::tiny_model({.vocab = 23, .d_model = 16, .heads = 4, .d_head = 5, .persist = 7, .seg_len = 6, .mem_len = 4,
                           .max_len = 24});
}

std::vector<int64_t> tokens(int64_t n, int64_t salt, int64_t V) {
  std::vector<int64_t> t(n);
  for (int64_t i = 0; i < n; ++i) t[i] = (i * 7 + salt * 13 + i * i * salt) % V;
  return t;
}

// max |a - b| / max |b| over one tensor: error relative to the tensor's scale.
double scaled_diff(const std::vector<double>& a, const std::vector<double>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num = std::max(num, std::fabs(a[i] - b[i]));
    den = std::max(den, std::fabs(b[i]));
  }
  return den > 0 ? num / den : num;
}

}  // namespace

// Loss, every gradient (without and with gates) and 10 Adam and LAMB steps
// of the engine's model of config `c` against allatt_ref.py's.
static void check_parity_with_torch(const AllAttConfig& c) {
  const int64_t B = 3, T = c.seg_len;
  AllAttLM model(c, 11);
  // Non-trivial LayerNorm and biases (the initialisation sets them to 1 and 0).
  uint64_t seed = 500;
  for (const Variable& p : model.parameters())
    if (p.name().find("norm") != std::string::npos || p.name().find("bias") != std::string::npos)
      p.value().copy_from(test::random_tensor(p.shape(), DType::F32, seed++, 0.05, 0.5));
  const Tensor x1 = Tensor::from_ids({B, T}, tokens(B * T, 1, c.vocab)),
               y1 = Tensor::from_ids({B, T}, tokens(B * T, 2, c.vocab)),
               x2 = Tensor::from_ids({B, T}, tokens(B * T, 3, c.vocab)),
               y2 = Tensor::from_ids({B, T}, tokens(B * T, 4, c.vocab));
  test::TempDir dir;
  std::map<std::string, Tensor> initial;
  for (const Variable& p : model.parameters()) initial[p.name()] = p.value().clone();
  safetensors::save(dir.file("params.safetensors"), initial);
  const double lr = 3e-3;
  // Gate values as pruning feeds them: one closed head in layer 0 with the
  // output scaling 4 / (3 + 1e-3) on the open ones, all open in layer 1.
  const double c0 = 4.0 / (3.0 + 1e-3);
  const std::vector<std::vector<double>> gate_values{{c0, 0.0, c0, c0}, {1.0, 1.0, 1.0, 1.0}};
  auto rows = [&](const Tensor& t) {
    std::vector<std::vector<int64_t>> r;
    const auto v = t.to_ids();
    for (int64_t b = 0; b < B; ++b) r.emplace_back(v.begin() + b * T, v.begin() + (b + 1) * T);
    return r;
  };
  std::ofstream(dir.file("batch.json")) << json{{"config", {{"layers", c.layers}, {"d_model", c.d_model},
                                                            {"heads", c.heads}, {"d_head", c.d_head},
                                                            {"persist", c.persist}, {"d_ffn", c.d_ffn}, {"mem_len", c.mem_len},
                                                            {"max_len", c.max_len}, {"adaptive_cutoffs", c.adaptive_cutoffs},
                                                            {"adaptive_div", c.adaptive_div}, {"layernorm_eps", c.layernorm_eps}}},
                                                {"x1", rows(x1)}, {"y1", rows(y1)}, {"x2", rows(x2)},
                                                {"y2", rows(y2)}, {"lr", lr},
                                                {"gates", gate_values}}.dump();
  std::string log;
  const int rc = test::run_python("model_check.py",
                                  dir.file("params.safetensors") + " " + dir.file("batch.json") + " " +
                                      dir.file("grads.safetensors") + " " + dir.file("out.json"),
                                  log);
  INFO(log);
  REQUIRE(rc == 0);
  const json theirs = json::parse(std::ifstream(dir.file("out.json")));
  const safetensors::File grads = safetensors::load(dir.file("grads.safetensors"));

  // Segment 1 fills the memory; segment 2 attends to it.
  RngStream rng{1, 0};
  auto segment_losses = [&] {
    Memory mem = model.initial_memory(B);
    Variable l1;
    {
      NoGrad no_grad;
      l1 = model.loss(x1, y1, mem, false, rng);
    }
    return std::pair{l1, model.loss(x2, y2, mem, false, rng)};
  };
  const auto [l1, l2] = segment_losses();
  // float32 on both sides, summed in different orders: a few ulps.
  CHECK(l1.value().item() == doctest::Approx(theirs["loss1"].get<double>()).epsilon(1e-5));
  CHECK(l2.value().item() == doctest::Approx(theirs["loss2"].get<double>()).epsilon(1e-5));
  l2.backward();
  double worst_grad = 0;
  for (const Variable& p : model.parameters()) {
    CAPTURE(p.name());
    // Relative to the tensor's largest gradient: float32 rounding through
    // two layers of attention stays well under 1e-4 of the scale.
    const double d = scaled_diff(p.grad().to_vector(), grads.tensors.at(p.name()).to_vector());
    worst_grad = std::max(worst_grad, d);
    CHECK(d <= 1e-4);
  }
  std::printf("parity (persist %lld, d_ffn %lld, %zu adaptive cutoffs): loss %.2g relative, worst gradient %.2g\n",
              static_cast<long long>(c.persist), static_cast<long long>(c.d_ffn), c.adaptive_cutoffs.size(),
              std::fabs(l2.value().item() / theirs["loss2"].get<double>() - 1), worst_grad);

  {
    // Parity with gates on: loss, every parameter gradient and the gates' own gradients.
    for (const Variable& p : model.parameters()) p.zero_grad();
    std::vector<Variable> gates;
    for (size_t l = 0; l < gate_values.size(); ++l)
      gates.emplace_back(Tensor::from_vector({4}, gate_values[l]), true, "gate" + std::to_string(l));
    Memory mem = model.initial_memory(B);
    {
      NoGrad no_grad;
      model.loss(x1, y1, mem, false, rng, gates);
    }
    const Variable gated = model.loss(x2, y2, mem, false, rng, gates);
    CHECK(gated.value().item() == doctest::Approx(theirs["gated_loss2"].get<double>()).epsilon(1e-5));
    CHECK(gated.value().item() != doctest::Approx(theirs["loss2"].get<double>()).epsilon(1e-5));  // gates matter
    gated.backward();
    for (const Variable& p : model.parameters()) {
      CAPTURE(p.name());
      CHECK(scaled_diff(p.grad().to_vector(), theirs["gated_grads"][p.name()].get<std::vector<double>>()) <= 1e-4);
    }
    for (const Variable& g : gates) {
      CAPTURE(g.name());
      CHECK(scaled_diff(g.grad().to_vector(), theirs["gated_grads"][g.name()].get<std::vector<double>>()) <= 1e-4);
    }
  }

  for (const std::string kind : {"adam", "lamb"}) {
    CAPTURE(kind);
    for (const Variable& p : model.parameters()) {
      p.value().copy_from(initial.at(p.name()));
      p.zero_grad();
    }
    OptimizerConfig oc;
    oc.kind = kind;
    oc.bias_correction = kind == "adam";  // the paper's LAMB runs without
    Optimizer opt({ParamGroup{model.parameters(), 1.0, 0.0}}, oc);
    for (int step = 0; step < 10; ++step) {
      CAPTURE(step);
      const Variable loss = segment_losses().second;
      // Rounding differences grow a little with each step of the optimizer.
      CHECK(loss.value().item() == doctest::Approx(theirs[kind][step].get<double>()).epsilon(1e-4));
      loss.backward();
      opt.step(lr);
      opt.zero_grad();
    }
  }
}

TEST_CASE("model parity with PyTorch: loss, every gradient, 10 Adam and LAMB steps") {
  if (!test::python_has("torch")) {
    test::skip("model parity with PyTorch", "/usr/bin/python3 has no torch (run make deps)");
    return;
  }
  check_parity_with_torch(parity_config());
}

TEST_CASE("model parity with PyTorch: the Transformer-XL baseline (feed-forward blocks, no persistent vectors)") {
  if (!test::python_has("torch")) {
    test::skip("TXL parity with PyTorch", "/usr/bin/python3 has no torch (run make deps)");
    return;
  }
  AllAttConfig c = parity_config();
  c.persist = 0;
  c.d_ffn = 9;
  c.layernorm_eps = 1e-3;  // a non-default epsilon reaches both LayerNorms of a layer
  check_parity_with_torch(c);
}

TEST_CASE("model parity with PyTorch: adaptive input and adaptive softmax") {
  if (!test::python_has("torch")) {
    test::skip("adaptive parity with PyTorch", "/usr/bin/python3 has no torch (run make deps)");
    return;
  }
  AllAttConfig c = parity_config();
  c.adaptive_cutoffs = {5, 12};  // clusters of 5, 7 and 11 words, widths 16, 8, 4
  c.adaptive_div = 2;
  check_parity_with_torch(c);
}
