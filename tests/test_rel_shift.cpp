// add_rel_shift's shift (content 0) against Transformer-XL's own construction: pad a zero column on
// the left, view (T, S+1) as (S+1, T), drop the first row, view as (T, S).
// The two agree on every entry a same-length causal mask leaves visible.
#include <doctest/doctest.h>

#include "tests/op_harness.h"

using namespace hc;

TEST_CASE("add_rel_shift's shift equals Transformer-XL's pad-and-reshape on the visible entries") {
  const int64_t T = 5, M = 4, S = M + T;
  Tensor x = test::random_tensor({1, T, S}, DType::F64, 3);
  const std::vector<double> xs = x.to_vector();
  // The padding construction, written out on flat arrays.
  std::vector<double> padded(T * (S + 1), 0.0);
  for (int64_t i = 0; i < T; ++i)
    for (int64_t k = 0; k < S; ++k) padded[i * (S + 1) + 1 + k] = xs[i * S + k];
  const std::vector<double> y = add_rel_shift(Variable(Tensor::zeros({1, T, S}, DType::F64)), Variable(x)).value().to_vector();
  int checked = 0;
  for (int64_t i = 0; i < T; ++i)
    for (int64_t j = i; j <= i + M; ++j) {  // the same-length mask: i <= j <= i+M
      CHECK(y[i * S + j] == padded[T + i * S + j]);
      // and it is the score at distance M+i-j, stored in column S-1-(M+i-j)
      CHECK(y[i * S + j] == xs[i * S + (S - 1 - (M + i - j))]);
      ++checked;
    }
  CHECK(checked == T * (M + 1));
}
