// Harness cases: scale, reshape, permute, concat, slice, sum, mean, relu, gelu.
#include <cmath>

#include "tests/op_harness.h"

namespace hc::test {
namespace {

// Multi-index <-> flat index of a row-major shape.
std::vector<int64_t> unflatten(int64_t e, const Shape& s) {
  std::vector<int64_t> idx(s.size());
  for (int64_t d = static_cast<int64_t>(s.size()) - 1; d >= 0; --d) {
    idx[d] = e % s[d];
    e /= s[d];
  }
  return idx;
}
int64_t flatten(const std::vector<int64_t>& idx, const Shape& s) {
  int64_t e = 0;
  for (size_t d = 0; d < s.size(); ++d) e = e * s[d] + idx[d];
  return e;
}

OpCase unary_case(const std::string& name, Shape shape,
                  std::function<Variable(const Variable&)> op, std::function<double(double)> f) {
  OpCase c;
  c.name = name + " " + shape_str(shape);
  c.inputs = {shape};
  c.run = [op](const std::vector<Variable>& v) { return op(v[0]); };
  c.reference = [f](const HostInputs& in) {
    std::vector<double> y(in[0].size());
    for (size_t i = 0; i < y.size(); ++i) y[i] = f(in[0][i]);
    return y;
  };
  return c;
}

OpCase permute_case(Shape shape, std::vector<int> dims) {
  OpCase c;
  std::string d;
  for (int k : dims) d += std::to_string(k);
  c.name = "permute " + shape_str(shape) + " by " + d;
  c.inputs = {shape};
  c.run = [dims](const std::vector<Variable>& v) { return permute(v[0], dims); };
  c.reference = [shape, dims](const HostInputs& in) {
    Shape ys(shape.size());
    for (size_t k = 0; k < dims.size(); ++k) ys[k] = shape[dims[k]];
    std::vector<double> y(in[0].size());
    for (int64_t e = 0; e < numel_of(ys); ++e) {
      const std::vector<int64_t> yi = unflatten(e, ys);
      std::vector<int64_t> xi(shape.size());
      for (size_t k = 0; k < dims.size(); ++k) xi[dims[k]] = yi[k];
      y[e] = in[0][flatten(xi, shape)];
    }
    return y;
  };
  return c;
}

OpCase concat_case(std::vector<Shape> shapes, int axis) {
  OpCase c;
  c.name = "concat " + std::to_string(shapes.size()) + " inputs on axis " + std::to_string(axis);
  c.inputs = shapes;
  c.run = [axis](const std::vector<Variable>& v) { return concat(v, axis); };
  c.reference = [shapes, axis](const HostInputs& in) {
    const int a = axis < 0 ? axis + static_cast<int>(shapes[0].size()) : axis;
    Shape ys = shapes[0];
    ys[a] = 0;
    for (const Shape& s : shapes) ys[a] += s[a];
    std::vector<double> y(numel_of(ys));
    for (int64_t e = 0; e < numel_of(ys); ++e) {
      std::vector<int64_t> idx = unflatten(e, ys);
      size_t k = 0;
      while (idx[a] >= shapes[k][a]) idx[a] -= shapes[k++][a];  // which input, and where in it
      y[e] = in[k][flatten(idx, shapes[k])];
    }
    return y;
  };
  return c;
}

OpCase slice_case(Shape shape, int axis, int64_t begin, int64_t end) {
  OpCase c;
  c.name = "slice " + shape_str(shape) + " axis " + std::to_string(axis) + " [" +
           std::to_string(begin) + "," + std::to_string(end) + ")";
  c.inputs = {shape};
  c.run = [=](const std::vector<Variable>& v) { return slice(v[0], axis, begin, end); };
  c.reference = [=](const HostInputs& in) {
    const int a = axis < 0 ? axis + static_cast<int>(shape.size()) : axis;
    Shape ys = shape;
    ys[a] = end - begin;
    std::vector<double> y(numel_of(ys));
    for (int64_t e = 0; e < numel_of(ys); ++e) {
      std::vector<int64_t> idx = unflatten(e, ys);
      idx[a] += begin;
      y[e] = in[0][flatten(idx, shape)];
    }
    return y;
  };
  return c;
}

OpCase total_case(bool is_mean, Shape shape) {
  OpCase c;
  c.name = std::string(is_mean ? "mean " : "sum ") + shape_str(shape);
  c.inputs = {shape};
  c.run = [is_mean](const std::vector<Variable>& v) { return is_mean ? mean(v[0]) : sum(v[0]); };
  c.reference = [is_mean](const HostInputs& in) {
    double s = 0;
    for (double x : in[0]) s += x;
    return std::vector<double>{is_mean ? s / double(in[0].size()) : s};
  };
  return c;
}

OpCase reshape_case(Shape from, Shape to) {
  OpCase c;
  c.name = "reshape " + shape_str(from) + " to " + shape_str(to);
  c.inputs = {from};
  // Multiply by a constant afterwards so the gradient is not just "ones".
  c.run = [to](const std::vector<Variable>& v) { return scale(reshape(v[0], to), 1.5); };
  c.reference = [](const HostInputs& in) {
    std::vector<double> y = in[0];
    for (double& x : y) x *= 1.5;
    return y;
  };
  return c;
}

const RegisterOpCases cases({
    unary_case("scale", {3, 5}, [](const Variable& x) { return scale(x, -2.5); },
               [](double x) { return -2.5 * x; }),
    unary_case("relu", {3, 7}, [](const Variable& x) { return relu(x); },
               [](double x) { return x > 0 ? x : 0.0; }),
    unary_case("gelu", {3, 7}, [](const Variable& x) { return gelu(x); },
               [](double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }),
    reshape_case({3, 5, 7}, {15, -1}),
    permute_case({3, 5, 7}, {2, 0, 1}),
    permute_case({2, 3, 4, 5}, {2, 0, 1, 3}),
    permute_case({2, 3, 4, 5}, {1, 2, 0, 3}),
    permute_case({5, 7}, {1, 0}),
    concat_case({{3, 2, 5}, {3, 4, 5}}, 1),
    concat_case({{2, 3}, {2, 5}, {2, 1}}, -1),
    concat_case({{2, 3, 4}, {1, 3, 4}}, 0),
    slice_case({3, 9, 5}, 1, 2, 7),
    slice_case({4, 7}, -1, 3, 7),
    slice_case({6, 5}, 0, 1, 4),
    total_case(false, {3, 5, 7}),
    total_case(true, {3, 5, 7}),
});

}  // namespace
}  // namespace hc::test
