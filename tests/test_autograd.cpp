// Semantics of the autograd core (autograd/variable.h): accumulation,
// zero_grad, freeing the graph, NoGrad, deep graphs.
#include <doctest/doctest.h>

#include <stdexcept>
#include <string>

#include "autograd/ops.h"

using namespace hc;

namespace {
Variable param(std::vector<double> values) {
  const int64_t n = static_cast<int64_t>(values.size());
  return Variable(Tensor::from_vector({n}, values, DType::F64), true, "p");
}
std::vector<double> grad_of(const Variable& v) { return v.grad().to_vector(); }
}  // namespace

TEST_CASE("autograd: a value used twice receives both contributions") {
  Variable a = param({1.5, -2.0, 3.0});
  add(a, a).backward(Tensor::full({3}, 1.0, DType::F64));
  CHECK(grad_of(a) == std::vector<double>{2, 2, 2});

  // A diamond: y = a*b + a, so dy/da = b + 1 and dy/db = a.
  Variable x = param({2.0, 3.0});
  Variable b = param({5.0, 7.0});
  add(mul(x, b), x).backward(Tensor::full({2}, 1.0, DType::F64));
  CHECK(grad_of(x) == std::vector<double>{6, 8});
  CHECK(grad_of(b) == std::vector<double>{2, 3});
}

TEST_CASE("autograd: leaf gradients accumulate across backward calls until zero_grad") {
  Variable a = param({1.0, 2.0});
  Variable c = param({3.0, 4.0});
  for (int i = 0; i < 3; ++i) mul(a, c).backward(Tensor::full({2}, 1.0, DType::F64));
  CHECK(grad_of(a) == std::vector<double>{9, 12});  // 3 x c
  a.zero_grad();
  CHECK(grad_of(a) == std::vector<double>{0, 0});
  mul(a, c).backward(Tensor::full({2}, 1.0, DType::F64));
  CHECK(grad_of(a) == std::vector<double>{3, 4});
  CHECK(grad_of(c) == std::vector<double>{4, 8});  // never zeroed: 4 x a
}

TEST_CASE("autograd: the graph is freed after backward; a second backward is a clear error") {
  Variable a = param({1.0, 2.0});
  Variable h = mul(a, a);
  Variable y = add(h, a);
  y.backward(Tensor::full({2}, 1.0, DType::F64));
  CHECK(grad_of(a) == std::vector<double>{3, 5});
  CHECK(y.data()->node == nullptr);  // closures and saved tensors released
  CHECK(h.data()->node == nullptr);
  CHECK_FALSE(h.grad().defined());   // intermediate gradients are not kept
  try {
    y.backward(Tensor::full({2}, 1.0, DType::F64));
    FAIL("second backward did not throw");
  } catch (const std::logic_error& e) {
    CHECK(std::string(e.what()).find("already freed") != std::string::npos);
    CHECK(std::string(e.what()).find("'add'") != std::string::npos);
  }
  // A new value computed from the freed one also cannot backpropagate through it.
  Variable z = mul(h, a);
  CHECK_THROWS_AS(z.backward(Tensor::full({2}, 1.0, DType::F64)), std::logic_error);
}

TEST_CASE("autograd: NoGrad builds no graph") {
  Variable a = param({1.0, 2.0});
  Variable y;
  {
    NoGrad no_grad;
    CHECK_FALSE(grad_enabled());
    y = mul(a, a);
  }
  CHECK(grad_enabled());
  CHECK_FALSE(y.requires_grad());
  CHECK(y.data()->node == nullptr);
  CHECK(y.value().to_vector() == std::vector<double>{1, 4});
  CHECK_THROWS_AS(y.backward(Tensor::full({2}, 1.0, DType::F64)), std::invalid_argument);
}

TEST_CASE("autograd: constants get no gradient; backward() needs a scalar") {
  Variable a = param({1.0, 2.0});
  Variable k(Tensor::from_vector({2}, {3.0, 4.0}, DType::F64));  // requires_grad = false
  Variable y = mul(a, k);
  y.backward(Tensor::full({2}, 1.0, DType::F64));
  CHECK_FALSE(k.grad().defined());
  CHECK(grad_of(a) == std::vector<double>{3, 4});
  CHECK_THROWS_WITH_AS(mul(a, k).backward(), doctest::Contains("pass a seed"),
                       std::invalid_argument);
}

TEST_CASE("autograd: a 20000-op chain backpropagates without recursion") {
  // A recursive topological sort would need one stack frame per op here.
  Variable a = param({1.0});
  Variable one(Tensor::from_vector({1}, {1.0}, DType::F64));
  Variable y = a;
  for (int i = 0; i < 20000; ++i) y = add(y, one);
  y.backward();
  CHECK(grad_of(a) == std::vector<double>{1});
  CHECK(y.value().item() == 20001.0);

  // Dropping such a graph without backward must not recurse either.
  Variable z = a;
  for (int i = 0; i < 20000; ++i) z = add(z, one);
  z = Variable();
  CHECK(a.data().use_count() == 1);  // every node of the chain was released
}
