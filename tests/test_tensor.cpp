// Tensor basics (engine/tensor.h): shapes, copies, and views that share storage.
#include <doctest/doctest.h>

#include <stdexcept>

#include "engine/tensor.h"

using namespace hc;

TEST_CASE("tensor: shape, dtype, round trips") {
  Tensor t = Tensor::from_vector({2, 3}, {1, 2, 3, 4, 5, 6});
  CHECK(t.numel() == 6);
  CHECK(t.dim() == 2);
  CHECK(t.size(-1) == 3);
  CHECK(t.nbytes() == 24);
  CHECK(dtype_size(DType::F64) == 8);
  CHECK(t.describe() == "F32(2,3) cpu");
  CHECK(t.to_vector() == std::vector<double>{1, 2, 3, 4, 5, 6});
  CHECK(t.to_dtype(DType::F64).to_vector() == t.to_vector());
  CHECK(Tensor::from_ids({3}, {5, -1, 7}).to_ids() == std::vector<int64_t>{5, -1, 7});
  CHECK(Tensor::full({1}, 2.5).item() == 2.5);
  CHECK(Tensor::zeros({0, 4}).numel() == 0);
}

TEST_CASE("tensor: reshape and row slices are views of the same storage") {
  Tensor t = Tensor::from_vector({4, 3}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  Tensor r = t.reshape({2, -1});
  CHECK(r.shape() == Shape{2, 6});
  r.data<float>()[7] = 70;  // write through the view ...
  CHECK(t.to_vector()[7] == 70);  // ... read through the original
  Tensor rows = t.slice_rows(1, 3);
  CHECK(rows.shape() == Shape{2, 3});
  CHECK(rows.offset() == 3);
  CHECK(rows.to_vector() == std::vector<double>{3, 4, 5, 6, 70, 8});
  rows.fill_(-1);
  CHECK(t.to_vector()[3] == -1);
  CHECK(t.to_vector()[9] == 9);  // outside the slice: untouched
  Tensor one = t.row(3);
  CHECK(one.shape() == Shape{3});
  CHECK(one.to_vector() == std::vector<double>{9, 10, 11});
  CHECK(t.slice_rows(1, 3).storage() == t.storage());
}

TEST_CASE("tensor: clone and copy_from are independent copies") {
  Tensor t = Tensor::from_vector({3}, {1, 2, 3});
  Tensor c = t.clone();
  c.fill_(0);
  CHECK(t.to_vector() == std::vector<double>{1, 2, 3});
  Tensor d = Tensor::empty({3});
  d.copy_from(t);
  CHECK(d.to_vector() == t.to_vector());
  CHECK(d.storage() != t.storage());
}

TEST_CASE("tensor: bad arguments are errors that name the problem") {
  Tensor t = Tensor::zeros({4, 3});
  CHECK_THROWS_WITH_AS(t.reshape({5, -1}), doctest::Contains("cannot infer"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(t.reshape({5, 2}), doctest::Contains("cannot become"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(t.reshape({-1, -1}), doctest::Contains("more than one -1"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(t.slice_rows(2, 9), doctest::Contains("out of range"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(t.size(2), doctest::Contains("axis out of range"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(t.item(), doctest::Contains("one element"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(Tensor::empty({2, -3}), doctest::Contains("negative size"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(Tensor::from_vector({2}, {1, 2, 3}), doctest::Contains("3 values for shape (2)"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(Tensor::empty({2}).copy_from(Tensor::empty({3})), doctest::Contains("copy_from"),
                       std::invalid_argument);
}
