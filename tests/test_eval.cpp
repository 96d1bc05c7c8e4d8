// Evaluation scores every token: the cut of a split into streams and
// segments (data/eval_split.h), and evaluate_loss against a reference that
// reads each stream on its own.
#include <doctest/doctest.h>

#include <set>

#include "app/run.h"
#include "data/eval_split.h"
#include "tests/test_util.h"

using namespace hc;

TEST_CASE("evaluation split: every prediction exactly once, contiguous streams, only the last step shorter") {
  for (int64_t n : {2, 3, 17, 100, 103}) {
    for (int64_t B : {1, 3, 4, 7, 200}) {
      for (int64_t T : {1, 5, 6}) {
        CAPTURE(n);
        CAPTURE(B);
        CAPTURE(T);
        std::vector<int64_t> tokens(static_cast<size_t>(n));
        for (int64_t i = 0; i < n; ++i) tokens[static_cast<size_t>(i)] = i;  // a token's value is its position
        const EvalSplit split(tokens, B, T);
        CHECK(split.predictions() == n - 1);
        CHECK(split.streams() == std::min(B, n - 1));
        std::multiset<int64_t> predicted;
        std::vector<int64_t> last_of(static_cast<size_t>(split.streams()), -1);
        for (int64_t k = 0; k < split.steps(); ++k) {
          const std::vector<EvalSplit::Group> groups = split.step(k);
          if (k + 1 < split.steps()) {  // a full batch of full segments
            REQUIRE(groups.size() == 1);
            CHECK(static_cast<int64_t>(groups[0].streams.size()) == split.streams());
            CHECK(groups[0].inputs.size(1) == T);
          }
          for (const EvalSplit::Group& g : groups) {
            const int64_t t = g.inputs.size(1);
            const std::vector<int64_t> x = g.inputs.to_ids(), y = g.targets.to_ids();
            for (size_t i = 0; i < g.streams.size(); ++i) {
              // Each stream continues where its previous segment stopped.
              int64_t& last = last_of[static_cast<size_t>(g.streams[i])];
              if (last >= 0) CHECK(x[i * t] == last + 1);
              for (int64_t j = 0; j < t; ++j) {
                CHECK(y[i * t + j] == x[i * t + j] + 1);
                predicted.insert(x[i * t + j]);
              }
              last = x[i * t + t - 1];
            }
          }
        }
        CHECK(predicted.size() == size_t(n - 1));
        CHECK(std::set<int64_t>(predicted.begin(), predicted.end()).size() == size_t(n - 1));
        CHECK(split.predictions_before(split.steps()) == n - 1);
      }
    }
  }
  CHECK_THROWS_WITH_AS(EvalSplit({5}, 2, 3), doctest::Contains("at least 2"), std::invalid_argument);
}

TEST_CASE("evaluation: the loss is the mean over every prediction, as each stream read alone would score it") {
  const AllAttConfig c = test::tiny_model({.vocab = 11, .seg_len = 4, .mem_len = 3});
  const AllAttLM model(c, 5, DType::F64);
  // 50 tokens, 3 streams of 16, 16 and 17 predictions, T = 4: neither the
  // split nor a stream is a multiple of B*T or T.
  std::vector<int64_t> tokens(50);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<int64_t>((i * i + 3 * i) % 11);
  // The reference: each stream alone (batch 1), memory carried, its last segment short.
  auto reference = [&](int64_t max_segments) {
    const int64_t P = 49, B = 3, T = 4;
    double nats = 0;
    int64_t count = 0;
    NoGrad no_grad;
    RngStream rng{0, 0};
    for (int64_t b = 0; b < B; ++b) {
      Memory mem = model.initial_memory(1);
      int64_t segments = 0;
      for (int64_t p = b * P / B; p < (b + 1) * P / B && (max_segments == 0 || segments < max_segments); p += T, ++segments) {
        const int64_t t = std::min(T, (b + 1) * P / B - p);
        const std::vector<int64_t> x(tokens.begin() + p, tokens.begin() + p + t), y(tokens.begin() + p + 1, tokens.begin() + p + t + 1);
        nats += model.loss(Tensor::from_ids({1, t}, x), Tensor::from_ids({1, t}, y), mem, false, rng).value().item() * double(t);
        count += t;
      }
    }
    return nats / double(count);
  };
  CHECK(evaluate_loss(model, tokens, 3, 0, false) == doctest::Approx(reference(0)).epsilon(1e-12));
  CHECK(evaluate_loss(model, tokens, 3, 2, false) == doctest::Approx(reference(2)).epsilon(1e-12));
  // More streams than predictions: one prediction per stream.
  const std::vector<int64_t> two{3, 7};
  NoGrad no_grad;
  RngStream rng{0, 0};
  Memory mem = model.initial_memory(1);
  CHECK(evaluate_loss(model, two, 8, 0, false) ==
        doctest::Approx(model.loss(Tensor::from_ids({1, 1}, {3}), Tensor::from_ids({1, 1}, {7}), mem, false, rng).value().item())
            .epsilon(1e-12));
}
