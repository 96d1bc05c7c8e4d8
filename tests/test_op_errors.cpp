// Ops reject bad arguments with an error that names the problem.
#include <doctest/doctest.h>

#include "autograd/ops.h"

using namespace hc;

TEST_CASE("ops: bad arguments are errors that name the problem") {
  const Variable x(Tensor::zeros({2, 3, 4}));
  const Variable w(Tensor::zeros({5, 7}));
  CHECK_THROWS_WITH_AS(linear(x, w), doctest::Contains("does not match input"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(matmul(Variable(Tensor::zeros({2, 3})), Variable(Tensor::zeros({4, 5}))),
                       doctest::Contains("inner sizes differ"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(add(x, Variable(Tensor::zeros({3, 5}))), doctest::Contains("cannot broadcast"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(permute(x, {0, 0, 1}), doctest::Contains("not a permutation"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(slice(x, 1, 2, 5), doctest::Contains("out of range"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(slice(x, 3, 0, 1), doctest::Contains("axis 3 out of range"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(concat({x, Variable(Tensor::zeros({2, 4, 4}))}, 2), doctest::Contains("does not match"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(layernorm(x, Variable(Tensor::zeros({3})), Variable(Tensor::zeros({3}))),
                       doctest::Contains("need 4 elements"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(embedding(w, Tensor::from_ids({2}, {1, 5})), doctest::Contains("token id 5 out of range"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(cross_entropy(w, Tensor::from_ids({5}, {0, 1, 9, 2, 3})),
                       doctest::Contains("target 9 out of range"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(cross_entropy(w, Tensor::from_ids({5}, {-100, -100, -100, -100, -100})),
                       doctest::Contains("every target is ignore_index"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(dropout(x, 1.0, RandomKey{}), doctest::Contains("[0, 1)"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(add_rel_shift(Variable(Tensor::zeros({2, 5, 3})), Variable(Tensor::zeros({2, 5, 3}))),
                       doctest::Contains("S >= T"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(add_rel_shift(Variable(Tensor::zeros({2, 5, 6})), Variable(Tensor::zeros({2, 5, 7}))),
                       doctest::Contains("of one shape"), std::invalid_argument);
  // float64 times float32 would read the float32 bytes as doubles, past
  // their end (found by the taylor-score test feeding float32 gates to a
  // float64 model).
  CHECK_THROWS_WITH_AS(mul(Variable(Tensor::zeros({2, 3}, DType::F64)), Variable(Tensor::zeros({3}))),
                       doctest::Contains("an operand is"), std::invalid_argument);
}
