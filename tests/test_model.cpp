// The All-attention LM (models/): parameter count, a float64 gradient check
// of the whole model, memory across segments against one long pass, and the
// attention window.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>

#include "autograd/gradcheck.h"
#include "engine/rng.h"
#include "models/allatt_lm.h"
#include "tests/op_harness.h"
#include "tests/test_util.h"

using namespace hc;

namespace {

AllAttConfig tiny_config() {
  return test::tiny_model();
}

Tensor tokens_of(const std::vector<int64_t>& ids, int64_t B) {
  return Tensor::from_ids({B, static_cast<int64_t>(ids.size()) / B}, ids);
}

// Give every parameter random values (biases and LayerNorm too), so that no
// term of the model is trivially zero or one.
void randomize(const AllAttLM& model, uint64_t seed) {
  for (const Variable& p : model.parameters())
    p.value().copy_from(test::random_tensor(p.shape(), p.value().dtype(), seed++, 0.05, 0.6));
}

}  // namespace

TEST_CASE("model: parameter count matches the formula, and the paper's configuration") {
  AllAttConfig c = tiny_config();
  c.heads_per_layer = {2, 0};  // a compacted layer with no heads
  AllAttLM model(c, 1, DType::F32);
  CHECK(model.parameter_count(true) == c.analytic_parameters(true));
  CHECK(model.parameter_count(false) == c.analytic_parameters(false));
  AllAttConfig txl = c;  // the baseline: no persistent vectors, a feed-forward block per layer
  txl.persist = 0;
  txl.d_ffn = 10;
  AllAttLM baseline(txl, 1, DType::F32);
  CHECK(baseline.parameter_count(true) == txl.analytic_parameters(true));
  CHECK(baseline.parameters().size() == model.parameters().size() - 2 + 2 * 6);  // layer 1 has no heads, and no persist

  // wt103-all-16l: 16 layers, C=512, H=8, D=64, N=2048. The spec counts
  // 3,410,440 per layer including 8 gate logits, i.e. 3,410,432 without.
  AllAttConfig paper;
  paper.vocab = 267735;
  paper.layers = 16;
  paper.d_model = 512;
  paper.heads = 8;
  paper.d_head = 64;
  paper.persist = 2048;
  const int64_t non_embedding = paper.analytic_parameters(false);
  std::printf("wt103-all-16l non-embedding parameters: %lld (spec: 54.57M)\n",
              static_cast<long long>(non_embedding));
  CHECK(non_embedding == 16 * 3410432LL);
}

TEST_CASE("model: float64 finite differences over every parameter of a tiny model") {
  AllAttConfig c = tiny_config();
  SUBCASE("All-attention") {}
  SUBCASE("Transformer-XL baseline") {
    c.persist = 0;
    c.d_ffn = 5;
  }
  AllAttLM model(c, 7, DType::F64);
  randomize(model, 100);
  const Tensor x = tokens_of({1, 5, 2, 6, 0, 3}, 2), y = tokens_of({5, 2, 6, 0, 3, 4}, 2);
  // A first segment fills the memory, so the checked loss attends to it.
  Memory warm = model.initial_memory(2);
  RngStream rng{1, 0};
  {
    NoGrad no_grad;
    model.loss(x, y, warm, false, rng);
  }
  const std::vector<Variable> params = model.parameters();
  const GradCheckResult r = gradcheck(
      [&](const std::vector<Variable>&) {
        Memory mem = warm;
        return model.loss(y, x, mem, false, rng);
      },
      params);
  INFO(r.worst);
  CHECK(r.max_error <= 1e-6);
}

TEST_CASE("model: segments with carried memory equal one long pass") {
  // With T >= M, every position of the second segment sees the same M+1
  // inputs in both runs, so its logits must agree.
  AllAttConfig c = tiny_config();
  c.seg_len = 4;
  c.mem_len = 3;
  c.max_len = 16;
  AllAttLM model(c, 3, DType::F64);
  randomize(model, 200);
  const std::vector<int64_t> stream{1, 4, 6, 2, 0, 5, 3, 3};
  NoGrad no_grad;
  RngStream rng{1, 0};
  Memory mem = model.initial_memory(1);
  model.logits(tokens_of({1, 4, 6, 2}, 1), mem, false, rng);
  const std::vector<double> second = model.logits(tokens_of({0, 5, 3, 3}, 1), mem, false, rng).value().to_vector();
  Memory fresh = model.initial_memory(1);
  const std::vector<double> whole = model.logits(tokens_of(stream, 1), fresh, false, rng).value().to_vector();
  const int64_t V = c.vocab;
  REQUIRE(whole.size() == second.size() * 2);
  double worst = 0;
  for (size_t i = 0; i < second.size(); ++i)
    worst = std::max(worst, std::fabs(second[i] - whole[4 * V + i]));
  CHECK(worst <= 1e-12);
}

TEST_CASE("model: a query sees exactly itself and the M tokens before it (one layer)") {
  AllAttConfig c = tiny_config();
  c.layers = 1;
  c.seg_len = 8;
  c.mem_len = 3;
  c.max_len = 16;
  AllAttLM model(c, 5, DType::F64);
  randomize(model, 300);
  NoGrad no_grad;
  RngStream rng{1, 0};
  const std::vector<int64_t> base{1, 4, 6, 2, 0, 5, 3, 2};
  auto logits_at = [&](const std::vector<int64_t>& ids, int64_t t) {
    Memory mem = model.initial_memory(1);
    const std::vector<double> all = model.logits(tokens_of(ids, 1), mem, false, rng).value().to_vector();
    return std::vector<double>(all.begin() + t * c.vocab, all.begin() + (t + 1) * c.vocab);
  };
  const int64_t t = 6;
  const std::vector<double> ref = logits_at(base, t);
  for (int64_t pos = 0; pos < 8; ++pos) {
    std::vector<int64_t> changed = base;
    changed[pos] = (changed[pos] + 1) % c.vocab;
    const bool inside = pos <= t && pos >= t - c.mem_len;
    CAPTURE(pos);
    CHECK((logits_at(changed, t) != ref) == inside);
  }
}

TEST_CASE("model: word dropout zeroes every occurrence of a dropped word, scales the rest") {
  AllAttConfig c = tiny_config();  // every other dropout is 0
  c.dropout_word = 0.5;
  c.seg_len = 6;
  c.mem_len = 6;  // the memory then holds exactly this segment's layer-0 inputs
  AllAttLM model(c, 9, DType::F64);
  randomize(model, 400);
  const std::vector<int64_t> ids{1, 5, 2, 6, 0, 3, 5, 5, 4, 1, 2, 0};
  Memory mem = model.initial_memory(2);
  RngStream rng{3, 0};
  NoGrad no_grad;
  model.loss(tokens_of(ids, 2), tokens_of(ids, 2), mem, true, rng);
  // The word mask is the stream's first draw: word v is kept iff u_v >= p.
  const std::vector<double> layer0 = mem.layers[0].to_vector(), table = model.embed.value().to_vector();
  const int64_t C = c.d_model;
  int dropped = 0, kept = 0;
  for (size_t t = 0; t < ids.size(); ++t) {
    const int64_t v = ids[t];
    const bool keep = philox::uniform(philox::bits(3, 0, static_cast<uint64_t>(v))) >= 0.5f;
    (keep ? kept : dropped) += 1;
    for (int64_t k = 0; k < C; ++k) {
      const double want = keep ? table[v * C + k] * 2.0 * std::sqrt(double(C)) : 0.0;
      CHECK(layer0[t * C + k] == doctest::Approx(want).epsilon(1e-12));
    }
  }
  CHECK(dropped > 0);  // the seed was chosen so that both cases occur
  CHECK(kept > 0);
}
