// The fused attention op (autograd/ops/attention.cpp) against the unfused ops
// it replaces: forward and backward in float32 on the op and on whole models
// (ragged heads, an emptied layer, memory 0 and M, N = 0, T not a multiple of
// a tile), the dropout masks bit for bit, a float64 gradient check with
// dropout on, and the same bits at 1, 2 and 3 threads. (The harness's table,
// tests/cases_attention.cpp, checks the op without dropout against plain
// loops and by finite differences too.)
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "autograd/gradcheck.h"
#include "engine/cpu_attention.h"
#include "models/head_cost.h"
#include "models/allatt_lm.h"
#include "tests/op_harness.h"
#include "tests/test_util.h"

using namespace hc;

namespace {

struct Dims {
  int64_t H, B, T, M, N, D;
  std::string name() const {
    return "H=" + std::to_string(H) + " B=" + std::to_string(B) + " T=" + std::to_string(T) + " M=" +
           std::to_string(M) + " N=" + std::to_string(N) + " D=" + std::to_string(D);
  }
};

// Random operands q (B,T,H*D), k v (B,S,H*D), r (S,H*D), u vb (H,D), pk pv
// (H,N,D) (none for N = 0), each needing a gradient.
AttentionOperands random_operands(const Dims& d, DType dt, uint64_t seed) {
  const int64_t S = d.M + d.T, HD = d.H * d.D;
  auto make = [&](const Shape& shape) {
    return Variable(test::random_tensor(shape, dt, seed++, 0.05, 1.0), true);
  };
  AttentionOperands x{make({d.B, d.T, HD}), make({d.B, S, HD}), make({d.B, S, HD}), make({S, HD}),
                      make({d.H, d.D}),     make({d.H, d.D}),    Variable(),          Variable()};
  if (d.N > 0) x.pk = make({d.H, d.N, d.D}), x.pv = make({d.H, d.N, d.D});
  return x;
}

// The unfused ops of models/allatt_layer.cpp (attend_unfused), step by step.
Variable unfused(const Dims& d, const AttentionOperands& x, const AttentionOptions& o) {
  const int64_t B = d.B, T = d.T, S = d.M + d.T, H = d.H, D = d.D;
  const Variable q_heads = reshape(x.q, {B, T, H, D});
  const Variable q_u = reshape(add(q_heads, x.u), {B, T, H * D});
  const Variable q_v = reshape(add(q_heads, x.vb), {1, B * T, H * D});
  const Variable content = head_scores(q_u, x.k, H, o.alpha);
  const Variable position = reshape(head_scores(q_v, reshape(x.r, {1, S, H * D}), H, o.alpha), {H * B, T, S});
  Variable logits = add_rel_shift(content, position);
  if (d.N > 0) logits = append_scores(logits, x.q, x.pk);
  const Variable probs = masked_softmax(logits, BandMask{T, S, 0, d.M}, o.dropout_p, o.key);
  return weighted_sum(probs, x.v, x.pv, o.pv_scale);
}

AttentionOptions options_of(const Dims& d, double p) {
  // The model's key: H slices of B streams over the (H*B,T,S+N) probabilities.
  const RandomKey key{11, 5, d.B, d.T * (d.M + d.T + d.N), 2};
  return AttentionOptions{1.0 / std::sqrt(double(d.D)), std::sqrt(double(d.N)), p, key};
}

// out and the gradient of every operand of L = sum(W out), W fixed and random.
std::vector<std::vector<double>> values_and_grads(const Variable& out, const AttentionOperands& x) {
  const Variable w(test::random_tensor(out.shape(), out.value().dtype(), 99, 0.1, 1.0));
  sum(mul(out, w)).backward();
  std::vector<std::vector<double>> result{out.value().to_vector()};
  for (const Variable& v : {x.q, x.k, x.v, x.r, x.u, x.vb, x.pk, x.pv})
    if (v.defined()) result.push_back(v.grad().to_vector());
  return result;
}

// max |a - b| / max |b|: the error relative to the largest entry.
double rel_to_max(const std::vector<double>& a, const std::vector<double>& b) {
  double err = 0, scale = 0;
  for (size_t e = 0; e < a.size(); ++e) {
    err = std::max(err, std::fabs(a[e] - b[e]));
    scale = std::max(scale, std::fabs(b[e]));
  }
  return scale > 0 ? err / scale : err;
}

const std::vector<Dims> kCases{
    {2, 3, 5, 4, 3, 4},    // memory and persistent vectors
    {3, 2, 13, 0, 5, 8},   // no memory; T = 13, not a multiple of a tile
    {1, 2, 7, 9, 0, 4},    // N = 0, the Transformer-XL baseline; M > T
    {2, 1, 17, 6, 70, 3},  // more visible columns than a 64-bit word of dropout bits
    {2, 2, 45, 20, 5, 8},  // two blocks of 32 query rows, the second partial
};

}  // namespace

TEST_CASE("fused attention: the op equals the unfused ops, forward and backward, float32, with dropout") {
  for (const Dims& d : kCases) {
    for (double p : {0.0, 0.3}) {
      const std::string name = d.name() + " p=" + std::to_string(p);
      CAPTURE(name);
      const AttentionOptions o = options_of(d, p);
      const AttentionOperands a = random_operands(d, DType::F32, 1), b = random_operands(d, DType::F32, 1);
      const std::vector<std::vector<double>> fused = values_and_grads(attention(a, o), a);
      const std::vector<std::vector<double>> plain = values_and_grads(unfused(d, b, o), b);
      REQUIRE(fused.size() == plain.size());
      // float32: both round the same sums in different orders (the scores'
      // dot products, the softmax's sum, the gradients' sums over rows).
      for (size_t k = 0; k < fused.size(); ++k) {
        CAPTURE(k);
        CHECK(rel_to_max(fused[k], plain[k]) <= 1e-5);
      }
    }
  }
}

TEST_CASE("fused attention: dropout keeps exactly the probabilities masked_softmax keeps") {
  // With v_j = e_j and pv_n = e_{S+n} (pv_scale 1), head h's output row i is
  // its dropped-out probability row z_i itself: every kept or dropped entry
  // is visible in the output.
  const Dims d{2, 3, 6, 5, 4, 16};  // D = S+N = 15 columns, plus one spare
  const int64_t S = d.M + d.T, HD = d.H * d.D;
  AttentionOptions o = options_of(d, 0.4);
  o.pv_scale = 1.0;
  AttentionOperands x = random_operands(d, DType::F32, 3);
  std::vector<double> v(d.B * S * HD, 0.0), pv(d.H * d.N * d.D, 0.0);
  for (int64_t b = 0; b < d.B; ++b)
    for (int64_t j = 0; j < S; ++j)
      for (int64_t h = 0; h < d.H; ++h) v[(b * S + j) * HD + h * d.D + j] = 1.0;
  for (int64_t h = 0; h < d.H; ++h)
    for (int64_t n = 0; n < d.N; ++n) pv[(h * d.N + n) * d.D + S + n] = 1.0;
  x.v = Variable(Tensor::from_vector(x.v.shape(), v, DType::F32));
  x.pv = Variable(Tensor::from_vector(x.pv.shape(), pv, DType::F32));
  NoGrad no_grad;
  const std::vector<double> fused = attention(x, o).value().to_vector(), plain = unfused(d, x, o).value().to_vector();
  int64_t dropped = 0, differ = 0;
  for (size_t e = 0; e < fused.size(); ++e) {
    differ += (fused[e] == 0.0) != (plain[e] == 0.0);
    dropped += plain[e] == 0.0;
  }
  CHECK(differ == 0);
  CHECK(dropped > 0);
  CHECK(rel_to_max(fused, plain) <= 1e-6);
}

TEST_CASE("fused attention: float64 finite differences with dropout on") {
  for (const Dims& d : {Dims{2, 2, 3, 2, 3, 3}, Dims{1, 2, 4, 3, 0, 2}}) {
    const std::string name = d.name();
    CAPTURE(name);
    const AttentionOperands x = random_operands(d, DType::F64, 7);
    std::vector<Variable> inputs{x.q, x.k, x.v, x.r, x.u, x.vb};
    if (d.N > 0) inputs.insert(inputs.end(), {x.pk, x.pv});
    const AttentionOptions o = options_of(d, 0.3);
    const GradCheckResult r = gradcheck(
        [&d, &o](const std::vector<Variable>& in) {
          const AttentionOperands ops{in[0], in[1], in[2], in[3], in[4], in[5],
                                      d.N > 0 ? in[6] : Variable(), d.N > 0 ? in[7] : Variable()};
          return attention(ops, o);
        },
        inputs);
    CAPTURE(r.worst);
    CHECK(r.max_error <= 1e-6);
  }
}

TEST_CASE("fused attention: the same bits at 1, 2 and 3 threads") {
  const Dims d{3, 5, 40, 7, 6, 8};  // two blocks of rows
  const AttentionOptions o = options_of(d, 0.2);
  std::vector<std::vector<double>> first;
  for (int threads : {1, 2, 3}) {
    CAPTURE(threads);
    test::with_threads(threads, [&] {
      const AttentionOperands x = random_operands(d, DType::F32, 5);
      const std::vector<std::vector<double>> got = values_and_grads(attention(x, o), x);
      if (first.empty()) first = got;
      CHECK(got == first);
    });
  }
}

namespace {

// A model's loss on two segments (the second attends to the first through
// memory) and every parameter's gradient, training with dropout on.
std::vector<std::vector<double>> model_loss_and_grads(AllAttConfig c, bool fused) {
  c.fused_attention = fused;
  AllAttLM model(c, 3, DType::F32);
  const int64_t B = 2, T = c.seg_len;
  std::vector<int64_t> ids;
  for (int64_t e = 0; e < B * T; ++e) ids.push_back((e * 7 + 3) % c.vocab);
  const Tensor tokens = Tensor::from_ids({B, T}, ids);
  Memory mem = model.initial_memory(B);
  RngStream rng{17, 0, 0};
  std::vector<std::vector<double>> out;
  for (int segment = 0; segment < 2; ++segment) {
    const Variable loss = model.loss(tokens, tokens, mem, true, rng);
    loss.backward();
    out.push_back(loss.value().to_vector());
  }
  for (const Variable& p : model.parameters()) out.push_back(p.grad().to_vector());
  return out;
}

}  // namespace

TEST_CASE("fused attention: whole models, fused against unfused, float32, training with dropout") {
  AllAttConfig c = test::tiny_model();
  c.layers = 3;
  c.heads = 3;
  c.heads_per_layer = {3, 0, 2};  // ragged after compaction, one layer emptied
  c.seg_len = 13;
  c.dropout_attn = 0.3;
  SUBCASE("memory M > 0, persistent vectors") { c.mem_len = 5; }
  SUBCASE("no memory") { c.mem_len = 0; }
  SUBCASE("Transformer-XL baseline: N = 0 and a feed-forward block") {
    c.persist = 0;
    c.d_ffn = 12;
  }
  c.max_len = std::max(c.max_len, c.seg_len + c.mem_len);
  const std::vector<std::vector<double>> fused = model_loss_and_grads(c, true), plain = model_loss_and_grads(c, false);
  REQUIRE(fused.size() == plain.size());
  for (size_t k = 0; k < fused.size(); ++k) {
    CAPTURE(k);
    CHECK(rel_to_max(fused[k], plain[k]) <= 1e-5);
  }
}

TEST_CASE("fused attention: the CPU's blocks, its plain loops and Backend's default (CUDA's) agree, float64") {
  for (const Dims& d : kCases) {
    const std::string name = d.name();
    CAPTURE(name);
    const AttentionOperands x = random_operands(d, DType::F64, 21);
    AttentionCall call;
    call.q = x.q.value(), call.k = x.k.value(), call.v = x.v.value(), call.r = x.r.value();
    call.u = x.u.value(), call.vb = x.vb.value();
    if (d.N > 0) call.pk = x.pk.value(), call.pv = x.pv.value();
    const AttentionOptions o = options_of(d, 0.25);
    call.alpha = o.alpha, call.pv_scale = o.pv_scale, call.dropout_p = o.dropout_p, call.key = o.key;
    const Tensor dout = test::random_tensor(x.q.shape(), DType::F64, 77, 0.1, 1.0);
    // Every gradient of a call's backward, as flat vectors.
    auto run = [&](auto forward, auto backward) {
      const Tensor out = Tensor::empty(x.q.shape(), DType::F64);
      const AttentionRecord record = forward(call, out);
      std::vector<Tensor> g;
      for (const Variable& v : {x.q, x.k, x.v, x.r, x.u, x.vb, x.pk, x.pv})
        g.push_back(v.defined() ? Tensor::full(v.shape(), 0.5, DType::F64) : Tensor());
      // q, k and r add to what is there (0.5), the others write.
      const AttentionGrads grads{{g[0], true}, {g[1], true}, {g[2], false}, {g[3], true},
                                 {g[4], false}, {g[5], false}, {g[6], false}, {g[7], false}};
      backward(call, out, dout, record, grads);
      std::vector<std::vector<double>> all{out.to_vector()};
      for (const Tensor& t : g)
        if (t.defined()) all.push_back(t.to_vector());
      return all;
    };
    const auto blocks = run([](const AttentionCall& c, const Tensor& o) { return cpu::attention_forward(c, o); },
                            [](const AttentionCall& c, const Tensor& o, const Tensor& dy, const AttentionRecord& r,
                               const AttentionGrads& g) { cpu::attention_backward(c, o, dy, r, g); });
    const auto loops = run([](const AttentionCall& c, const Tensor& o) { return cpu::plain::attention_forward(c, o); },
                           [](const AttentionCall& c, const Tensor& o, const Tensor& dy, const AttentionRecord& r,
                              const AttentionGrads& g) { cpu::plain::attention_backward(c, o, dy, r, g); });
    // The composition of the other primitives that a backend without a
    // fused kernel inherits (engine/backend_attention.cpp), run on the CPU.
    Backend& cpu = backend(Device::CPU);
    const auto composed = run([&cpu](const AttentionCall& c, const Tensor& o) { return cpu.Backend::attention_forward(c, o); },
                              [&cpu](const AttentionCall& c, const Tensor& o, const Tensor& dy, const AttentionRecord& r,
                                     const AttentionGrads& g) { cpu.Backend::attention_backward(c, o, dy, r, g); });
    REQUIRE(blocks.size() == loops.size());
    REQUIRE(blocks.size() == composed.size());
    for (size_t k = 0; k < blocks.size(); ++k) {
      CAPTURE(k);
      CHECK(rel_to_max(blocks[k], loops[k]) <= 1e-12);  // float64: the same sums in other orders
      CHECK(rel_to_max(composed[k], loops[k]) <= 1e-12);
    }
  }
}

TEST_CASE("fused attention: profile's shares of the fused op sum to 1, forward and backward") {
  AllAttConfig c = test::tiny_model();
  c.heads_per_layer = {2, 0};
  double forward = 0, backward = 0;
  for (const PartShare& s : fused_attention_shares(c, 0, 3)) {
    CHECK(s.forward > 0);
    forward += s.forward;
    backward += s.backward;
  }
  CHECK(forward == doctest::Approx(1.0).epsilon(1e-12));
  CHECK(backward == doctest::Approx(1.0).epsilon(1e-12));
  CHECK(fused_attention_shares(c, 1, 3).empty());  // the emptied layer
}
