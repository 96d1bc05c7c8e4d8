// Harness cases: layernorm, masked_softmax, cross_entropy, embedding, dropout.
#include <cmath>

#include "engine/rng.h"
#include "tests/op_harness.h"

namespace hc::test {
namespace {

OpCase layernorm_case(int64_t R, int64_t C) {
  OpCase c;
  c.name = "layernorm " + shape_str({R, C});
  c.inputs = {{R, C}, {C}, {C}};
  c.run = [](const std::vector<Variable>& v) { return layernorm(v[0], v[1], v[2], 1e-5); };
  c.reference = [=](const HostInputs& in) {
    std::vector<double> y(R * C);
    for (int64_t r = 0; r < R; ++r) {
      double m = 0, var = 0;
      for (int64_t k = 0; k < C; ++k) m += in[0][r * C + k] / C;
      for (int64_t k = 0; k < C; ++k) var += (in[0][r * C + k] - m) * (in[0][r * C + k] - m) / C;
      for (int64_t k = 0; k < C; ++k)
        y[r * C + k] = (in[0][r * C + k] - m) / std::sqrt(var + 1e-5) * in[1][k] + in[2][k];
    }
    return y;
  };
  return c;
}

// With dropout_p > 0 the probabilities go through the op's own dropout: the
// reference multiplies them by the multipliers recomputed from the key
// (RandomKey::bits). With x_twice the op's input is also added to its
// output, so x's gradient already holds that contribution when the
// softmax's backward adds its own.
OpCase softmax_case(const std::string& what, int64_t G, int64_t T, int64_t W, BandMask mask, double dropout_p = 0,
                    RandomKey key = RandomKey{}, bool x_twice = false) {
  OpCase c;
  c.name = "masked_softmax " + what + " " + shape_str({G, T, W});
  c.inputs = {{G, T, W}};
  c.run = [=](const std::vector<Variable>& v) {
    const Variable y = masked_softmax(v[0], mask, dropout_p, key);
    return x_twice ? add(y, v[0]) : y;
  };
  c.reference = [=](const HostInputs& in) {
    std::vector<double> y(G * T * W, 0.0);
    for (int64_t r = 0; r < G * T; ++r) {
      // Visible: no mask, or persistent columns, or the band i+lo <= j <= i+hi.
      auto seen = [&](int64_t j) {
        if (mask.rows == 0 || j >= mask.ctx_cols) return true;
        const int64_t i = r % mask.rows;
        return j >= i + mask.lo && j <= i + mask.hi;
      };
      double z = 0;
      for (int64_t j = 0; j < W; ++j)
        if (seen(j)) z += std::exp(in[0][r * W + j]);
      for (int64_t j = 0; j < W; ++j)
        if (seen(j)) y[r * W + j] = std::exp(in[0][r * W + j]) / z;
    }
    for (int64_t e = 0; e < G * T * W; ++e) {
      if (dropout_p > 0)
        y[e] *= philox::uniform(key.bits(e)) >= static_cast<float>(dropout_p) ? 1.0 / (1.0 - dropout_p) : 0.0;
      if (x_twice) y[e] += in[0][e];
    }
    return y;
  };
  return c;
}

// overwrite: the logits are an op's output (0.5 x) whose storage the
// gradient takes over (the model's loss); the reference sees 0.5 x too.
OpCase cross_entropy_case(bool with_ignored, bool overwrite = false) {
  const int64_t R = 6, V = 7;
  std::vector<int64_t> t{3, 0, 6, 3, 1, 5};
  if (with_ignored) t[2] = t[4] = -100;
  OpCase c;
  c.name = std::string("cross_entropy ") + (with_ignored ? "with ignored rows" : "all rows") +
           (overwrite ? ", gradient over the logits" : "");
  c.inputs = {{R, V}};
  c.run = [=](const std::vector<Variable>& v) {
    if (overwrite) return cross_entropy(scale(v[0], 0.5), Tensor::from_ids({R}, t), -100, true);
    return cross_entropy(v[0], Tensor::from_ids({R}, t), -100);
  };
  const double s = overwrite ? 0.5 : 1.0;
  c.reference = [=](const HostInputs& in) {
    double total = 0;
    int count = 0;
    for (int64_t r = 0; r < R; ++r) {
      if (t[r] == -100) continue;
      double z = 0;
      for (int64_t v = 0; v < V; ++v) z += std::exp(s * in[0][r * V + v]);
      total += std::log(z) - s * in[0][r * V + t[r]];
      ++count;
    }
    return std::vector<double>{total / count};
  };
  return c;
}

OpCase embedding_case() {
  const int64_t V = 5, C = 3;
  const std::vector<int64_t> ids{4, 1, 1, 0, 4, 4, 2};  // repeats: the backward must sum them
  OpCase c;
  c.name = "embedding (5,3) with repeated ids";
  c.inputs = {{V, C}};
  c.run = [=](const std::vector<Variable>& v) {
    return embedding(v[0], Tensor::from_ids({7}, ids));
  };
  c.reference = [=](const HostInputs& in) {
    std::vector<double> y;
    for (int64_t id : ids)
      for (int64_t k = 0; k < C; ++k) y.push_back(in[0][id * C + k]);
    return y;
  };
  return c;
}

// A flat key (one counter range for the whole tensor), or a per-stream key
// cutting (3 slices, 2 streams from global stream 5, 7 numbers each): the
// reference recomputes each element's counter words by hand, so the CPU loop
// and the CUDA kernel are both checked against engine/rng.h's layout.
OpCase dropout_case(bool per_stream) {
  const Shape shape = per_stream ? Shape{6, 7} : Shape{5, 9};
  const RandomKey key = per_stream ? RandomKey{1234, 56, 2, 7, 5} : RandomKey{1234, 56};
  const double p = 0.3;
  OpCase c;
  c.name = std::string("dropout p=0.3 ") + (per_stream ? "per stream " : "") + shape_str(shape);
  c.inputs = {shape};
  c.run = [=](const std::vector<Variable>& v) { return dropout(v[0], p, key, true); };
  c.reference = [=](const HostInputs& in) {
    // The mask recomputed from the Philox stream: keep where u >= p, scale 1/(1-p).
    std::vector<double> y(in[0].size());
    for (size_t i = 0; i < y.size(); ++i) {
      uint32_t bits = philox::bits(key.seed, key.offset, i);
      if (per_stream) {
        const size_t row = i / 7, stream = 5 + row % 2, slice = row / 2;
        bits = philox::bits(key.seed, key.offset, i % 7, static_cast<uint32_t>(stream), static_cast<uint32_t>(slice));
      }
      const float u = philox::uniform(bits);
      y[i] = u >= static_cast<float>(p) ? in[0][i] * (1.0 / (1.0 - p)) : 0.0;
    }
    return y;
  };
  return c;
}

const RegisterOpCases cases({
    layernorm_case(7, 9),
    layernorm_case(3, 33),
    softmax_case("no mask", 2, 3, 7, BandMask{}),
    // The model's mask: T=4 queries, M=3 memory, S=7 context columns, 5 persistent.
    softmax_case("same-length band + persistent", 3, 4, 12, BandMask{4, 7, 0, 3}),
    softmax_case("plain causal", 2, 5, 5, BandMask{5, 5, -1000, 0}),
    softmax_case("no mask, x twice", 2, 3, 7, BandMask{}, 0, RandomKey{}, true),
    // Attention dropout with the model's key: (H=3 slices, B=2 streams from
    // global stream 5, T*W numbers each), rows of the key made of whole
    // softmax rows (the CPU's fused path); then with x used twice.
    softmax_case("band + persistent + dropout", 6, 4, 12, BandMask{4, 7, 0, 3}, 0.3, RandomKey{77, 9, 2, 48, 5}),
    softmax_case("band + persistent + dropout, x twice", 6, 4, 12, BandMask{4, 7, 0, 3}, 0.3,
                 RandomKey{77, 9, 2, 48, 5}, true),
    // Keys that do not cut into whole softmax rows (the backends' default):
    // a flat one, and stream rows of 9 numbers over softmax rows of 6.
    softmax_case("band + dropout, flat key", 2, 4, 9, BandMask{4, 6, 0, 2}, 0.25, RandomKey{5, 3}),
    softmax_case("dropout, stream rows across softmax rows", 2, 3, 6, BandMask{}, 0.4, RandomKey{8, 1, 2, 9, 0}),
    cross_entropy_case(false),
    cross_entropy_case(true),
    cross_entropy_case(false, true),
    cross_entropy_case(true, true),
    embedding_case(),
    dropout_case(false),
    dropout_case(true),
});

}  // namespace
}  // namespace hc::test
