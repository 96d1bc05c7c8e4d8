// Harness cases for the attention-specific ops: rel_shift.
#include "tests/op_harness.h"

namespace hc::test {
namespace {

OpCase rel_shift_case(int64_t G, int64_t T, int64_t S) {
  OpCase c;
  c.name = "rel_shift " + shape_str({G, T, S});
  c.inputs = {{G, T, S}};
  c.run = [](const std::vector<Variable>& v) { return rel_shift(v[0]); };
  c.reference = [=](const HostInputs& in) {
    // y[g,i,j] = element (T-1) + i*(S-1) + j of block g, read as a flat array.
    std::vector<double> y(G * T * S);
    for (int64_t g = 0; g < G; ++g)
      for (int64_t i = 0; i < T; ++i)
        for (int64_t j = 0; j < S; ++j)
          y[(g * T + i) * S + j] = in[0][g * T * S + (T - 1) + i * (S - 1) + j];
    return y;
  };
  return c;
}

const RegisterOpCases cases({rel_shift_case(2, 3, 5), rel_shift_case(3, 4, 4), rel_shift_case(1, 5, 9)});

}  // namespace
}  // namespace hc::test
