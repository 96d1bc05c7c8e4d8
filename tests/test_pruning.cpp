// Closed gate == removed head: a gated model in evaluation and its
// compacted copy compute the same logits, with ragged head counts, a layer
// with no heads left, memory carried, and with and without output scaling.
#include <doctest/doctest.h>

#include <cmath>

#include "models/compaction.h"
#include "models/gates.h"
#include "tests/op_harness.h"
#include "tests/test_util.h"

using namespace hc;

namespace {
AllAttConfig pruning_config() {
  return test::tiny_model({.vocab = 11, .layers = 3, .d_model = 8, .heads = 3, .d_head = 4, .persist = 5, .seg_len = 4,
                           .mem_len = 3, .max_len = 16, .dropout = true});
}
}  // namespace

TEST_CASE("pruning: the compacted model computes what the gated model computes in evaluation") {
  for (DType dtype : {DType::F64, DType::F32}) {
    for (bool scaling : {false, true}) {
      for (bool txl : {false, true}) {  // the TXL baseline: heads go, feed-forward blocks stay
        CAPTURE(scaling);
        CAPTURE(txl);
        CAPTURE(dtype_name(dtype));
        AllAttConfig c = pruning_config();
        if (txl) {
          c.persist = 0;
          c.d_ffn = 6;
        }
        AllAttLM gated(c, 4, dtype);
        gated.add_gates(2.0);
        uint64_t seed = 60;
        for (const Variable& p : gated.parameters())
          if (p.name().find("gate") == std::string::npos)
            p.value().copy_from(test::random_tensor(p.shape(), dtype, seed++, 0.05, 0.6));
        // Layer 0 keeps heads 0 and 2, layer 1 none, layer 2 all three.
        const std::vector<std::vector<double>> la{{1.5, -0.5, 0.2}, {-1, -2, -0.1}, {3, 0.0, 1}};
        for (int l = 0; l < 3; ++l) gated.gate_logits()[l].value().copy_from(Tensor::from_vector({3}, la[l], dtype));
        const std::unique_ptr<AllAttLM> small = compact(gated, scaling);
        CHECK(small->config().heads_per_layer == std::vector<int64_t>{2, 0, 3});
        CHECK(small->parameter_count(false) == small->config().analytic_parameters(false));
        CHECK(small->parameter_count(false) < gated.parameter_count(false));

        NoGrad no_grad;
        RngStream rng{1, 0};
        Memory mem_gated = gated.initial_memory(2), mem_small = small->initial_memory(2);
        double worst = 0;
        for (int segment = 0; segment < 2; ++segment) {  // the second attends to memory
          std::vector<int64_t> ids(8);
          for (int i = 0; i < 8; ++i) ids[i] = (i * 5 + segment * 3) % c.vocab;
          const Tensor x = Tensor::from_ids({2, 4}, ids);
          const std::vector<Variable> gates = layer_gates(gated, rng, false, scaling);
          const std::vector<double> a = gated.logits(x, mem_gated, false, rng, gates).value().to_vector();
          const std::vector<double> b = small->logits(x, mem_small, false, rng).value().to_vector();
          for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(a[i] - b[i]));
        }
        // float64: rounding only; float32: the bound.
        CHECK(worst <= (dtype == DType::F64 ? 1e-12 : 1e-5));
      }
    }
  }
}

TEST_CASE("pruning: compact needs gates") {
  AllAttLM dense(pruning_config(), 1);
  CHECK_THROWS_WITH_AS(compact(dense, true), doctest::Contains("no gates"), std::invalid_argument);
}
