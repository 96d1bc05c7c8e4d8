// e^x for x <= 0 in a form the compiler vectorises: the softmax's and the
// cross-entropy's e^(x - max). A call to libm's expf does not vectorise,
// and was most of the CPU softmax's time (docs/cpu-kernels.md). Its plain
// twin is std::exp; tests/test_exp_nonpositive.cpp checks it against exp in
// double across [-87, 0].
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

namespace hc {

// Range reduction x = n ln2 + r with |r| <= ln2/2, ln2 split in two so that
// n * high is exact; e^r by its Taylor series to r^7 (the remainder,
// r^8/8! < 6e-9, is below float's 6e-8); 2^n written into the exponent
// bits. Worst relative error 7.9e-8 over [-87, 0] (1.3 ulp; measured against
// double exp at every float in that range). Below -87, e^x is taken as
// e^-87 = 1.6e-38, which no softmax row can tell from 0. NaN passes through.
inline float exp_nonpositive(float x) {
  const bool nan = x != x;
  const float xc = nan ? 0.0f : std::max(x, -87.0f);
  const float n = std::nearbyint(xc * 1.44269504088896341f);  // 1 / ln 2
  float r = std::fma(n, -0.693145751953125f, xc);
  r = std::fma(n, -1.42860682030941723212e-6f, r);
  float p = 1.0f / 5040;
  p = std::fma(p, r, 1.0f / 720);
  p = std::fma(p, r, 1.0f / 120);
  p = std::fma(p, r, 1.0f / 24);
  p = std::fma(p, r, 1.0f / 6);
  p = std::fma(p, r, 0.5f);
  p = std::fma(p, r, 1.0f);
  p = std::fma(p, r, 1.0f);
  const float two_n = std::bit_cast<float>((static_cast<int32_t>(n) + 127) << 23);
  return nan ? x : p * two_n;
}
inline double exp_nonpositive(double x) { return std::exp(x); }  // float64 (gradient checks): libm

}  // namespace hc
